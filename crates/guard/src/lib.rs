//! Protect an axum (or any tower) API with [Bouncer](https://github.com/): a [`GuardLayer`] turns
//! the request's credential into a [`Principal`], and extractors say what a handler needs.
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use bouncer_guard::{Guard, Require, RequireRole, permission, role};
//!
//! permission!(ItemsRead, "items:read");
//! role!(Admin, "admin");
//!
//! async fn items(caller: Require<ItemsRead>) -> Json<Vec<String>> {
//!     Json(vec![format!("hello {}", caller.username)])
//! }
//!
//! async fn admin(_: RequireRole<Admin>) -> &'static str {
//!     "admins only"
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = Guard::discover("http://127.0.0.1:8080").await?;
//! let app: Router = Router::new()
//!     .route("/items", get(items))
//!     .route("/admin", get(admin))
//!     .layer(guard.layer());
//! # Ok(()) }
//! ```
//!
//! Two modes ([`Mode`]): `Local` verifies JWT access tokens here against Bouncer's published keys
//! (no call to Bouncer per request; a revoked token passes until it expires), `Introspect` asks
//! Bouncer about every credential (JWTs, opaque tokens, API keys), caching each answer about a
//! second, so a revocation takes effect at once.
//!
//! Refusals are Bouncer's own: RFC 9457 problem documents with its `code` (`unauthorized`,
//! `invalid_token`, `missing_permission`, `missing_role`, `insufficient_scope`) and `missing`, and
//! RFC 6750 `WWW-Authenticate` challenges.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};

mod extract;
mod introspect;
mod layer;
mod local;
mod principal;
mod problem;
mod remote;
mod rules;

pub use extract::{Permission, Require, RequireRole, Role};
pub use layer::{GuardLayer, GuardService};
pub use principal::{CredentialKind, Principal};
pub use problem::Refusal;
pub use remote::Metadata;
pub use rules::{is_valid_permission, is_valid_role};

/// How credentials are checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Mode {
    /// JWT access tokens are verified here, against Bouncer's JWKS (fetched at start, refetched
    /// when its `max-age` passes, and at most once per 10 s when a token names an unknown `kid`).
    /// The algorithm is the one each key declares (EdDSA, ES256/384, RS/PS); never `none`, never
    /// HMAC. `typ` must be `at+jwt`; `iss`, `aud`, `exp`, `nbf` and `sub` are required. Nothing
    /// else is accepted: opaque tokens and API keys need `Introspect`. A revoked token passes
    /// until it expires (15 minutes by default).
    Local,
    /// Every credential (a JWT, an opaque `bno_...` token, an API key `bnc_...` in `X-API-Key` or
    /// as a Basic password) is checked by RFC 7662 introspection with this client's credentials
    /// (a client holding `tokens:introspect`); answers are cached for `cache` (about a second),
    /// so a revocation takes effect within it. The roles and permissions used are the answer's:
    /// what the credential may use now.
    Introspect {
        client_id: String,
        client_secret: String,
        cache: Duration,
    },
}

impl Mode {
    /// [`Mode::Introspect`] with answers cached for one second.
    pub fn introspect(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Mode::Introspect {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            cache: Duration::from_secs(1),
        }
    }
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Local => f.write_str("Local"),
            Mode::Introspect {
                client_id, cache, ..
            } => f
                .debug_struct("Introspect")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .field("cache", cache)
                .finish(),
        }
    }
}

/// Why a guard could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// A setting is not acceptable (the message names it).
    Config(String),
    /// Bouncer's metadata or keys could not be read.
    Discovery(String),
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardError::Config(m) => write!(f, "bouncer-guard configuration: {m}"),
            GuardError::Discovery(m) => write!(f, "bouncer-guard discovery: {m}"),
        }
    }
}

impl std::error::Error for GuardError {}

/// Counters, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// JWKS fetches that succeeded.
    pub jwks_fetches: u64,
    /// Introspection requests sent (cache misses).
    pub introspections: u64,
}

