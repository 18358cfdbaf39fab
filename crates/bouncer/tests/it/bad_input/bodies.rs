//! Bad bodies, one request each: bodies that are not JSON (400 `malformed_json`), wrong media
//! types (415), bodies over 64 KiB (413, on every route), and a duplicated JSON key (422).

use serde_json::json;

use super::{assert_only_admin, good_registration, raw_register, register, with};
use crate::support::TestApp;
use crate::support::http::{problem, send};

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

/// `body` posted to `/auth/register` over a raw connection in chunks (no declared length, so the
/// edge cannot refuse it up front): the status line and the answer.
async fn register_chunked(app: &TestApp, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut out = format!(
        "POST /auth/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(8192) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before it has read the rest: not an error here.
    let _ = s.write_all(&out).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.read_to_end(&mut answer),
    )
    .await
    .expect("answered");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A body without a declared length (chunked) is held to the same limit as it arrives: over
/// 64 KiB it is 413, and under it the request is served like any other.
#[tokio::test]
async fn a_chunked_body_is_held_to_the_limit_as_it_arrives() {
    let app = TestApp::spawn().await;
    let big = with(
        good_registration(),
        "full_name",
        json!("x".repeat(70 * 1024)),
    );
    let answer = register_chunked(&app, &big.to_string()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert_only_admin(&app).await;
    let answer = register_chunked(&app, &good_registration().to_string()).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    app.stop().await;
}
