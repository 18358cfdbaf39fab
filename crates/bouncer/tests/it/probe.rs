//! Regressions for what the outside security probe found: privilege escalation through
//! `users:write` / `roles:write` (nobody grants what they do not hold), tokens that outlived a
//! disable or a password change, client authentication at the token endpoint, the default role,
//! password rules, request ids, `Host`, and look-alike emails. Each test is an attack that once
//! worked; where the data layer matters it runs on SQLite and PostgreSQL.

use std::io::{Read, Write};

use serde_json::{Value, json};

use crate::support::http::{assert_problem, call};
use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, Db, TestApp, basic, jwt_part};

/// Registers `name` and, as admin, makes its grants exactly `roles` and `permissions`.
async fn user_with(
    app: &TestApp,
    name: &str,
    roles: &[&str],
    permissions: &[&str],
) -> (String, String) {
    let (_, password, id) = app.user_with_roles(name, &["user"]).await;
    let admin = app.admin_token().await;
    let (s, _, body) = call(
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"roles": roles, "permissions": permissions})),
    )
    .await;
    assert_eq!(s, 200, "set grants of {name}: {body}");
    (password, id)
}

async fn admin_id(app: &TestApp) -> String {
    let admin = app.admin_token().await;
    let (_, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(&admin)).await;
    me["id"].as_str().unwrap().to_owned()
}

