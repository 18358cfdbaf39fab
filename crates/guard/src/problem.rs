//! Refusals as Bouncer words them (`crates/http/src/error.rs`): RFC 9457 problem documents with
//! Bouncer's stable `code` (and `missing`), and RFC 6750 `WWW-Authenticate` challenges.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A refusal: what the guard answers instead of calling the handler. Its response is the problem
/// document Bouncer itself would send (`code` is stable: clients switch on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// Bouncer's code: `unauthorized`, `invalid_token`, `missing_permission`, `missing_role`,
    /// `insufficient_scope`, `ambiguous_credentials`, `bouncer_unavailable`, `guard_not_installed`.
    pub code: &'static str,
    /// For people; may be reworded.
    pub detail: String,
    /// The permission, `role:NAME` scope or roles that were missing (403 only).
    pub missing: Option<String>,
    /// The `WWW-Authenticate` challenge, if any.
    pub challenge: Option<String>,
    /// `Retry-After` seconds (503).
    pub retry_after: Option<u32>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<&'a str>,
}

/// `Bearer realm="..."` with RFC 6750 parameters.
fn bearer(realm: &str, params: &[(&str, &str)]) -> String {
    let mut s = format!(r#"Bearer realm="{realm}""#);
    for (k, v) in params {
        s.push_str(&format!(r#", {k}="{v}""#));
    }
    s
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            detail: detail.into(),
            missing: None,
            challenge: None,
            retry_after: None,
        }
    }

    /// 401 `unauthorized`: no credential, or one that is refused and is not a bearer token (an
    /// API key, an unsupported scheme).
    pub fn unauthorized(realm: &str, detail: impl Into<String>) -> Self {
        Refusal {
            challenge: Some(bearer(realm, &[])),
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        }
    }

    /// 401 `invalid_token`: a bearer token was presented and refused (RFC 6750 §3.1).
    pub fn invalid_token(realm: &str, detail: impl Into<String>) -> Self {
        Refusal {
            challenge: Some(bearer(realm, &[("error", "invalid_token")])),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", detail)
        }
    }

    /// 403 `insufficient_scope`: the credential's scope does not include `missing`.
    pub fn insufficient_scope(realm: &str, missing: &str) -> Self {
        Refusal {
            missing: Some(missing.to_owned()),
            challenge: Some(bearer(
                realm,
                &[("error", "insufficient_scope"), ("scope", missing)],
            )),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token's scope does not include {missing}"),
            )
        }
    }

    /// 403 `missing_permission`.
    pub fn missing_permission(missing: &str, note: &str) -> Self {
        Refusal {
            missing: Some(missing.to_owned()),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "missing_permission",
                format!("requires the permission {missing}{note}"),
            )
        }
    }

    /// 403 `missing_role`; `missing` is the roles, comma-separated.
    pub fn missing_role(missing: &str, note: &str) -> Self {
        Refusal {
            missing: Some(missing.to_owned()),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "missing_role",
                format!("requires one of the roles: {missing}{note}"),
            )
        }
    }

    /// 400 `ambiguous_credentials`: credentials that disagree; Bouncer never guesses.
    pub fn ambiguous(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ambiguous_credentials", detail)
    }

    /// 503 `bouncer_unavailable` with `Retry-After: 1`: Bouncer's metadata, keys or
    /// introspection could not be had.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Refusal {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "bouncer_unavailable",
                detail,
            )
        }
    }

    /// 500: an extractor ran on a route the [`GuardLayer`](crate::GuardLayer) does not cover. A
    /// programming error; it fails closed.
    pub(crate) fn not_installed() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "guard_not_installed",
            "internal error",
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for Refusal {}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            missing: self.missing.as_deref(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, bytes).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, c);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_headers_are_bouncers() {
        let r = Refusal::insufficient_scope("bouncer", "items:write").into_response();
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="bouncer", error="insufficient_scope", scope="items:write""#
        );
        let r = Refusal::invalid_token("api", "x").into_response();
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="api", error="invalid_token""#
        );
        let r = Refusal::unavailable("down").into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
