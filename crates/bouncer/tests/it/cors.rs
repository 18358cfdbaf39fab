//! CORS from `[cors]`: none by default; exact origins only; `*` never with credentials; preflights
//! answered without authentication; CORS headers on errors for allowed origins; `Vary: Origin`
//! always.

use crate::support::{Db, TestApp};

fn vary_has_origin(r: &reqwest::Response) -> bool {
    r.headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("origin"))
}

#[tokio::test]
async fn no_cross_origin_access_by_default() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.at("/healthz"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(vary_has_origin(&r));
    app.stop().await;
}

#[tokio::test]
async fn exact_origins_preflight_and_errors() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.cors.allowed_origins = vec!["https://good.example".into()];
        c.cors.allow_credentials = true;
        c.cors.exposed_headers = vec!["X-Request-Id".into()];
    })
    .await
    .unwrap();
    // Preflight: no credentials needed, the configured methods and headers.
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.at("/users/me"))
        .header("origin", "https://good.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://good.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(h["access-control-max-age"], "600");
    // An error (401) for an allowed origin still carries the CORS headers.
    let r = app
        .client
        .get(app.at("/users/me"))
        .header("origin", "https://good.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    assert!(vary_has_origin(&r));
    // Look-alikes and `null` get nothing.
    for origin in [
        "https://good.example.evil.com",
        "http://good.example",
        "https://good.example:8443",
        "null",
        "https://GOOD.example",
    ] {
        let r = app
            .client
            .get(app.at("/healthz"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert!(vary_has_origin(&r));
    }
    app.stop().await;
}

#[tokio::test]
async fn any_origin_never_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::test_config(Db::Sqlite, &dir).unwrap();
    c.cors.allowed_origins = vec!["*".into()];
    c.cors.allow_credentials = true;
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("cors.allow_credentials"), "{err}");
    c.cors.allowed_origins = vec!["https://app.example/path".into()];
    c.cors.allow_credentials = false;
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("cors.allowed_origins")
    );

    let app = TestApp::spawn_with(Db::Sqlite, |c| c.cors.allowed_origins = vec!["*".into()])
        .await
        .unwrap();
    let r = app
        .client
        .get(app.at("/healthz"))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn wildcards_in_the_lists_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::test_config(Db::Sqlite, &dir).unwrap();
    c.cors.allowed_origins = vec!["https://app.example".into()];
    c.cors.allowed_headers = vec!["*".into()];
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("cors.allowed_headers"), "{err}");
}
