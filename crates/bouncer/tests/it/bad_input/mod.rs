//! Every bad-input rule, one request each: the status, the problem `code`, and the `field` for a
//! 422. Here registration's fields: usernames, emails, full names, passwords, privileged or unknown
//! fields, wrong types. Bodies that are not JSON, wrong media types, oversize bodies and duplicated
//! keys are in `bodies`; the other routes' rules in `other_routes`; bad query values, unknown
//! routes and methods in `bad_requests`; malformed token requests and garbage `Authorization`
//! headers in `bad_credentials`. Every response goes through the suite's `send`, which fails the
//! test on any 5xx.

mod bodies;
mod other_routes;

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{Resp, invalid, problem, send};

/// A 422 for an unknown field, naming exactly that field.
pub(crate) fn unknown(what: &str, r: &Resp, name: &str) {
    invalid(what, r, name);
}

/// A valid registration body, to be spoiled one field at a time.
pub(crate) fn good_registration() -> Value {
    json!({"username": "valid_name", "email": "valid@example.com", "password": "Valid-password-1"})
}

/// `body` with `key` set to `value`.
pub(crate) fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

/// `POST /auth/register` with `body` as JSON.
pub(crate) fn register(app: &TestApp, body: &Value) -> RequestBuilder {
    app.client.post(app.at("/auth/register")).json(body)
}

/// `POST /auth/register` with `body` as it is, and `content_type` when given.
pub(crate) fn raw_register(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> RequestBuilder {
    let rb = app.client.post(app.at("/auth/register")).body(body);
    match content_type {
        Some(ct) => rb.header("content-type", ct),
        None => rb,
    }
}

/// Nobody got registered by a refused request: only the admin exists.
pub(crate) async fn assert_only_admin(app: &TestApp) {
    let admin = app.admin_token().await;
    let r = send(app.client.get(app.at("/users")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["total"], 1,
        "a refused registration created a user: {}",
        r.text
    );
}

#[tokio::test]
async fn usernames_out_of_the_rules_are_422() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(65);
    for bad in [
        "ab",
        long.as_str(),
        "a b",
        "ädmin",
        "name\u{0}x",
        "Cyrillic аdmin",
        "аdmin",
        "",
        "x/y",
        "tab\tname",
    ] {
        let r = send(register(
            &app,
            &with(good_registration(), "username", json!(bad)),
        ))
        .await;
        invalid(&format!("username {bad:?}"), &r, "username");
    }
    assert_only_admin(&app).await;
    // The bounds themselves are fine.
    for (i, ok) in ["abc", &"y".repeat(64), "A.b_c-9"].into_iter().enumerate() {
        let body = json!({"username": ok, "email": format!("ok{i}@example.com"), "password": "Valid-password-1"});
        assert_eq!(
            send(register(&app, &body)).await.status,
            201,
            "username {ok:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn invalid_emails_are_422() {
    let app = TestApp::spawn().await;
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in [
        "bob",
        "bob@",
        "@x.com",
        "bob@example",
        "bob @example.com",
        "bob@exa mple.com",
        "",
        "a@b@c.com",
        "bob@ex..com",
        "bob@example.com\n",
        long.as_str(),
    ] {
        let r = send(register(
            &app,
            &with(good_registration(), "email", json!(bad)),
        ))
        .await;
        invalid(&format!("email {bad:?}"), &r, "email");
    }
    assert_only_admin(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn full_name_over_200_characters_is_422() {
    let app = TestApp::spawn().await;
    let r = send(register(
        &app,
        &with(good_registration(), "full_name", json!("x".repeat(201))),
    ))
    .await;
    invalid("full_name 201", &r, "full_name");
    // Characters, not bytes: 200 multi-byte characters are fine.
    let r = send(register(
        &app,
        &with(good_registration(), "full_name", json!("é".repeat(200))),
    ))
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn passwords_outside_8_to_1024_characters_are_422() {
    let app = TestApp::spawn().await;
    let strong = "Vq7#kLp2!";
    for (what, bad) in [
        ("7 characters", strong[..7].to_owned()),
        ("1025 characters", format!("{strong}{}", "x".repeat(1016))),
        ("empty", String::new()),
        ("7 two-byte characters (14 bytes)", "ñçøåþðß".to_owned()),
    ] {
        let r = send(register(
            &app,
            &with(good_registration(), "password", json!(bad)),
        ))
        .await;
        problem(
            &format!("password {what}"),
            &r,
            422,
            "weak_password",
            Some("password"),
        );
    }
    assert_only_admin(&app).await;
    // 8 and 1024 characters are fine, however many bytes they take.
    for (i, ok) in [
        format!("{strong}x")[1..].to_owned(),
        format!("{strong}{}", "x".repeat(1015)),
        format!("{strong}{}", "é".repeat(1015)),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"username": format!("pw{i}"), "email": format!("pw{i}@example.com"), "password": ok});
        let r = send(register(&app, &body)).await;
        assert_eq!(
            r.status,
            201,
            "password of {} characters: {}",
            ok.chars().count(),
            r.text
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn registration_naming_privileged_or_unknown_fields_is_422() {
    let app = TestApp::spawn().await;
    for (field, value) in [
        ("roles", json!(["admin"])),
        ("permissions", json!(["*"])),
        ("disabled", json!(false)),
        ("is_superuser", json!(true)),
        ("foo", json!("bar")),
        ("id", json!("00000000-0000-0000-0000-000000000000")),
    ] {
        let r = send(register(&app, &with(good_registration(), field, value))).await;
        unknown(&format!("register with {field}"), &r, field);
    }
    assert_only_admin(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "username",
            with(good_registration(), "username", json!(123)),
        ),
        (
            "username",
            with(good_registration(), "username", json!(null)),
        ),
        (
            "email",
            with(good_registration(), "email", json!(["a@b.com"])),
        ),
        (
            "password",
            with(good_registration(), "password", json!(12345678)),
        ),
        (
            "full_name",
            with(good_registration(), "full_name", json!({"first": "x"})),
        ),
        (
            "password",
            json!({"username": "valid_name", "email": "valid@example.com"}),
        ),
        (
            "username",
            json!({"email": "valid@example.com", "password": "Valid-password-1"}),
        ),
    ];
    for (field, body) in cases {
        let r = send(register(&app, &body)).await;
        invalid(&format!("{field} in {body}"), &r, field);
    }
    // Not an object at all: still 422 (or 400), never 500.
    for body in [json!([]), json!("text"), json!(null), json!(42)] {
        let r = send(register(&app, &body)).await;
        assert!(
            matches!(r.status, 400 | 422),
            "{body}: {} {}",
            r.status,
            r.text
        );
    }
    assert_only_admin(&app).await;
    app.stop().await;
}
