//! The one authenticator: every credential scheme ends here and becomes a [`Principal`] or a typed
//! reason why not. It owns the caches that keep the hot path off Argon2, signature checks and the
//! database:
//! - user states (user + resolved permissions), dropped on every write, locally at once and in
//!   other processes when the change feed names them (and never older than `cache_max_age`);
//! - verified tokens, keyed by the token itself (exact match), living no longer than the token;
//! - verified Basic credentials, keyed by an HMAC of username and password under a key made at
//!   start, valid only while the user's password is unchanged.

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use moka::sync::Cache;
use tokio::sync::Semaphore;
use uuid::Uuid;

mod digest_cache;
mod expiring;
mod feed;
mod keys_sessions;
mod outside;
mod password_check;
mod refill;

use self::expiring::{Expiring, Life};
use crate::clock::{Clock, Millis};
use crate::context::RequestContext;
use crate::error::{AuthFailure, Error, Result};
use crate::keys::KeyVault;
use crate::model::{ApiKey, User};
use crate::password::PasswordHasher;
use crate::permission::PermissionSet;
use crate::principal::{ClientState, CredentialId, CredentialKind, Principal, Subject, UserState};
use crate::service::SWAGGER_CLIENT;
use crate::settings::AuthSettings;
use crate::store::Store;
use crate::telemetry::{CacheKind, counted};
use crate::token::TokenService;

/// A credential as the HTTP layer found it, before anything is checked. The one entry point is
/// [`Authenticator::authenticate`]; the HTTP layer only extracts (and decides precedence and
/// ambiguity).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer`: a JWT or an opaque access token.
    Bearer(String),
    /// `Authorization: Basic` (RFC 7617).
    Basic { username: String, password: String },
    /// An API key (`bnc_...`), from whichever place the HTTP layer found it in.
    ApiKey(String),
    /// The session cookie's value.
    Session(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(..)"),
            Credential::Basic { username, .. } => write!(f, "Basic({username:?}, ..)"),
            Credential::ApiKey(_) => f.write_str("ApiKey(..)"),
            Credential::Session(_) => f.write_str("Session(..)"),
        }
    }
}

impl Credential {
    /// Whether a refusal should carry `error="invalid_token"` (RFC 6750 §3).
    pub fn is_bearer(&self) -> bool {
        matches!(self, Credential::Bearer(_))
    }
}

/// An API key as the hot path uses it: parsed once, when first seen.
#[derive(Debug)]
pub struct VerifiedKey {
    pub key: ApiKey,
    scopes: Arc<PermissionSet>,
    nets: Vec<ipnet::IpNet>,
    /// When this process last queued the key's use for the batch write (ms).
    recorded: AtomicI64,
}

impl VerifiedKey {
    /// The key's scopes, parsed once when it was first looked up.
    pub fn scopes(&self) -> &PermissionSet {
        &self.scopes
    }
}

/// Whom a verified token names.
#[derive(Debug)]
enum TokenSubject {
    User(Uuid),
    /// A client's own token (client-credentials grant): `sub` is its `client_id`.
    Client,
}

/// A token whose signature and claims were checked once.
#[derive(Debug)]
struct VerifiedToken {
    sub: TokenSubject,
    /// What introspection answers about the token, kept from its claims (shared, so a request
    /// copies no string of it).
    info: Arc<TokenInfo>,
    r#gen: i64,
    exp: i64,
    /// Milliseconds, from the `auth_time` claim.
    auth_time: Millis,
    jti: String,
    /// The refresh-token family the token descends from (`sid`), if any.
    family: Option<Uuid>,
    scopes: Arc<PermissionSet>,
    /// An opaque token (looked up by digest), not a JWT.
    opaque: bool,
}

/// An accepted access token's claims, as introspection (RFC 7662) reports them.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub client_id: String,
    pub username: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
}

/// Revocations that every request checks, cache hit or miss: revoked access tokens (by `jti`) and
/// families, each kept until the last access token it could concern has expired. Loaded at start
/// and fed by the change feed, so a revocation on any instance holds on every one.
#[derive(Default)]
struct Revoked {
    tokens: HashMap<String, Millis>,
    families: HashMap<Uuid, Millis>,
}

