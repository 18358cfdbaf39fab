//! The credential pipeline: one credential per request, taken by a fixed precedence; two
//! `Authorization` headers are 400 `ambiguous_credentials`, never a guess.

use serde_json::Value;

use crate::support::TestApp;

#[tokio::test]
async fn two_authorization_headers_are_ambiguous_never_a_guess() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let r = app
        .client
        .get(app.at("/users/me"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "ambiguous_credentials"
    );
    // The same header twice with the same value is still two headers.
    let r = app
        .client
        .get(app.at("/users/me"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn trusted_proxies_must_be_networks() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::test_config(crate::support::Db::Sqlite, &dir).unwrap();
    c.server.trusted_proxies = vec!["10.0.0.0/8".into(), "127.0.0.1".into(), "::1".into()];
    c.validate().expect("CIDRs and addresses");
    c.server.trusted_proxies = vec!["10.0.0.0/33".into()];
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("server.trusted_proxies"), "{err}");
}
