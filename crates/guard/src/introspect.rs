//! Introspect mode: every credential is checked by Bouncer (RFC 7662), each answer remembered
//! for the configured time (about a second), so a revocation takes effect within it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;

use crate::local::{Claims, MAX_TOKEN_LEN, unix_now};
use crate::principal::{CredentialKind, Principal};
use crate::problem::Refusal;
use crate::rules::{Perm, ROLE_SCOPE};
use crate::{Inner, Mode};

/// The prefix of Bouncer's API keys.
pub(crate) const API_KEY_PREFIX: &str = "bnc_";

/// What an introspection said, as the guard keeps it: the caller, or `None` when the credential
/// is not valid now (or not of the kind it was presented as).
pub(crate) struct Answer {
    principal: Option<Arc<Principal>>,
}

/// An RFC 7662 answer as Bouncer sends it. `roles` and `permissions` (what the credential may
/// use now, its scope applied) are used when present; Bouncer versions before they were added
/// answer only `scope`.
#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    permissions: Option<Vec<String>>,
}

/// How the credential was presented.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presented {
    Jwt,
    Opaque,
    ApiKey,
}

/// A principal from an active answer about an opaque token or an API key.
///
/// Bouncer's answer has `roles` and `permissions`, used as they are. Without them (an older
/// Bouncer) they are inferred from `scope`: for an API key, `scope` is what the key can use now (its scopes ∩ its owner's permissions, and the
/// `role:NAME` scopes of roles its owner has): its rights, and its roles when it names any. For
/// an opaque access token, `scope` is the scope granted at issue: when narrowed, every entry was
/// held then, so its permissions are the rights and its `role:NAME` entries the roles; for `*`,
/// nothing is known.
fn from_answer(i: Introspection, presented: Presented) -> Principal {
    let scopes: Vec<String> = i
        .scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let parsed: Vec<Perm<'_>> = scopes.iter().filter_map(|s| Perm::parse(s)).collect();
    let all = parsed.contains(&Perm::All);
    let any_role = parsed.contains(&Perm::Resource(ROLE_SCOPE));
    let perm_entries: Vec<String> = scopes
        .iter()
        .filter(|s| Perm::parse(s).is_some_and(|p| !p.names_role()))
        .cloned()
        .collect();
    let role_entries: Vec<String> = parsed
        .iter()
        .filter_map(|p| match p {
            Perm::Exact(ROLE_SCOPE, r) => Some((*r).to_owned()),
            _ => None,
        })
        .collect();
    let (mut permissions, mut permissions_known, mut roles, mut roles_known) = match presented {
        Presented::ApiKey => {
            let known = !role_entries.is_empty() && !any_role;
            (perm_entries, true, role_entries, known)
        }
        _ if all => (Vec::new(), false, Vec::new(), false),
        _ => (perm_entries, true, role_entries, !any_role),
    };
    if let Some(p) = i.permissions {
        (permissions, permissions_known) = (p, true);
    }
    if let Some(r) = i.roles {
        (roles, roles_known) = (r, true);
    }
    let sub = i.sub.unwrap_or_default();
    let client_id = i.client_id.filter(|c| !c.is_empty());
    let kind = match presented {
        Presented::ApiKey => CredentialKind::ApiKey,
        _ if client_id.as_deref() == Some(sub.as_str()) => CredentialKind::Client,
        _ => CredentialKind::Opaque,
    };
    Principal {
        subject: sub,
        username: i.username.unwrap_or_default(),
        roles,
        scopes,
        permissions,
        credential_kind: kind,
        client_id,
        expires_at: i.exp.filter(|e| *e > 0),
        permissions_known,
        roles_known,
    }
}

/// Whether `s` has the shape of a credential (RFC 6750 `b64token`, at most [`MAX_TOKEN_LEN`]):
/// anything else is refused without asking Bouncer.
fn b64token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TOKEN_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

