//! Every bad-input rule, one request each: the status, the problem `code`, and the `field` for a
//! 422. Bodies that are not JSON, wrong media types, oversize bodies, bad query values, unknown
//! routes and methods, malformed token requests and garbage `Authorization` headers. Every response
//! goes through [`send`], which fails the test on any 5xx.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, TestApp};

/// One response, read in full.
struct Resp {
    status: u16,
    headers: HeaderMap,
    text: String,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request and asserts the server did not fail (no 5xx, ever).
async fn send(rb: RequestBuilder) -> Resp {
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    assert!(status < 500, "server error {status}: {text}");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

/// Asserts an RFC 9457 problem document with `status`, `code` and, when given, `field`.
fn problem(what: &str, r: &Resp, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{what}: content type"
    );
    assert_eq!(r.body["code"], code, "{what}: {}", r.text);
    assert_eq!(r.body["status"], status, "{what}: {}", r.text);
    for k in ["type", "title", "detail"] {
        assert!(r.body[k].is_string(), "{what}: no {k}: {}", r.text);
    }
    if let Some(f) = field {
        assert_eq!(r.body["field"], f, "{what}: {}", r.text);
    }
}

fn invalid(what: &str, r: &Resp, field: &str) {
    problem(what, r, 422, "validation_error", Some(field));
}

/// A 422 for an unknown field, naming exactly that field.
fn unknown(what: &str, r: &Resp, name: &str) {
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
async fn bad_pagination_is_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=-5", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
    ] {
        let r = send(
            app.client
                .get(app.at(&format!("/users?{q}")))
                .bearer_auth(&admin),
        )
        .await;
        invalid(&format!("/users?{q}"), &r, field);
        let r = send(
            app.client
                .get(app.at(&format!("/items?{q}")))
                .bearer_auth(&admin),
        )
        .await;
        invalid(&format!("/items?{q}"), &r, field);
    }
    for q in [
        "limit=1",
        "limit=100",
        "offset=0",
        "offset=1000",
        "limit=100&offset=5",
    ] {
        let r = send(
            app.client
                .get(app.at(&format!("/users?{q}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(r.status, 200, "/users?{q}: {}", r.text);
    }
    app.stop().await;
}

#[tokio::test]
async fn item_names_must_be_1_to_200_characters() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let post = |body: Value| {
        app.client
            .post(app.at("/items"))
            .bearer_auth(&admin)
            .json(&body)
    };
    for (what, body) in [
        ("empty", json!({"name": ""})),
        ("201 chars", json!({"name": "n".repeat(201)})),
    ] {
        let r = send(post(body)).await;
        invalid(&format!("item name {what}"), &r, "name");
    }
    let r = send(post(json!({"description": "no name"}))).await;
    invalid("item without name", &r, "name");
    let r = send(post(
        json!({"name": "x", "owner_id": "00000000-0000-0000-0000-000000000000"}),
    ))
    .await;
    unknown("item with owner_id", &r, "owner_id");
    let r = send(post(json!({"name": "n".repeat(200)}))).await;
    assert_eq!(r.status, 201, "200 chars is fine: {}", r.text);
    // PUT has the same rules.
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        app.client
            .put(app.at(&format!("/items/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"name": ""})),
    )
    .await;
    invalid("PUT item name empty", &r, "name");
    app.stop().await;
}

#[tokio::test]
async fn unknown_methods_and_routes_are_problem_documents() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let r = send(app.client.delete(app.at("/users/me")).bearer_auth(&admin)).await;
    problem("DELETE /users/me", &r, 405, "method_not_allowed", None);
    let r = send(app.client.put(app.at("/oauth2/token"))).await;
    problem("PUT /oauth2/token", &r, 405, "method_not_allowed", None);
    let r = send(app.client.request(Method::PATCH, app.at("/roles"))).await;
    problem("PATCH /roles", &r, 405, "method_not_allowed", None);
    for path in [
        "/nope",
        "/users/me/extra",
        "/users/",
        "/roles/admin/x",
        "/%ff",
    ] {
        let r = send(app.client.get(app.at(path))).await;
        problem(&format!("GET {path}"), &r, 404, "not_found", None);
    }
    app.stop().await;
}

#[tokio::test]
async fn method_not_allowed_lists_the_allowed_methods() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let r = send(app.client.delete(app.at("/users/me")).bearer_auth(&admin)).await;
    assert_eq!(r.status, 405);
    let allow = r.header("allow").unwrap_or_default().to_ascii_uppercase();
    assert!(
        allow.contains("GET") && allow.contains("PATCH"),
        "Allow: {allow:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let r = send(
        app.client
            .get(app.at("/healthz"))
            .header("x-request-id", "trace-abc-123"),
    )
    .await;
    assert_eq!(r.header("x-request-id"), Some("trace-abc-123"));
    // On errors too.
    let r = send(
        app.client
            .get(app.at("/nope"))
            .header("x-request-id", "trace-404"),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-request-id"), Some("trace-404"));
    let r = send(
        app.client
            .get(app.at("/users/me"))
            .header("x-request-id", "trace-401"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("x-request-id"), Some("trace-401"));

    let mut seen = Vec::new();
    for path in ["/healthz", "/healthz", "/nope"] {
        let r = send(app.client.get(app.at(path))).await;
        let id = r
            .header("x-request-id")
            .expect("generated request id")
            .to_owned();
        uuid::Uuid::parse_str(&id).unwrap_or_else(|_| panic!("not a uuid: {id}"));
        assert!(!seen.contains(&id), "request ids repeat");
        seen.push(id);
    }
    app.stop().await;
}

/// `POST /oauth2/token` with a form body given as raw text.
fn token_raw(app: &TestApp, body: &str) -> RequestBuilder {
    app.client
        .post(app.at("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
}

/// Asserts an RFC 6749 error with `Cache-Control: no-store`.
fn oauth_error(what: &str, r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.body["error"], error, "{what}: {}", r.text);
    assert!(
        r.header("cache-control")
            .unwrap_or_default()
            .contains("no-store"),
        "{what}: Cache-Control {:?}",
        r.header("cache-control")
    );
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{what}: content type {:?}",
        r.header("content-type")
    );
}

#[tokio::test]
async fn malformed_token_requests_get_rfc_6749_errors() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, RequestBuilder, u16, &str)> = vec![
        (
            "missing grant_type",
            token_raw(&app, "username=admin&password=x"),
            400,
            "invalid_request",
        ),
        (
            "empty grant_type",
            token_raw(&app, "grant_type=&username=admin&password=x"),
            400,
            "invalid_request",
        ),
        (
            "grant_type=magic",
            token_raw(&app, "grant_type=magic&username=admin&password=x"),
            400,
            "unsupported_grant_type",
        ),
        (
            "no password",
            token_raw(&app, "grant_type=password&username=admin"),
            400,
            "invalid_request",
        ),
        (
            "no username",
            token_raw(&app, "grant_type=password&password=x"),
            400,
            "invalid_request",
        ),
        (
            "repeated username",
            token_raw(
                &app,
                &format!(
                    "grant_type=password&username=admin&username=other&password={ADMIN_PASSWORD}"
                ),
            ),
            400,
            "invalid_request",
        ),
        (
            "repeated grant_type",
            token_raw(
                &app,
                &format!(
                    "grant_type=password&grant_type=password&username=admin&password={ADMIN_PASSWORD}"
                ),
            ),
            400,
            "invalid_request",
        ),
        (
            "JSON body",
            app.client.post(app.at("/oauth2/token")).json(
                &json!({"grant_type": "password", "username": ADMIN, "password": ADMIN_PASSWORD}),
            ),
            400,
            "invalid_request",
        ),
        (
            "no content type",
            app.client.post(app.at("/oauth2/token")).body(format!(
                "grant_type=password&username=admin&password={ADMIN_PASSWORD}"
            )),
            400,
            "invalid_request",
        ),
        (
            "client_id=evil",
            token_raw(
                &app,
                &format!(
                    "grant_type=password&username=admin&password={ADMIN_PASSWORD}&client_id=evil"
                ),
            ),
            401,
            "invalid_client",
        ),
        (
            "scope with bad characters",
            token_raw(
                &app,
                &format!(
                    "grant_type=password&username=admin&password={ADMIN_PASSWORD}&scope=bad%20scope!"
                ),
            ),
            400,
            "invalid_scope",
        ),
        ("empty body", token_raw(&app, ""), 400, "invalid_request"),
        (
            "binary body",
            token_raw(&app, "\u{0}\u{1}%ff%fe=%00"),
            400,
            "invalid_request",
        ),
    ];
    for (what, rb, status, error) in cases {
        let r = send(rb).await;
        oauth_error(what, &r, status, error);
    }

    // swagger is the one known public client.
    let r = send(token_raw(
        &app,
        &format!("grant_type=password&username=admin&password={ADMIN_PASSWORD}&client_id=swagger"),
    ))
    .await;
    assert_eq!(r.status, 200, "client_id=swagger: {}", r.text);
    assert!(r.body["access_token"].is_string());

    // A plain user asking for more than it has.
    let (name, pw, _) = app.user_with_roles("plain", &["user"]).await;
    for scope in ["users:write", "items:read users:write", "*", "bad scope!"] {
        let r = send(app.client.post(app.at("/oauth2/token")).form(&[
            ("grant_type", "password"),
            ("username", &name),
            ("password", &pw),
            ("scope", scope),
        ]))
        .await;
        oauth_error(&format!("user scope {scope:?}"), &r, 400, "invalid_scope");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_user_are_indistinguishable() {
    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("victim", &["user"]).await;
    let (_, _, disabled_id) = app.user_with_roles("sleeper", &["user"]).await;
    let admin = app.admin_token().await;
    let r = send(
        app.client
            .patch(app.at(&format!("/users/{disabled_id}")))
            .bearer_auth(&admin)
            .json(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(r.status, 200);
    let mut bodies = Vec::new();
    for (what, user, pass) in [
        (
            "unknown user",
            "nobody-here".to_owned(),
            "Whatever-123".to_owned(),
        ),
        (
            "invalid username",
            "no such user!".to_owned(),
            "Whatever-123".to_owned(),
        ),
        (
            "wrong password",
            name.clone(),
            "Wrong-password-1".to_owned(),
        ),
        (
            "wrong admin password",
            ADMIN.to_owned(),
            "Wrong-password-1".to_owned(),
        ),
        (
            "disabled user",
            "sleeper".to_owned(),
            "Pw-sleeper-123456".to_owned(),
        ),
    ] {
        let r = send(app.client.post(app.at("/oauth2/token")).form(&[
            ("grant_type", "password"),
            ("username", user.as_str()),
            ("password", pass.as_str()),
        ]))
        .await;
        oauth_error(what, &r, 400, "invalid_grant");
        bodies.push((what, r.text));
    }
    for (what, text) in &bodies[1..] {
        assert_eq!(text, &bodies[0].1, "{what} differs from {}", bodies[0].0);
    }
    // The right password still works for the enabled user.
    app.token(&name, &pw).await;
    app.stop().await;
}

#[tokio::test]
async fn garbage_authorization_headers_are_refused_without_a_500() {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let app = TestApp::spawn().await;
    let mut values: Vec<(String, HeaderValue)> = [
        "Basic".to_owned(),
        "Basic ".to_owned(),
        "Basic !!!".to_owned(),
        format!("Basic {}", b64(b"nocolon")),
        format!("Basic {}", b64(b"\xff\xfe:\xff")),
        format!("Basic {}", b64(b":password")),
        format!("Basic {}", b64(b"admin\x00:x")),
        format!("Basic {}", b64(b"admin:")),
        format!("Basic {}===", b64(b"admin:x")),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer a b c".to_owned(),
        "Bearer ....".to_owned(),
        "Bearer eyJ.eyJ.sig".to_owned(),
        "Negotiate abc".to_owned(),
        "Digest username=\"admin\"".to_owned(),
        "basic".to_owned(),
        "".to_owned(),
        " ".to_owned(),
        format!("Basic {}", "A".repeat(20_000)),
        format!("Bearer {}", "A".repeat(20_000)),
    ]
    .into_iter()
    .map(|s| {
        (
            format!("{:?}", s.chars().take(40).collect::<String>()),
            HeaderValue::from_str(&s).expect("header value"),
        )
    })
    .collect();
    values.push((
        "bytes 0x80".to_owned(),
        HeaderValue::from_bytes(b"Basic \x80\x81abc").expect("obs-text is allowed"),
    ));
    values.push((
        "bytes 0xff in bearer".to_owned(),
        HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("obs-text is allowed"),
    ));
    values.push((
        "latin-1 Basic".to_owned(),
        HeaderValue::from_bytes(&[b"Basic ".as_slice(), b64(b"adm\xefn:x").as_bytes()].concat())
            .unwrap(),
    ));
    for path in ["/users/me", "/users", "/items"] {
        for (what, value) in &values {
            let r = send(
                app.client
                    .get(app.at(path))
                    .header("authorization", value.clone()),
            )
            .await;
            assert!(
                matches!(r.status, 400 | 401 | 431),
                "{path} with Authorization {what}: {} {}",
                r.status,
                r.text
            );
            if r.status == 401 {
                problem(
                    &format!("{path} {what}"),
                    &r,
                    401,
                    r.body["code"].as_str().unwrap_or("?"),
                    None,
                );
                assert!(
                    matches!(
                        r.body["code"].as_str(),
                        Some("unauthorized" | "invalid_token")
                    ),
                    "{what}: {}",
                    r.text
                );
                assert!(
                    r.headers.get("www-authenticate").is_some(),
                    "{what}: no challenge"
                );
            }
        }
    }
    // Garbage in the Authorization header does not stop the token endpoint (it ignores it).
    let r = send(
        app.client
            .post(app.at("/oauth2/token"))
            .header(
                "authorization",
                HeaderValue::from_bytes(b"Basic \x80").unwrap(),
            )
            .form(&[
                ("grant_type", "password"),
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
            ]),
    )
    .await;
    assert!(r.status < 500);
    // And the real credentials still work after all that.
    let r = send(
        app.client
            .get(app.at("/users/me"))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD)),
    )
    .await;
    assert_eq!(r.status, 200);
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

#[tokio::test]
async fn a_repeated_query_parameter_is_422_naming_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let r = send(
        app.client
            .get(app.at("/users?limit=1&limit=100"))
            .bearer_auth(&admin),
    )
    .await;
    invalid("repeated limit", &r, "limit");
    app.stop().await;
}

#[tokio::test]
async fn undecodable_path_segments_get_problem_documents() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (method, path) in [
        (Method::GET, "/users/%ff"),
        (Method::GET, "/items/%ff"),
        (Method::GET, "/roles/%ff"),
        (Method::PUT, "/roles/%ff"),
        (Method::DELETE, "/roles/%ff"),
    ] {
        let r = send(
            app.client
                .request(method.clone(), app.at(path))
                .bearer_auth(&admin)
                .json(&json!({"permissions": []})),
        )
        .await;
        assert!(
            matches!(r.status, 400 | 404 | 422),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{method} {path}: {}",
            r.text
        );
    }
    app.stop().await;
}