fn patch_user(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::RequestBuilder {
    app.client
        .patch(app.at(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
}

/// The JSON payload of a JWT.
/// A holder of `users:write` alone can neither make itself admin, nor touch the admin (password,
/// disable, delete), nor give permissions it lacks; refusals are 403 `cannot_grant`, decided
/// before the last-admin 409, and change nothing.
#[tokio::test]
async fn users_write_cannot_escalate_or_touch_an_admin() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (pw, id) = user_with(&app, "mallory", &[], &["users:write", "users:read"]).await;
        let t = app.token("mallory", &pw).await;
        let admin = admin_id(&app).await;

        let got = call(patch_user(&app, &t, &id, json!({"roles": ["admin"]}))).await;
        assert_problem("make itself admin", &got, 403, "cannot_grant", None);
        assert_eq!(got.2["missing"], "*", "{db:?}");
        let got = call(patch_user(
            &app,
            &t,
            &id,
            json!({"permissions": ["users:write", "*"]}),
        ))
        .await;
        assert_problem("give itself *", &got, 403, "cannot_grant", None);
        let got = call(patch_user(
            &app,
            &t,
            &admin,
            json!({"password": "Mallory-owns-you-now-7"}),
        ))
        .await;
        assert_problem("set the admin's password", &got, 403, "cannot_grant", None);
        // The last enabled admin: 403 (the caller may not touch it), not 409.
        let got = call(patch_user(&app, &t, &admin, json!({"disabled": true}))).await;
        assert_problem("disable the last admin", &got, 403, "cannot_grant", None);
        let got = call(
            app.client
                .delete(app.at(&format!("/users/{admin}")))
                .bearer_auth(&t),
        )
        .await;
        assert_problem("delete the admin", &got, 403, "cannot_grant", None);

        // Nothing changed: the admin logs in with the old password, mallory is no admin.
        app.admin_token().await;
        let (_, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(&t)).await;
        assert_eq!(me["roles"], json!([]), "{db:?}: {me}");
        assert_eq!(
            me["permissions"],
            json!(["users:read", "users:write"]),
            "{db:?}: {me}"
        );

        // What mallory holds, it may give, to a user holding no more than mallory.
        let (_, victim) = user_with(&app, "victim", &[], &[]).await;
        let (s, _, body) = call(patch_user(
            &app,
            &t,
            &victim,
            json!({"permissions": ["users:read"]}),
        ))
        .await;
        assert_eq!(s, 200, "{db:?}: {body}");
        let got = call(patch_user(&app, &t, &victim, json!({"roles": ["guest"]}))).await;
        assert_problem(
            "a role with items:read, which mallory lacks",
            &got,
            403,
            "cannot_grant",
            None,
        );
        assert_eq!(got.2["missing"], "items:read");
        // A plain `user` holds items:read and items:write, which mallory does not: hands off.
        let (_, _, plain) = app.user_with_roles("plainuser", &["user"]).await;
        let got = call(patch_user(
            &app,
            &t,
            &plain,
            json!({"full_name": "Renamed"}),
        ))
        .await;
        assert_problem("touch a user holding more", &got, 403, "cannot_grant", None);
        app.stop().await;
    }
}

/// An admin's token narrowed by scope holds only what the scope covers: it cannot make admins.
#[tokio::test]
async fn a_scoped_admin_token_grants_only_within_its_scope() {
    let app = TestApp::spawn().await;
    let t = app
        .scoped_token(ADMIN, ADMIN_PASSWORD, Some("users:write users:read"))
        .await;
    let (_, _, id) = app.user_with_roles("promoted", &["user"]).await;
    let got = call(patch_user(&app, &t, &id, json!({"roles": ["admin"]}))).await;
    assert_problem(
        "scoped admin makes an admin",
        &got,
        403,
        "cannot_grant",
        None,
    );
    // Nor touch the admin it belongs to through /users/{id}: it does not hold `*`.
    let me = admin_id(&app).await;
    let got = call(patch_user(&app, &t, &me, json!({"disabled": true}))).await;
    assert_problem(
        "scoped admin disables itself",
        &got,
        403,
        "cannot_grant",
        None,
    );
    let got = call(
        app.client
            .delete(app.at(&format!("/users/{me}")))
            .bearer_auth(&t),
    )
    .await;
    assert_problem(
        "scoped admin deletes itself",
        &got,
        403,
        "cannot_grant",
        None,
    );
    // Its own profile through /users/me stays open to any credential.
    let (s, _, _) = call(
        app.client
            .patch(app.at("/users/me"))
            .bearer_auth(&t)
            .json(&json!({"full_name": "Still Admin"})),
    )
    .await;
    assert_eq!(s, 200);
    let full = app.admin_token().await;
    let (s, _, _) = call(patch_user(&app, &full, &id, json!({"roles": ["admin"]}))).await;
    assert_eq!(s, 200, "the unscoped admin token may");
    app.stop().await;
}

/// A `roles:write` holder cannot put `*` (or anything it lacks) into a role, nor replace or delete
/// a role granting more than it holds; roles within its own rights it manages freely.
#[tokio::test]
async fn roles_write_cannot_put_what_it_does_not_hold() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (pw, _) = user_with(
            &app,
            "roler",
            &[],
            &["roles:write", "roles:read", "items:read"],
        )
        .await;
        let t = app.token("roler", &pw).await;
        let put = |name: &str, perms: Value| {
            app.client
                .put(app.at(&format!("/roles/{name}")))
                .bearer_auth(&t)
                .json(&json!({ "permissions": perms }))
        };
        let got = call(put("sneaky", json!(["*"]))).await;
        assert_problem("a role with *", &got, 403, "cannot_grant", None);
        let got = call(put("sneaky", json!(["items:read", "users:write"]))).await;
        assert_problem("a role with users:write", &got, 403, "cannot_grant", None);
        assert_eq!(got.2["missing"], "users:write");
        // `user` holds items:write, which roler lacks: it may not narrow it either.
        let got = call(put("user", json!(["items:read"]))).await;
        assert_problem("replace a wider role", &got, 403, "cannot_grant", None);
        let got = call(
            app.client
                .delete(app.at("/roles/moderator"))
                .bearer_auth(&t),
        )
        .await;
        assert_problem("delete a wider role", &got, 403, "cannot_grant", None);
        let (s, _, _) = call(put("reader", json!(["items:read"]))).await;
        assert_eq!(s, 201, "{db:?}");
        let (s, _, _) = call(put("reader", json!(["roles:read", "items:read"]))).await;
        assert_eq!(s, 200, "{db:?}");
        let (s, _, _) = call(app.client.delete(app.at("/roles/reader")).bearer_auth(&t)).await;
        assert_eq!(s, 204, "{db:?}");
        // Nothing it was refused exists.
        let admin = app.admin_token().await;
        let (s, _, _) = call(app.client.get(app.at("/roles/sneaky")).bearer_auth(&admin)).await;
        assert_eq!(s, 404);
        let (_, _, user) = call(app.client.get(app.at("/roles/user")).bearer_auth(&admin)).await;
        assert_eq!(user["permissions"], json!(["items:read", "items:write"]));
        app.stop().await;
    }
}

