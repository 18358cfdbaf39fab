//! The OAuth2 token endpoint's rules (RFC 6749). Errors here are RFC 6749 §5.2 errors, not problem
//! documents, so they have their own type.

use uuid::Uuid;

use super::Bouncer;
use crate::clock::Millis;
use crate::context::RequestContext;
use crate::error::Error;
use crate::model::{Outcome, RefreshToken, TokenFamily};
use crate::permission::{Permission, PermissionSet};
use crate::principal::ClientState;
use crate::principal::UserState;
use crate::secret;
use crate::settings::TokenFormat;
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
    /// The client may not use this grant (RFC 6749 §5.2): the password grant is for first-party
    /// clients, client credentials for registered ones.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("busy")]
    Busy,
    /// Too many failed client-secret or password checks from this address: 429 + `Retry-After`.
    #[error("slow_down")]
    Throttled(u64),
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
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::Busy => "temporarily_unavailable",
            // Registered for the token endpoint (RFC 8628 §3.5): slow down, then try again.
            OAuthError::Throttled(_) => "slow_down",
            OAuthError::Internal(_) => "server_error",
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidCredentials(_) => OAuthError::InvalidGrant,
            Error::Busy | Error::Unavailable(_) => OAuthError::Busy,
            Error::TooManyRequests { retry_after_s, .. } => OAuthError::Throttled(retry_after_s),
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

/// An issued access token (RFC 6749 §5.1), with the refresh token that continues the login.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub refresh_token: Option<String>,
}

/// A client that authenticated at the token endpoint.
#[derive(Debug, Clone)]
pub enum AuthenticatedClient {
    /// The built-in public client (what `/docs` uses, and a grant without a client).
    Swagger,
    Registered(std::sync::Arc<ClientState>),
}

impl AuthenticatedClient {
    pub fn id(&self) -> &str {
        match self {
            AuthenticatedClient::Swagger => SWAGGER_CLIENT,
            AuthenticatedClient::Registered(c) => &c.client.id,
        }
    }
    /// May use the password grant (RFC 9700: only clients the operator trusts with passwords).
    pub fn first_party(&self) -> bool {
        match self {
            AuthenticatedClient::Swagger => true,
            AuthenticatedClient::Registered(c) => c.client.first_party,
        }
    }
}

/// Compared against when the named client does not exist, so the comparison costs the same.
const UNKNOWN_CLIENT_DIGEST: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