/// Protects an API with one Bouncer server. Cheap to clone (shared state); make one per process.
#[derive(Clone)]
pub struct Guard {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) url: String,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) leeway_s: u64,
    pub(crate) realm: Arc<str>,
    pub(crate) mode: Mode,
    pub(crate) api_key_header: HeaderName,
    pub(crate) remote: remote::Remote,
    pub(crate) keys: local::Keys,
    pub(crate) verified: moka::sync::Cache<String, Arc<local::Verified>>,
    pub(crate) verified_capacity: u64,
    pub(crate) introspected: Option<moka::sync::Cache<String, Arc<introspect::Answer>>>,
    pub(crate) jwks_fetches: AtomicU64,
    pub(crate) introspections: AtomicU64,
}

/// Settings for a [`Guard`]; [`Guard::builder`].
#[derive(Debug, Clone)]
pub struct GuardBuilder {
    url: String,
    issuer: Option<String>,
    audience: String,
    leeway: Duration,
    mode: Mode,
    realm: String,
    api_key_header: String,
    timeout: Duration,
    jwks_refetch_interval: Duration,
    verified_cache: u64,
}

impl GuardBuilder {
    /// The audience tokens must name (`aud`): `bouncer` unless the operator changed
    /// `tokens.audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The issuer tokens must name (`iss`) and the metadata must declare: by default the URL
    /// given to [`Guard::builder`] (set it when Bouncer is reached through another address than
    /// its `tokens.issuer`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (whole seconds; default 10 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// [`Mode::Local`] (default) or [`Mode::Introspect`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The `realm` of `WWW-Authenticate` challenges (default `bouncer`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The header API keys come in (default `X-API-Key`, as Bouncer's `auth.api_key_header`).
    pub fn api_key_header(mut self, name: impl Into<String>) -> Self {
        self.api_key_header = name.into();
        self
    }

    /// How long a call to Bouncer may take (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The least time between two JWKS fetches caused by unknown `kid`s (default 10 s, at least
    /// 1 s): a flood of forged `kid`s costs Bouncer one request per interval.
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// How many verified JWTs are remembered (token → principal, until `exp`; default 10,000;
    /// 0 verifies every request's signature).
    pub fn verified_cache(mut self, entries: u64) -> Self {
        self.verified_cache = entries;
        self
    }

    fn into_inner(self) -> Result<Inner, GuardError> {
        let bad = |m: String| Err(GuardError::Config(m));
        let url = self.url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return bad(format!("Bouncer's URL must be http(s)://..., not {url:?}"));
        }
        if cfg!(not(feature = "rustls")) && url.starts_with("https://") {
            return bad("https needs the feature `rustls` of bouncer-guard".into());
        }
        let issuer = self
            .issuer
            .unwrap_or_else(|| url.clone())
            .trim_end_matches('/')
            .to_owned();
        if self.audience.is_empty() {
            return bad("the audience is empty".into());
        }
        if self.realm.is_empty()
            || self
                .realm
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return bad(format!("the realm {:?} cannot be quoted", self.realm));
        }
        let api_key_header = HeaderName::try_from(self.api_key_header.as_str()).map_err(|_| {
            GuardError::Config(format!("bad header name {:?}", self.api_key_header))
        })?;
        let introspected = match &self.mode {
            Mode::Local => None,
            Mode::Introspect {
                client_id,
                client_secret,
                cache,
            } => {
                if client_id.is_empty() || client_secret.is_empty() {
                    return bad("introspection needs a client_id and a client_secret".into());
                }
                (!cache.is_zero()).then(|| {
                    moka::sync::Cache::builder()
                        .max_capacity(100_000)
                        .time_to_live(*cache)
                        .build()
                })
            }
        };
        Ok(Inner {
            remote: remote::Remote::new(self.timeout).map_err(GuardError::Config)?,
            keys: local::Keys::new(self.jwks_refetch_interval.max(Duration::from_secs(1))),
            verified: moka::sync::Cache::builder()
                .max_capacity(self.verified_cache)
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
            verified_capacity: self.verified_cache,
            url,
            issuer,
            audience: self.audience,
            leeway_s: self.leeway.as_secs(),
            realm: self.realm.into(),
            mode: self.mode,
            api_key_header,
            introspected,
            jwks_fetches: AtomicU64::new(0),
            introspections: AtomicU64::new(0),
        })
    }

    /// Reads Bouncer's RFC 8414 metadata and, in local mode, its key set: an error when Bouncer
    /// cannot be reached or answers nonsense. Both are re-read later as needed.
    pub async fn build(self) -> Result<Guard, GuardError> {
        let guard = Guard {
            inner: Arc::new(self.into_inner()?),
        };
        guard
            .inner
            .metadata()
            .await
            .map_err(|r| GuardError::Discovery(r.detail))?;
        if guard.inner.mode == Mode::Local {
            guard
                .inner
                .refresh_keys()
                .await
                .map_err(|r| GuardError::Discovery(r.detail))?;
        }
        Ok(guard)
    }

    /// A guard that reads the metadata and keys at its first request (until it can, requests
    /// with a credential are answered 503 `bouncer_unavailable`). For apps that must start while
    /// Bouncer is down.
    pub fn build_lazy(self) -> Result<Guard, GuardError> {
        Ok(Guard {
            inner: Arc::new(self.into_inner()?),
        })
    }
}

