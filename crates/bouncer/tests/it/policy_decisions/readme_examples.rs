//! The README's four policy examples (office hours, office deletes, read-only keys, admin actions
//! after a recent login), end to end over real requests on both databases.

use serde_json::json;

use crate::policies::{ms, put_ok};
use crate::support::http::call;
use crate::support::{BOTH, TestApp};

/// The four README examples, end to end over real requests, on both databases.
#[tokio::test]
async fn the_readme_examples_work_end_to_end() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        // Friday 2027-03-26 15:30 UTC is 16:30 in Berlin.
        app.clock.set_ms(ms("2027-03-26T15:30:00Z"));
        let admin = app.admin_token().await;
        let (user, pw, _) = app.user_with_roles("reader", &["user"]).await;
        put_ok(&app, &admin, "office-hours", json!({
            "effect": "allow", "permissions": ["items:write"],
            "conditions": {"time_zone": "Europe/Berlin", "time_windows": [{"start": "09:00", "end": "18:00"}],
                           "weekdays": ["mon", "tue", "wed", "thu", "fri"]}
        }))
        .await;
        put_ok(&app, &admin, "office-deletes", json!({
            "effect": "allow", "permissions": ["items:delete"], "conditions": {"client_ips": ["10.0.0.0/8", "127.0.0.0/8"]}
        }))
        .await;
        put_ok(&app, &admin, "keys-read-only", json!({
            "effect": "deny", "permissions": ["items:write", "items:delete"], "credential_kinds": ["api_key"]
        }))
        .await;
        put_ok(&app, &admin, "admin-recent-login", json!({
            "effect": "allow", "permissions": ["users:*", "roles:*", "policies:write", "clients:*"],
            "roles": ["admin"], "conditions": {"max_auth_age_s": 600}
        }))
        .await;
        let t = app.token(&user, &pw).await;
        let new_item = |t: &str| {
            app.client
                .post(app.at("/items"))
                .bearer_auth(t.to_owned())
                .json(&json!({"name": "n"}))
        };
        let (s, _, item) = call(new_item(&t)).await;
        assert_eq!(s, 201, "{db:?}: office hours: {item}");
        let id = item["id"].as_str().unwrap().to_owned();
        // Deleting one's own item (items:write stands in) from 127.0.0.1 is in the office range.
        let del = call(
            app.client
                .delete(app.at(&format!("/items/{id}")))
                .bearer_auth(&t),
        )
        .await;
        assert_eq!(del.0, 204, "{db:?}: {}", del.2);
        // An API key cannot write.
        let (_, _, key) = call(
            app.client
                .post(app.at("/users/me/api-keys"))
                .bearer_auth(&t)
                .json(&json!({"name": "k"})),
        )
        .await;
        let key = key["key"].as_str().unwrap().to_owned();
        let (s, _, body) = call(
            app.client
                .post(app.at("/items"))
                .header("x-api-key", &key)
                .json(&json!({"name": "n"})),
        )
        .await;
        assert_eq!(
            (s, &body["policy"]),
            (403, &json!("keys-read-only")),
            "{db:?}: {body}"
        );
        assert_eq!(
            call(app.client.get(app.at("/items")).header("x-api-key", &key))
                .await
                .0,
            200
        );
        // Admin actions need a recent login.
        let users = || {
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(admin.clone())
                .json(&json!({"full_name": "A"}))
        };
        assert_eq!(
            call(app.client.get(app.at("/users")).bearer_auth(&admin))
                .await
                .0,
            200
        );
        app.clock.advance_s(601);
        let (s, _, body) = call(app.client.get(app.at("/users")).bearer_auth(&admin)).await;
        assert_eq!(
            (s, &body["policy"]),
            (403, &json!("admin-recent-login")),
            "{db:?}: {body}"
        );
        assert_eq!(
            call(users()).await.0,
            200,
            "own profile needs no permission"
        );
        // Saturday: outside office hours.
        app.clock.set_ms(ms("2027-03-27T10:00:00Z"));
        let t = app.token(&user, &pw).await;
        let (s, _, body) = call(new_item(&t)).await;
        assert_eq!(
            (s, &body["policy"]),
            (403, &json!("office-hours")),
            "{db:?}: {body}"
        );
        app.stop().await;
    }
}
