//! Every error leaves through here: [`ApiError`] becomes an RFC 9457 problem document with a stable
//! `code`, [`OAuthErrorResponse`] an RFC 6749 §5.2 body. A 500 logs its cause and says nothing.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bouncer_core::Error;
use bouncer_core::authz::DenyCode;
use bouncer_core::service::OAuthError;
use serde::Serialize;

/// Which `WWW-Authenticate` challenges a 401 carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Challenge {
    pub bearer: bool,
    pub basic: bool,
    /// A bearer token was presented and refused: add `error="invalid_token"` (RFC 6750 §3).
    pub invalid_token: bool,
}

impl Challenge {
    pub const ALL: Challenge = Challenge {
        bearer: true,
        basic: true,
        invalid_token: false,
    };

    fn headers(self, h: &mut HeaderMap) {
        if self.bearer {
            let v = if self.invalid_token {
                r#"Bearer realm="bouncer", error="invalid_token""#
            } else {
                r#"Bearer realm="bouncer""#
            };
            h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        if self.basic {
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="bouncer", charset="UTF-8""#),
            );
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Core(#[from] Error),
    #[error("unauthorized")]
    Unauthorized {
        challenge: Challenge,
        detail: &'static str,
    },
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// `/auth/login` with wrong credentials (whatever was wrong).
    #[error("invalid credentials")]
    InvalidLogin,
    /// A refusal decided in the HTTP layer (CSRF).
    #[error("{detail}")]
    Forbidden {
        code: &'static str,
        detail: &'static str,
    },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("not found")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("not ready")]
    NotReady,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<&'a str>,
    /// The policy that refused (`policy_denied`).
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
}

/// What a 403 refused, for the audit trail (read by the context layer from the response).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: String,
    /// The permission, scope or role that was missing, or the policy that refused.
    pub subject: Option<String>,
}

fn problem(
    status: StatusCode,
    code: &str,
    detail: String,
    field: Option<&str>,
    missing: Option<&str>,
) -> Response {
    problem_with_policy(status, code, detail, field, missing, None)
}

fn problem_with_policy(
    status: StatusCode,
    code: &str,
    detail: String,
    field: Option<&str>,
    missing: Option<&str>,
    policy: Option<&str>,
) -> Response {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        code,
        field,
        missing,
        policy,
    };
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized { challenge, detail } => {
                let mut res = problem(
                    StatusCode::UNAUTHORIZED,
                    if challenge.invalid_token {
                        "invalid_token"
                    } else {
                        "unauthorized"
                    },
                    detail.into(),
                    None,
                    None,
                );
                challenge.headers(res.headers_mut());
                res
            }
            ApiError::BadRequest { code, detail } => {
                problem(StatusCode::BAD_REQUEST, code, detail, None, None)
            }
            ApiError::InvalidLogin => problem(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the username or password is wrong".into(),
                None,
                None,
            ),
            ApiError::Forbidden { code, detail } => {
                let mut res = problem(StatusCode::FORBIDDEN, code, detail.into(), None, None);
                res.extensions_mut().insert(Refusal {
                    code: code.to_owned(),
                    subject: None,
                });
                res
            }
            ApiError::UnsupportedMediaType => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json".into(),
                None,
                None,
            ),
            ApiError::PayloadTooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is over the size limit".into(),
                None,
                None,
            ),
            ApiError::RouteNotFound => problem(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route".into(),
                None,
                None,
            ),
            ApiError::MethodNotAllowed => problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route".into(),
                None,
                None,
            ),
            ApiError::NotReady => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is not reachable".into(),
                None,
                None,
            ),
            ApiError::Core(e) => core_response(e),
        }
    }
}

