//! Token revocation (RFC 7009) and introspection (RFC 7662): who may revoke or inspect which
//! token, and what introspection answers.

use super::Bouncer;
use super::oauth::{AuthenticatedClient, ClientCredentials, OAuthError};
use crate::context::RequestContext;
use crate::error::Error;
use crate::permission::{Permission, PermissionSet};
use crate::secret;

/// An RFC 7662 answer: `active: false` and nothing else for anything not valid.
#[derive(Debug, Clone, Default)]
pub struct Introspection {
    pub active: bool,
    pub sub: String,
    pub username: String,
    pub scope: String,
    pub client_id: String,
    /// Seconds since the epoch.
    pub exp: i64,
    pub iat: i64,
    /// `access_token`, `refresh_token` or `api_key`.
    pub token_type: &'static str,
    /// The roles the credential may use now (the subject's roles its scope covers), and what it
    /// may do now (the subject's permissions narrowed by its scope), as an access token's claims
    /// say at issue: what a resource server needs to decide without asking again.
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

/// What a credential with `scope` (none: not narrowed) may use now of `roles` and `held`.
fn rights(
    held: &PermissionSet,
    roles: &[String],
    scope: Option<&PermissionSet>,
) -> (Vec<String>, Vec<String>) {
    let roles = roles
        .iter()
        .filter(|r| scope.is_none_or(|s| s.covers_role(r)))
        .cloned()
        .collect();
    let permissions = match scope {
        Some(s) => s.effective_within(held),
        None => held.clone(),
    };
    (roles, permissions.to_strings())
}

/// The permission a client needs to call `/oauth2/introspect`.
pub const INTROSPECT: &str = crate::permission::registry::TOKENS_INTROSPECT;

/// What `/oauth2/revoke` authenticated (RFC 7009 §2.1).
#[derive(Debug, Clone)]
pub enum RevokeCaller<'a> {
    /// An authenticated client: it may revoke the tokens issued to it.
    Client(&'a str),
    /// A credential of a subject (a user's id, a client's `client_id`): they may revoke their own
    /// tokens.
    Owner(String),
    /// The request presented the very access token it revokes as its bearer credential
    /// (possession of a token Bouncer issued is proof enough, even once that token is revoked).
    /// Not for refresh tokens: revoking a login needs its owner or its client.
    Possession,
}

impl Bouncer {
    /// Token introspection (RFC 7662), for registered clients holding `tokens:introspect` only
    /// (anyone else, users included, is `invalid_client`). Access and refresh tokens; everything
    /// that is not valid right now (expired, revoked, used, of a disabled user, unknown) is just
    /// `active: false`.
    pub async fn introspect(
        &self,
        client_auth: ClientCredentials<'_>,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Introspection, OAuthError> {
        let AuthenticatedClient::Registered(caller) = self.authenticate_client(client_auth, ctx)?
        else {
            return Err(OAuthError::InvalidClient);
        };
        let needed = Permission::parse(INTROSPECT).expect("a valid permission");
        if !caller.permissions.covers(&needed) {
            return Err(OAuthError::InvalidClient);
        }
        let now = self.clock.now_ms();
        if token.starts_with(secret::REFRESH_PREFIX) {
            let Some((t, family)) = self
                .store
                .refresh_token(&secret::digest(token))
                .await
                .map_err(Error::from)?
            else {
                return Ok(Introspection::default());
            };
            let live = family.revoked_at.is_none()
                && t.used_at.is_none()
                && t.expires_at > now
                && family.expires_at > now;
            let state = match live {
                true => self.auth.user_state(family.user_id).await?,
                false => None,
            };
            return Ok(match state {
                Some(s) if !s.user.disabled && s.user.credential_gen == t.credential_gen => {
                    let scope = PermissionSet::parse_scope(&family.scope).ok();
                    let (roles, permissions) =
                        rights(&s.permissions, &s.user.roles, scope.as_ref());
                    Introspection {
                        active: true,
                        roles,
                        permissions,
                        sub: family.user_id.to_string(),
                        username: s.user.username.clone(),
                        scope: family.scope,
                        client_id: family.client_id,
                        exp: t.expires_at.min(family.expires_at).div_euclid(1000),
                        iat: t.created_at.div_euclid(1000),
                        token_type: "refresh_token",
                    }
                }
                _ => Introspection::default(),
            });
        }
        if token.starts_with(secret::API_KEY_PREFIX) {
            if !self.auth.settings().api_keys_enabled {
                return Ok(Introspection::default());
            }
            let Ok(v) = self.auth.find_api_key(token).await else {
                return Ok(Introspection::default());
            };
            let k = &v.key;
            let state = match k.expires_at.is_none_or(|e| e > now) {
                true => self.auth.user_state(k.user_id).await?,
                false => None,
            };
            return Ok(match state {
                Some(s) if !s.user.disabled => Introspection {
                    active: true,
                    roles: rights(&s.permissions, &s.user.roles, Some(v.scopes())).0,
                    permissions: v.scopes().effective_within(&s.permissions).to_strings(),
                    sub: k.user_id.to_string(),
                    username: s.user.username.clone(),
                    // What the key can use now: the owner's permissions its scopes cover, and the
                    // role scopes of roles the owner has (as the password grant narrows).
                    scope: {
                        let mut now = v.scopes().effective_within(&s.permissions);
                        now.extend(&PermissionSet::new(
                            v.scopes()
                                .iter()
                                .filter(|p| p.names_role() && s.user.holds_role_scope(p))
                                .cloned()
                                .collect(),
                        ));
                        now.to_scope()
                    },
                    client_id: String::new(),
                    exp: k.expires_at.map_or(0, |e| e.div_euclid(1000)),
                    iat: k.created_at.div_euclid(1000),
                    token_type: "api_key",
                },
                _ => Introspection::default(),
            });
        }
        // An access token: valid exactly when it would be accepted on a request right now.
        let ctx = crate::context::RequestContext::at(now);
        let Ok((p, c)) = self.auth.inspect(token, &ctx).await else {
            return Ok(Introspection::default());
        };
        let (roles, permissions) = rights(p.permissions(), p.roles(), p.scopes.as_deref());
        Ok(Introspection {
            active: true,
            roles,
            permissions,
            sub: p.subject_id(),
            username: c.username.clone(),
            scope: c.scope.clone(),
            client_id: c.client_id.clone(),
            exp: c.exp,
            iat: c.iat,
            token_type: "access_token",
        })
    }

