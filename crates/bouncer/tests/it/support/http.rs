//! Sending a request and reading the answer, once for the whole suite: [`send`] (any 5xx fails
//! the test) gives a [`Resp`], [`problem`] is the one check of an RFC 9457 problem document, and
//! [`s`] reads a string field of a JSON answer.

use reqwest::RequestBuilder;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde_json::Value;

/// One response, read in full. `body` is the JSON body, `Value::Null` when empty, and the text as
/// a JSON string when it is not JSON.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `WWW-Authenticate` value, in order.
    pub fn challenges(&self) -> Vec<&str> {
        self.headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

/// Sends a request and reads the answer; a 5xx fails the test (the server never fails on input).
pub async fn send(rb: RequestBuilder) -> Resp {
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    assert!(status < 500, "server error {status}: {text}");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
    };
    Resp {
        status,
        headers,
        text,
        body,
    }
}

/// [`send`], as (status, headers, body) for tests that destructure the answer.
pub async fn call(rb: RequestBuilder) -> (u16, HeaderMap, Value) {
    let r = send(rb).await;
    (r.status, r.headers, r.body)
}

/// Asserts an RFC 9457 problem document: `status` (in the line and the body), the
/// `application/problem+json` type, `code`, the `type`/`title`/`detail` members, and `field`
/// when given.
pub fn problem(what: &str, r: &Resp, status: u16, code: &str, field: Option<&str>) {
    check_problem(what, r.status, &r.headers, &r.body, status, code, field);
}

/// [`problem`], also naming what was `missing` (403s and `insufficient_scope`).
pub fn problem_missing(what: &str, r: &Resp, status: u16, code: &str, missing: &str) {
    problem(what, r, status, code, None);
    assert_eq!(r.body["missing"], missing, "{what}: {}", r.text);
}

/// [`problem`] on an answer from [`call`].
pub fn assert_problem(
    what: &str,
    got: &(u16, HeaderMap, Value),
    status: u16,
    code: &str,
    field: Option<&str>,
) {
    let (s, h, body) = got;
    check_problem(what, *s, h, body, status, code, field);
}

fn check_problem(
    what: &str,
    got_status: u16,
    headers: &HeaderMap,
    body: &Value,
    status: u16,
    code: &str,
    field: Option<&str>,
) {
    assert_eq!(got_status, status, "{what}: {body}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{what}: content type"
    );
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["status"], status, "{what}: {body}");
    for k in ["type", "title", "detail"] {
        assert!(body[k].is_string(), "{what}: no {k}: {body}");
    }
    if let Some(f) = field {
        assert_eq!(body["field"], f, "{what}: {body}");
    }
}

/// A 422 `validation_error` naming `field`.
pub fn invalid(what: &str, r: &Resp, field: &str) {
    problem(what, r, 422, "validation_error", Some(field));
}

/// The string field `k` of a JSON answer; panics naming it when it is missing.
pub fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_owned()
}
