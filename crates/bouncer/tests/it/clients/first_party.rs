//! Machine clients, the first-party rule: the password grant only for first-party clients, refresh
//! tokens only for the client they were issued to, revocation by that client.

use serde_json::json;

use super::{create, form, id_secret};
use crate::support::{TestApp, basic};

/// The password grant is for first-party clients only (the built-in swagger client, or one an
/// admin marked so); a refresh token works only for the client it was issued to; a client revokes
/// tokens issued to it.
#[tokio::test]
async fn first_party_clients_refresh_only_their_own_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, third) = create(
        &app,
        &admin,
        json!({"name": "third-party", "scopes": ["items:read"]}),
    )
    .await;
    let (t_id, t_secret) = id_secret(&third);
    let (_, first) = create(
        &app,
        &admin,
        json!({"name": "web", "scopes": [], "first_party": true}),
    )
    .await;
    let (f_id, f_secret) = id_secret(&first);
    let (name, pw, _) = app.user_with_roles("webuser", &["user"]).await;
    let grant = [
        ("grant_type", "password"),
        ("username", name.as_str()),
        ("password", pw.as_str()),
    ];

    let (st, body) = form(
        &app,
        "/oauth2/token",
        Some(&basic(&t_id, &t_secret)),
        &grant,
    )
    .await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (st, t) = form(
        &app,
        "/oauth2/token",
        Some(&basic(&f_id, &f_secret)),
        &grant,
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap();
    let (st, _) = form(
        &app,
        "/oauth2/token",
        None,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(st, 400, "the swagger client cannot use web's refresh token");
    let (st, t2) = form(
        &app,
        "/oauth2/token",
        Some(&basic(&f_id, &f_secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(st, 200, "{t2}");

    // The client revokes what was issued to it; another client's attempt changes nothing.
    let refresh2 = t2["refresh_token"].as_str().unwrap();
    let (st, _) = form(
        &app,
        "/oauth2/revoke",
        Some(&basic(&t_id, &t_secret)),
        &[("token", refresh2)],
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = form(&app, "/oauth2/introspect", None, &[]).await;
    assert_eq!(st, 400, "no token: invalid_request");
    assert_eq!(
        app.get_bearer("/users/me", t2["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    let (st, _) = form(
        &app,
        "/oauth2/revoke",
        Some(&basic(&f_id, &f_secret)),
        &[("token", refresh2)],
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.get_bearer("/users/me", t2["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    app.stop().await;
}