    /// Token revocation (RFC 7009): a refresh token revokes its family (with the family's access
    /// tokens); an access token only itself. Only the token's owner, its client, or a request
    /// presenting the token itself may revoke it; anything else (someone else's token, an invalid
    /// or expired one) is left alone, and the answer is the same.
    pub async fn revoke(
        &self,
        caller: RevokeCaller<'_>,
        token: &str,
        ctx: &crate::context::RequestContext,
    ) -> Result<(), OAuthError> {
        let revoked = self.revoke_inner(&caller, token).await?;
        if let Some(what) = revoked {
            let actor = match &caller {
                RevokeCaller::Client(c) => (*c).to_owned(),
                RevokeCaller::Owner(u) => match uuid::Uuid::parse_str(u) {
                    Ok(id) => match self.auth.user_state(id).await {
                        Ok(Some(s)) => s.user.username.clone(),
                        _ => u.clone(),
                    },
                    Err(_) => u.clone(),
                },
                RevokeCaller::Possession => "token holder".to_owned(),
            };
            self.note(
                Some(ctx),
                &actor,
                "token.revoke",
                crate::model::Outcome::Success,
                Some(&what),
                None,
            );
        }
        Ok(())
    }

    /// The revocation itself; returns what was revoked (`family:ID`, `token:JTI`), if anything.
    async fn revoke_inner(
        &self,
        caller: &RevokeCaller<'_>,
        token: &str,
    ) -> Result<Option<String>, OAuthError> {
        let now = self.clock.now_ms();
        if token.starts_with(secret::REFRESH_PREFIX) {
            if let Some((_, family)) = self
                .store
                .refresh_token(&secret::digest(token))
                .await
                .map_err(Error::from)?
            {
                let allowed = match &caller {
                    RevokeCaller::Client(c) => *c == family.client_id,
                    RevokeCaller::Owner(u) => *u == family.user_id.to_string(),
                    RevokeCaller::Possession => false,
                };
                if allowed && family.revoked_at.is_none() {
                    self.revoke_family_now(family.id, now).await?;
                    return Ok(Some(format!("family:{}", family.id)));
                }
            }
            return Ok(None);
        }
        // An access token: only one of ours, still valid, names a jti worth revoking. Possession
        // of anything else proves nothing.
        let Ok(claims) = self.auth.claims_of(token, now.div_euclid(1000)).await else {
            return match caller {
                RevokeCaller::Possession => Err(OAuthError::InvalidClient),
                _ => Ok(None),
            };
        };
        let allowed = match caller {
            RevokeCaller::Client(c) => *c == claims.client_id,
            RevokeCaller::Owner(u) => *u == claims.sub,
            RevokeCaller::Possession => true,
        };
        if allowed {
            let expires = claims.exp.saturating_mul(1000);
            self.store
                .revoke_access_token(&claims.jti, expires)
                .await
                .map_err(Error::from)?;
            self.auth.note_revoked_token(&claims.jti, expires);
            return Ok(Some(format!("token:{}", claims.jti)));
        }
        Ok(None)
    }
}