fn core_response(e: Error) -> Response {
    match e {
        Error::Validation { field, message } => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            format!("{field}: {message}"),
            Some(&field),
            None,
        ),
        Error::WeakPassword { field, reason } => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            format!("{field}: {reason}"),
            Some(&field),
            None,
        ),
        Error::InvalidCredentials(_) => ApiError::Unauthorized {
            challenge: Challenge {
                invalid_token: true,
                ..Challenge::ALL
            },
            detail: "invalid credentials",
        }
        .into_response(),
        Error::Forbidden(d) => {
            let missing = d.missing.clone().unwrap_or_default();
            let detail = match d.deny {
                Some(DenyCode::MissingRole) => format!("requires one of the roles: {missing}"),
                Some(DenyCode::InsufficientScope) => {
                    format!("the token's scope does not include {missing}")
                }
                Some(DenyCode::NotAUser) => {
                    "this operation acts on a local user account; the caller is a machine client or an outside issuer's subject".to_owned()
                }
                Some(DenyCode::CannotGrant) => {
                    format!("nobody grants what they do not hold: the caller lacks {missing}")
                }
                Some(DenyCode::PolicyDenied) => format!(
                    "policy {} refuses {missing} now (POST /authz/explain says why)",
                    d.policy.as_deref().unwrap_or("?")
                ),
                _ => format!("requires the permission {missing}"),
            };
            let mut res = problem_with_policy(
                StatusCode::FORBIDDEN,
                d.code,
                detail,
                None,
                Some(&missing),
                d.policy.as_deref(),
            );
            res.extensions_mut().insert(Refusal {
                code: d.code.to_owned(),
                subject: Some(match &d.policy {
                    Some(p) => format!("{missing} (policy {p})"),
                    None => missing.clone(),
                }),
            });
            if d.deny == Some(DenyCode::InsufficientScope) {
                let v = format!(
                    r#"Bearer realm="bouncer", error="insufficient_scope", scope="{missing}""#
                );
                if let Ok(v) = HeaderValue::from_str(&v) {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            res
        }
        Error::NotFound(what) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
            None,
            None,
        ),
        Error::Conflict { code, message } => {
            problem(StatusCode::CONFLICT, code, message, None, None)
        }
        Error::TooManyRequests {
            code,
            retry_after_s,
        } => {
            let detail = match code {
                "rate_limited" => "too many registrations from this address",
                _ => "too many failed attempts from this address",
            };
            let mut res = problem(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!("{detail}; retry after {retry_after_s} s"),
                None,
                None,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            res
        }
        Error::Busy => {
            let mut res = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many password checks in flight; retry shortly".into(),
                None,
                None,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            res
        }
        Error::Unavailable(cause) => {
            tracing::warn!(error = %cause, "the database is unavailable");
            let mut res = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is busy or unreachable; retry shortly".into(),
                None,
                None,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            res
        }
        Error::Internal(cause) => {
            // The request id is on the enclosing tracing span.
            tracing::error!(%cause, "internal error");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error".into(),
                None,
                None,
            )
        }
    }
}

/// RFC 6749 §5.2 error body for `/oauth2/*`.
pub struct OAuthErrorResponse(pub OAuthError);

impl From<OAuthError> for OAuthErrorResponse {
    fn from(e: OAuthError) -> Self {
        OAuthErrorResponse(e)
    }
}

#[derive(Serialize)]
struct OAuthBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
}

impl IntoResponse for OAuthErrorResponse {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, description) = match &e {
            OAuthError::InvalidRequest(d) | OAuthError::InvalidScope(d) => {
                (StatusCode::BAD_REQUEST, Some(d.clone()))
            }
            OAuthError::InvalidGrant => (
                StatusCode::BAD_REQUEST,
                Some("the credentials are not valid".to_owned()),
            ),
            OAuthError::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                Some("supported: password, refresh_token, client_credentials".to_owned()),
            ),
            OAuthError::UnauthorizedClient => (
                StatusCode::BAD_REQUEST,
                Some("this client may not use this grant".to_owned()),
            ),
            OAuthError::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                Some("client authentication failed".to_owned()),
            ),
            OAuthError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("retry shortly".to_owned()),
            ),
            OAuthError::Throttled(after) => (
                StatusCode::TOO_MANY_REQUESTS,
                Some(format!(
                    "too many failed attempts from this address; retry after {after} s"
                )),
            ),
            OAuthError::Internal(cause) => {
                tracing::error!(%cause, "internal error at the token endpoint");
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
        };
        let mut res = (
            status,
            axum::Json(OAuthBody {
                error: e.code(),
                error_description: description,
            }),
        )
            .into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match e {
            OAuthError::InvalidClient => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="bouncer""#),
                );
            }
            OAuthError::Busy => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            OAuthError::Throttled(after) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(after));
            }
            _ => {}
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
