//! [`Bouncer`]: the domain's entry point. The HTTP layer and the CLI call these methods; both get the
//! same rules. Methods that depend on *which* row a caller touches (items) take the [`Principal`]
//! and decide through [`crate::authz::authorize`]; route-level permissions are declared by the
//! HTTP handlers.

mod api_keys;
mod audit_trail;
pub mod client_update;
mod clients;
mod items;
mod oauth;
mod policies;
mod revocation;
mod roles;
mod sessions;
mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub use api_keys::NewApiKey;
pub use audit_trail::{AUDIT_PAGE, login_failure};
pub use clients::{CLIENT_SECRET_PREFIX, NewClient};
pub use items::{ItemInput, ItemPatch, owner_alternative};
pub use oauth::{AuthenticatedClient, ClientCredentials, OAuthError, SWAGGER_CLIENT, TokenGrant};
pub use policies::ExplainRequest;
pub use revocation::{INTROSPECT, Introspection, RevokeCaller};
pub use sessions::{Login, csrf_token};
pub use users::{AdminUserPatch, NewUser, OwnUserPatch, Registration};

use crate::audit::Audit;
use crate::auth::Authenticator;
use crate::authz::Authorizer;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keys::KeyVault;
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
    /// Decides every request (with the compiled policies).
    pub authz: Authorizer,
    /// The audit trail's writer.
    pub audit: Arc<Audit>,
    pub settings: Settings,
    /// The server-wide key refresh-token successors are derived under (the retry window).
    refresh_key: [u8; 32],
    /// Policy reloads run one at a time, each reading after it starts: an older read can never
    /// replace a newer set.
    policy_reload: tokio::sync::Mutex<()>,
    /// When the change feed was last applied without an error (ms, by the clock; start-up counts:
    /// the caches were loaded then).
    feed_applied_at: AtomicI64,
}

impl Bouncer {
    /// The refresh key: made once per deployment, kept in the store (sealed under the
    /// key-encryption key when there is one), shared by every instance.
    async fn load_refresh_key(store: &dyn Store, vault: &KeyVault) -> Result<[u8; 32]> {
        use base64::Engine as _;
        const NAME: &str = "refresh_key";
        let mut fresh = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut fresh[..]);
        let fresh = vault.seal(
            NAME,
            &base64::engine::general_purpose::STANDARD.encode(fresh),
        )?;
        let stored = store.server_secret(NAME, &fresh).await?;
        let opened = vault.open(NAME, &stored)?;
        base64::engine::general_purpose::STANDARD
            .decode(opened)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| Error::internal("the stored refresh key is corrupt"))
    }

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
        let vault = KeyVault::new(settings.keys.encryption_key);
        let now = clock.now_ms();
        let mut keys = store.signing_keys(now).await?;
        if !keys.iter().any(|k| k.alg == alg.name()) {
            let mut key = token::generate_key(alg, now)?;
            key.private_pem = vault.seal(&key.kid, &key.private_pem)?;
            store.insert_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, alg = alg.name(), "generated a new signing key");
            keys = store.signing_keys(now).await?;
        }
        // Keys stored in the clear before a key-encryption key was configured: seal them now.
        if vault.seals() {
            for k in keys.iter().filter(|k| !KeyVault::is_sealed(&k.private_pem)) {
                let sealed = vault.seal(&k.kid, &k.private_pem)?;
                store.set_signing_key_private(&k.kid, &sealed).await?;
                tracing::info!(kid = %k.kid, "sealed a signing key under the key-encryption key");
            }
        }
        let tokens = Arc::new(TokenService::new(
            settings.tokens.clone(),
            &vault.open_all(&keys)?,
        )?);
        let auth = Authenticator::new(
            store.clone(),
            clock.clone(),
            hasher.clone(),
            tokens.clone(),
            vault,
            settings.auth.clone(),
        )
        .await?;
        let refresh_key = Self::load_refresh_key(store.as_ref(), auth.vault()).await?;
        let authz = Authorizer::new(Self::compile_stored(&store.list_policies().await?));
        let audit = Arc::new(Audit::new(
            store.clone(),
            clock.clone(),
            settings.audit.json_log,
        ));
        Ok(Self {
            store,
            clock,
            hasher,
            tokens,
            auth,
            authz,
            audit,
            settings,
            refresh_key,
            policy_reload: tokio::sync::Mutex::new(()),
            feed_applied_at: AtomicI64::new(now),
        })
    }

    /// Applies the change feed (see [`Authenticator::apply_changes`]) and recompiles the policies
    /// when they changed. Returns how many entries it applied.
    pub async fn apply_changes(&self) -> Result<usize> {
        let applied = self.auth.apply_changes().await;
        // Even when reading the feed failed partway: what it did see is owed.
        if self.auth.policies_stale.load(Ordering::SeqCst) {
            self.reload_policies().await?;
        }
        if applied.is_ok() {
            self.feed_applied_at
                .store(self.clock.now_ms(), Ordering::Relaxed);
        }
        applied
    }

    /// When the change feed was last applied without an error (ms, by the clock).
    pub fn feed_applied_at(&self) -> crate::clock::Millis {
        self.feed_applied_at.load(Ordering::Relaxed)
    }
}
