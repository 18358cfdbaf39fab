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
            Error::WeakPassword { field, reason } => {
                OAuthError::InvalidRequest(format!("{field}: {reason}"))
            }
            other => OAuthError::Internal(other.to_string()),
        }
    }
}

/// How a client identified itself at the token endpoint (RFC 6749 §2.3.1): `Authorization: Basic`
/// (`client_secret_basic`) or form fields (`client_secret_post`, or a public client's bare
/// `client_id`). The HTTP layer has already refused two different ones in one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCredentials<'a> {
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
}

/// An issued access token (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

impl Bouncer {
    /// Authenticates the client of a token request; returns its id. No client at all is the
    /// built-in public `swagger` client. A public client has no secret: an empty one (`Basic
    /// swagger:`) is accepted, any other secret, and any unknown client, are `invalid_client`.
    pub fn authenticate_client(
        &self,
        client: ClientCredentials<'_>,
    ) -> Result<&'static str, OAuthError> {
        match client.client_id {
            None if client.client_secret.is_none() => Ok(SWAGGER_CLIENT),
            Some(SWAGGER_CLIENT) if client.client_secret.is_none_or(str::is_empty) => {
                Ok(SWAGGER_CLIENT)
            }
            _ => Err(OAuthError::InvalidClient),
        }
    }

    /// The resource owner password credentials grant (RFC 6749 §4.3). Unknown user, wrong password
    /// and disabled user are the same `invalid_grant`. The granted scope is the requested one if the
    /// user holds every part of it, else `invalid_scope`; by default all of the user's permissions.
    pub async fn password_grant(
        &self,
        client_auth: ClientCredentials<'_>,
        username: &str,
        password: &str,
        scope: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<TokenGrant, OAuthError> {
        self.authenticate_client(client_auth)?;
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
        let (access_token, _) = self.tokens.issue(
            state.user.id,
            state.user.credential_gen,
            &scope,
            self.clock.now_ms(),
        )?;
        Ok(TokenGrant {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            scope,
        })
    }
}
