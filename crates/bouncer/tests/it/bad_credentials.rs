//! Bad input at the door: malformed token requests get RFC 6749 errors, failed logins are
//! indistinguishable, and garbage `Authorization` headers never cause a 500.

use reqwest::RequestBuilder;
use reqwest::header::HeaderValue;
use serde_json::json;

use crate::support::http::{Resp, problem, send};
use crate::support::{ADMIN, ADMIN_PASSWORD, TestApp};

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
