//! The password grant and what it issues.

use serde_json::Value;

use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, TestApp};

#[tokio::test]
async fn password_grant_issues_a_jwt_that_works_on_both_databases() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let r = app.token_response(ADMIN, ADMIN_PASSWORD, None).await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("no-store")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["scope"], "*");
        let me = app
            .get_bearer("/users/me", body["access_token"].as_str().unwrap())
            .await;
        assert_eq!(me.status(), 200, "{db:?}");
        assert_eq!(me.json::<Value>().await.unwrap()["username"], ADMIN);
        app.stop().await;
    }
}
