//! The OpenAPI document: the committed `openapi.json` is what the binary serves (regenerate with
//! `BOUNCER_UPDATE_SPEC=1 cargo test -p bouncer --test it spec::`), its scopes are the permission
//! registry's and the metadata's, every credential has its scheme, and `/docs` is Swagger UI served
//! from the binary under a content security policy.

use serde_json::Value;

use crate::support::TestApp;
use crate::support::http::call;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")
}

#[tokio::test]
async fn the_committed_spec_is_what_the_binary_serves() {
    let app = TestApp::spawn().await;
    let (s, h, served) = call(app.client.get(app.at("/openapi.json"))).await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let path = committed_path();
    if std::env::var_os("BOUNCER_UPDATE_SPEC").is_some() {
        let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .expect("openapi.json at the repository root");
    assert!(
        committed == served,
        "openapi.json differs from what the server serves: regenerate it with \
         BOUNCER_UPDATE_SPEC=1 cargo test -p bouncer --test it spec::"
    );
    // The CLI prints the same document.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        printed == served,
        "bouncer openapi differs from /openapi.json"
    );
    app.stop().await;
}

#[tokio::test]
async fn scopes_schemes_and_security_agree_with_the_registry() {
    let app = TestApp::spawn().await;
    let (_, _, spec) = call(app.client.get(app.at("/openapi.json"))).await;
    let (_, _, meta) = call(
        app.client
            .get(app.at("/.well-known/oauth-authorization-server")),
    )
    .await;
    let registry: Vec<&str> = bouncer_core::permission::registry::scope_names().collect();
    let schemes = &spec["components"]["securitySchemes"];
    for flow in ["password", "clientCredentials"] {
        let flow = &schemes["oauth2"]["flows"][flow];
        assert_eq!(flow["tokenUrl"], "/oauth2/token");
        let scopes: Vec<&str> = flow["scopes"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = registry.clone();
        want.sort_unstable();
        assert_eq!(scopes, want, "the flows' scopes are the registry's");
    }
    let supported: Vec<&str> = meta["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(supported, registry, "scopes_supported is the registry");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert_eq!(
        (&schemes["api_key"]["in"], &schemes["api_key"]["name"]),
        (&Value::from("header"), &Value::from("X-API-Key"))
    );
    assert_eq!(
        (
            &schemes["api_key_cookie"]["in"],
            &schemes["api_key_cookie"]["name"]
        ),
        (&Value::from("cookie"), &Value::from("api_key"))
    );
    assert_eq!(
        (&schemes["session"]["in"], &schemes["session"]["name"]),
        (&Value::from("cookie"), &Value::from("bouncer_session"))
    );
    assert!(
        schemes.get("api_key_query").is_none(),
        "the query form is off by default"
    );
    let paths = spec["paths"].as_object().unwrap();
    assert!(
        !paths.contains_key("/openapi.json")
            && !paths.contains_key("/docs")
            && !paths.contains_key("/metrics")
    );
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let Some(security) = op.get("security").and_then(Value::as_array) else {
                continue;
            };
            for req in security {
                for (scheme, scopes) in req.as_object().unwrap() {
                    assert!(
                        schemes.get(scheme).is_some(),
                        "{method} {path}: unknown scheme {scheme}"
                    );
                    for s in scopes.as_array().unwrap() {
                        assert!(
                            registry.contains(&s.as_str().unwrap()),
                            "{method} {path}: scope {s} is not in the registry"
                        );
                    }
                }
            }
            if !path.starts_with("/oauth2/") {
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path}: protected, so 401 is documented"
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_query_scheme_appears_only_while_the_query_form_is_on() {
    let app = TestApp::spawn_with(crate::support::Db::Sqlite, |c| c.auth.api_key_query = true)
        .await
        .unwrap();
    let (_, _, spec) = call(app.client.get(app.at("/openapi.json"))).await;
    let q = &spec["components"]["securitySchemes"]["api_key_query"];
    assert_eq!(
        (&q["in"], &q["name"]),
        (&Value::from("query"), &Value::from("api_key"))
    );
    app.stop().await;
}

#[tokio::test]
async fn docs_is_swagger_ui_from_the_binary() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.at("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every asset the page loads is served by the binary itself (no CDN).
    for src in html
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css"))
    {
        assert!(!src.starts_with("http"), "an outside asset: {src}");
        let url = app.at(&format!("/docs/{}", src.trim_start_matches("./")));
        let r = app.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }
    let init = app
        .client
        .get(app.at("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        init.contains("/openapi.json") && init.contains("swagger"),
        "{init}"
    );
    app.stop().await;
}

/// The spec's scopes are the routes' real requirements: for every operation that names one
/// permission, a token holding every registered scope except it (and the wildcards over it) gets
/// 403 naming it, and a token holding just it is not refused for it. Item routes are left out:
/// their owner may use `items:write` in place of `items:delete`/`items:*` (tested in `items`).
#[tokio::test]
async fn every_operations_scope_is_what_the_route_requires() {
    let app = TestApp::spawn().await;
    let (_, _, spec) = call(app.client.get(app.at("/openapi.json"))).await;
    let registry: Vec<&str> = bouncer_core::permission::registry::scope_names().collect();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        if path.starts_with("/items") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let Some(security) = op.get("security").and_then(Value::as_array) else {
                continue;
            };
            let scopes: Vec<&str> = security
                .iter()
                .filter_map(|r| r.get("oauth2"))
                .flat_map(|s| s.as_array().unwrap().iter().map(|v| v.as_str().unwrap()))
                .collect();
            let [needed] = scopes[..] else {
                continue;
            };
            let resource = needed.split(':').next().unwrap();
            let without: Vec<&str> = registry
                .iter()
                .copied()
                .filter(|s| *s != needed && *s != "*" && *s != format!("{resource}:*"))
                .collect();
            let url = app.at(&path
                .replace("{id}", "0192e7a0-0000-7000-8000-000000000000")
                .replace("{key_id}", "0192e7a0-0000-7000-8000-000000000001")
                .replace("{name}", "some-name"));
            let send = |token: String| {
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                app.client.request(m, &url).bearer_auth(token)
            };
            let lacking = app
                .scoped_token(
                    crate::support::ADMIN,
                    crate::support::ADMIN_PASSWORD,
                    Some(&without.join(" ")),
                )
                .await;
            let (s, _, body) = call(send(lacking)).await;
            assert_eq!(
                (s, body["missing"].as_str()),
                (403, Some(needed)),
                "{method} {path}: {body}"
            );
            let just = app
                .scoped_token(
                    crate::support::ADMIN,
                    crate::support::ADMIN_PASSWORD,
                    Some(needed),
                )
                .await;
            let (s, _, body) = call(send(just)).await;
            assert!(
                s != 403 && s != 401,
                "{method} {path} with {needed}: {s} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} operations checked");
    app.stop().await;
}

/// Security headers on every response (errors and refusals before routing included); `/docs`
/// keeps its own content security policy.
#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let no_host = {
        // A request without a Host header is refused before routing (400).
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = app.url.trim_start_matches("http://").to_owned();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.to_ascii_lowercase()
    };
    assert!(no_host.starts_with("http/1.1 400"), "{no_host}");
    assert!(
        no_host.contains("x-content-type-options: nosniff"),
        "{no_host}"
    );
    for path in ["/healthz", "/users/me", "/no-such-route", "/openapi.json"] {
        let r = app.client.get(app.at(path)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
    let docs = app.client.get(app.at("/docs/")).send().await.unwrap();
    let csp = docs.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'"),
        "/docs keeps its own policy: {csp}"
    );
    app.stop().await;
}