pub struct Authenticator {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Arc<PasswordHasher>,
    tokens: Arc<TokenService>,
    vault: KeyVault,
    /// When the keys were last reloaded because a token named an unknown `kid` (ms): at most once
    /// per [`KID_RELOAD_EVERY`], so junk `kid`s cannot turn into database load.
    last_kid_reload: AtomicI64,
    settings: AuthSettings,
    users: Expiring<Uuid, Arc<UserState>>,
    /// One store read per missing user at a time (concurrent misses wait for it).
    user_loads: refill::Loads,
    roles: RwLock<Arc<HashMap<String, PermissionSet>>>,
    clients: RwLock<Arc<HashMap<String, Arc<ClientState>>>>,
    /// Reloads of roles, clients and keys run one at a time: a reload that read the store before
    /// a write must not replace what a reload after it stored (the poller racing a request).
    reloading: tokio::sync::Mutex<()>,
    /// Bumped by every invalidation; a load that started before one does not fill the cache.
    generation: AtomicU64,
    /// The change feed position this process has applied.
    last_seq: AtomicI64,
    /// The change feed said policies changed (or had a gap) and they have not been reloaded
    /// since: set here, cleared only by a reload that succeeded, so a failed one is retried.
    pub policies_stale: std::sync::atomic::AtomicBool,
    revoked: RwLock<Revoked>,
    /// Keyed by the token itself: a hit is an exact match, so no token can collide with another.
    verified_tokens: Expiring<String, Arc<VerifiedToken>>,
    /// Outside issuers (`[[issuers]]`), set once by the binary, and their verified tokens.
    issuers: std::sync::OnceLock<Arc<crate::issuers::Issuers>>,
    outside_tokens: Expiring<String, Arc<crate::issuers::OutsideToken>>,
    basic: Cache<[u8; 32], (Uuid, Millis)>,
    /// Digests of opaque tokens the store does not know, for a short while.
    unknown_opaque: Cache<String, ()>,
    /// API keys by digest, after first use.
    api_keys: digest_cache::DigestCache<VerifiedKey>,
    /// When each key was last used, written in batches ([`Authenticator::flush_key_uses`]).
    key_uses: std::sync::Mutex<HashMap<Uuid, Millis>>,
    /// Sessions by digest of their id, and each session's last use (batched).
    sessions: digest_cache::DigestCache<crate::model::Session>,
    session_uses: std::sync::Mutex<HashMap<Uuid, Millis>>,
    basic_key: [u8; 32],
    /// Password checks in flight per client address (striped by a keyed hash of the address), so
    /// one client flooding logins waits on its own stripe instead of filling the shared Argon2
    /// queue and locking everyone else out.
    client_stripes: Vec<Arc<Semaphore>>,
    stripe_hasher: RandomState,
    /// Failed password and secret checks, and registrations, per client address.
    pub throttle: Arc<crate::throttle::Throttle>,
}

/// The hasher of the caches looked up on every request: foldhash, seeded per process, instead of
/// SipHash (which over a ~500-byte bearer token cost 5% of a `/users/me`). Keys are tokens this
/// server verified, digests and ids, not strings a client picks freely; every cache is bounded.
pub(crate) type FastHash = foldhash::quality::RandomState;

/// An unknown `kid` reloads the keys at most this often (ms).
const KID_RELOAD_EVERY: Millis = 5_000;

/// Stripes of the per-client limit; addresses that share one share its slots.
const CLIENT_STRIPES: usize = 256;

