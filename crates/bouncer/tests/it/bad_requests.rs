//! Bad requests beyond bodies: pagination and query parameters, item names, unknown routes and
//! methods, request ids, and path segments that decode to nothing.

use serde_json::{Value, json};

use reqwest::Method;

use crate::bad_input::unknown;
use crate::support::TestApp;
use crate::support::http::{invalid, problem, send};

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

/// A body declared larger than the limit is refused at once (413), without waiting for it.
#[tokio::test]
async fn a_declared_oversize_body_is_413_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::support::TestApp::spawn().await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /auth/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 10000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // No body is ever sent: the answer must not wait for it (the request timeout is 30 s).
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    app.stop().await;
}

/// What the spec says is valid, the server takes: a whole number of seconds written `30.0`; a
/// repeated parameter the OAuth endpoints do not know (RFC 6749 §3.1: ignored). What it says is
/// not: a fraction of a second, a repeated known parameter.
#[tokio::test]
async fn spec_valid_forms_are_taken_and_the_rest_refused() {
    let app = crate::support::TestApp::spawn().await;
    let admin = app.admin_token().await;
    let key: Value = app
        .client
        .post(app.at("/users/me/api-keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let roll = |body: Value| {
        app.client
            .post(app.at(&format!(
                "/users/me/api-keys/{}/roll",
                key["id"].as_str().unwrap()
            )))
            .bearer_auth(admin.clone())
            .json(&body)
            .send()
    };
    let r = roll(json!({"overlap_s": 1.5})).await.unwrap();
    assert_eq!(r.status(), 422, "a fraction of a second");
    let r = roll(json!({"overlap_s": -1})).await.unwrap();
    assert_eq!(r.status(), 422, "negative");
    let r = roll(json!({"overlap_s": 30.0})).await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "30.0 is a whole number: {:?}",
        r.text().await
    );
    let token = |extra: &str| {
        let body = format!(
            "grant_type=password&username=admin&password={}{extra}",
            crate::support::ADMIN_PASSWORD
        );
        app.client
            .post(app.at("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(
        token("&foo=1&foo=2").await.unwrap().status(),
        200,
        "unknown, repeated: ignored"
    );
    let r = token("&scope=*&scope=*").await.unwrap();
    assert_eq!(r.status(), 400, "a known parameter repeated");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    app.stop().await;
}
