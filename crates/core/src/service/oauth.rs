//! The OAuth2 token endpoint's rules (RFC 6749). Errors here are RFC 6749 §5.2 errors, not problem
//! documents, so they have their own type.

use super::Bouncer;
use crate::authz::ROLE_SCOPE;
use crate::error::Error;
use crate::permission::{Permission, PermissionRef, PermissionSet};
use crate::principal::UserState;
use crate::token::Claims;

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
        let client_id = self.authenticate_client(client_auth)?;
        let requested = scope
            .map(|s| {
                PermissionSet::parse_scope(s).map_err(|bad| {
                    OAuthError::InvalidScope(format!("{bad:?} is not a valid scope"))
                })
            })
            .transpose()?;
        let state = self.auth.check_password(username, password, client).await?;
        let grant = Grant::narrow(&state, requested)?;
        let now = self.clock.now_ms();
        let claims = Claims {
            sub: state.user.id.to_string(),
            auth_time: now.div_euclid(1000),
            client_id: client_id.to_owned(),
            username: state.user.username.clone(),
            r#gen: state.user.credential_gen,
            ..grant.claims()
        };
        let (access_token, _) = self.tokens.issue(claims, now)?;
        Ok(TokenGrant {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            scope: grant.scope,
        })
    }
}

/// What a grant gives: the scope and, from it, the roles and effective permissions at issue.
struct Grant {
    scope: String,
    roles: Vec<String>,
    permissions: Vec<String>,
}

impl Grant {
    /// Narrows the user's rights to `requested` (RFC 6749 §3.3). No scope is `*`: not narrowed.
    /// Otherwise every entry must be held: a permission the user's permissions cover (`*` only
    /// for who holds `*`), or `role:NAME` for a role the user has (`role:*`: all of them); else
    /// `invalid_scope`.
    fn narrow(state: &UserState, requested: Option<PermissionSet>) -> Result<Self, OAuthError> {
        let user = &state.user;
        let unnarrowed = || Grant {
            scope: "*".into(),
            roles: user.roles.clone(),
            permissions: state.permissions.to_strings(),
        };
        let Some(req) = requested.filter(|r| !r.is_empty()) else {
            return Ok(unnarrowed());
        };
        for p in req.iter() {
            let held = match p.borrowed() {
                PermissionRef::Exact(ROLE_SCOPE, role) => user.has_role(role),
                PermissionRef::Resource(ROLE_SCOPE) => true,
                _ => state.permissions.covers(p),
            };
            if !held {
                return Err(OAuthError::InvalidScope(format!(
                    "the user does not hold {p}"
                )));
            }
        }
        if req.covers(&Permission::All) {
            return Ok(unnarrowed());
        }
        let roles = user
            .roles
            .iter()
            .filter(|r| req.covers_ref(PermissionRef::Exact(ROLE_SCOPE, r)))
            .cloned()
            .collect();
        // Effective permissions: each scope entry the user holds, and each held permission a
        // wider scope entry covers (scope `items:*` over held `items:read`).
        let mut effective: Vec<Permission> = Vec::new();
        for s in req.iter().filter(|s| !is_role_scope(s)) {
            if state.permissions.covers(s) {
                effective.push(s.clone());
            } else {
                effective.extend(state.permissions.iter().filter(|u| s.covers(u)).cloned());
            }
        }
        Ok(Grant {
            scope: req.to_scope(),
            roles,
            permissions: PermissionSet::new(effective).to_strings(),
        })
    }

    fn claims(&self) -> Claims {
        Claims {
            scope: self.scope.clone(),
            roles: self.roles.clone(),
            permissions: self.permissions.clone(),
            ..Default::default()
        }
    }
}

fn is_role_scope(p: &Permission) -> bool {
    matches!(
        p.borrowed(),
        PermissionRef::Exact(ROLE_SCOPE, _) | PermissionRef::Resource(ROLE_SCOPE)
    )
}
