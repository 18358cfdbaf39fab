//! Bearer tokens from outside issuers (`[[issuers]]`): verified once (then cached until they
//! expire), and mapped at every request onto the roles Bouncer has now, so a role's permissions
//! and policies apply to them at once when the role changes.

use std::sync::Arc;

use super::{Authenticator, TokenInfo};
use crate::context::RequestContext;
use crate::error::{AuthFailure, Error, Result};
use crate::issuers::{Issuers, OutsideToken};
use crate::permission::PermissionSet;
use crate::principal::{CredentialId, CredentialKind, OutsideSubject, Principal, Subject};

impl Authenticator {
    /// Sets the outside issuers (once, at start, by the binary that owns the HTTP client).
    pub fn set_issuers(&self, issuers: Arc<Issuers>) {
        let _ = self.issuers.set(issuers);
    }

    /// The configured outside issuers, when a token names one of them (and not Bouncer itself).
    pub(super) fn outside_issuer(&self, token: &str) -> Option<&Arc<Issuers>> {
        let issuers = self.issuers.get().filter(|i| !i.is_empty())?;
        if token.starts_with(crate::secret::OPAQUE_PREFIX) {
            return None;
        }
        let iss = crate::issuers::peek_issuer(token)?;
        (iss != self.tokens.settings().issuer && issuers.knows(&iss)).then_some(issuers)
    }

    /// An outside token as a principal: its roles that exist here, their permissions now, its
    /// scopes narrowing them (`role:NAME` and permissions; anything else is ignored, and a token
    /// left with none, or without a scope claim, is not narrowed).
    pub(super) async fn outside(
        &self,
        issuers: &Issuers,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(Principal, Arc<TokenInfo>)> {
        let now_s = self.clock.now_s();
        let leeway = i64::try_from(self.tokens.settings().leeway.as_secs()).unwrap_or(0);
        let verified = match self.outside_tokens.get(token) {
            Some(v) if v.exp > now_s - leeway => v,
            Some(_) => {
                self.outside_tokens.invalidate(token);
                return Err(Error::InvalidCredentials(AuthFailure::Expired));
            }
            None => {
                let v = Arc::new(
                    issuers
                        .verify(token)
                        .await
                        .map_err(Error::InvalidCredentials)?,
                );
                self.outside_tokens.insert(token.to_owned(), v.clone());
                v
            }
        };
        let OutsideToken {
            issuer,
            sub,
            username,
            roles,
            scopes,
            auth_time,
            exp,
        } = verified.as_ref();
        let table = self.role_table();
        let mut mapped: Vec<String> = roles
            .iter()
            .filter(|r| table.contains_key(*r))
            .cloned()
            .collect();
        mapped.sort();
        mapped.dedup();
        let mut permissions = PermissionSet::default();
        for r in &mapped {
            permissions.extend(&table[r]);
        }
        let scopes = scopes.as_ref().and_then(|list| {
            let kept: Vec<&str> = list
                .iter()
                .map(String::as_str)
                .filter(|s| PermissionSet::parse_scope(s).is_ok())
                .collect();
            (!kept.is_empty()).then(|| PermissionSet::parse_scope(&kept.join(" ")).ok())?
        });
        let scope_text = scopes
            .as_ref()
            .map(PermissionSet::to_scope)
            .unwrap_or_default();
        let info = Arc::new(TokenInfo {
            client_id: String::new(),
            username: username.clone(),
            scope: scope_text,
            iat: 0,
            exp: *exp,
        });
        let subject = OutsideSubject {
            id: format!("{issuer}#{sub}"),
            issuer: issuer.clone(),
            sub: sub.clone(),
            username: username.clone(),
            roles: mapped,
            permissions,
        };
        let principal = Principal {
            subject: Subject::Outside(Arc::new(subject)),
            credential: CredentialKind::Jwt,
            credential_id: CredentialId::None,
            scopes: scopes.map(Arc::new),
            auth_time: *auth_time,
            context: ctx.clone(),
        };
        Ok((principal, info))
    }
}