impl Inner {
    /// The remembered answer about `credential`, if any (`Some(None)`: refused).
    fn remembered(&self, credential: &str) -> Option<Option<Arc<Principal>>> {
        let a = self.introspected.as_ref()?.get(credential)?;
        Some(
            a.principal
                .clone()
                .filter(|p| p.expires_at.is_none_or(|e| e > unix_now())),
        )
    }

    /// How a bearer token is presented, or its refusal without asking (not the shape of one).
    fn presented_bearer(&self, token: &str) -> Result<Presented, Refusal> {
        if !b64token(token) || token.starts_with(API_KEY_PREFIX) {
            return Err(self.invalid(""));
        }
        Ok(if token.bytes().filter(|b| *b == b'.').count() == 2 {
            Presented::Jwt
        } else {
            Presented::Opaque
        })
    }

    /// An API key's refusal without asking (not introspect mode, not the shape of a key).
    fn api_key_refusal(&self, key: &str) -> Option<Refusal> {
        if !matches!(self.mode, Mode::Introspect { .. }) {
            return Some(Refusal::unauthorized(
                &self.realm,
                "this service verifies JWT access tokens only: API keys need introspection",
            ));
        }
        (!key.starts_with(API_KEY_PREFIX) || !b64token(key)).then(|| self.key_refused())
    }

    fn key_refused(&self) -> Refusal {
        Refusal::unauthorized(&self.realm, "invalid or expired credentials")
    }

    /// A bearer token in introspect mode, without I/O: `None` when Bouncer must be asked.
    pub(crate) fn introspect_bearer_now(
        &self,
        token: &str,
    ) -> Option<Result<Arc<Principal>, Refusal>> {
        if let Err(refusal) = self.presented_bearer(token) {
            return Some(Err(refusal));
        }
        Some(self.remembered(token)?.ok_or_else(|| self.invalid("")))
    }

    /// An API key, without I/O: `None` when Bouncer must be asked.
    pub(crate) fn api_key_now(&self, key: &str) -> Option<Result<Arc<Principal>, Refusal>> {
        if let Some(refusal) = self.api_key_refusal(key) {
            return Some(Err(refusal));
        }
        Some(self.remembered(key)?.ok_or_else(|| self.key_refused()))
    }

    /// The caller `credential` (presented as `presented`) stands for, by introspection (or the
    /// remembered answer).
    async fn introspected(
        &self,
        credential: &str,
        presented: Presented,
    ) -> Result<Option<Arc<Principal>>, Refusal> {
        if let Some(known) = self.remembered(credential) {
            return Ok(known);
        }
        let Mode::Introspect {
            client_id,
            client_secret,
            ..
        } = &self.mode
        else {
            return Ok(None);
        };
        let md = self.metadata().await?;
        let endpoint = md.introspection_endpoint.as_deref().ok_or_else(|| {
            Refusal::unavailable("Bouncer's metadata has no introspection_endpoint")
        })?;
        let req = self
            .remote
            .http
            .post(endpoint)
            .basic_auth(client_id, Some(client_secret))
            .form(&[("token", credential)]);
        let a = self
            .remote
            .send(req, "an introspection")
            .await
            .map_err(|why| {
                tracing::warn!("bouncer-guard: {why}");
                Refusal::unavailable(why)
            })?;
        self.introspections.fetch_add(1, Ordering::Relaxed);
        if a.status == 401 {
            tracing::error!(
                "bouncer-guard: Bouncer refused this service's client credentials for introspection \
                 (a registered client holding tokens:introspect is needed)"
            );
            return Err(Refusal::unavailable(
                "Bouncer refused this service's client credentials for introspection",
            ));
        }
        if a.status != 200 {
            return Err(Refusal::unavailable(format!(
                "Bouncer answered {} for an introspection",
                a.status
            )));
        }
        let i: Introspection = serde_json::from_slice(&a.body)
            .map_err(|_| Refusal::unavailable("Bouncer's introspection answer is not RFC 7662"))?;
        let principal = self.principal_of(credential, presented, i).map(Arc::new);
        if let Some(cache) = &self.introspected {
            cache.insert(
                credential.to_owned(),
                Arc::new(Answer {
                    principal: principal.clone(),
                }),
            );
        }
        Ok(principal)
    }

