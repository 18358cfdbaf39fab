//! [`Bouncer`]: the domain's entry point. The HTTP layer and the CLI call these methods; both get the
//! same rules. Methods that depend on *which* row a caller touches (items) take the [`Principal`]
//! and decide through [`crate::authz::authorize`]; route-level permissions are declared by the
//! HTTP handlers.

mod clients;
mod items;
mod oauth;
mod roles;
mod users;

use std::sync::Arc;

pub use clients::{CLIENT_SECRET_PREFIX, NewClient};
pub use items::{ItemInput, ItemPatch};
pub use oauth::{
    AuthenticatedClient, ClientCredentials, Introspection, OAuthError, RevokeCaller,
    SWAGGER_CLIENT, TokenGrant,
};
pub use users::{AdminUserPatch, NewUser, OwnUserPatch, Registration};

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::password::PasswordHasher;
use crate::settings::Settings;
use crate::store::Store;
use crate::token::{self, TokenService};

pub struct Bouncer {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hasher: Arc<PasswordHasher>,
    pub tokens: Arc<TokenService>,
    pub auth: Authenticator,
    pub settings: Settings,
}

impl Bouncer {
    /// Wires the domain on top of a migrated store, generating the signing key on first start.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self> {
        let default_role = &settings.auth.default_role;
        if store.role(default_role).await?.is_none() {
            return Err(Error::validation(
                "auth.default_role",
                format!(
                    "no role named {default_role:?}; create it first (bouncer role list shows the roles)"
                ),
            ));
        }
        let hasher = Arc::new(PasswordHasher::new(&settings.passwords)?);
        let alg = settings.tokens.algorithm;
        let mut keys = store.signing_keys().await?;
        if !keys.iter().any(|k| k.alg == alg.name()) {
            let key = token::generate_key(alg, clock.now_ms())?;
            store.insert_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, alg = alg.name(), "generated a new signing key");
            keys = store.signing_keys().await?;
        }
        let tokens = Arc::new(TokenService::new(settings.tokens.clone(), &keys)?);
        let auth = Authenticator::new(
            store.clone(),
            clock.clone(),
            hasher.clone(),
            tokens.clone(),
            settings.auth.clone(),
        )
        .await?;
        Ok(Self {
            store,
            clock,
            hasher,
            tokens,
            auth,
            settings,
        })
    }
}
