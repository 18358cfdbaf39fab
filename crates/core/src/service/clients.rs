//! Machine clients: registration (the secret is shown once), listing, deletion. Nobody grants what
//! they do not hold: a caller gives a client only scopes it holds itself, deletes only clients
//! whose scopes it holds, and only an admin (a holder of `*`) makes a client `first_party`.

use base64::Engine as _;

use super::Bouncer;
use crate::authz::{Actor, Decision, DenyCode, may_grant};
use crate::error::{Error, Result};
use crate::model::Client;
use crate::permission::{Permission, PermissionSet};
use crate::secret;

/// Client secrets: `bns_` + 43 characters.
pub const CLIENT_SECRET_PREFIX: &str = "bns_";

/// What registering a client asks for.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub scopes: Vec<String>,
    pub first_party: bool,
}

impl Bouncer {
    /// Registers a client; returns it and its secret, which is stored only as a digest.
    pub async fn create_client(
        &self,
        actor: Actor<'_>,
        new: NewClient,
    ) -> Result<(Client, String)> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::validation(
                "name",
                "must be 1 to 100 characters, without control characters",
            ));
        }
        let scopes: PermissionSet = Self::parse_permissions(&new.scopes).map_err(|e| match e {
            Error::Validation { message, .. } => Error::validation("scopes", message),
            other => other,
        })?;
        may_grant(actor, scopes.iter())?;
        if new.first_party {
            // Only an admin trusts a client with users' passwords.
            may_grant(actor, [&Permission::All]).map_err(|_| {
                Decision::deny_with(DenyCode::CannotGrant, "first_party (admin only)").into_error()
            })?;
        }
        let mut id_bytes = [0u8; 16];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut id_bytes[..]);
        let client_secret = secret::generate(CLIENT_SECRET_PREFIX);
        let client = Client {
            id: format!(
                "cl_{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id_bytes)
            ),
            name: name.to_owned(),
            secret_hash: secret::digest(&client_secret),
            scopes: scopes.to_strings(),
            first_party: new.first_party,
            created_at: self.clock.now_ms(),
        };
        let event = self.change_event(
            actor,
            "client.create",
            &client.id,
            Some(&format!("scopes={}", client.scopes.join(" "))),
        );
        self.store
            .audited(event.clone())
            .insert_client(&client)
            .await?;
        self.audit.log(&event);
        self.auth.reload_clients().await?;
        Ok((client, client_secret))
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>> {
        Ok(self.store.list_clients().await?)
    }

    /// Deletes a client; its tokens die at once (its families are revoked, and every access token
    /// naming it fails the client check on every instance).
    pub async fn delete_client(&self, actor: Actor<'_>, id: &str) -> Result<()> {
        let client = self.auth.client(id).ok_or(Error::NotFound("client"))?;
        may_grant(actor, client.permissions.iter())?;
        let event = self.change_event(actor, "client.delete", id, None);
        let deleted = self
            .store
            .audited(event.clone())
            .delete_client(id, self.clock.now_ms())
            .await?;
        if deleted {
            self.audit.log(&event);
        }
        self.auth.reload_clients().await?;
        if deleted {
            Ok(())
        } else {
            Err(Error::NotFound("client"))
        }
    }
}
