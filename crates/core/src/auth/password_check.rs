//! Password checks (the password grant, `/auth/login`, HTTP Basic) and the Basic cache, behind
//! the throttle: a username from an address whose failures are used up is refused before any
//! Argon2 work, right password or not; each wrong password or unknown username counts.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OwnedSemaphorePermit;

use super::Authenticator;
use crate::context::RequestContext;
use crate::error::{AuthFailure, Error, Result};
use crate::principal::{CredentialId, CredentialKind, Principal, Subject, UserState};
use crate::telemetry::{CacheKind, counted};
use crate::throttle;
use crate::validate;

impl Authenticator {
    fn basic_key(&self, username: &str, password: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.basic_key)
            .expect("HMAC takes any key length");
        mac.update(&(username.len() as u64).to_be_bytes());
        mac.update(username.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `Authorization: Basic` (RFC 7617). Repeated requests with the same, still valid,
    /// credentials skip Argon2.
    pub async fn basic(
        &self,
        username: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<Principal> {
        // Before the cache: a throttled username from this address is refused even with the
        // right password (the guesser must not learn when it found it).
        self.throttle_check(username, ctx.client_ip)?;
        let key = self.basic_key(username, password);
        if let Some((id, pw_at)) = counted(CacheKind::Basic, self.basic.get(&key)) {
            match self.user_state(id).await? {
                Some(state) if state.user.password_changed_at == pw_at => {
                    Self::usable(&state).map_err(Error::InvalidCredentials)?;
                    return Ok(self.basic_principal(state, ctx));
                }
                _ => self.basic.invalidate(&key),
            }
        }
        let state = self
            .check_password(username, password, ctx.client_ip)
            .await?;
        self.basic
            .insert(key, (state.user.id, state.user.password_changed_at));
        Ok(self.basic_principal(state, ctx))
    }

    /// Waits for one of the client's password-check slots (none needed without an address: CLI).
    pub async fn client_slot(&self, client: Option<IpAddr>) -> Option<OwnedSemaphorePermit> {
        let ip = RequestContext {
            client_ip: Some(client?),
            ..Default::default()
        }
        .client_group()?;
        let stripe = (self.stripe_hasher.hash_one(ip) as usize) % self.client_stripes.len();
        self.client_stripes[stripe]
            .clone()
            .acquire_owned()
            .await
            .ok()
    }

    fn basic_principal(&self, user: Arc<UserState>, ctx: &RequestContext) -> Principal {
        Principal {
            subject: Subject::User(user),
            credential: CredentialKind::Basic,
            credential_id: CredentialId::None,
            scopes: None,
            auth_time: Some(self.clock.now_ms()),
            context: ctx.clone(),
        }
    }

    /// Verifies a username and password (Argon2, on the bounded pool). Unknown users are verified
    /// against a dummy hash, and unknown, wrong and disabled all fail alike to the caller.
    /// Re-hashes the password when the stored hash used older parameters.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Arc<UserState>> {
        self.throttle_check(username, client)?;
        let result = self.verify_password(username, password, client).await;
        if let Err(Error::InvalidCredentials(
            AuthFailure::WrongPassword | AuthFailure::UnknownUser,
        )) = &result
        {
            self.throttle_failed(throttle::Subject::User(username), client);
        }
        result
    }

    /// Refused with 429 when this username from this address, or this address, used up its
    /// failures.
    pub fn throttle_check(&self, username: &str, client: Option<IpAddr>) -> Result<()> {
        self.throttle
            .check(throttle::Subject::User(username), client)
            .map_err(|l| Error::TooManyRequests {
                code: "throttled",
                retry_after_s: l.retry_after_s,
            })
    }

    /// Counts a failed password or secret check; the failure that uses up a limit is logged.
    pub fn throttle_failed(&self, subject: throttle::Subject<'_>, client: Option<IpAddr>) {
        if self.throttle.failed(subject, client) {
            tracing::warn!(
                client = ?client,
                "failed password or secret checks reached a throttling limit; further attempts get 429"
            );
        }
    }

    async fn verify_password(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Arc<UserState>> {
        let slot = self.client_slot(client).await;
        let generation = self.generation.load(Ordering::SeqCst);
        let user = match validate::username(username) {
            Ok(norm) => self.store.user_by_username(&norm).await?,
            Err(_) => None,
        };
        // The slot goes with the hashing job: a request that gives up does not free it while its
        // hash still runs.
        let verdict = self
            .hasher
            .verify_holding(
                password,
                user.as_ref().map(|u| u.password_hash.as_str()),
                slot,
            )
            .await?;
        // Both refusals are the same answer to the client; the audit trail tells them apart.
        let user = match user {
            None => return Err(Error::InvalidCredentials(AuthFailure::UnknownUser)),
            Some(_) if !verdict.ok => {
                return Err(Error::InvalidCredentials(AuthFailure::WrongPassword));
            }
            Some(u) => u,
        };
        if verdict.needs_rehash {
            match self.hasher.hash(password).await {
                Ok(h) => {
                    if let Err(e) = self
                        .store
                        .set_password_hash(user.id, &h, &user.password_hash)
                        .await
                    {
                        tracing::warn!(user = %user.id, error = %e, "could not store re-hashed password");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "re-hash skipped"),
            }
        }
        // The row was just read: use it unless the cache holds something newer, so a new token
        // never carries rights older than the store's (a change by another process that the
        // revision poll has not seen yet), and a just-disabled user gets none. No second read.
        let state = self.newest_state(user, generation);
        Self::usable(&state).map_err(Error::InvalidCredentials)?;
        Ok(state)
    }
}
