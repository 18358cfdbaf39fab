//! API keys and cookie sessions: looked up by digest, cached after first use (unknown ones
//! remembered briefly), their use written in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use uuid::Uuid;

use super::{Authenticator, VerifiedKey};
use crate::clock::Millis;
use crate::context::RequestContext;
use crate::error::{AuthFailure, Error, Result};
use crate::permission::PermissionSet;
use crate::principal::{CredentialId, CredentialKind, Principal, Subject};

impl Authenticator {
    /// A cookie session: alive until its absolute end, while used within the idle time, while its
    /// user is enabled at the same credential generation (a password change or disable ends it).
    pub async fn session(&self, id: &str, ctx: &RequestContext) -> Result<Principal> {
        if id.len() != 43
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::InvalidCredentials(AuthFailure::Malformed));
        }
        let digest = crate::secret::digest(id);
        let s = self
            .sessions
            .get(digest.clone(), || async {
                Ok(self.store.session_by_hash(&digest).await?)
            })
            .await?;
        let now = self.clock.now_ms();
        let idle = i64::try_from(self.settings.session_idle.as_millis()).unwrap_or(i64::MAX / 4);
        {
            // One lock per request: the idle check and the use it records. (A use recorded for a
            // session whose user then fails the checks below touches only a dead session.)
            let mut uses = self.session_uses.lock().unwrap_or_else(|e| e.into_inner());
            let last_seen = uses
                .get(&s.id)
                .copied()
                .unwrap_or(s.last_seen_at)
                .max(s.last_seen_at);
            if s.expires_at <= now || last_seen + idle <= now {
                return Err(Error::InvalidCredentials(AuthFailure::Expired));
            }
            uses.insert(s.id, now);
        }
        let state = self
            .user_state(s.user_id)
            .await?
            .ok_or(Error::InvalidCredentials(AuthFailure::UnknownUser))?;
        Self::usable(&state).map_err(Error::InvalidCredentials)?;
        if state.user.credential_gen != s.credential_gen {
            return Err(Error::InvalidCredentials(AuthFailure::Superseded));
        }
        Ok(Principal {
            subject: Subject::User(state),
            credential: CredentialKind::Session,
            credential_id: CredentialId::Session(s.id),
            scopes: None,
            auth_time: Some(s.created_at),
            context: ctx.clone(),
        })
    }

    /// Drops the cached session `id` (it ended, here or elsewhere).
    pub fn invalidate_session(&self, id: Uuid) {
        self.sessions.invalidate(id);
    }

    /// The stored API key for `key`: refused without a lookup when its checksum is wrong, from
    /// memory after first use, and unknown keys are remembered (bounded) so random keys cannot
    /// turn every request into a query.
    pub async fn find_api_key(&self, key: &str) -> Result<Arc<VerifiedKey>> {
        if key.len() > 256 || !crate::secret::api_key_well_formed(key) {
            return Err(Error::InvalidCredentials(AuthFailure::Malformed));
        }
        let digest = crate::secret::digest(key);
        self.api_keys
            .get(digest.clone(), || async {
                let Some(k) = self.store.api_key_by_hash(&digest).await? else {
                    return Ok(None);
                };
                let scopes = PermissionSet::parse(k.scopes.iter().map(String::as_str))
                    .map_err(|_| Error::InvalidCredentials(AuthFailure::Malformed))?;
                let nets = k
                    .client_ips
                    .iter()
                    .filter_map(|n| crate::context::network(n))
                    .collect();
                Ok(Some(VerifiedKey {
                    key: k,
                    scopes: Arc::new(scopes),
                    nets,
                    recorded: AtomicI64::new(0),
                }))
            })
            .await
    }

    /// An API key: effective rights are its scopes ∩ its owner's current permissions; a disabled
    /// owner's keys are refused (suspended) until the owner is enabled; outside its client-IP
    /// allowlist it is 403 `ip_not_allowed`.
    pub async fn api_key(&self, key: &str, ctx: &RequestContext) -> Result<Principal> {
        let v = self.find_api_key(key).await?;
        let k = &v.key;
        let now = self.clock.now_ms();
        if k.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::InvalidCredentials(AuthFailure::Expired));
        }
        let state = self
            .user_state(k.user_id)
            .await?
            .ok_or(Error::InvalidCredentials(AuthFailure::UnknownUser))?;
        Self::usable(&state).map_err(Error::InvalidCredentials)?;
        if !k.client_ips.is_empty() {
            let allowed = ctx.client_ip.is_some_and(|ip| {
                let ip = crate::context::unmapped(ip);
                v.nets.iter().any(|n| n.contains(&ip))
            });
            if !allowed {
                return Err(crate::authz::Decision::deny_with(
                    crate::authz::DenyCode::IpNotAllowed,
                    "a client address the key allows",
                )
                .into_error());
            }
        }
        // Queued for the batch write at most once a second per key: no lock per request.
        if now - v.recorded.load(Ordering::Relaxed) >= 1000 {
            v.recorded.store(now, Ordering::Relaxed);
            self.key_uses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(k.id, now);
        }
        Ok(Principal {
            subject: Subject::User(state),
            credential: CredentialKind::ApiKey,
            credential_id: CredentialId::ApiKey(k.id),
            scopes: Some(v.scopes.clone()),
            auth_time: None,
            context: ctx.clone(),
        })
    }

    /// Drops the cached API key `id` (revoked or rolled, here or elsewhere).
    pub fn invalidate_api_key(&self, id: Uuid) {
        self.api_keys.invalidate(id);
    }

    /// Writes the keys' `last_used_at` gathered since the last call, in one batch.
    pub async fn flush_key_uses(&self) -> Result<()> {
        let uses: Vec<(Uuid, Millis)> =
            std::mem::take(&mut *self.key_uses.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        self.store.touch_api_keys(&uses).await?;
        // Sessions too (draining the map, so it stays bounded), and sessions ended a day ago go.
        let seen: Vec<(Uuid, Millis)> = self
            .session_uses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        let day = 86_400_000;
        self.store
            .touch_sessions(&seen, self.clock.now_ms() - day)
            .await?;
        Ok(())
    }
}
