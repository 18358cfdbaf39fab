//! The last-admin guard: the last enabled admin cannot be disabled, demoted or deleted (a
//! disabled second admin does not count); with a second admin enabled, the first can be.

use serde_json::json;

use crate::support::http::{assert_problem, call};
use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp};
use crate::users::{admin_id, token_error};

#[tokio::test]
async fn the_last_admin_cannot_be_disabled_deleted_or_demoted() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let id = admin_id(&app, &admin).await;
        let url = app.at(&format!("/users/{id}"));
        for (what, body) in [
            ("disable", json!({"disabled": true})),
            ("demote", json!({"roles": ["user"]})),
            ("demote to nothing", json!({"roles": []})),
        ] {
            let got = call(app.client.patch(&url).bearer_auth(&admin).json(&body)).await;
            assert_problem(&format!("{db:?} {what}"), &got, 409, "last_admin", None);
        }
        let got = call(app.client.delete(&url).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?} delete"), &got, 409, "last_admin", None);

        // Still the admin, still enabled, still working.
        let (s, _, u) = call(app.client.get(&url).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(u["roles"], json!(["admin"]), "{db:?}");
        assert_eq!(u["disabled"], false, "{db:?}");
        app.token(ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(
            app.get_bearer("/admin-only", &admin).await.status(),
            200,
            "{db:?}"
        );

        // A disabled second admin does not count.
        let (_, _, other) = app.user_with_roles("root2", &["admin"]).await;
        let (s, _, _) = call(
            app.client
                .patch(app.at(&format!("/users/{other}")))
                .bearer_auth(&admin)
                .json(&json!({"disabled": true})),
        )
        .await;
        assert_eq!(s, 200);
        let got = call(
            app.client
                .patch(&url)
                .bearer_auth(&admin)
                .json(&json!({"disabled": true})),
        )
        .await;
        assert_problem(
            &format!("{db:?} disable with only a disabled peer"),
            &got,
            409,
            "last_admin",
            None,
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn with_a_second_admin_the_first_can_be_disabled() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let first = admin_id(&app, &admin).await;
        let (name2, pw2, second) = app.user_with_roles("root2", &["admin"]).await;
        let admin2 = app.token(&name2, &pw2).await;
        let (s, _, u) = call(
            app.client
                .patch(app.at(&format!("/users/{first}")))
                .bearer_auth(&admin2)
                .json(&json!({"disabled": true})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {u}");
        assert_eq!(u["disabled"], true);
        assert_eq!(
            app.get_bearer("/users/me", &admin).await.status(),
            401,
            "{db:?}"
        );
        let (s, body) = token_error(&app, ADMIN, ADMIN_PASSWORD).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));

        // Now root2 is the last enabled admin.
        let got = call(
            app.client
                .delete(app.at(&format!("/users/{second}")))
                .bearer_auth(&admin2),
        )
        .await;
        assert_problem(&format!("{db:?}"), &got, 409, "last_admin", None);
        // But the disabled first admin can be deleted.
        let (s, _, _) = call(
            app.client
                .delete(app.at(&format!("/users/{first}")))
                .bearer_auth(&admin2),
        )
        .await;
        assert_eq!(s, 204, "{db:?}");
        app.stop().await;
    }
}
