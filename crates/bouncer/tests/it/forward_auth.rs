//! Forward-auth (`GET /auth/verify`): the decision order, rules matched on the path the upstream
//! will see (no spelling slips past a rule), the original request read only from trusted proxies,
//! and only 200/401/403 ever.

use bouncer::config::ForwardRuleConfig;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp};

fn rule(path: &str, f: impl FnOnce(&mut ForwardRuleConfig)) -> ForwardRuleConfig {
    let mut r = ForwardRuleConfig {
        path: path.into(),
        ..Default::default()
    };
    f(&mut r);
    r
}

async fn app_with_rules(trusted: bool) -> TestApp {
    TestApp::spawn_with(Db::Sqlite, |c| {
        if trusted {
            c.server.trusted_proxies = vec!["127.0.0.1".into()];
        }
        c.forward_auth.rules = vec![
            rule("/public/**", |r| r.public = true),
            rule("/admin/**", |r| r.role = Some("admin".into())),
            rule("/items/**", |r| {
                r.methods = vec!["POST".into(), "DELETE".into()];
                r.permission = Some("items:write".into());
            }),
            rule("/api/**", |_| {}),
        ];
    })
    .await
    .unwrap()
}

async fn verify(
    app: &TestApp,
    method: &str,
    uri: Option<&str>,
    auth: Option<(&str, String)>,
) -> (u16, HeaderMap, Value) {
    let mut rb = app
        .client
        .get(app.at("/auth/verify"))
        .header("x-original-method", method);
    if let Some(u) = uri {
        rb = rb.header("x-original-uri", u);
    }
    if let Some((k, v)) = auth {
        rb = rb.header(k, v);
    }
    let r = rb.send().await.unwrap();
    let st = r.status().as_u16();
    let h = r.headers().clone();
    (st, h, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_decision_order_and_paths_as_the_upstream_sees_them() {
    let app = app_with_rules(true).await;
    let admin = (
        "authorization",
        format!("Bearer {}", app.admin_token().await),
    );
    let (name, pw, id) = app.user_with_roles("fwd", &["user"]).await;
    let user = (
        "authorization",
        format!("Bearer {}", app.token(&name, &pw).await),
    );
    let (gname, gpw, _) = app.user_with_roles("fwdguest", &["guest"]).await;
    let guest = (
        "authorization",
        format!("Bearer {}", app.token(&gname, &gpw).await),
    );

    for uri in [
        "/public/x",
        "/public#/admin",
        "/public?next=/admin",
        "/public",
    ] {
        assert_eq!(verify(&app, "GET", Some(uri), None).await.0, 200, "{uri}");
    }
    for uri in [
        "/admin",
        "/public/../admin",
        "/%61dmin",
        "//admin",
        "/public/%2e%2e/admin/x",
    ] {
        assert_eq!(
            verify(&app, "GET", Some(uri), None).await.0,
            401,
            "{uri}: no credential"
        );
        assert_eq!(
            verify(&app, "GET", Some(uri), Some(user.clone())).await.0,
            403,
            "{uri}: not admin"
        );
        assert_eq!(
            verify(&app, "GET", Some(uri), Some(admin.clone())).await.0,
            200,
            "{uri}"
        );
    }
    // Methods narrow a rule; a request no rule covers is refused once rules exist.
    let (st, _, body) = verify(&app, "POST", Some("/items/1"), Some(guest.clone())).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (403, Some("missing_permission"))
    );
    assert_eq!(
        verify(&app, "POST", Some("/items/1"), Some(user.clone()))
            .await
            .0,
        200
    );
    let (st, _, body) = verify(&app, "GET", Some("/items/1"), Some(user.clone())).await;
    assert_eq!((st, body["code"].as_str()), (403, Some("no_rule")));
    assert_eq!(
        verify(&app, "GET", None, Some(user.clone())).await.0,
        403,
        "no URI: no rule"
    );
    assert_eq!(verify(&app, "GET", Some("not-a-path"), None).await.0, 401);

    // Who passed: the headers an upstream reads, never copied from the request.
    let (st, h, _) = verify(&app, "GET", Some("/api/thing"), Some(user.clone())).await;
    assert_eq!(st, 200);
    assert_eq!(h["x-auth-user"], name.as_str());
    assert_eq!(h["x-auth-user-id"], id.as_str());
    assert_eq!(h["x-auth-roles"], "user");
    assert_eq!(h["x-auth-scopes"], "*");
    let (st, h, _) = verify(
        &app,
        "GET",
        Some("/public/x"),
        Some(("x-auth-user", "root".into())),
    )
    .await;
    assert_eq!(st, 200);
    assert!(h.get("x-auth-user").is_none());

    // Only 401 and 403: two Authorization headers (400 elsewhere) are a 401 here, code kept.
    let r = app
        .client
        .get(app.at("/auth/verify"))
        .header("authorization", "Bearer a")
        .header("authorization", "Bearer b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "ambiguous_credentials"
    );

    // A session cookie with an unsafe original method needs its CSRF token.
    let (cookie, csrf) = app.session_login(ADMIN, ADMIN_PASSWORD).await;
    let session = ("cookie", cookie);
    let (st, _, body) = verify(&app, "DELETE", Some("/items/1"), Some(session.clone())).await;
    assert_eq!((st, body["code"].as_str()), (403, Some("csrf_failed")));
    let r = app
        .client
        .get(app.at("/auth/verify"))
        .header("x-original-method", "DELETE")
        .header("x-original-uri", "/items/1")
        .header(session.0, session.1.clone())
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        verify(&app, "GET", Some("/api/x"), Some(session)).await.0,
        200
    );
    app.stop().await;
}

