//! Every bad-input rule, one request each: the status, the problem `code`, and the `field` for a
//! 422. Bodies that are not JSON, wrong media types, oversize bodies, bad query values, unknown
//! routes and methods, malformed token requests and garbage `Authorization` headers. Every response
//! goes through the suite's `send`, which fails the test on any 5xx.

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{Resp, invalid, problem, send};

/// A 422 for an unknown field, naming exactly that field.
pub(crate) fn unknown(what: &str, r: &Resp, name: &str) {
    invalid(what, r, name);
}

/// A valid registration body, to be spoiled one field at a time.
fn good_registration() -> Value {
    json!({"username": "valid_name", "email": "valid@example.com", "password": "Valid-password-1"})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn register(app: &TestApp, body: &Value) -> RequestBuilder {
    app.client.post(app.at("/auth/register")).json(body)
}

fn raw_register(
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
async fn assert_only_admin(app: &TestApp) {
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

#[tokio::test]
async fn bodies_that_are_not_json_are_400_or_415() {
    let app = TestApp::spawn().await;
    let good = good_registration().to_string();
    for (what, body) in [
        ("not json", "username=x&password=y".to_owned()),
        ("truncated", good[..good.len() - 3].to_owned()),
        ("trailing garbage", format!("{good} garbage")),
        ("two documents", format!("{good}{good}")),
        ("empty", String::new()),
        (
            "invalid utf-8 escape",
            r#"{"username": "\ud800"}"#.to_owned(),
        ),
    ] {
        let r = send(raw_register(&app, Some("application/json"), body)).await;
        problem(what, &r, 400, "malformed_json", None);
    }
    // Raw invalid UTF-8 bytes.
    let r = send(raw_register(
        &app,
        Some("application/json"),
        vec![b'{', 0xff, 0xfe, b'}'],
    ))
    .await;
    problem("invalid utf-8 bytes", &r, 400, "malformed_json", None);

    let r = send(raw_register(&app, Some("text/plain"), good.clone())).await;
    problem("text/plain", &r, 415, "unsupported_media_type", None);
    let r = send(raw_register(&app, None, good.clone())).await;
    problem("no content type", &r, 415, "unsupported_media_type", None);
    let r = send(raw_register(
        &app,
        Some("application/x-www-form-urlencoded"),
        "username=x",
    ))
    .await;
    problem("form", &r, 415, "unsupported_media_type", None);
    // A JSON media type with parameters or a +json suffix is accepted.
    let r = send(raw_register(
        &app,
        Some("application/json; charset=utf-8"),
        good.clone(),
    ))
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        send(raw_register(&app, Some("application/json"), good))
            .await
            .status,
        409
    );
    app.stop().await;
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = TestApp::spawn().await;
    let big = with(
        good_registration(),
        "full_name",
        json!("x".repeat(70 * 1024)),
    );
    let r = send(register(&app, &big)).await;
    problem("register 70 KiB", &r, 413, "payload_too_large", None);
    // Just over the limit, too.
    let mut body = good_registration().to_string();
    body.pop();
    body.push_str(",\"full_name\":\"");
    let pad = 64 * 1024 + 1 - body.len() - 2;
    body.push_str(&"x".repeat(pad));
    body.push_str("\"}");
    assert_eq!(body.len(), 64 * 1024 + 1);
    let r = send(raw_register(&app, Some("application/json"), body)).await;
    problem("register 64 KiB + 1", &r, 413, "payload_too_large", None);
    // Elsewhere too: item creation and the token endpoint.
    let admin = app.admin_token().await;
    let r = send(
        app.client
            .post(app.at("/items"))
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "description": "d".repeat(70 * 1024)})),
    )
    .await;
    problem("items 70 KiB", &r, 413, "payload_too_large", None);
    let r = send(
        app.client
            .post(app.at("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=password&username=admin&password={}",
                "x".repeat(70 * 1024)
            )),
    )
    .await;
    assert_eq!(r.status, 413, "token 70 KiB: {}", r.text);
    assert_only_admin(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn patch_me_refuses_privileged_fields() {
    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("plain", &["user"]).await;
    let token = app.token(&name, &pw).await;
    for (field, value) in [
        ("roles", json!(["admin"])),
        ("disabled", json!(false)),
        ("permissions", json!(["*"])),
        ("is_superuser", json!(true)),
        ("username", json!("renamed")),
    ] {
        let r = send(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&token)
                .json(&json!({ field: value })),
        )
        .await;
        unknown(&format!("PATCH /users/me {field}"), &r, field);
    }
    for (field, value) in [
        ("email", json!("nope")),
        ("full_name", json!("x".repeat(201))),
        ("password", json!("short")),
    ] {
        let r = send(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&token)
                .json(&json!({ field: value, "current_password": pw })),
        )
        .await;
        if field == "password" {
            problem(
                "PATCH /users/me password",
                &r,
                422,
                "weak_password",
                Some(field),
            );
        } else {
            invalid(&format!("PATCH /users/me {field}"), &r, field);
        }
    }
    let r = send(app.client.get(app.at("/users/me")).bearer_auth(&token)).await;
    assert_eq!(r.body["roles"], json!(["user"]));
    assert_eq!(r.body["permissions"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn admin_patch_with_bad_permissions_or_roles_is_422() {
    let app = TestApp::spawn().await;
    let (_, _, id) = app.user_with_roles("target", &["user"]).await;
    let admin = app.admin_token().await;
    let patch = |body: Value| {
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&body)
    };
    for bad in [
        json!(["items:"]),
        json!(["Items:read"]),
        json!(["*:read"]),
        json!([":read"]),
        json!(["items"]),
        json!(["items:read:x"]),
        json!([""]),
        json!(["items: read"]),
        json!(["items:read", "bad"]),
    ] {
        let r = send(patch(json!({ "permissions": bad }))).await;
        invalid(&format!("permissions {bad}"), &r, "permissions");
    }
    let r = send(patch(json!({"permissions": "items:read"}))).await;
    invalid("permissions not a list", &r, "permissions");
    for bad in [json!(["nope"]), json!(["user", "nope"]), json!(["Admin"])] {
        let r = send(patch(json!({ "roles": bad }))).await;
        invalid(&format!("roles {bad}"), &r, "roles");
    }
    for (field, value) in [("disabled", json!("yes")), ("email", json!("not-an-email"))] {
        let r = send(patch(json!({ field: value }))).await;
        invalid(&format!("admin PATCH {field}"), &r, field);
    }
    let r = send(patch(json!({"password": "short"}))).await;
    problem(
        "admin PATCH password",
        &r,
        422,
        "weak_password",
        Some("password"),
    );
    let r = send(patch(json!({"is_superuser": true}))).await;
    unknown("admin PATCH is_superuser", &r, "is_superuser");
    // A refused patch changed nothing, not even the valid parts of it.
    let r = send(patch(
        json!({"email": "changed@example.com", "roles": ["nope"]}),
    ))
    .await;
    invalid("mixed", &r, "roles");
    let r = send(
        app.client
            .get(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(r.body["roles"], json!(["user"]));
    assert_eq!(r.body["permissions"], json!([]));
    assert_eq!(r.body["email"], "target@example.com");
    app.stop().await;
}

#[tokio::test]
async fn bad_role_names_and_permissions_are_422() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let put = |name: &str, body: Value| {
        app.client
            .put(app.at(&format!("/roles/{name}")))
            .bearer_auth(&admin)
            .json(&body)
    };
    let long = "r".repeat(65);
    for name in [
        "Bad-Name",
        "9lives",
        "has%20space",
        "-dash",
        long.as_str(),
        "caf%C3%A9",
    ] {
        let r = send(put(name, json!({"permissions": ["users:read"]}))).await;
        invalid(&format!("role name {name:?}"), &r, "name");
    }
    for bad in [
        json!(["items:"]),
        json!(["Items:read"]),
        json!(["*:read"]),
        json!("users:read"),
    ] {
        let r = send(put("auditor", json!({ "permissions": bad }))).await;
        invalid(&format!("role permissions {bad}"), &r, "permissions");
    }
    let r = send(put("auditor", json!({}))).await;
    invalid("role without permissions", &r, "permissions");
    let r = send(put("auditor", json!({"permissions": [], "name": "x"}))).await;
    unknown("role with unknown field", &r, "name");
    let r = send(app.client.get(app.at("/roles")).bearer_auth(&admin)).await;
    assert_eq!(
        r.body.as_array().unwrap().len(),
        4,
        "nothing was created: {}",
        r.text
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_named_exactly() {
    let app = TestApp::spawn().await;
    let (name, pw, id) = app.user_with_roles("plain", &["user"]).await;
    let user = app.token(&name, &pw).await;
    let admin = app.admin_token().await;
    for field in ["roles", "permissions", "disabled", "is_superuser", "foo"] {
        let r = send(register(
            &app,
            &with(good_registration(), field, json!(true)),
        ))
        .await;
        invalid(&format!("register with {field}"), &r, field);
    }
    for field in ["roles", "disabled"] {
        let r = send(
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(&user)
                .json(&json!({ field: true })),
        )
        .await;
        invalid(&format!("PATCH /users/me {field}"), &r, field);
    }
    let r = send(
        app.client
            .patch(app.at(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"is_superuser": true})),
    )
    .await;
    invalid("admin PATCH is_superuser", &r, "is_superuser");
    let r = send(
        app.client
            .put(app.at("/roles/auditor"))
            .bearer_auth(&admin)
            .json(&json!({"permissions": [], "name": "x"})),
    )
    .await;
    invalid("PUT /roles with name", &r, "name");
    let r = send(
        app.client
            .post(app.at("/items"))
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "owner_id": id})),
    )
    .await;
    invalid("POST /items with owner_id", &r, "owner_id");
    app.stop().await;
}

#[tokio::test]
async fn a_duplicated_json_key_is_refused() {
    let app = TestApp::spawn().await;
    let r = send(raw_register(
        &app,
        Some("application/json"),
        r#"{"username":"abc","username":"abd","email":"a@example.com","password":"Password-1"}"#,
    ))
    .await;
    problem("duplicate username key", &r, 422, "validation_error", None);
    assert_eq!(r.body["field"], "username", "{}", r.text);
    assert_only_admin(&app).await;
    app.stop().await;
}
