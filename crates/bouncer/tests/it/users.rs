//! Users and roles through the HTTP API: registration, own profile, password changes, user
//! administration, the last-admin guard, roles, and concurrent sign-ups. Where the data layer
//! matters, each test runs on both databases.

use reqwest::{RequestBuilder, Response};
use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, Db, TestApp};

/// Sends a request, asserts it did not fail with a 5xx, and returns status, headers and JSON body
/// (`Value::Null` for an empty body).
pub(crate) async fn call(rb: RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r: Response = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    assert!(status < 500, "server error {status}: {text}");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, body)
}

/// Asserts a problem document with `code` (and `field`, when given).
pub(crate) fn assert_problem(
    what: &str,
    got: &(u16, reqwest::header::HeaderMap, Value),
    status: u16,
    code: &str,
    field: Option<&str>,
) {
    let (s, h, body) = got;
    assert_eq!(*s, status, "{what}: {body}");
    assert_eq!(
        h.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{what}: content type"
    );
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["status"], status, "{what}: {body}");
    if let Some(f) = field {
        assert_eq!(body["field"], f, "{what}: {body}");
    }
}

/// No key naming a password or hash, and no value that looks like a stored hash, anywhere.
fn assert_no_secrets(v: &Value, password: &str) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let k = k.to_ascii_lowercase();
                assert!(
                    !k.contains("password") && !k.contains("hash") && !k.contains("secret"),
                    "secret-looking field {k:?} in {v}"
                );
                assert_no_secrets(v, password);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| assert_no_secrets(v, password)),
        Value::String(s) => {
            assert!(!s.starts_with("$argon2"), "a hash in the response: {s}");
            assert!(!s.contains(password), "the password in the response");
        }
        _ => {}
    }
}

fn register_req(app: &TestApp, username: &str, email: &str, password: &str) -> RequestBuilder {
    app.client
        .post(app.at("/auth/register"))
        .json(&json!({"username": username, "email": email, "password": password}))
}

async fn register(app: &TestApp, username: &str, email: &str, password: &str) -> Value {
    let (s, _, body) = call(register_req(app, username, email, password)).await;
    assert_eq!(s, 201, "register {username}: {body}");
    body
}

async fn get_basic(app: &TestApp, path: &str, user: &str, pass: &str) -> u16 {
    call(app.client.get(app.at(path)).basic_auth(user, Some(pass)))
        .await
        .0
}

async fn token_error(app: &TestApp, user: &str, pass: &str) -> (u16, Value) {
    let r = app.token_response(user, pass, None).await;
    let s = r.status().as_u16();
    (s, r.json().await.expect("json"))
}

async fn admin_id(app: &TestApp, admin: &str) -> String {
    let (s, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(admin)).await;
    assert_eq!(s, 200);
    me["id"].as_str().unwrap().to_owned()
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn register_returns_201_with_role_user_location_and_no_secrets() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let password = "Correct-horse-1";
        let (s, h, body) = call(app.client.post(app.at("/auth/register")).json(&json!({
            "username": "Alice.B-c_1",
            "email": "Alice@Example.com",
            "password": password,
            "full_name": "Alice B"
        })))
        .await;
        assert_eq!(s, 201, "{db:?}: {body}");
        let id = body["id"].as_str().expect("id");
        uuid::Uuid::parse_str(id).expect("id is a uuid");
        assert_eq!(
            h.get("location").and_then(|v| v.to_str().ok()),
            Some(format!("/users/{id}").as_str()),
            "{db:?}"
        );
        assert_eq!(body["username"], "Alice.B-c_1");
        assert_eq!(body["email"], "Alice@Example.com");
        assert_eq!(body["full_name"], "Alice B");
        assert_eq!(body["disabled"], false);
        assert_eq!(body["roles"], json!(["user"]));
        assert_eq!(body["permissions"], json!([]));
        assert!(body["created_at"].is_string() && body["updated_at"].is_string());
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "created_at",
                "disabled",
                "email",
                "full_name",
                "id",
                "permissions",
                "roles",
                "updated_at",
                "username"
            ],
            "{db:?}"
        );
        assert_no_secrets(&body, password);

        // The same user seen every other way carries no secret either.
        let admin = app.admin_token().await;
        let (s, _, one) = call(
            app.client
                .get(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200);
        assert_no_secrets(&one, password);
        let (s, _, all) = call(app.client.get(app.at("/users")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_no_secrets(&all, password);
        assert_no_secrets(&all, ADMIN_PASSWORD);
        let (s, _, me) = call(
            app.client
                .get(app.at("/users/me"))
                .basic_auth("alice.b-c_1", Some(password)),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: login is case-insensitive on the username");
        assert_eq!(me["id"], id);
        assert_no_secrets(&me, password);
        app.stop().await;
    }
}

#[tokio::test]
async fn duplicate_username_differing_only_in_case_is_409() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        register(&app, "Alice", "alice@example.com", "Password-river-1").await;
        let got = call(register_req(
            &app,
            "aLICE",
            "other@example.com",
            "Password-river-1",
        ))
        .await;
        assert_problem(&format!("{db:?}"), &got, 409, "conflict", None);
        // The built-in admin is taken too.
        let got = call(register_req(
            &app,
            "ADMIN",
            "x@example.com",
            "Password-river-1",
        ))
        .await;
        assert_problem(&format!("{db:?} ADMIN"), &got, 409, "conflict", None);
        app.stop().await;
    }
}

