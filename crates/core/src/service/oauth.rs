//! The OAuth2 token endpoint's rules (RFC 6749). Errors here are RFC 6749 §5.2 errors, not problem
//! documents, so they have their own type.

use super::Bouncer;
use crate::error::Error;
use crate::permission::PermissionSet;

/// The one built-in public client, used by the Swagger UI at `/docs`.
pub const SWAGGER_CLIENT: &str = "swagger";

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant")]
    InvalidGrant,
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("busy")]
    Busy,
    #[error("internal: {0}")]
    Internal(String),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::Busy => "temporarily_unavailable",
            OAuthError::Internal(_) => "server_error",
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidCredentials(_) => OAuthError::InvalidGrant,
            Error::Busy => OAuthError::Busy,
            Error::Validation { field, message } => {
                OAuthError::InvalidRequest(format!("{field}: {message}"))
            }
            other => OAuthError::Internal(other.to_string()),
        }
    }
}

/// An issued access token (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

impl Bouncer {
    /// The resource owner password credentials grant (RFC 6749 §4.3). Unknown user, wrong password
    /// and disabled user are the same `invalid_grant`. The granted scope is the requested one if the
    /// user holds every part of it, else `invalid_scope`; by default all of the user's permissions.
    pub async fn password_grant(
        &self,
        client_id: Option<&str>,
        username: &str,
        password: &str,
        scope: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<TokenGrant, OAuthError> {
        if client_id.is_some_and(|c| c != SWAGGER_CLIENT) {
            return Err(OAuthError::InvalidClient);
        }
        let requested = scope
            .map(|s| {
                PermissionSet::parse_scope(s).map_err(|bad| {
                    OAuthError::InvalidScope(format!("{bad:?} is not a valid scope"))
                })
            })
            .transpose()?;
        let state = self.auth.check_password(username, password, client).await?;
        let granted = match requested {
            Some(req) if !req.is_empty() => {
                if let Some(p) = req.iter().find(|p| !state.permissions.covers(p)) {
                    return Err(OAuthError::InvalidScope(format!(
                        "the user does not hold {p}"
                    )));
                }
                req
            }
            _ => state.permissions.clone(),
        };
        let scope = granted.to_scope();
        let (access_token, _) = self
            .tokens
            .issue(state.user.id, &scope, self.clock.now_ms())?;
        Ok(TokenGrant {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            scope,
        })
    }
}
