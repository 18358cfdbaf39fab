//! Opaque access tokens (`tokens.format = "opaque"`): random strings stored as digests with their
//! claims; the same rules as JWTs (scopes, generations, revocation, expiry), and they survive a
//! restart.

use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, Db, TestApp};

async fn opaque_app(db: Db) -> Option<TestApp> {
    TestApp::spawn_with(db, |c| c.tokens.format = "opaque".into()).await
}

#[tokio::test]
async fn opaque_tokens_follow_every_rule_jwts_do() {
    for db in BOTH {
        let Some(app) = opaque_app(db).await else {
            continue;
        };
        let (name, pw, id) = app.user_with_roles("opaquer", &["user"]).await;
        let r = app.token_response(&name, &pw, None).await;
        let t: Value = r.json().await.unwrap();
        let access = t["access_token"].as_str().unwrap().to_owned();
        assert!(
            access.starts_with("bno_") && !access.contains('.'),
            "{db:?}: {access}"
        );
        let me = app.get_bearer("/users/me", &access).await;
        assert_eq!(me.status(), 200);
        assert_eq!(me.json::<Value>().await.unwrap()["id"], id.as_str());

        // Scopes narrow it like a JWT.
        let narrow = app.scoped_token(&name, &pw, Some("items:read")).await;
        let r = app
            .client
            .post(app.at("/items"))
            .bearer_auth(&narrow)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);

        // Unknown, truncated and revoked tokens are 401.
        for junk in [format!("bno_{}", "A".repeat(43)), access[..20].to_owned()] {
            assert_eq!(
                app.get_bearer("/users/me", &junk).await.status(),
                401,
                "{junk}"
            );
        }
        let refreshed = app
            .client
            .post(app.at("/oauth2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refreshed.status(), 200);
        let refreshed: Value = refreshed.json().await.unwrap();
        let second = refreshed["access_token"].as_str().unwrap().to_owned();
        assert!(second.starts_with("bno_"));
        let r = app
            .client
            .post(app.at("/oauth2/revoke"))
            .bearer_auth(&second)
            .form(&[("token", second.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            app.get_bearer("/users/me", &second).await.status(),
            401,
            "{db:?}"
        );
        assert_eq!(
            app.get_bearer("/users/me", &access).await.status(),
            200,
            "only that one"
        );

        // A password change retires it (generation), expiry ends it.
        let other = app.scoped_token(ADMIN, ADMIN_PASSWORD, None).await;
        let r = app
            .client
            .patch(app.at("/users/me"))
            .bearer_auth(&access)
            .json(&json!({"password": "Opaque-new-river-7", "current_password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(app.get_bearer("/users/me", &access).await.status(), 401);
        assert_eq!(app.get_bearer("/users/me", &other).await.status(), 200);
        app.clock.advance_s(900 + 61);
        assert_eq!(
            app.get_bearer("/users/me", &other).await.status(),
            401,
            "expired"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn opaque_tokens_survive_a_restart_and_are_introspectable() {
    let app = opaque_app(Db::Sqlite).await.unwrap();
    let token = app.admin_token().await;
    let admin = token.clone();
    let r = app
        .client
        .post(app.at("/clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "gw", "scopes": ["tokens:introspect"]}))
        .send()
        .await
        .unwrap();
    let c: Value = r.json().await.unwrap();
    let (id, secret) = (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    );
    let (config, clock, dir) = app.stop_and_keep().await;
    let app = TestApp::spawn_from(config, clock, dir).await;
    assert_eq!(app.get_bearer("/users/me", &token).await.status(), 200);
    let r = app
        .client
        .post(app.at("/oauth2/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["username"], ADMIN);
    assert_eq!(i["token_type"], "access_token");
    // A client's own token is opaque too.
    let r = app
        .client
        .post(app.at("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    assert!(t["access_token"].as_str().unwrap().starts_with("bno_"));
    app.stop().await;
}