#[tokio::test]
async fn duplicate_email_differing_only_in_case_is_409() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        register(&app, "alice", "Alice@Example.com", "Password-river-1").await;
        let got = call(register_req(
            &app,
            "bob",
            "alice@EXAMPLE.COM",
            "Password-river-1",
        ))
        .await;
        assert_problem(&format!("{db:?}"), &got, 409, "conflict", None);
        // An admin changing someone's email to a taken one (other case) gets 409 as well.
        let bob = register(&app, "bob", "bob@example.com", "Password-river-1").await;
        let admin = app.admin_token().await;
        let got = call(
            app.client
                .patch(app.at(&format!("/users/{}", bob["id"].as_str().unwrap())))
                .bearer_auth(&admin)
                .json(&json!({"email": "ALICE@example.com"})),
        )
        .await;
        assert_problem(&format!("{db:?} admin patch"), &got, 409, "conflict", None);
        app.stop().await;
    }
}

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

#[tokio::test]
async fn admin_lists_users_paginated_in_creation_order() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let mut ids = Vec::new();
        for i in 1..=5 {
            // Time moves on between sign-ups, as it would.
            app.clock.advance_s(1);
            let u = register(
                &app,
                &format!("user{i}"),
                &format!("user{i}@example.com"),
                "Password-123",
            )
            .await;
            ids.push(u["id"].as_str().unwrap().to_owned());
        }
        let admin = app.admin_token().await;
        let (s, _, page) = call(
            app.client
                .get(app.at("/users?limit=2&offset=1"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {page}");
        assert_eq!(page["total"], 6, "{db:?}: 5 users and the admin");
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], 1);
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{db:?}");
        assert_eq!(items[0]["username"], "user1", "{db:?}");
        assert_eq!(items[1]["username"], "user2", "{db:?}");
        assert_eq!(items[0]["id"], ids[0].as_str());

        // The default page: everything, admin first.
        let (s, _, page) = call(app.client.get(app.at("/users")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(page["limit"], 50);
        assert_eq!(page["offset"], 0);
        let names: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [ADMIN, "user1", "user2", "user3", "user4", "user5"],
            "{db:?}"
        );

        // Past the end: empty page, same total.
        let (s, _, page) = call(
            app.client
                .get(app.at("/users?offset=10"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(page["items"], json!([]));
        assert_eq!(page["total"], 6);

        // A plain user may not list.
        let t = app.token("user1", "Password-123").await;
        let (s, _, body) = call(app.client.get(app.at("/users")).bearer_auth(&t)).await;
        assert_eq!(s, 403, "{db:?}: {body}");
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_gets_a_user_by_id_and_unknown_or_malformed_ids_are_404() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "gina", "gina@example.com", "Gina-password").await;
        let admin = app.admin_token().await;
        let get = |path: String| app.client.get(app.at(&path)).bearer_auth(&admin);
        let (s, _, u) = call(get(format!("/users/{}", reg["id"].as_str().unwrap()))).await;
        assert_eq!(s, 200, "{db:?}");
        assert_eq!(u, reg);
        let got = call(get(format!("/users/{}", uuid::Uuid::new_v4()))).await;
        assert_problem(&format!("{db:?} unknown"), &got, 404, "not_found", None);
        for bad in ["not-a-uuid", "123", "%27%20OR%201=1--"] {
            let got = call(get(format!("/users/{bad}"))).await;
            assert_problem(&format!("{db:?} {bad}"), &got, 404, "not_found", None);
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_patches_roles_permissions_disabled_and_email() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "hank", "hank@example.com", "Hank-password").await;
        let id = reg["id"].as_str().unwrap();
        let hank_token = app.token("hank", "Hank-password").await;
        let admin = app.admin_token().await;
        let patch = |body: Value| {
            app.client
                .patch(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin)
                .json(&body)
        };
        let (s, _, u) = call(patch(json!({
            "roles": ["moderator", "user"],
            "permissions": ["items:delete", "roles:read"],
            "email": "hank@corp.example.com",
            "full_name": "Hank H"
        })))
        .await;
        assert_eq!(s, 200, "{db:?}: {u}");
        assert_eq!(strings(&u["roles"]), ["moderator", "user"]);
        assert_eq!(strings(&u["permissions"]), ["items:delete", "roles:read"]);
        assert_eq!(u["email"], "hank@corp.example.com");
        assert_eq!(u["full_name"], "Hank H");
        assert_eq!(u["disabled"], false);

        // Stored: GET shows the same.
        let (s, _, again) = call(
            app.client
                .get(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(strings(&again["roles"]), ["moderator", "user"], "{db:?}");
        assert_eq!(
            strings(&again["permissions"]),
            ["items:delete", "roles:read"],
            "{db:?}"
        );
        assert_eq!(again["email"], "hank@corp.example.com");

        // Roles are a full replacement list.
        let (s, _, u) = call(patch(json!({"roles": ["guest"]}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["roles"], json!(["guest"]), "{db:?}");
        assert_eq!(
            strings(&u["permissions"]),
            ["items:delete", "roles:read"],
            "{db:?}: untouched"
        );
        let (s, _, u) = call(patch(json!({"permissions": []}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["permissions"], json!([]), "{db:?}");

        // Disabling locks the user out at once, existing token included.
        assert_eq!(app.get_bearer("/users/me", &hank_token).await.status(), 200);
        let (s, _, u) = call(patch(json!({"disabled": true}))).await;
        assert_eq!(s, 200);
        assert_eq!(u["disabled"], true);
        assert_eq!(
            app.get_bearer("/users/me", &hank_token).await.status(),
            401,
            "{db:?}"
        );
        let (s, body) = token_error(&app, "hank", "Hank-password").await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{db:?}"
        );
        assert_eq!(
            get_basic(&app, "/users/me", "hank", "Hank-password").await,
            401
        );

        // Re-enabling lets them back in.
        let (s, _, _) = call(patch(json!({"disabled": false}))).await;
        assert_eq!(s, 200);
        assert_eq!(
            get_basic(&app, "/users/me", "hank", "Hank-password").await,
            200,
            "{db:?}"
        );

        // Unknown user: 404.
        let got = call(
            app.client
                .patch(app.at(&format!("/users/{}", uuid::Uuid::new_v4())))
                .bearer_auth(&admin)
                .json(&json!({"disabled": true})),
        )
        .await;
        assert_problem(&format!("{db:?}"), &got, 404, "not_found", None);
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_deletes_a_user_then_it_is_gone() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let reg = register(&app, "ivan", "ivan@example.com", "Ivan-password").await;
        let id = reg["id"].as_str().unwrap();
        let ivan = app.token("ivan", "Ivan-password").await;
        // Ivan owns an item: deleting him must not fail on it.
        let (s, _, _) = call(
            app.client
                .post(app.at("/items"))
                .bearer_auth(&ivan)
                .json(&json!({"name": "ivan's"})),
        )
        .await;
        assert_eq!(s, 201);
        let admin = app.admin_token().await;
        let url = app.at(&format!("/users/{id}"));
        let (s, _, body) = call(app.client.delete(&url).bearer_auth(&admin)).await;
        assert_eq!(s, 204, "{db:?}: {body}");
        assert_eq!(body, Value::Null, "204 has no body");
        let got = call(app.client.get(&url).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?} get"), &got, 404, "not_found", None);
        let got = call(app.client.delete(&url).bearer_auth(&admin)).await;
        assert_problem(
            &format!("{db:?} delete again"),
            &got,
            404,
            "not_found",
            None,
        );
        assert_eq!(
            app.get_bearer("/users/me", &ivan).await.status(),
            401,
            "{db:?}: token of a deleted user"
        );
        // The name is free again.
        register(&app, "ivan", "ivan@example.com", "Ivan-password").await;
        app.stop().await;
    }
}

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

#[tokio::test]
async fn a_direct_permission_lets_a_user_delete_anothers_item() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let (alice, alice_pw, _) = app.user_with_roles("alice", &["user"]).await;
        let (bob, bob_pw, bob_id) = app.user_with_roles("bob", &["user"]).await;
        let alice_t = app.token(&alice, &alice_pw).await;
        let (s, _, item) = call(
            app.client
                .post(app.at("/items"))
                .bearer_auth(&alice_t)
                .json(&json!({"name": "alice's thing"})),
        )
        .await;
        assert_eq!(s, 201);
        let item_url = app.at(&format!("/items/{}", item["id"].as_str().unwrap()));

        let bob_t = app.token(&bob, &bob_pw).await;
        let got = call(app.client.delete(&item_url).bearer_auth(&bob_t)).await;
        assert_problem(
            &format!("{db:?} before"),
            &got,
            403,
            "missing_permission",
            None,
        );

        let admin = app.admin_token().await;
        let (s, _, u) = call(
            app.client
                .patch(app.at(&format!("/users/{bob_id}")))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["items:delete"]})),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(u["permissions"], json!(["items:delete"]));

        let bob_t = app.token(&bob, &bob_pw).await;
        let (s, _, body) = call(app.client.delete(&item_url).bearer_auth(&bob_t)).await;
        assert_eq!(s, 204, "{db:?}: {body}");
        let (s, _, _) = call(app.client.get(&item_url).bearer_auth(&alice_t)).await;
        assert_eq!(s, 404, "{db:?}: the item is gone");
        app.stop().await;
    }
}

#[tokio::test]
async fn roles_list_has_the_four_builtins() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (s, _, roles) = call(app.client.get(app.at("/roles")).bearer_auth(&admin)).await;
        assert_eq!(s, 200, "{db:?}: {roles}");
        let mut got: Vec<(String, Vec<String>)> = roles
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    strings(&r["permissions"]),
                )
            })
            .collect();
        got.sort();
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                ("admin".to_owned(), s(&["*"])),
                ("guest".to_owned(), s(&["items:read"])),
                ("moderator".to_owned(), s(&["items:*", "users:read"])),
                ("user".to_owned(), s(&["items:read", "items:write"])),
            ],
            "{db:?}"
        );
        let (st, _, one) = call(
            app.client
                .get(app.at("/roles/moderator"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(one["name"], "moderator");
        assert_eq!(strings(&one["permissions"]), ["items:*", "users:read"]);

        // A plain user may not read roles.
        let (u, p, _) = app.user_with_roles("plain", &["user"]).await;
        let t = app.token(&u, &p).await;
        let (st, _, _) = call(app.client.get(app.at("/roles")).bearer_auth(&t)).await;
        assert_eq!(st, 403);
        app.stop().await;
    }
}

#[tokio::test]
async fn put_role_creates_with_201_then_replaces_with_200() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let put = |perms: Value| {
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": perms}))
        };
        let (s, _, r) = call(put(json!(["users:read"]))).await;
        assert_eq!(s, 201, "{db:?}: {r}");
        assert_eq!(r, json!({"name": "auditor", "permissions": ["users:read"]}));
        let (s, _, r) = call(put(json!(["users:read"]))).await;
        assert_eq!(s, 200, "{db:?}: same again is a replace");
        assert_eq!(r["permissions"], json!(["users:read"]));
        let (s, _, r) = call(put(json!(["roles:read", "users:read"]))).await;
        assert_eq!(s, 200, "{db:?}");
        assert_eq!(strings(&r["permissions"]), ["roles:read", "users:read"]);
        let (s, _, r) = call(app.client.get(app.at("/roles/auditor")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(
            strings(&r["permissions"]),
            ["roles:read", "users:read"],
            "{db:?}"
        );
        let (s, _, all) = call(app.client.get(app.at("/roles")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(all.as_array().unwrap().len(), 5, "{db:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn granting_a_role_gives_its_permissions() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (s, _, _) = call(
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["users:read"]})),
        )
        .await;
        assert_eq!(s, 201);
        let (name, pw, id) = app.user_with_roles("carol", &["user"]).await;
        let (s, _, body) = call(
            app.client
                .get(app.at("/users"))
                .basic_auth(&name, Some(&pw)),
        )
        .await;
        assert_eq!(s, 403, "{db:?}: {body}");
        assert_eq!(body["code"], "missing_permission");
        assert_eq!(body["missing"], "users:read");

        let (s, _, u) = call(
            app.client
                .patch(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin)
                .json(&json!({"roles": ["auditor"]})),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(u["roles"], json!(["auditor"]));
        // At once over Basic (no scope), and with a new token.
        let (s, _, body) = call(
            app.client
                .get(app.at("/users"))
                .basic_auth(&name, Some(&pw)),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {body}");
        let t = app.token(&name, &pw).await;
        assert_eq!(app.get_bearer("/users", &t).await.status(), 200, "{db:?}");
        // ... and no longer the user role's rights: the roles list was replaced.
        let (s, _, _) = call(
            app.client
                .post(app.at("/items"))
                .basic_auth(&name, Some(&pw))
                .json(&json!({"name": "x"})),
        )
        .await;
        assert_eq!(s, 403, "{db:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn changing_a_roles_permissions_applies_to_existing_tokens_at_once() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let put = |perms: Value| {
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": perms}))
        };
        assert_eq!(call(put(json!(["users:read", "roles:read"]))).await.0, 201);
        let (name, pw, _) = app.user_with_roles("dave", &["auditor"]).await;
        let token = app.token(&name, &pw).await;
        assert_eq!(
            app.get_bearer("/users", &token).await.status(),
            200,
            "{db:?}"
        );
        assert_eq!(
            app.get_bearer("/roles", &token).await.status(),
            200,
            "{db:?}"
        );

        assert_eq!(call(put(json!(["roles:read"]))).await.0, 200);
        let r = app.get_bearer("/users", &token).await;
        assert_eq!(r.status(), 403, "{db:?}: the role lost users:read");
        assert_eq!(
            app.get_bearer("/roles", &token).await.status(),
            200,
            "{db:?}"
        );
        assert_eq!(
            call(
                app.client
                    .get(app.at("/users"))
                    .basic_auth(&name, Some(&pw))
            )
            .await
            .0,
            403,
            "{db:?} basic"
        );

        // And back: the token's scope still names users:read, so it works again.
        assert_eq!(call(put(json!(["users:read", "roles:read"]))).await.0, 200);
        assert_eq!(
            app.get_bearer("/users", &token).await.status(),
            200,
            "{db:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn deleting_a_role_in_use_needs_force_and_removes_it_from_its_users() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let (s, _, _) = call(
            app.client
                .put(app.at("/roles/auditor"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["users:read"]})),
        )
        .await;
        assert_eq!(s, 201);
        let (name, pw, id) = app.user_with_roles("erin", &["auditor", "user"]).await;
        assert_eq!(
            call(
                app.client
                    .get(app.at("/users"))
                    .basic_auth(&name, Some(&pw))
            )
            .await
            .0,
            200
        );

        let url = app.at("/roles/auditor");
        let got = call(app.client.delete(&url).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?}"), &got, 409, "role_in_use", None);
        let got = call(
            app.client
                .delete(app.at("/roles/auditor?force=false"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(
            &format!("{db:?} force=false"),
            &got,
            409,
            "role_in_use",
            None,
        );
        let (s, _, _) = call(app.client.get(&url).bearer_auth(&admin)).await;
        assert_eq!(s, 200, "{db:?}: still there");

        let (s, _, body) = call(
            app.client
                .delete(app.at("/roles/auditor?force=true"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 204, "{db:?}: {body}");
        let got = call(app.client.get(&url).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?} gone"), &got, 404, "not_found", None);
        let (s, _, u) = call(
            app.client
                .get(app.at(&format!("/users/{id}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(u["roles"], json!(["user"]), "{db:?}");
        assert_eq!(
            call(
                app.client
                    .get(app.at("/users"))
                    .basic_auth(&name, Some(&pw))
            )
            .await
            .0,
            403,
            "{db:?}: the permission went with the role"
        );
        // Deleting an unused role needs no force; an unknown one is 404.
        assert_eq!(
            call(
                app.client
                    .put(app.at("/roles/spare"))
                    .bearer_auth(&admin)
                    .json(&json!({"permissions": []}))
            )
            .await
            .0,
            201
        );
        assert_eq!(
            call(
                app.client
                    .delete(app.at("/roles/spare"))
                    .bearer_auth(&admin)
            )
            .await
            .0,
            204
        );
        let got = call(
            app.client
                .delete(app.at("/roles/spare"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(&format!("{db:?} unknown"), &got, 404, "not_found", None);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_admin_role_is_protected_and_unknown_roles_are_404() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let got = call(
            app.client
                .delete(app.at("/roles/admin"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(
            &format!("{db:?} delete admin"),
            &got,
            409,
            "builtin_role",
            None,
        );
        let got = call(
            app.client
                .delete(app.at("/roles/admin?force=true"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem(
            &format!("{db:?} delete admin forced"),
            &got,
            409,
            "builtin_role",
            None,
        );
        let got = call(
            app.client
                .put(app.at("/roles/admin"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["users:read", "users:write", "roles:read", "roles:write"]})),
        )
        .await;
        assert_problem(
            &format!("{db:?} admin without *"),
            &got,
            422,
            "validation_error",
            Some("permissions"),
        );
        let got = call(app.client.get(app.at("/roles/nope")).bearer_auth(&admin)).await;
        assert_problem(&format!("{db:?} nope"), &got, 404, "not_found", None);

        let (s, _, r) = call(app.client.get(app.at("/roles/admin")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(r["permissions"], json!(["*"]), "{db:?}");
        // Keeping "*" and adding more is allowed.
        let (s, _, r) = call(
            app.client
                .put(app.at("/roles/admin"))
                .bearer_auth(&admin)
                .json(&json!({"permissions": ["*", "users:read"]})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {r}");
        assert_eq!(app.get_bearer("/admin-only", &admin).await.status(), 200);
        app.stop().await;
    }
}

#[tokio::test]
async fn registration_switched_off_is_404() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.auth.registration = false)
        .await
        .expect("sqlite");
    let got = call(register_req(
        &app,
        "mallory",
        "m@example.com",
        "Mallory-pw-1",
    ))
    .await;
    assert_problem("registration off", &got, 404, "not_found", None);
    // Admins can still create users.
    let admin = app.admin_token().await;
    assert_eq!(app.get_bearer("/users", &admin).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_username_admit_exactly_one() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let rb = register_req(
                    &app,
                    if i % 2 == 0 { "Race" } else { "race" },
                    &format!("race{i}@example.com"),
                    "Race-password",
                );
                tokio::spawn(async move { call(rb).await })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            let (s, _, body) = t.await.expect("task");
            match s {
                201 => created += 1,
                409 => assert_eq!(body["code"], "conflict", "{db:?}: {body}"),
                other => panic!("{db:?}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(created, 1, "{db:?}");

        // The same for one email under different usernames.
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let rb = register_req(
                    &app,
                    &format!("mail{i}"),
                    if i % 2 == 0 {
                        "same@example.com"
                    } else {
                        "SAME@example.com"
                    },
                    "Race-password",
                );
                tokio::spawn(async move { call(rb).await })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            let (s, _, body) = t.await.expect("task");
            match s {
                201 => created += 1,
                409 => assert_eq!(body["code"], "conflict", "{db:?}: {body}"),
                other => panic!("{db:?}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(created, 1, "{db:?}");

        let admin = app.admin_token().await;
        let (s, _, page) = call(app.client.get(app.at("/users")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(page["total"], 3, "{db:?}: admin + one racer of each kind");
        app.stop().await;
    }
}
