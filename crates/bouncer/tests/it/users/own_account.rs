//! Users through the HTTP API, one's own account: `/users/me` with Bearer and Basic, profile
//! changes, password changes (the current password needed, the old one retired at once), and the
//! Basic cache dropped when an admin changes a password. Each test runs on both databases.

use serde_json::{Value, json};

use super::{assert_no_secrets, get_basic, register, token_error};
use crate::support::http::{assert_problem, call};
use crate::support::{BOTH, TestApp};

#[tokio::test]
async fn users_me_works_with_bearer_and_basic() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "carol", "carol@example.com", "Carol-password").await;
        let token = app.token("carol", "Carol-password").await;
        let (s, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(&token)).await;
        assert_eq!(s, 200, "{db:?} bearer");
        assert_eq!(me, reg, "{db:?}: /users/me is the registered user");
        let (s, _, me2) = call(
            app.client
                .get(app.at("/users/me"))
                .basic_auth("carol", Some("Carol-password")),
        )
        .await;
        assert_eq!(s, 200, "{db:?} basic");
        assert_eq!(me2, reg);
        // And without credentials: 401 with both challenges.
        let (s, h, body) = call(app.client.get(app.at("/users/me"))).await;
        assert_eq!(s, 401);
        assert_eq!(body["code"], "unauthorized");
        assert_eq!(h.get_all("www-authenticate").iter().count(), 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn patch_me_changes_email_and_full_name_and_null_clears_it() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        register(&app, "dave", "dave@example.com", "Dave-password").await;
        let token = app.token("dave", "Dave-password").await;
        let patch = |body: Value| {
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&token)
                .json(&body)
        };
        let (s, _, u) = call(patch(
            json!({"email": "dave@new.example.org", "full_name": "Dave D"}),
        ))
        .await;
        assert_eq!(s, 200, "{db:?}: {u}");
        assert_eq!(u["email"], "dave@new.example.org");
        assert_eq!(u["full_name"], "Dave D");
        assert_no_secrets(&u, "Dave-password");

        // An absent field is left alone.
        let (s, _, u) = call(patch(json!({"email": "dave@example.net"}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["full_name"], "Dave D", "{db:?}: absent full_name kept");

        // null clears.
        let (s, _, u) = call(patch(json!({"full_name": null}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["full_name"], Value::Null, "{db:?}");
        assert_eq!(u["email"], "dave@example.net");

        // And it is stored, not just echoed.
        let (s, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(&token)).await;
        assert_eq!(s, 200);
        assert_eq!(me["full_name"], Value::Null, "{db:?}");
        assert_eq!(me["email"], "dave@example.net", "{db:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_retires_the_old_one() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (old, new) = ("Old-password-1", "New-password-2");
        register(&app, "erin", "erin@example.com", old).await;
        let token = app.token("erin", old).await;
        // Warm the Basic cache with the old password.
        assert_eq!(get_basic(&app, "/users/me", "erin", old).await, 200);
        assert_eq!(get_basic(&app, "/users/me", "erin", old).await, 200);

        let patch = |body: Value| {
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&token)
                .json(&body)
        };
        let got = call(patch(json!({"password": new}))).await;
        assert_problem(
            &format!("{db:?} no current"),
            &got,
            422,
            "validation_error",
            Some("current_password"),
        );
        let got = call(patch(
            json!({"password": new, "current_password": "Wrong-password"}),
        ))
        .await;
        assert_problem(
            &format!("{db:?} wrong current"),
            &got,
            422,
            "validation_error",
            Some("current_password"),
        );
        // Nothing changed so far.
        assert_eq!(
            get_basic(&app, "/users/me", "erin", old).await,
            200,
            "{db:?}"
        );

        let (s, _, u) = call(patch(json!({"password": new, "current_password": old}))).await;
        assert_eq!(s, 200, "{db:?}: {u}");
        assert_no_secrets(&u, new);

        // The old password is refused at once, by the token endpoint and by Basic (cache dropped).
        let (s, body) = token_error(&app, "erin", old).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{db:?}"
        );
        let (s, h, body) = call(
            app.client
                .get(app.at("/users/me"))
                .basic_auth("erin", Some(old)),
        )
        .await;
        assert_eq!(
            s, 401,
            "{db:?}: old password over Basic after the change: {body}"
        );
        assert_eq!(body["code"], "unauthorized");
        assert!(
            h.get_all("www-authenticate")
                .iter()
                .any(|v| v.to_str().unwrap().starts_with("Basic"))
        );

        // The new one works both ways.
        assert_eq!(
            get_basic(&app, "/users/me", "erin", new).await,
            200,
            "{db:?}"
        );
        app.token("erin", new).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn basic_cache_is_dropped_when_an_admin_changes_the_password() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "frank", "frank@example.com", "Frank-password").await;
        assert_eq!(
            get_basic(&app, "/users/me", "frank", "Frank-password").await,
            200
        );
        let admin = app.admin_token().await;
        let (s, _, _) = call(
            app.client
                .patch(app.at(&format!("/users/{}", reg["id"].as_str().unwrap())))
                .bearer_auth(&admin)
                .json(&json!({"password": "Frank-password-2"})),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            get_basic(&app, "/users/me", "frank", "Frank-password").await,
            401,
            "{db:?}"
        );
        assert_eq!(
            get_basic(&app, "/users/me", "frank", "Frank-password-2").await,
            200,
            "{db:?}"
        );
        app.stop().await;
    }
}