/// From a peer that is not a trusted proxy, `X-Original-*` is ignored: nothing matches a rule,
/// not even a public one.
#[tokio::test]
async fn the_original_request_is_believed_only_from_trusted_proxies() {
    let app = app_with_rules(false).await;
    let admin = (
        "authorization",
        format!("Bearer {}", app.admin_token().await),
    );
    assert_eq!(verify(&app, "GET", Some("/public/x"), None).await.0, 401);
    let (st, _, body) = verify(&app, "GET", Some("/public/x"), Some(admin.clone())).await;
    assert_eq!((st, body["code"].as_str()), (403, Some("no_rule")));
    // Traefik's names are read the same way (and ignored the same way here).
    let r = app
        .client
        .get(app.at("/auth/verify"))
        .header("x-forwarded-uri", "/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;

    // With no rules at all, any valid credential passes.
    let app = TestApp::spawn().await;
    let admin = (
        "authorization",
        format!("Bearer {}", app.admin_token().await),
    );
    assert_eq!(
        verify(&app, "GET", Some("/anything"), Some(admin)).await.0,
        200
    );
    assert_eq!(verify(&app, "GET", Some("/anything"), None).await.0, 401);
    app.stop().await;
}

#[tokio::test]
async fn rules_are_validated_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let base = crate::support::test_config(Db::Sqlite, &dir).unwrap();
    for (r, field) in [
        (rule("no-slash", |_| {}), "forward_auth.rules[0].path"),
        (
            rule("/x", |r| {
                r.public = true;
                r.role = Some("admin".into());
            }),
            "forward_auth.rules[0].public",
        ),
        (
            rule("/x", |r| r.permission = Some("bad".into())),
            "forward_auth.rules[0].permission",
        ),
        (
            rule("/x", |r| r.methods = vec!["GE T".into()]),
            "forward_auth.rules[0].methods",
        ),
    ] {
        let mut c = base.clone();
        c.forward_auth.rules = vec![r];
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
    }
}

/// Review regressions: a client behind Traefik adding nginx's header (or the reverse) cannot pick
/// the path a rule sees; a missing method fails closed; `;`, encoded `/` and `\` match no rule;
/// a narrowed credential passes on only the roles its scope holds.
#[tokio::test]
async fn original_request_spoofing_and_narrowed_roles() {
    let app = app_with_rules(true).await;
    let h = |pairs: &[(&str, &str)]| {
        let mut rb = app.client.get(app.at("/auth/verify"));
        for (k, v) in pairs {
            rb = rb.header(*k, *v);
        }
        rb
    };
    // Traefik set X-Forwarded-*; the client added X-Original-URI: they disagree, no rule.
    let r = h(&[
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/admin/panel"),
        ("x-original-uri", "/public/x"),
    ])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 401, "not public: the paths disagree");
    // Agreeing families are fine; Traefik's alone is read.
    let r = h(&[
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/public/x"),
    ])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    // No method: no rule, not "GET".
    let r = h(&[("x-original-uri", "/public/x")]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Spellings upstreams disagree on match nothing (so: 403 with a credential, never public).
    let user = app
        .token(
            &app.user_with_roles("spelling", &["user"]).await.0,
            "Pw-spelling-123456",
        )
        .await;
    for uri in [
        "/public/..;/admin/panel",
        "/admin%2F..%2Fpublic",
        "/public%5c..%5cadmin",
    ] {
        let r = h(&[("x-original-method", "GET"), ("x-original-uri", uri)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{uri}: no credential, not public");
        let r = h(&[
            ("x-original-method", "GET"),
            ("x-original-uri", uri),
            ("authorization", &format!("Bearer {user}")),
        ])
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 403, "{uri}");
    }
    // A narrowed admin token does not pass `admin` on.
    let narrow = app
        .scoped_token(ADMIN, ADMIN_PASSWORD, Some("items:read"))
        .await;
    let (st, headers, _) = verify(
        &app,
        "GET",
        Some("/api/x"),
        Some(("authorization", format!("Bearer {narrow}"))),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(headers["x-auth-roles"], "");
    assert_eq!(headers["x-auth-scopes"], "items:read");
    app.stop().await;
}