pub(super) fn millis(d: std::time::Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn parse_scope(scope: &str) -> Result<PermissionSet, OAuthError> {
    PermissionSet::parse_scope(scope)
        .map_err(|bad| OAuthError::InvalidScope(format!("{bad:?} is not a valid scope")))
}

impl Bouncer {
    /// Authenticates the client of a token request. No client at all is the built-in public
    /// `swagger` client, which has no secret: an empty one (`Basic swagger:`) is accepted. A
    /// registered client needs its secret, compared as digests in constant time. Anything else is
    /// `invalid_client`. A wrong secret counts toward the client id's throttling from this address,
    /// and a throttled client id is refused (429) before its secret is compared.
    pub fn authenticate_client(
        &self,
        client: ClientCredentials<'_>,
        ctx: &RequestContext,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let id = client.client_id.unwrap_or(SWAGGER_CLIENT);
        let subject = crate::throttle::Subject::Client(id);
        if client.client_secret.is_some() {
            self.auth
                .throttle
                .check(subject, ctx.client_ip)
                .map_err(|l| OAuthError::Throttled(l.retry_after_s))?;
        }
        let result = self.check_client(client);
        if result.is_err() && client.client_secret.is_some() {
            self.auth.throttle_failed(subject, ctx.client_ip);
        }
        result
    }

    fn check_client(
        &self,
        client: ClientCredentials<'_>,
    ) -> Result<AuthenticatedClient, OAuthError> {
        match client.client_id {
            None if client.client_secret.is_none() => Ok(AuthenticatedClient::Swagger),
            Some(SWAGGER_CLIENT) if client.client_secret.is_none_or(str::is_empty) => {
                Ok(AuthenticatedClient::Swagger)
            }
            Some(SWAGGER_CLIENT) | None => Err(OAuthError::InvalidClient),
            Some(id) => {
                let found = self.auth.client(id);
                let presented = secret::digest(client.client_secret.unwrap_or_default());
                let expected = found
                    .as_ref()
                    .map_or(UNKNOWN_CLIENT_DIGEST, |c| c.client.secret_hash.as_str());
                let same: bool =
                    subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected.as_bytes()).into();
                match found {
                    Some(c) if same && client.client_secret.is_some() => {
                        Ok(AuthenticatedClient::Registered(c))
                    }
                    _ => Err(OAuthError::InvalidClient),
                }
            }
        }
    }

    /// The client credentials grant (RFC 6749 §4.4): a registered client gets a token for itself
    /// (`sub` = its `client_id`), with the requested scope if the client may hold all of it
    /// (default: all its scopes). No refresh token (§4.4.3).
    pub async fn client_credentials_grant(
        &self,
        client_auth: ClientCredentials<'_>,
        scope: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<TokenGrant, OAuthError> {
        let AuthenticatedClient::Registered(client) = self.authenticate_client(client_auth, ctx)?
        else {
            return Err(OAuthError::UnauthorizedClient);
        };
        let granted = match scope.map(parse_scope).transpose()? {
            Some(req) if !req.is_empty() => {
                if let Some(p) = req.iter().find(|p| !client.permissions.covers(p)) {
                    return Err(OAuthError::InvalidScope(format!(
                        "the client may not hold {p}"
                    )));
                }
                req
            }
            _ => client.permissions.clone(),
        };
        let now = self.clock.now_ms();
        let scope = granted.to_scope();
        let claims = Claims {
            sub: client.client.id.clone(),
            auth_time: now.div_euclid(1000),
            client_id: client.client.id.clone(),
            username: client.client.name.clone(),
            scope: scope.clone(),
            permissions: granted.to_strings(),
            ..Default::default()
        };
        let access_token = self.issue_token(claims, now).await?;
        self.note(
            Some(ctx),
            &client.client.id,
            "token.issue",
            Outcome::Success,
            Some(&client.client.id),
            Some("client_credentials"),
        );
        Ok(TokenGrant {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            scope,
            refresh_token: None,
        })
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
        ctx: &RequestContext,
    ) -> Result<TokenGrant, OAuthError> {
        let client_auth = self.authenticate_client(client_auth, ctx)?;
        if !client_auth.first_party() {
            return Err(OAuthError::UnauthorizedClient);
        }
        let requested = scope.map(parse_scope).transpose()?;
        let checked = self
            .auth
            .check_password(username, password, ctx.client_ip)
            .await;
        self.note_login(ctx, username, client_auth.id(), &checked);
        let state = checked?;
        let grant = Grant::narrow(&state, requested)?;
        let now = self.clock.now_ms();
        let s = self.tokens.settings();
        let family = TokenFamily {
            id: Uuid::now_v7(),
            user_id: state.user.id,
            client_id: client_auth.id().to_owned(),
            scope: grant.scope.clone(),
            auth_time: now,
            created_at: now,
            expires_at: now + millis(s.refresh_absolute_ttl),
            revoked_at: None,
        };
        let (refresh, record) = self.new_refresh_token(&family, &state, now, None);
        self.store
            .insert_family(&family, &record)
            .await
            .map_err(Error::from)?;
        let issued = self
            .issue_access(&state, &family, grant, Some(refresh), now)
            .await?;
        self.note(
            Some(ctx),
            &state.user.username,
            "token.issue",
            Outcome::Success,
            Some(&family.client_id),
            Some("password"),
        );
        Ok(issued)
    }

    /// A new refresh token of `family`, and the record stored for it (its digest only). With a
    /// retry window, a rotation's successor is derived from the token it replaces, so a retry can
    /// be answered with the same one.
    fn new_refresh_token(
        &self,
        family: &TokenFamily,
        state: &UserState,
        now: Millis,
        previous: Option<&str>,
    ) -> (String, RefreshToken) {
        let token = match previous {
            Some(p) if !self.tokens.settings().refresh_retry_window.is_zero() => {
                self.derive("refresh", p, secret::REFRESH_PREFIX)
            }
            _ => secret::generate(secret::REFRESH_PREFIX),
        };
        let record = RefreshToken {
            id: Uuid::now_v7(),
            family_id: family.id,
            token_hash: secret::digest(&token),
            credential_gen: state.user.credential_gen,
            created_at: now,
            expires_at: (now + millis(self.tokens.settings().refresh_ttl)).min(family.expires_at),
            used_at: None,
            successor_claims: None,
        };
        (token, record)
    }

    /// An access token for `claims`, in the configured format: a signed JWT, or an opaque random
    /// string stored (as a digest) with the claims it stands for.
    async fn issue_token(&self, claims: Claims, now: Millis) -> Result<String, OAuthError> {
        let claims = self.tokens.complete(claims, now);
        self.materialize(&claims, None, true).await
    }

    /// The token for completed `claims`. A JWT is signed by the key that was signing at `iat`
    /// (signatures are deterministic, so the same claims give the same token again). An opaque
    /// token is random, or derived from `derive_from` (the retry window's replay gives the same
    /// one); `store` records it.
    async fn materialize(
        &self,
        claims: &Claims,
        derive_from: Option<&str>,
        store: bool,
    ) -> Result<String, OAuthError> {
        match self.tokens.settings().format {
            TokenFormat::Jwt => Ok(self.tokens.sign_issued(claims)?),
            TokenFormat::Opaque => {
                let token = match derive_from {
                    Some(from) => self.derive("opaque", from, secret::OPAQUE_PREFIX),
                    None => secret::generate(secret::OPAQUE_PREFIX),
                };
                if store {
                    let json = serde_json::to_string(claims).map_err(Error::internal)?;
                    self.store
                        .insert_access_token(
                            &secret::digest(&token),
                            &claims.jti,
                            &json,
                            claims.exp.saturating_mul(1000),
                        )
                        .await
                        .map_err(Error::from)?;
                }
                Ok(token)
            }
        }
    }

    /// A secret derived from another under the server's refresh key (HMAC-SHA256): what the
    /// retry window needs to hand out the same successor again without storing it.
    fn derive(&self, label: &str, from: &str, prefix: &str) -> String {
        use base64::Engine as _;
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.refresh_key)
            .expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(from.as_bytes());
        let out = mac.finalize().into_bytes();
        format!(
            "{prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        )
    }

    fn access_claims(state: &UserState, family: &TokenFamily, grant: &Grant) -> Claims {
        Claims {
            sub: state.user.id.to_string(),
            auth_time: family.auth_time.div_euclid(1000),
            client_id: family.client_id.clone(),
            username: state.user.username.clone(),
            r#gen: state.user.credential_gen,
            sid: Some(family.id.to_string()),
            ..grant.claims()
        }
    }

    async fn issue_access(
        &self,
        state: &UserState,
        family: &TokenFamily,
        grant: Grant,
        refresh_token: Option<String>,
        now: Millis,
    ) -> Result<TokenGrant, OAuthError> {
        let access_token = self
            .issue_token(Self::access_claims(state, family, &grant), now)
            .await?;
        Ok(TokenGrant {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            scope: grant.scope,
            refresh_token,
        })
    }

    /// Within the retry window, the same client presenting the token it just rotated gets the
    /// same pair again (a response lost on the network is not theft). `None`: not a retry.
    async fn replay_rotation(
        &self,
        presented: &str,
        token: &RefreshToken,
        family: &TokenFamily,
        now: Millis,
    ) -> Result<Option<TokenGrant>, OAuthError> {
        let Some(json) = &token.successor_claims else {
            return Ok(None);
        };
        let successor = self.derive("refresh", presented, secret::REFRESH_PREFIX);
        let Some((next, next_family)) = self
            .store
            .refresh_token(&secret::digest(&successor))
            .await
            .map_err(Error::from)?
        else {
            return Ok(None);
        };
        if next_family.id != family.id || next.used_at.is_some() || next.expires_at <= now {
            return Ok(None);
        }
        let claims: Claims = serde_json::from_str(json).map_err(Error::internal)?;
        let state = self
            .auth
            .user_state(family.user_id)
            .await?
            .filter(|s| !s.user.disabled && s.user.credential_gen == claims.r#gen);
        if state.is_none() {
            return Ok(None);
        }
        // Stored again if the first answer's insert never happened (ignored if it did).
        let access_token = self.materialize(&claims, Some(presented), true).await?;
        Ok(Some(TokenGrant {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            scope: claims.scope,
            refresh_token: Some(successor),
        }))
    }

    /// The refresh grant (RFC 6749 §6). The refresh token rotates on every use. A token presented
    /// twice is theft: `invalid_grant`, and its whole family (that login's refresh and access
    /// tokens) is revoked; two concurrent refreshes of one token are decided by the store's
    /// compare-and-set, so exactly one wins and the other counts as the reuse. The token works only
    /// for its client, within its sliding and absolute lifetimes, and only while its user is
    /// enabled at the same credential generation. `scope` may narrow, never widen, the login's.
    pub async fn refresh_grant(
        &self,
        client_auth: ClientCredentials<'_>,
        refresh_token: &str,
        scope: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<TokenGrant, OAuthError> {
        let client_auth = self.authenticate_client(client_auth, ctx)?;
        let client_id = client_auth.id().to_owned();
        let result = self
            .refresh_inner(client_auth, refresh_token, scope, ctx)
            .await;
        if let Err(e) = &result {
            self.note(
                Some(ctx),
                &client_id,
                "token.refresh",
                Outcome::Failure,
                Some(&client_id),
                Some(e.code()),
            );
        }
        result
    }

    async fn refresh_inner(
        &self,
        client_auth: AuthenticatedClient,
        refresh_token: &str,
        scope: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<TokenGrant, OAuthError> {
        let requested = scope.map(parse_scope).transpose()?;
        let now = self.clock.now_ms();
        let Some((token, family)) = self
            .store
            .refresh_token(&secret::digest(refresh_token))
            .await
            .map_err(Error::from)?
        else {
            return Err(OAuthError::InvalidGrant);
        };
        if family.client_id != client_auth.id() || family.revoked_at.is_some() {
            return Err(OAuthError::InvalidGrant);
        }
        if let Some(used_at) = token.used_at {
            let window = millis(self.tokens.settings().refresh_retry_window);
            if now - used_at <= window
                && let Some(again) = self
                    .replay_rotation(refresh_token, &token, &family, now)
                    .await?
            {
                return Ok(again);
            }
            self.revoke_family_now(family.id, now).await?;
            tracing::warn!(family = %family.id, "refresh token reused: family revoked");
            self.note_reuse(ctx, &family).await;
            return Err(OAuthError::InvalidGrant);
        }
        if token.expires_at <= now || family.expires_at <= now {
            return Err(OAuthError::InvalidGrant);
        }
        let state = self
            .auth
            .user_state(family.user_id)
            .await?
            .filter(|s| !s.user.disabled && s.user.credential_gen == token.credential_gen)
            .ok_or(OAuthError::InvalidGrant)?;
        let login_scope = parse_scope(&family.scope)?;
        if let Some(req) = &requested
            && let Some(p) = req.iter().find(|p| !login_scope.covers(p))
        {
            return Err(OAuthError::InvalidScope(format!(
                "{p} is beyond the scope of the login"
            )));
        }
        // Without a scope the refresh keeps the login's (`*` stays unnarrowed).
        let requested = requested.or_else(|| (family.scope != "*").then_some(login_scope));
        let grant = Grant::narrow(&state, requested)?;
        let (next, record) = self.new_refresh_token(&family, &state, now, Some(refresh_token));
        let claims = self
            .tokens
            .complete(Self::access_claims(&state, &family, &grant), now);
        let claims_json = serde_json::to_string(&claims).map_err(Error::internal)?;
        if !self
            .store
            .rotate_refresh_token(token.id, &record, &claims_json, now)
            .await
            .map_err(Error::from)?
        {
            // Another request used it first. Within the retry window that may be this client's own
            // retry racing its first attempt: answer it like a retry that came later.
            if !self.tokens.settings().refresh_retry_window.is_zero()
                && let Some((again, fam)) = self
                    .store
                    .refresh_token(&token.token_hash)
                    .await
                    .map_err(Error::from)?
                && let Some(grant) = self
                    .replay_rotation(refresh_token, &again, &fam, now)
                    .await?
            {
                return Ok(grant);
            }
            // Otherwise this one is the reuse.
            self.revoke_family_now(family.id, now).await?;
            tracing::warn!(family = %family.id, "refresh token used twice at once: family revoked");
            self.note_reuse(ctx, &family).await;
            return Err(OAuthError::InvalidGrant);
        }
        let retry = !self.tokens.settings().refresh_retry_window.is_zero();
        let access_token = self
            .materialize(&claims, retry.then_some(refresh_token), true)
            .await?;
        self.note(
            Some(ctx),
            &state.user.username,
            "token.refresh",
            Outcome::Success,
            Some(&family.client_id),
            None,
        );
        Ok(TokenGrant {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            scope: grant.scope,
            refresh_token: Some(next),
        })
    }

    /// A reused refresh token (its family is revoked): the event names the family's user.
    async fn note_reuse(&self, ctx: &RequestContext, family: &TokenFamily) {
        let user = match self.auth.user_state(family.user_id).await {
            Ok(Some(s)) => s.user.username.clone(),
            _ => family.user_id.to_string(),
        };
        self.note(
            Some(ctx),
            &user,
            "token.reuse",
            Outcome::Failure,
            Some(&family.id.to_string()),
            Some("refresh_token_reused"),
        );
    }

    pub(super) async fn revoke_family_now(&self, id: Uuid, now: Millis) -> Result<(), OAuthError> {
        self.store
            .revoke_family(id, now)
            .await
            .map_err(Error::from)?;
        self.auth.note_revoked_family(id);
        Ok(())
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
            let held = if p.names_role() {
                user.holds_role_scope(p)
            } else {
                state.permissions.covers(p)
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
            .filter(|r| req.covers_role(r))
            .cloned()
            .collect();
        Ok(Grant {
            scope: req.to_scope(),
            roles,
            permissions: req.effective_within(&state.permissions).to_strings(),
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
