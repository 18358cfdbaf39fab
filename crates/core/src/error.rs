//! The domain's one error type. The HTTP layer maps each variant to a status and a stable `code`
//! exactly once; nothing below HTTP knows about status codes.

use crate::authz::Decision;
use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value supplied by the caller breaks a rule; `field` names it.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// A new password breaks the password rules; `reason` says which.
    #[error("{field}: {reason}")]
    WeakPassword { field: String, reason: String },
    /// Credentials were presented and are not good (wrong, expired, revoked, disabled user...).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(AuthFailure),
    /// Known caller, not allowed. The decision says why.
    #[error("forbidden: {}", .0.code)]
    Forbidden(Box<Decision>),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or state rule of the stored data (taken username, last admin, role in use).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Too many failed checks (`throttled`) or registrations (`rate_limited`) from this client
    /// address: 429 + `Retry-After`.
    #[error("too many requests ({code}); retry after {retry_after_s} s")]
    TooManyRequests {
        code: &'static str,
        retry_after_s: u64,
    },
    /// The password-hashing queue is full: try again shortly.
    #[error("busy, retry later")]
    Busy,
    /// The database is unreachable or stayed locked past the wait: 503 + `Retry-After`.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged with its cause, answered without detail.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why presented credentials were refused. Only for logs and tests: every variant is one 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Malformed,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuerOrAudience,
    UnknownKey,
    WrongPassword,
    UnknownUser,
    Disabled,
    /// Issued at an earlier credential generation (before a disable or a password change).
    Superseded,
    /// Revoked (RFC 7009), itself or its refresh-token family.
    Revoked,
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl Error {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field } => Error::Conflict {
                code: "conflict",
                message: format!("{field} is already taken"),
            },
            StoreError::LastAdmin => Error::Conflict {
                code: "last_admin",
                message: "the last enabled admin cannot be disabled, deleted or demoted".into(),
            },
            StoreError::Stale => Error::Conflict {
                code: "conflict",
                message:
                    "the record was changed by another request meanwhile; read it again and retry"
                        .into(),
            },
            StoreError::RoleInUse(n) => Error::Conflict {
                code: "role_in_use",
                message: format!(
                    "the role is held by {n} user(s); use ?force=true to remove it from them"
                ),
            },
            StoreError::Unavailable(cause) => Error::Unavailable(cause),
            StoreError::Backend(cause) => Error::Internal(cause),
        }
    }
}
