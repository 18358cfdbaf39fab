//! Changing a machine client in place: its scopes and whether it is first-party, never its id or
//! secret (`bouncer apply` keeps a client's secret across runs). The same grant rules as creating
//! and deleting one: a caller changes only clients whose scopes it holds, gives only scopes it
//! holds, and only an admin makes a client `first_party`.

use super::Bouncer;
use crate::authz::{Actor, Decision, DenyCode, may_grant};
use crate::error::{Error, Result};
use crate::model::Client;
use crate::permission::{Permission, PermissionSet};

/// What changes in a client; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
}

impl Bouncer {
    /// Permissions as roles and clients take them (`resource:action`, `resource:*`, `*`; never
    /// `role:…`), sorted and deduplicated as they are stored. A bad one is a validation error
    /// naming `field` and the value.
    pub fn normalized_permissions(field: &str, permissions: &[String]) -> Result<Vec<String>> {
        Self::parse_permissions(permissions)
            .map(|set| set.to_strings())
            .map_err(|e| match e {
                Error::Validation { message, .. } => Error::validation(field, message),
                other => other,
            })
    }

    /// Changes a client's scopes and `first_party`; returns it as stored. Unchanged values write
    /// nothing. Its tokens are checked against the new scopes at their next use, on every
    /// instance (the change feed reloads the clients).
    pub async fn update_client(
        &self,
        actor: Actor<'_>,
        id: &str,
        patch: ClientPatch,
    ) -> Result<Client> {
        let old = self
            .store
            .list_clients()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(Error::NotFound("client"))?;
        let old_scopes =
            PermissionSet::parse(old.scopes.iter().map(String::as_str)).unwrap_or_default();
        may_grant(actor, old_scopes.iter())?;
        let scopes = match &patch.scopes {
            Some(s) => Self::normalized_permissions("scopes", s)?,
            None => old.scopes.clone(),
        };
        let new_scopes =
            PermissionSet::parse(scopes.iter().map(String::as_str)).unwrap_or_default();
        may_grant(actor, new_scopes.iter())?;
        let first_party = patch.first_party.unwrap_or(old.first_party);
        if first_party && !old.first_party {
            // Only an admin trusts a client with users' passwords.
            may_grant(actor, [&Permission::All]).map_err(|_| {
                Decision::deny_with(DenyCode::CannotGrant, "first_party (admin only)").into_error()
            })?;
        }
        if scopes == old.scopes && first_party == old.first_party {
            return Ok(old);
        }
        let client = Client {
            scopes,
            first_party,
            ..old
        };
        let event = self.change_event(
            actor,
            "client.update",
            id,
            Some(&format!(
                "scopes={} first_party={}",
                client.scopes.join(" "),
                client.first_party
            )),
        );
        let updated = self
            .store
            .audited(event.clone())
            .update_client(&client)
            .await?;
        if updated {
            self.audit.log(&event);
        }
        self.auth.reload_clients().await?;
        if updated {
            Ok(client)
        } else {
            Err(Error::NotFound("client"))
        }
    }
}
