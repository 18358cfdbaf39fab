//! What the change feed and revocations do to the authenticator's caches: revoked tokens and
//! families checked on every request, and [`Authenticator::apply_changes`], which drops exactly
//! what other processes (and this one) changed.

use std::sync::atomic::Ordering;

use uuid::Uuid;

use super::Authenticator;
use crate::clock::Millis;
use crate::error::Result;
use crate::model::ChangeKind;

impl Authenticator {
    /// How long after a revocation an access token it concerns may still be presented.
    pub(super) fn revocation_window(&self) -> Millis {
        let s = self.tokens.settings();
        i64::try_from((s.access_ttl + s.leeway).as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// (Re)loads the revocations still in force from the store.
    pub async fn load_revocations(&self) -> Result<()> {
        let now = self.clock.now_ms();
        let window = self.revocation_window();
        // A token is accepted until `exp + leeway`: keep its revocation as long.
        let leeway = i64::try_from(self.tokens.settings().leeway.as_millis()).unwrap_or(0);
        let found = self.store.revocations(now - window, now - leeway).await?;
        let mut r = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        for (jti, exp) in found.tokens {
            r.tokens.insert(jti, exp);
        }
        for f in found.families {
            r.families.insert(f, now + window);
        }
        Ok(())
    }

    /// Records a revoked access token in this process at once (the feed tells the others).
    pub fn note_revoked_token(&self, jti: &str, expires_at: Millis) {
        let mut r = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        r.tokens.insert(jti.to_owned(), expires_at);
    }

    /// Records a revoked family in this process at once (the feed tells the others).
    pub fn note_revoked_family(&self, id: Uuid) {
        let until = self.clock.now_ms() + self.revocation_window();
        let mut r = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        r.families.insert(id, until);
    }

    pub(super) fn is_revoked(&self, jti: &str, family: Option<Uuid>) -> bool {
        let r = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        (!r.tokens.is_empty() && r.tokens.contains_key(jti))
            || family.is_some_and(|f| r.families.contains_key(&f))
    }

    /// Forgets revocations whose tokens have all expired.
    pub fn prune_revocations(&self) {
        let now = self.clock.now_ms();
        let leeway = self.revocation_window();
        let mut r = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        r.tokens.retain(|_, exp| *exp + leeway > now);
        r.families.retain(|_, until| *until > now);
    }

    /// The change feed position this process has applied: the store's `revision` when it has
    /// caught up.
    pub fn applied_revision(&self) -> i64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    /// Applies what the change feed says other processes (and this one) changed since the last
    /// call: drops exactly the users, API keys and sessions that changed, reloads roles when a role changed, records
    /// revocations. A gap in the feed (entries pruned before this process read them) or a kind
    /// this version does not know drops everything instead. Returns how many entries it applied.
    pub async fn apply_changes(&self) -> Result<usize> {
        let mut applied = 0;
        loop {
            let last = self.last_seq.load(Ordering::SeqCst);
            let batch = self.store.changes_since(last).await?;
            if batch.latest <= last {
                return Ok(applied);
            }
            let mut everything = batch.gap;
            let mut roles = false;
            let mut clients = false;
            let mut keys = false;
            for c in &batch.changes {
                match c.kind {
                    Some(ChangeKind::User) => match Uuid::parse_str(&c.key) {
                        Ok(id) => self.invalidate_user(id),
                        Err(_) => everything = true,
                    },
                    Some(ChangeKind::Role) => roles = true,
                    Some(ChangeKind::Token) => {
                        let until = self.clock.now_ms() + self.revocation_window();
                        self.note_revoked_token(&c.key, until);
                    }
                    Some(ChangeKind::Family) => match Uuid::parse_str(&c.key) {
                        Ok(id) => self.note_revoked_family(id),
                        Err(_) => everything = true,
                    },
                    Some(ChangeKind::Client) => clients = true,
                    Some(ChangeKind::Keys) => keys = true,
                    Some(ChangeKind::ApiKey) => match Uuid::parse_str(&c.key) {
                        Ok(id) => self.api_keys.invalidate(id),
                        Err(_) => everything = true,
                    },
                    Some(ChangeKind::Session) => match Uuid::parse_str(&c.key) {
                        Ok(id) => self.sessions.invalidate(id),
                        Err(_) => everything = true,
                    },
                    // At once, before anything else can fail: the reload is owed from here on.
                    Some(ChangeKind::Policy) => self.policies_stale.store(true, Ordering::SeqCst),
                    None => everything = true,
                }
            }
            if everything {
                self.invalidate_all().await?;
                self.load_revocations().await?;
            } else if roles {
                self.invalidate_all().await?;
            }
            if everything || clients {
                self.reload_clients().await?;
            }
            if everything || keys {
                self.reload_keys().await?;
            }
            if everything {
                self.api_keys.invalidate_all();
                self.sessions.invalidate_all();
            }
            applied += batch.changes.len();
            if everything {
                self.policies_stale.store(true, Ordering::SeqCst);
            }
            self.last_seq.store(batch.latest, Ordering::SeqCst);
        }
    }
}