/// Disabling retires every token issued before; enabling again revives none of them. Tokens carry
/// the credential generation `gen`.
#[tokio::test]
async fn disable_then_enable_does_not_revive_old_tokens() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, id) = app.user_with_roles("sleeper", &["user"]).await;
        let old = app.token(&name, &pw).await;
        assert_eq!(jwt_part(&old, 1)["gen"], 1, "a new user is at generation 1");
        let admin = app.admin_token().await;
        for disabled in [true, false] {
            let (s, _, _) =
                call(patch_user(&app, &admin, &id, json!({"disabled": disabled}))).await;
            assert_eq!(s, 200);
        }
        assert_eq!(
            app.get_bearer("/users/me", &old).await.status(),
            401,
            "{db:?}"
        );
        let new = app.token(&name, &pw).await;
        assert_eq!(jwt_part(&new, 1)["gen"], 2);
        assert_eq!(app.get_bearer("/users/me", &new).await.status(), 200);
        // Enabling an enabled user, or any other change, moves nothing.
        let (s, _, _) = call(patch_user(&app, &admin, &id, json!({"full_name": "S"}))).await;
        assert_eq!(s, 200);
        assert_eq!(app.get_bearer("/users/me", &new).await.status(), 200);
        app.stop().await;
    }
}

/// A password change retires the tokens issued before it even within the same second, and never
/// one issued after it in that same second (the clock does not move in this test).
#[tokio::test]
async fn a_password_change_is_exact_within_one_second() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (name, pw, _) = app.user_with_roles("exact", &["user"]).await;
        let before = app.token(&name, &pw).await;
        let (s, _, body) = call(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&before)
                .json(&json!({"password": "Exactly-new-river-9", "current_password": pw})),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let after = app.token(&name, "Exactly-new-river-9").await;
        assert_eq!(
            jwt_part(&before, 1)["iat"],
            jwt_part(&after, 1)["iat"],
            "same second"
        );
        assert_eq!(
            app.get_bearer("/users/me", &before).await.status(),
            401,
            "{db:?}"
        );
        assert_eq!(
            app.get_bearer("/users/me", &after).await.status(),
            200,
            "{db:?}"
        );
        app.stop().await;
    }
}

/// Changing your own password through `PATCH /users/{own id}` needs `current_password` too, even
/// for an admin.
#[tokio::test]
async fn own_password_through_users_id_needs_the_current_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = admin_id(&app).await;
    let got = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "Another-admin-river-4"}),
    ))
    .await;
    assert_problem(
        "no current_password",
        &got,
        422,
        "validation_error",
        Some("current_password"),
    );
    let got = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "Another-admin-river-4", "current_password": "wrong-one-entirely"}),
    ))
    .await;
    assert_problem(
        "wrong current_password",
        &got,
        422,
        "validation_error",
        Some("current_password"),
    );
    app.admin_token().await; // unchanged
    let (s, _, _) = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "Another-admin-river-4", "current_password": ADMIN_PASSWORD}),
    ))
    .await;
    assert_eq!(s, 200);
    app.token(ADMIN, "Another-admin-river-4").await;
    app.stop().await;
}

async fn token_with_authorization(
    app: &TestApp,
    authorization: &str,
    extra: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
    ];
    form.extend_from_slice(extra);
    let r = app
        .client
        .post(app.at("/oauth2/token"))
        .header("authorization", authorization)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, r.json().await.unwrap())
}

