//! `GET /users` pages: by offset, and by the keyset cursor each page hands out (`next_cursor`),
//! on both databases.

use serde_json::Value;

use super::register;
use crate::support::http::{assert_problem, call};
use crate::support::{BOTH, TestApp};

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect()
}

#[tokio::test]
async fn cursor_pages_cover_every_user_once_in_creation_order() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        for i in 0..5 {
            register(
                &app,
                &format!("pager{i}"),
                &format!("pager{i}@example.com"),
                "Pager-pw-12345",
            )
            .await;
        }
        let admin = app.admin_token().await;
        let get = |q: String| {
            call(
                app.client
                    .get(app.at(&format!("/users{q}")))
                    .bearer_auth(&admin),
            )
        };
        let (s, _, all) = get("?limit=100".into()).await;
        assert_eq!(s, 200, "{db:?}: {all}");
        assert_eq!(all["total"], 6, "{db:?}: the admin and five users");
        assert!(
            all["next_cursor"].is_null(),
            "{db:?}: one page holds them all"
        );
        let mut walked = Vec::new();
        let mut query = "?limit=2".to_owned();
        let mut pages = 0;
        loop {
            let (s, _, page) = get(query.clone()).await;
            assert_eq!(s, 200, "{db:?}: {page}");
            assert_eq!(page["total"], 6);
            walked.extend(names(&page));
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => query = format!("?limit=2&cursor={c}"),
                None => break,
            }
            assert!(pages < 10, "{db:?}: the cursor must move forward");
        }
        assert_eq!(
            pages, 3,
            "{db:?}: 6 users, 2 a page, no empty page at the end"
        );
        assert_eq!(
            walked,
            names(&all),
            "{db:?}: same users, same order as by offset"
        );

        // `offset` counts from the cursor.
        let (_, _, first) = get("?limit=1".into()).await;
        let c = first["next_cursor"].as_str().expect("more follow");
        let (s, _, page) = get(format!("?limit=2&offset=2&cursor={c}")).await;
        assert_eq!(s, 200);
        assert_eq!(names(&page), names(&all)[3..5], "{db:?}");
        assert_eq!(page["offset"], 2);

        for bad in [
            "nope",
            "12_not-a-uuid",
            "_00000000-0000-0000-0000-000000000000",
            "1234567890123456789_00000000-0000-0000-0000-000000000000",
        ] {
            let got = get(format!("?cursor={bad}")).await;
            assert_problem(
                &format!("cursor {bad}"),
                &got,
                422,
                "validation_error",
                Some("cursor"),
            );
        }
        app.stop().await;
    }
}