impl Guard {
    /// Settings for a guard of the Bouncer at `url` (`http://127.0.0.1:8080`).
    pub fn builder(url: impl Into<String>) -> GuardBuilder {
        GuardBuilder {
            url: url.into(),
            issuer: None,
            audience: "bouncer".into(),
            leeway: Duration::from_secs(10),
            mode: Mode::Local,
            realm: "bouncer".into(),
            api_key_header: "x-api-key".into(),
            timeout: Duration::from_secs(5),
            jwks_refetch_interval: Duration::from_secs(10),
            verified_cache: 10_000,
        }
    }

    /// A guard in local mode with the defaults: reads Bouncer's metadata, then its JWKS.
    pub async fn discover(url: impl Into<String>) -> Result<Guard, GuardError> {
        Self::builder(url).build().await
    }

    /// The tower layer that authenticates every request.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone())
    }

    /// The metadata, read once (and again after a failure).
    pub async fn metadata(&self) -> Result<Arc<Metadata>, Refusal> {
        self.inner.metadata().await
    }

    /// The caller of a request with these headers: `Ok(None)` without a credential, a refusal
    /// (401, 400, or 503 while Bouncer cannot be reached) for a bad one. What the layer does.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Principal>, Refusal> {
        Ok(self
            .inner
            .authenticate(headers)
            .await?
            .map(|p| Principal::clone(&p)))
    }

    /// Checks one bearer token (a JWT; in introspect mode also an opaque token).
    pub async fn verify_token(&self, token: &str) -> Result<Principal, Refusal> {
        let p = self.inner.bearer(token).await?;
        Ok(Principal::clone(&p))
    }

    pub fn stats(&self) -> Stats {
        Stats {
            jwks_fetches: self.inner.jwks_fetches.load(Ordering::Relaxed),
            introspections: self.inner.introspections.load(Ordering::Relaxed),
        }
    }

    /// The mode this guard runs in.
    pub fn mode(&self) -> &Mode {
        &self.inner.mode
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("url", &self.inner.url)
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("mode", &self.inner.mode)
            .finish()
    }
}

impl Inner {
    /// Checks a bearer token by the mode, without I/O: `None` when Bouncer must be asked (the
    /// key set fetched, or the token introspected).
    pub(crate) fn bearer_now(
        self: &Arc<Self>,
        token: &str,
    ) -> Option<Result<Arc<Principal>, Refusal>> {
        match self.mode {
            Mode::Local => self.try_verify_jwt(token, true).transpose(),
            Mode::Introspect { .. } => self.introspect_bearer_now(token),
        }
    }

    /// Checks a bearer token by the mode.
    pub(crate) async fn bearer(self: &Arc<Self>, token: &str) -> Result<Arc<Principal>, Refusal> {
        if let Some(done) = self.bearer_now(token) {
            return done;
        }
        match self.mode {
            Mode::Local => self.verify_jwt(token).await,
            Mode::Introspect { .. } => self.introspect_bearer(token).await,
        }
    }
}
