//! Users' API keys: created (the key is shown once), listed, revoked and rolled by their owner,
//! by an admin holding `users:write` (and everything the owner holds), or by the operator.
//! Nobody grants what they do not hold: scopes beyond the caller's own rights are 403
//! `cannot_grant`; beyond the owner's, 422 naming `scopes`.

use uuid::Uuid;

use super::Bouncer;
use crate::authz::{Actor, may_grant};
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::model::ApiKey;
use crate::permission::{Permission, PermissionSet};
use crate::secret;

/// What creating a key asks for.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub name: String,
    /// `None`: `*`, still ∩ the owner's permissions at every request.
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<Millis>,
    /// CIDRs or addresses the key may be used from; empty: anywhere.
    pub client_ips: Vec<String>,
}

impl Bouncer {
    /// The owner, after the touch rule: a caller other than the owner must hold everything the
    /// owner holds (only an admin manages an admin's keys).
    async fn key_owner(
        &self,
        actor: Actor<'_>,
        owner: Uuid,
    ) -> Result<(crate::model::User, PermissionSet)> {
        // A key does not mint, roll or list keys: that would let a narrowed, expiring or fenced
        // key outlive and outgrow itself.
        if let Actor::Caller(p) = actor
            && p.credential == crate::principal::CredentialKind::ApiKey
        {
            return Err(crate::authz::Decision::deny_with(
                crate::authz::DenyCode::CannotGrant,
                "a credential other than an API key",
            )
            .into_error());
        }
        let user = self.user(owner).await?;
        let table = self.role_table().await?;
        let held = Self::held_by(&user, &table);
        let own = matches!(actor, Actor::Caller(p) if p.user_id().is_ok_and(|me| me == owner));
        if !own {
            may_grant(actor, held.iter())?;
        }
        Ok((user, held))
    }

    pub async fn create_api_key(
        &self,
        actor: Actor<'_>,
        owner: Uuid,
        new: NewApiKey,
    ) -> Result<(ApiKey, String)> {
        let (user, held) = self.key_owner(actor, owner).await?;
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::validation(
                "name",
                "must be 1 to 100 characters, without control characters",
            ));
        }
        let scopes = match &new.scopes {
            None => {
                // Everything the owner holds, now and later: the caller must hold all of it.
                may_grant(actor, held.iter())?;
                PermissionSet::new(vec![Permission::All])
            }
            Some(list) => {
                let set = Self::parse_permissions(list).map_err(|e| match e {
                    Error::Validation { message, .. } => Error::validation("scopes", message),
                    other => other,
                })?;
                may_grant(actor, set.iter())?;
                if let Some(p) = set.iter().find(|p| !held.covers(p)) {
                    return Err(Error::validation(
                        "scopes",
                        format!("{p} is beyond what the key's owner holds"),
                    ));
                }
                set
            }
        };
        let now = self.clock.now_ms();
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::validation("expires_at", "must be in the future"));
        }
        let client_ips = new
            .client_ips
            .iter()
            .map(|n| {
                crate::context::network(n)
                    .map(|n| n.to_string())
                    .ok_or_else(|| {
                        Error::validation(
                            "client_ips",
                            format!("{n:?} is not a CIDR or an address"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let key = secret::generate_api_key();
        let record = ApiKey {
            id: Uuid::now_v7(),
            user_id: user.id,
            name: name.to_owned(),
            key_hash: secret::digest(&key),
            prefix: key[..8].to_owned(),
            scopes: scopes.to_strings(),
            client_ips,
            created_at: now,
            last_used_at: None,
            expires_at: new.expires_at,
        };
        let event = self.change_event(
            actor,
            "api_key.create",
            &record.id.to_string(),
            Some(&format!("owner={} prefix={}", user.username, record.prefix)),
        );
        self.store
            .audited(event.clone())
            .insert_api_key(&record)
            .await?;
        self.audit.log(&event);
        Ok((record, key))
    }

    pub async fn list_api_keys(&self, actor: Actor<'_>, owner: Uuid) -> Result<Vec<ApiKey>> {
        self.key_owner(actor, owner).await?;
        // Uses not yet written in a batch show too (`last_used_at` at most a poll behind).
        self.auth.flush_key_uses().await?;
        Ok(self.store.list_api_keys(owner).await?)
    }

    async fn owned_key(&self, actor: Actor<'_>, owner: Uuid, id: Uuid) -> Result<ApiKey> {
        self.key_owner(actor, owner).await?;
        self.store
            .api_key(id)
            .await?
            .filter(|k| k.user_id == owner)
            .ok_or(Error::NotFound("api key"))
    }

    /// Revokes a key at once, on every instance.
    pub async fn revoke_api_key(&self, actor: Actor<'_>, owner: Uuid, id: Uuid) -> Result<()> {
        self.owned_key(actor, owner, id).await?;
        let event = self.change_event(actor, "api_key.delete", &id.to_string(), None);
        let deleted = self.store.audited(event.clone()).delete_api_key(id).await?;
        if deleted {
            self.audit.log(&event);
        }
        self.auth.invalidate_api_key(id);
        if deleted {
            Ok(())
        } else {
            Err(Error::NotFound("api key"))
        }
    }

    /// Rolls a key: a new key with the same name, scopes, expiry and allowed networks; the old one
    /// keeps working for `overlap_s` (never past its own expiry; 0 ends it at once).
    pub async fn roll_api_key(
        &self,
        actor: Actor<'_>,
        owner: Uuid,
        id: Uuid,
        overlap_s: u64,
    ) -> Result<(ApiKey, String)> {
        let old = self.owned_key(actor, owner, id).await?;
        // A roll hands out what the old key grants: the caller must hold it.
        let (_, held) = self.key_owner(actor, owner).await?;
        let old_scopes =
            PermissionSet::parse(old.scopes.iter().map(String::as_str)).unwrap_or_default();
        if old_scopes.covers(&Permission::All) {
            may_grant(actor, held.iter())?;
        } else {
            may_grant(actor, old_scopes.iter())?;
        }
        if overlap_s > 30 * 86_400 {
            return Err(Error::validation(
                "overlap_s",
                "must be at most 2592000 (30 days)",
            ));
        }
        let now = self.clock.now_ms();
        let overlap = i64::try_from(overlap_s).unwrap_or(0) * 1000;
        let old_until = old
            .expires_at
            .map_or(now + overlap, |e| e.min(now + overlap));
        let key = secret::generate_api_key();
        let new = ApiKey {
            id: Uuid::now_v7(),
            key_hash: secret::digest(&key),
            prefix: key[..8].to_owned(),
            created_at: now,
            last_used_at: None,
            ..old.clone()
        };
        let event = self.change_event(
            actor,
            "api_key.roll",
            &old.id.to_string(),
            Some(&format!("new={} overlap_s={overlap_s}", new.id)),
        );
        self.store
            .audited(event.clone())
            .roll_api_key(
                old.id,
                if overlap_s == 0 { now } else { old_until },
                &new,
                now,
            )
            .await?;
        self.audit.log(&event);
        self.auth.invalidate_api_key(old.id);
        Ok((new, key))
    }
}