    /// The principal of an answer, or `None` when it is not active, expired, or not the kind of
    /// credential it was presented as (a refresh token as a bearer token, say).
    fn principal_of(
        &self,
        credential: &str,
        presented: Presented,
        i: Introspection,
    ) -> Option<Principal> {
        let expected = match presented {
            Presented::ApiKey => "api_key",
            _ => "access_token",
        };
        if !i.active
            || i.token_type.as_deref() != Some(expected)
            || i.exp.is_some_and(|e| e > 0 && e <= unix_now())
        {
            return None;
        }
        if presented != Presented::Jwt {
            return Some(from_answer(i, presented));
        }
        // Bouncer verified this very string: its payload is the one it signed.
        let payload = credential.split('.').nth(1)?;
        let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        if i.sub.as_deref() != Some(claims.sub.as_str()) || !claims.has_audience(&self.audience) {
            return None;
        }
        // What it may use now, when Bouncer says (it does since introspection answers them);
        // else its claims: its rights at issue.
        let mut p = claims.principal();
        if let Some(r) = i.roles {
            p.roles = r;
        }
        if let Some(perms) = i.permissions {
            p.permissions = perms;
        }
        Some(p)
    }

    /// A bearer token in introspect mode: a JWT (its claims read once Bouncer says it is active)
    /// or an opaque token.
    pub(crate) async fn introspect_bearer(&self, token: &str) -> Result<Arc<Principal>, Refusal> {
        let presented = self.presented_bearer(token)?;
        Box::pin(self.introspected(token, presented))
            .await?
            .ok_or_else(|| self.invalid(""))
    }

    /// An API key (`bnc_...`), by introspection; needs introspect mode.
    pub(crate) async fn api_key(&self, key: &str) -> Result<Arc<Principal>, Refusal> {
        if let Some(refusal) = self.api_key_refusal(key) {
            return Err(refusal);
        }
        Box::pin(self.introspected(key, Presented::ApiKey))
            .await?
            .ok_or_else(|| self.key_refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(scope: &str, client_id: Option<&str>) -> Introspection {
        Introspection {
            active: true,
            sub: Some("u1".into()),
            username: Some("alice".into()),
            scope: Some(scope.into()),
            client_id: client_id.map(str::to_owned),
            exp: None,
            token_type: None,
            roles: None,
            permissions: None,
        }
    }

    #[test]
    fn what_an_answer_tells() {
        let k = from_answer(answer("items:read role:admin", None), Presented::ApiKey);
        assert_eq!(k.credential_kind, CredentialKind::ApiKey);
        assert_eq!(k.permissions, ["items:read"]);
        assert_eq!(k.roles, ["admin"]);
        assert!(k.permissions_known && k.roles_known);
        let k = from_answer(answer("*", None), Presented::ApiKey);
        assert!(k.permissions_known && !k.roles_known);
        assert!(k.has_permission("users:write"));
        let o = from_answer(answer("*", Some("swagger")), Presented::Opaque);
        assert!(!o.permissions_known && !o.roles_known);
        assert_eq!(o.credential_kind, CredentialKind::Opaque);
        assert_eq!(
            o.check_permission("items:read", "b").unwrap_err().code,
            "missing_permission"
        );
        let o = from_answer(answer("items:read", Some("swagger")), Presented::Opaque);
        assert!(o.has_permission("items:read") && !o.has_permission("items:write"));
        let c = from_answer(answer("items:read", Some("u1")), Presented::Opaque);
        assert_eq!(c.credential_kind, CredentialKind::Client);
    }
}