impl Authenticator {
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hasher: Arc<PasswordHasher>,
        tokens: Arc<TokenService>,
        vault: KeyVault,
        settings: AuthSettings,
    ) -> Result<Self> {
        let mut basic_key = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut basic_key[..]);
        let token_life = tokens.settings().access_ttl + tokens.settings().leeway;
        let a = Self {
            // Entries live at most `cache_max_age`: if the change feed cannot be read, a disabled
            // user's cached state still dies within that bound (the cache fails closed).
            // Each at a random point of the last quarter, so what one burst cached does not all
            // expire (and miss) at once.
            users: Expiring::new(50_000, Life::Jittered(settings.cache_max_age)),
            user_loads: refill::Loads::new(),
            roles: RwLock::new(Arc::default()),
            clients: RwLock::new(Arc::default()),
            reloading: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            last_seq: AtomicI64::new(store.revision().await?),
            policies_stale: std::sync::atomic::AtomicBool::new(false),
            revoked: RwLock::default(),
            // Weighed in bytes: at most ~8 MiB of tokens, whatever their length.
            verified_tokens: Expiring::weighed(
                8 * 1024 * 1024 / 600,
                8 * 1024 * 1024,
                |token: &String| token.len() as u64 + 64,
                Life::Fixed(token_life),
            ),
            issuers: std::sync::OnceLock::new(),
            outside_tokens: Expiring::weighed(
                8 * 1024 * 1024 / 800,
                8 * 1024 * 1024,
                |token: &String| token.len() as u64 + 256,
                Life::Fixed(token_life),
            ),
            basic: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(settings.basic_cache_ttl)
                .build(),
            basic_key,
            unknown_opaque: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(30))
                .build(),
            api_keys: digest_cache::DigestCache::new(settings.cache_max_age, |k| k.key.id),
            key_uses: Default::default(),
            sessions: digest_cache::DigestCache::new(settings.cache_max_age, |s| s.id),
            session_uses: Default::default(),
            client_stripes: (0..CLIENT_STRIPES)
                .map(|_| Arc::new(Semaphore::new(hasher.workers().max(4))))
                .collect(),
            stripe_hasher: RandomState::new(),
            throttle: Arc::new(crate::throttle::Throttle::new(
                settings.throttle.clone(),
                clock.clone(),
            )),
            store,
            clock,
            hasher,
            tokens,
            vault,
            last_kid_reload: AtomicI64::new(i64::MIN / 2),
            settings,
        };
        a.reload_roles().await?;
        a.reload_clients().await?;
        a.load_revocations().await?;
        // Windows other instances (or this one before a restart) opened still count.
        a.throttle.sync(a.store.as_ref()).await?;
        Ok(a)
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    async fn reload_roles(&self) -> Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let mut map = HashMap::new();
        for role in self.store.list_roles().await? {
            let perms = PermissionSet::parse(role.permissions.iter().map(String::as_str))
                .unwrap_or_default();
            map.insert(role.name, perms);
        }
        *self.roles.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        Ok(())
    }

    /// Drops one user's cached state (after a write to that user).
    pub fn invalidate_user(&self, id: Uuid) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.users.invalidate(&id);
    }

    /// Drops every cached user state and reloads roles (after a role change, or when another
    /// process moved the revision).
    pub async fn invalidate_all(&self) -> Result<()> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.users.invalidate_all();
        self.reload_roles().await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.users.invalidate_all();
        Ok(())
    }

    pub fn vault(&self) -> &KeyVault {
        &self.vault
    }

    /// Reloads the signing keys from the store (a rotation here or on another instance).
    pub async fn reload_keys(&self) -> Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let keys = self.store.signing_keys(self.clock.now_ms()).await?;
        self.tokens.reload(&self.vault.open_all(&keys)?)?;
        // Verified under the old key set: a retired key's tokens must be checked again.
        self.verified_tokens.invalidate_all();
        Ok(())
    }

    /// Verifies a token; on an unknown `kid`, reloads the keys (at most once per few seconds) and
    /// tries once more, in case a rotation's feed entry has not arrived yet.
    async fn verify_token(&self, token: &str, now_s: i64) -> Result<crate::token::Claims> {
        match self.tokens.verify(token, now_s) {
            Err(AuthFailure::UnknownKey) => {
                let now = self.clock.now_ms();
                let last = self.last_kid_reload.load(Ordering::SeqCst);
                if now - last < KID_RELOAD_EVERY
                    || self
                        .last_kid_reload
                        .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                {
                    return Err(Error::InvalidCredentials(AuthFailure::UnknownKey));
                }
                self.reload_keys().await?;
                self.tokens
                    .verify(token, now_s)
                    .map_err(Error::InvalidCredentials)
            }
            other => other.map_err(Error::InvalidCredentials),
        }
    }

    /// The claims of an access token, JWT (signature, algorithm, `kid`, `typ`, issuer, audience,
    /// times) or opaque (looked up by digest; unknown ones are remembered for a while, so junk
    /// cannot turn into database load). Not the revocation, subject and client checks:
    /// [`Authenticator::bearer`] does those, on every request.
    pub async fn claims_of(&self, token: &str, now_s: i64) -> Result<crate::token::Claims> {
        if !token.starts_with(crate::secret::OPAQUE_PREFIX) {
            return self.verify_token(token, now_s).await;
        }
        if token.len() > crate::token::MAX_TOKEN_LEN {
            return Err(Error::InvalidCredentials(AuthFailure::Malformed));
        }
        let digest = crate::secret::digest(token);
        if self.unknown_opaque.contains_key(&digest) {
            return Err(Error::InvalidCredentials(AuthFailure::UnknownKey));
        }
        let Some(json) = self.store.access_token(&digest).await? else {
            self.unknown_opaque.insert(digest, ());
            return Err(Error::InvalidCredentials(AuthFailure::UnknownKey));
        };
        let claims: crate::token::Claims = serde_json::from_str(&json).map_err(Error::internal)?;
        self.tokens
            .check_times(&claims, now_s)
            .map_err(Error::InvalidCredentials)?;
        Ok(claims)
    }

    /// Every role's permissions as this process knows them now (explain shows which role grants
    /// what).
    pub fn role_table(&self) -> Arc<HashMap<String, PermissionSet>> {
        self.roles.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn resolve(&self, user: User) -> UserState {
        let roles = self.roles.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut permissions =
            PermissionSet::parse(user.permissions.iter().map(String::as_str)).unwrap_or_default();
        for r in &user.roles {
            if let Some(p) = roles.get(r) {
                permissions.extend(p);
            }
        }
        UserState {
            user,
            permissions,
            rendered: Default::default(),
        }
    }

    /// The user's current state, from the cache or the store.
    pub async fn user_state(&self, id: Uuid) -> Result<Option<Arc<UserState>>> {
        if let Some(s) = counted(CacheKind::UserState, self.users.get(&id)) {
            return Ok(Some(s));
        }
        let _loading = self.user_loads.lock(&id).await;
        if let Some(s) = self.users.get(&id) {
            // Loaded by the request this one waited for.
            return Ok(Some(s));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(user) = self.store.user_by_id(id).await? else {
            return Ok(None);
        };
        Ok(Some(self.newest_state(user, generation)))
    }

    /// The state for a row read from the store after `generation` was taken: the cached state if it
    /// is at least as new (`updated_at` grows with every write), else one built from the row and
    /// cached, unless an invalidation happened since the read.
    fn newest_state(&self, user: User, generation: u64) -> Arc<UserState> {
        if let Some(cached) = self.users.get(&user.id)
            && cached.user.updated_at >= user.updated_at
        {
            return cached;
        }
        let id = user.id;
        let state = Arc::new(self.resolve(user));
        if self.generation.load(Ordering::SeqCst) == generation {
            self.users.insert(id, state.clone());
        }
        state
    }

    fn usable(state: &UserState) -> std::result::Result<(), AuthFailure> {
        if state.user.disabled {
            Err(AuthFailure::Disabled)
        } else {
            Ok(())
        }
    }

    /// Any credential, for the request `ctx` describes: the one way in.
    pub async fn authenticate(
        &self,
        credential: &Credential,
        ctx: &RequestContext,
    ) -> Result<Principal> {
        match credential {
            Credential::Bearer(token) => self.bearer(token, ctx).await,
            Credential::Basic { username, password } => self.basic(username, password, ctx).await,
            Credential::ApiKey(key) => self.api_key(key, ctx).await,
            Credential::Session(id) => self.session(id, ctx).await,
        }
    }

    /// `Authorization: Bearer <token>` (JWT or opaque).
    pub async fn bearer(&self, token: &str, ctx: &RequestContext) -> Result<Principal> {
        self.inspect(token, ctx).await.map(|(p, _)| p)
    }

    /// [`Authenticator::bearer`], with what the token's claims say (for introspection): the same
    /// checks, one verification.
    pub async fn inspect(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(Principal, Arc<TokenInfo>)> {
        let now_s = self.clock.now_s();
        let leeway = i64::try_from(self.tokens.settings().leeway.as_secs()).unwrap_or(0);
        let verified = match counted(CacheKind::Token, self.verified_tokens.get(token)) {
            Some(v) => {
                if v.exp <= now_s - leeway {
                    self.verified_tokens.invalidate(token);
                    return Err(Error::InvalidCredentials(AuthFailure::Expired));
                }
                v
            }
            None => {
                if let Some(issuers) = self.outside_issuer(token) {
                    let issuers = issuers.clone();
                    return self.outside(&issuers, token, ctx).await;
                }
                let claims = self.claims_of(token, now_s).await?;
                let sub = match Uuid::parse_str(&claims.sub) {
                    Ok(id) => TokenSubject::User(id),
                    Err(_) if claims.sub == claims.client_id && !claims.sub.is_empty() => {
                        TokenSubject::Client
                    }
                    Err(_) => return Err(Error::InvalidCredentials(AuthFailure::Malformed)),
                };
                let scopes = PermissionSet::parse_scope(&claims.scope)
                    .map_err(|_| Error::InvalidCredentials(AuthFailure::Malformed))?;
                let family = match claims.sid.as_deref() {
                    Some(sid) => Some(
                        Uuid::parse_str(sid)
                            .map_err(|_| Error::InvalidCredentials(AuthFailure::Malformed))?,
                    ),
                    None => None,
                };
                let v = Arc::new(VerifiedToken {
                    sub,
                    info: Arc::new(TokenInfo {
                        client_id: claims.client_id.clone(),
                        username: claims.username.clone(),
                        scope: claims.scope.clone(),
                        iat: claims.iat,
                        exp: claims.exp,
                    }),
                    family,
                    r#gen: claims.r#gen,
                    auth_time: claims.auth_time.saturating_mul(1000),
                    exp: claims.exp,
                    jti: claims.jti,
                    scopes: Arc::new(scopes),
                    opaque: token.starts_with(crate::secret::OPAQUE_PREFIX),
                });
                self.verified_tokens.insert(token.to_owned(), v.clone());
                v
            }
        };
        if self.is_revoked(&verified.jti, verified.family) {
            return Err(Error::InvalidCredentials(AuthFailure::Revoked));
        }
        // A deleted client's tokens die with it.
        let client = self.client(&verified.info.client_id);
        if client.is_none() && verified.info.client_id != SWAGGER_CLIENT {
            return Err(Error::InvalidCredentials(AuthFailure::Revoked));
        }
        let credential_id = CredentialId::Token {
            jti: verified.jti.clone(),
            family: verified.family,
        };
        let (subject, credential) = match &verified.sub {
            TokenSubject::User(id) => {
                let state = self
                    .user_state(*id)
                    .await?
                    .ok_or(Error::InvalidCredentials(AuthFailure::UnknownUser))?;
                Self::usable(&state).map_err(Error::InvalidCredentials)?;
                // Disabling the user or changing the password moved the generation: the token
                // is dead, exactly (no clock comparison), and re-enabling does not bring it back.
                if verified.r#gen != state.user.credential_gen {
                    return Err(Error::InvalidCredentials(AuthFailure::Superseded));
                }
                let kind = if verified.opaque {
                    CredentialKind::Opaque
                } else {
                    CredentialKind::Jwt
                };
                (Subject::User(state), kind)
            }
            TokenSubject::Client => {
                let client = client.ok_or(Error::InvalidCredentials(AuthFailure::Revoked))?;
                (Subject::Client(client), CredentialKind::Client)
            }
        };
        let principal = Principal {
            subject,
            credential,
            credential_id,
            scopes: Some(verified.scopes.clone()),
            auth_time: Some(verified.auth_time),
            context: ctx.clone(),
        };
        Ok((principal, verified.info.clone()))
    }

    /// (Re)loads every client (a handful, kept in memory: each token's client is checked at
    /// every request, so a deleted client's tokens die at once).
    pub async fn reload_clients(&self) -> Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let map = self
            .store
            .list_clients()
            .await?
            .into_iter()
            .map(|c| {
                let permissions =
                    PermissionSet::parse(c.scopes.iter().map(String::as_str)).unwrap_or_default();
                (
                    c.id.clone(),
                    Arc::new(ClientState {
                        client: c,
                        permissions,
                    }),
                )
            })
            .collect();
        *self.clients.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        Ok(())
    }

    /// A registered client (not the built-in `swagger`).
    pub fn client(&self, id: &str) -> Option<Arc<ClientState>> {
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}
