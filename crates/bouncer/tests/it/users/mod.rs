//! Users through the HTTP API: registration (201, no secret in any answer, duplicates in any case,
//! switched off) and concurrent sign-ups, and the helpers the user tests share. Own profile and
//! password changes are in `own_account`; user administration and the last-admin guard in
//! `admin_users`, roles in `roles`. Where the data layer matters, each test runs on both databases.

mod own_account;
mod paging;

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::support::http::{assert_problem, call};
use crate::support::{ADMIN_PASSWORD, BOTH, Db, TestApp};

/// No key naming a password or hash, and no value that looks like a stored hash, anywhere.
pub(crate) fn assert_no_secrets(v: &Value, password: &str) {
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

pub(crate) fn register_req(
    app: &TestApp,
    username: &str,
    email: &str,
    password: &str,
) -> RequestBuilder {
    app.client
        .post(app.at("/auth/register"))
        .json(&json!({"username": username, "email": email, "password": password}))
}

pub(crate) async fn register(app: &TestApp, username: &str, email: &str, password: &str) -> Value {
    let (s, _, body) = call(register_req(app, username, email, password)).await;
    assert_eq!(s, 201, "register {username}: {body}");
    body
}

pub(crate) async fn get_basic(app: &TestApp, path: &str, user: &str, pass: &str) -> u16 {
    call(app.client.get(app.at(path)).basic_auth(user, Some(pass)))
        .await
        .0
}

pub(crate) async fn token_error(app: &TestApp, user: &str, pass: &str) -> (u16, Value) {
    let r = app.token_response(user, pass, None).await;
    let s = r.status().as_u16();
    (s, r.json().await.expect("json"))
}

/// The id of the user whose bearer token is `admin`.
pub(crate) async fn admin_id(app: &TestApp, admin: &str) -> String {
    let (s, _, me) = call(app.client.get(app.at("/users/me")).bearer_auth(admin)).await;
    assert_eq!(s, 200);
    me["id"].as_str().unwrap().to_owned()
}

pub(crate) fn strings(v: &Value) -> Vec<String> {
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