/// RFC 6749 §2.3.1 / §5.2: client authentication in `Authorization: Basic` is checked. An unknown
/// client or a wrong secret is 401 `invalid_client` with a Basic challenge; the public `swagger`
/// client names itself with an empty secret.
#[tokio::test]
async fn token_endpoint_checks_basic_client_authentication() {
    let app = TestApp::spawn().await;
    for (what, auth) in [
        ("unknown client", basic("no-such-client", "s3cret")),
        ("public client with a secret", basic("swagger", "guess")),
        ("not Basic", "Bearer whatever".to_owned()),
        ("undecodable", "Basic %%%".to_owned()),
    ] {
        let (s, challenge, body) = token_with_authorization(&app, &auth, &[]).await;
        assert_eq!(s, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert!(challenge.is_some_and(|c| c.starts_with("Basic")), "{what}");
    }
    let (s, _, body) = token_with_authorization(&app, &basic("swagger", ""), &[]).await;
    assert_eq!(s, 200, "{body}");
    let (s, _, body) =
        token_with_authorization(&app, &basic("swagger", ""), &[("client_id", "other")]).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    // The form alone: an unknown client_id is 401 too.
    let r = app
        .client
        .post(app.at("/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("client_id", "no-such-client"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    app.stop().await;
}

/// `auth.default_role` is what registration gives, and it cannot be deleted, `force` or not; a
/// default role that does not exist stops start-up.
#[tokio::test]
async fn the_default_role_is_given_and_cannot_be_deleted() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.auth.default_role = "guest".into())
        .await
        .unwrap();
    let (name, pw, _) = app.user_with_roles("newbie", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let (_, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(&t)).await;
    assert_eq!(me["roles"], json!(["guest"]));
    let admin = app.admin_token().await;
    for path in ["/roles/guest", "/roles/guest?force=true"] {
        let got = call(app.client.delete(app.at(path)).bearer_auth(&admin)).await;
        assert_problem(path, &got, 409, "default_role", None);
    }
    // `user` is no longer the default: it can go.
    let (s, _, _) = call(
        app.client
            .delete(app.at("/roles/user?force=true"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(s, 204);
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(Db::Sqlite, &dir).unwrap();
    config.auth.default_role = "nonexistent".into();
    let err = bouncer::app::Server::bind(
        config,
        std::sync::Arc::new(bouncer_core::clock::ManualClock::default()),
    )
    .await
    .err()
    .expect("a missing default role stops start-up");
    assert!(err.to_string().contains("auth.default_role"), "{err}");
}

/// The password rules: characters not bytes, 8 to 1,024, not the username or email, and a zxcvbn
/// score of at least 2; every refusal is 422 `weak_password` naming the field, on every route.
#[tokio::test]
async fn weak_passwords_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let register = |app: &TestApp, name: &str, pw: &str| {
        app.client.post(app.at("/auth/register")).json(
            &json!({"username": name, "email": format!("{name}@example.com"), "password": pw}),
        )
    };
    for (what, name, pw) in [
        ("too short", "shorty", "Xy7#q"),
        ("common", "commoner", "password1"),
        ("keyboard walk", "walker", "qwertyuiop"),
        ("the username", "Zebulon.Fairweather", "zebulon.fairweather"),
        ("the email", "emailer", "emailer@example.com"),
        ("over 1,024 characters", "longer", &"Vq7#kLp2!".repeat(114)),
        ("seven 2-byte characters", "bytes", "ñçøåþðß"),
    ] {
        let got = call(register(&app, name, pw)).await;
        assert_problem(what, &got, 422, "weak_password", Some("password"));
    }
    // Eight 2-byte characters are eight characters (16 bytes would have passed a byte count anyway).
    let (s, _, body) = call(register(&app, "chars", "ñçøåþðßæ")).await;
    assert_eq!(s, 201, "{body}");
    // A password change and an admin's reset follow the same rules.
    let (name, pw, id) = app.user_with_roles("changer", &["user"]).await;
    let t = app.token(&name, &pw).await;
    let got = call(
        app.client
            .patch(app.at("/users/me"))
            .bearer_auth(&t)
            .json(&json!({"password": "iloveyou1", "current_password": pw})),
    )
    .await;
    assert_problem("own change", &got, 422, "weak_password", Some("password"));
    let admin = app.admin_token().await;
    let got = call(patch_user(
        &app,
        &admin,
        &id,
        json!({"password": "changer"}),
    ))
    .await;
    assert_problem(
        "admin reset to the username",
        &got,
        422,
        "weak_password",
        Some("password"),
    );
    app.stop().await;

    // The score is configurable (0 turns zxcvbn off; length still applies).
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.passwords.min_score = 0)
        .await
        .unwrap();
    let (s, _, _) = call(register(&app, "lenient", "password1")).await;
    assert_eq!(s, 201);
    app.stop().await;
}

/// Emails are unique in NFKC form: a full-width look-alike of a taken address is a 409.
#[tokio::test]
async fn a_full_width_email_look_alike_is_a_conflict() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = |name: &str, email: &str| {
            app.client
                .post(app.at("/auth/register"))
                .json(&json!({"username": name, "email": email, "password": "Pw-look-alike-river"}))
        };
        let (s, _, _) = call(reg("original", "alice@example.com")).await;
        assert_eq!(s, 201);
        let got = call(reg("lookalike", "ａｌｉｃｅ@example.com")).await;
        assert_problem("full-width local part", &got, 409, "conflict", None);
        let got = call(reg("lookalike2", "ALICE@EXAMPLE.COM")).await;
        assert_problem("other case", &got, 409, "conflict", None);
        app.stop().await;
    }
}

/// A client's `X-Request-Id` is kept only when it is 1-128 characters of `[A-Za-z0-9._:-]`;
/// otherwise, and when absent, a random UUID is used.
#[tokio::test]
async fn request_ids_are_checked_and_generated_at_random() {
    let app = TestApp::spawn().await;
    let id_for = |sent: Option<&str>| {
        let mut rb = app.client.get(app.at("/healthz"));
        if let Some(v) = sent {
            rb = rb.header("x-request-id", v);
        }
        async move {
            let r = rb.send().await.unwrap();
            r.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    let good = "trace-01.a_b:c";
    assert_eq!(id_for(Some(good)).await, good);
    let max = "x".repeat(128);
    assert_eq!(id_for(Some(&max)).await, max);
    let mut generated = Vec::new();
    for bad in [
        "x".repeat(129),
        "has space".to_owned(),
        "quote\"d".to_owned(),
        "log=forged".to_owned(),
        "ünïcode".to_owned(),
    ] {
        let got = id_for(Some(&bad)).await;
        assert_ne!(got, bad);
        generated.push(got);
    }
    generated.push(id_for(None).await);
    generated.push(id_for(None).await);
    for id in &generated {
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("not a UUID: {id}"));
        assert_eq!(uuid.get_version_num(), 4, "random, not a counter: {id}");
    }
    let unique: std::collections::HashSet<_> = generated.iter().collect();
    assert_eq!(unique.len(), generated.len());
    // Two ids drawn in a row share no long prefix or suffix, as counters would.
    let (a, b) = (generated[5].replace('-', ""), generated[6].replace('-', ""));
    assert_ne!(a[..16], b[..16]);
    assert_ne!(a[16..], b[16..]);
    app.stop().await;
}

/// Sends `head` on a raw connection and returns the status line.
fn raw_status(addr: &str, head: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// RFC 9112 §3.2: no `Host`, or two, is 400.
#[tokio::test]
async fn a_request_needs_exactly_one_host_header() {
    let app = TestApp::spawn().await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let a = addr.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        [
            raw_status(&a, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"),
            raw_status(
                &a,
                "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            ),
            raw_status(
                &a,
                "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            ),
        ]
    })
    .await
    .unwrap();
    assert!(statuses[0].contains(" 400 "), "no Host: {}", statuses[0]);
    assert!(statuses[1].contains(" 400 "), "two Hosts: {}", statuses[1]);
    assert!(statuses[2].contains(" 200 "), "one Host: {}", statuses[2]);
    app.stop().await;
}
