//! Machine clients, introspection (RFC 7662): only for clients holding `tokens:introspect`; access
//! and refresh tokens are active exactly while they work.

use serde_json::{Value, json};

use super::{create, form, id_secret};
use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp, basic};

/// Introspection: only clients holding `tokens:introspect`; access and refresh tokens are active
/// exactly while they work; anything else is `{"active": false}`.
#[tokio::test]
async fn introspection_for_clients_with_tokens_introspect() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (_, rs) = create(
            &app,
            &admin,
            json!({"name": "gateway", "scopes": ["tokens:introspect"]}),
        )
        .await;
        let (rs_id, rs_secret) = id_secret(&rs);
        let (_, other) = create(
            &app,
            &admin,
            json!({"name": "plain", "scopes": ["items:read"]}),
        )
        .await;
        let (o_id, o_secret) = id_secret(&other);
        let gateway = basic(&rs_id, &rs_secret);

        let (name, pw, id) = app.user_with_roles("inspected", &["user"]).await;
        let r = app.token_response(&name, &pw, Some("items:read")).await;
        let t: Value = r.json().await.unwrap();
        let access = t["access_token"].as_str().unwrap();
        let refresh = t["refresh_token"].as_str().unwrap();

        let (st, i) = form(
            &app,
            "/oauth2/introspect",
            Some(&gateway),
            &[("token", access)],
        )
        .await;
        assert_eq!(st, 200, "{db:?}: {i}");
        assert_eq!(i["active"], true);
        assert_eq!(i["sub"], id.as_str());
        assert_eq!(i["username"], name.as_str());
        assert_eq!(i["scope"], "items:read");
        assert_eq!(i["client_id"], "swagger");
        assert_eq!(i["token_type"], "access_token");
        assert!(i["exp"].as_i64().unwrap() > i["iat"].as_i64().unwrap());
        // What it may use now, as the token's claims say: the scope leaves no role usable.
        assert_eq!(i["roles"], json!([]), "{i}");
        assert_eq!(i["permissions"], json!(["items:read"]), "{i}");
        let r = app
            .token_response(&name, &pw, Some("items:read role:user"))
            .await;
        let with_role: Value = r.json().await.unwrap();
        let (_, i) = form(
            &app,
            "/oauth2/introspect",
            Some(&gateway),
            &[("token", with_role["access_token"].as_str().unwrap())],
        )
        .await;
        assert_eq!(i["roles"], json!(["user"]), "{i}");
        assert_eq!(i["permissions"], json!(["items:read"]), "{i}");
        let (_, i) = form(
            &app,
            "/oauth2/introspect",
            None,
            &[
                ("token", refresh),
                ("client_id", &rs_id),
                ("client_secret", &rs_secret),
            ],
        )
        .await;
        assert_eq!(i["active"], true, "{i}");
        assert_eq!(i["token_type"], "refresh_token");
        assert_eq!(i["permissions"], json!(["items:read"]), "{i}");

        // Not for users (even the admin), nor for clients without tokens:introspect.
        let (st, body) = form(
            &app,
            "/oauth2/introspect",
            Some(&format!("Bearer {admin}")),
            &[("token", access)],
        )
        .await;
        assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")));
        let (st, _) = form(
            &app,
            "/oauth2/introspect",
            Some(&basic(ADMIN, ADMIN_PASSWORD)),
            &[("token", access)],
        )
        .await;
        assert_eq!(st, 401);
        let (st, _) = form(
            &app,
            "/oauth2/introspect",
            Some(&basic(&o_id, &o_secret)),
            &[("token", access)],
        )
        .await;
        assert_eq!(st, 401);

        // Inactive: garbage, a revoked token, a used refresh token, a disabled user's token.
        for junk in ["garbage", "bnr_nothing", "eyJhbGciOiJub25lIn0.e30."] {
            let (_, i) = form(
                &app,
                "/oauth2/introspect",
                Some(&gateway),
                &[("token", junk)],
            )
            .await;
            assert_eq!(i, json!({"active": false}), "{junk}");
        }
        let (st, _) = form(
            &app,
            "/oauth2/token",
            None,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(st, 200);
        let (_, i) = form(
            &app,
            "/oauth2/introspect",
            Some(&gateway),
            &[("token", refresh)],
        )
        .await;
        assert_eq!(i["active"], false, "a rotated refresh token");
        let r = app
            .client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (_, i) = form(
            &app,
            "/oauth2/introspect",
            Some(&gateway),
            &[("token", access)],
        )
        .await;
        assert_eq!(i["active"], false, "a disabled user's token");
        app.stop().await;
    }
}
