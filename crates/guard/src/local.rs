//! Local verification: Bouncer's JWKS (each key pinned to the one algorithm its type allows),
//! refetched when its `max-age` passes (in the background) and, rate-limited, when a token names
//! an unknown `kid`; verified tokens remembered until they expire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::principal::{CredentialKind, Principal};
use crate::problem::Refusal;
use crate::remote::{recent_failure, remember_failure};
use crate::{Inner, rules};

/// Tokens longer than this are refused before any parsing (Bouncer's are at most 4096).
pub(crate) const MAX_TOKEN_LEN: usize = 8192;
/// Keys are kept this long past their `max-age` while Bouncer cannot be reached.
const MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// `max-age` is taken within these bounds; without one, keys are refetched after 5 minutes.
const MIN_MAX_AGE: Duration = Duration::from_secs(10);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

pub(crate) struct Key {
    key: DecodingKey,
    validation: Validation,
}

struct KeySet {
    keys: HashMap<String, Arc<Key>>,
    fetched_at: Instant,
    max_age: Duration,
}

pub(crate) struct Keys {
    set: RwLock<Option<Arc<KeySet>>>,
    fetch_lock: tokio::sync::Mutex<()>,
    /// When the last fetch started (whatever its reason or outcome): the rate limit of fetches
    /// for unknown `kid`s.
    last_attempt: Mutex<Option<Instant>>,
    failed: Mutex<Option<(Instant, String)>>,
    background: AtomicBool,
    refetch_every: Duration,
}

/// A verified token, remembered until it expires.
pub(crate) struct Verified {
    token: Box<str>,
    principal: Arc<Principal>,
    exp: i64,
}

/// The access-token claims the guard reads (Bouncer's `Claims`; `iss`, `nbf` are checked by
/// the validation).
#[derive(Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub aud: Value,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub client_id: Option<String>,
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Claims {
    /// The principal these claims describe: roles only those the scope lets the token use.
    pub(crate) fn principal(self) -> Principal {
        let scopes: Vec<String> = self
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let roles = self
            .roles
            .into_iter()
            .filter(|r| rules::scope_covers_role(&scopes, r))
            .collect();
        let kind = match &self.client_id {
            Some(c) if *c == self.sub => CredentialKind::Client,
            _ => CredentialKind::Jwt,
        };
        Principal {
            subject: self.sub,
            username: self.username,
            roles,
            scopes,
            permissions: self.permissions,
            credential_kind: kind,
            client_id: self.client_id.filter(|c| !c.is_empty()),
            expires_at: Some(self.exp),
            permissions_known: true,
            roles_known: true,
        }
    }

    pub(crate) fn has_audience(&self, audience: &str) -> bool {
        match &self.aud {
            Value::String(a) => a == audience,
            Value::Array(a) => a.iter().any(|v| v.as_str() == Some(audience)),
            _ => false,
        }
    }
}

/// The one algorithm a JWK may verify, from its key type and curve (and the `alg` it declares,
/// which must agree), and its decoding key. `None` for keys the guard will not use: symmetric
/// (`oct`) keys above all, RSA under 2048 bits, unknown types.
fn key_of(jwk: &serde_json::Map<String, Value>) -> Option<(Algorithm, DecodingKey)> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    let declared = s("alg");
    let (alg, key) = match (s("kty")?, s("crv")) {
        ("OKP", Some("Ed25519")) => {
            let x = s("x")?;
            if B64.decode(x).ok()?.len() != 32 {
                return None;
            }
            (Algorithm::EdDSA, DecodingKey::from_ed_components(x).ok()?)
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let alg = if crv == "P-256" {
                Algorithm::ES256
            } else {
                Algorithm::ES384
            };
            (alg, DecodingKey::from_ec_components(s("x")?, s("y")?).ok()?)
        }
        ("RSA", _) => {
            let alg = match declared.unwrap_or("RS256") {
                "RS256" => Algorithm::RS256,
                "RS384" => Algorithm::RS384,
                "RS512" => Algorithm::RS512,
                "PS256" => Algorithm::PS256,
                "PS384" => Algorithm::PS384,
                "PS512" => Algorithm::PS512,
                _ => return None,
            };
            let n = s("n")?;
            let bits = B64.decode(n).ok()?.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return None;
            }
            (alg, DecodingKey::from_rsa_components(n, s("e")?).ok()?)
        }
        _ => return None,
    };
    if declared.is_some_and(|d| d != format!("{alg:?}")) {
        return None;
    }
    Some((alg, key))
}

fn max_age(cache_control: Option<&str>) -> Duration {
    cache_control
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .map_or(DEFAULT_MAX_AGE, |s| {
            Duration::from_secs(s).clamp(MIN_MAX_AGE, MAX_MAX_AGE)
        })
}

impl Keys {
    pub(crate) fn new(refetch_every: Duration) -> Self {
        Keys {
            set: RwLock::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            last_attempt: Mutex::new(None),
            failed: Mutex::new(None),
            background: AtomicBool::new(false),
            refetch_every,
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn may_refetch(&self) -> bool {
        self.last_attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|at| at.elapsed() >= self.refetch_every)
    }
}

impl Inner {
    pub(crate) fn invalid(&self, detail: &str) -> Refusal {
        Refusal::invalid_token(
            &self.realm,
            format!("invalid or expired credentials{detail}"),
        )
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.algorithms = vec![alg];
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_audience(&[self.audience.as_str()]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        v.leeway = self.leeway_s;
        v.validate_exp = true;
        v.validate_nbf = true;
        v
    }

    /// Fetches the JWKS (one fetch at a time: a caller that waited while another fetched is done).
    /// A failure keeps the keys in hand.
    pub(crate) async fn refresh_keys(&self) -> Result<(), Refusal> {
        let asked_at = Instant::now();
        let _one = self.keys.fetch_lock.lock().await;
        if self
            .keys
            .current()
            .is_some_and(|s| s.fetched_at >= asked_at)
        {
            return Ok(());
        }
        *self
            .keys
            .last_attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(set) => {
                let gone = self
                    .keys
                    .current()
                    .is_some_and(|old| old.keys.keys().any(|kid| !set.keys.contains_key(kid)));
                let kids: Vec<&String> = set.keys.keys().collect();
                tracing::debug!(?kids, "bouncer-guard: JWKS fetched");
                *self.keys.set.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(set));
                self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
                if gone {
                    // A key left the set (retired): tokens it signed must not live on in the cache.
                    self.verified.invalidate_all();
                }
                Ok(())
            }
            Err(why) => {
                remember_failure(&self.keys.failed, &why);
                Err(Refusal::unavailable(why))
            }
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, String> {
        let md = self.metadata().await.map_err(|r| r.detail)?;
        let uri = md
            .jwks_uri
            .as_deref()
            .ok_or("Bouncer's metadata has no jwks_uri")?;
        let (doc, cache_control): (Value, _) = self.remote.get_json(uri, "its keys").await?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("Bouncer's JWKS is not a key set")?;
        let mut keys = HashMap::new();
        for jwk in list.iter().filter_map(Value::as_object) {
            let Some(kid) = jwk
                .get("kid")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
            else {
                continue;
            };
            if jwk
                .get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            match key_of(jwk) {
                Some((alg, key)) => {
                    let validation = self.validation(alg);
                    keys.insert(kid.to_owned(), Arc::new(Key { key, validation }));
                }
                None => tracing::debug!(kid, "bouncer-guard: JWKS key ignored"),
            }
        }
        if keys.is_empty() && !list.is_empty() {
            tracing::warn!(
                "bouncer-guard: Bouncer's JWKS has no key usable here (HS256 tokens need introspection)"
            );
        }
        Ok(KeySet {
            keys,
            fetched_at: Instant::now(),
            max_age: max_age(cache_control.as_deref()),
        })
    }

    /// The key named `kid` from the set in hand (refreshed in the background once its
    /// `max-age` passed); `Ok(None)` when the set must be fetched first (`may_fetch`: there is
    /// none yet, or the `kid` is unknown and the last fetch was long enough ago).
    fn key(self: &Arc<Self>, kid: &str, may_fetch: bool) -> Result<Option<Arc<Key>>, Refusal> {
        let failed = || recent_failure(&self.keys.failed);
        let set = match self.keys.current() {
            Some(s) if s.fetched_at.elapsed() < s.max_age + MAX_STALE => {
                if s.fetched_at.elapsed() >= s.max_age {
                    self.refresh_in_background();
                }
                s
            }
            _ => {
                return match failed() {
                    None if may_fetch => Ok(None),
                    why => {
                        Err(Refusal::unavailable(why.unwrap_or_else(|| {
                            "Bouncer's keys could not be fetched".into()
                        })))
                    }
                };
            }
        };
        match set.keys.get(kid) {
            Some(k) => Ok(Some(k.clone())),
            None if may_fetch && self.keys.may_refetch() && failed().is_none() => Ok(None),
            None => Err(self.invalid(": unknown key")),
        }
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.keys.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.keys.background.store(false, Ordering::Release);
            return;
        };
        let me = self.clone();
        rt.spawn(async move {
            let _ = me.refresh_keys().await;
            me.keys.background.store(false, Ordering::Release);
        });
    }

    /// Verifies a JWT access token with the keys in hand: signature by a key of Bouncer's set
    /// with that key's algorithm, `typ` `at+jwt`, no `crit`, `iss`, `aud`, `exp`, `nbf`, `sub`.
    /// `Ok(None)`: the key set must be fetched first (see [`Inner::key`]). No I/O: the request
    /// path when the token or its key is known.
    pub(crate) fn try_verify_jwt(
        self: &Arc<Self>,
        token: &str,
        may_fetch: bool,
    ) -> Result<Option<Arc<Principal>>, Refusal> {
        let Some((signed, signature)) = token.rsplit_once('.') else {
            return Err(self.invalid(""));
        };
        if token.len() > MAX_TOKEN_LEN || signature.is_empty() {
            return Err(self.invalid(""));
        }
        // Keyed by the signature (short to hash, unique to the token); the whole token must match.
        if let Some(v) = self.verified.get(signature)
            && *v.token == *token
        {
            if v.exp + self.leeway_s as i64 >= unix_now() {
                return Ok(Some(v.principal.clone()));
            }
            self.verified.invalidate(signature);
            return Err(self.invalid(": expired"));
        }
        if signed.bytes().filter(|b| *b == b'.').count() != 1 {
            return Err(self.invalid(""));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| self.invalid(""))?;
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(self.invalid(": not an access token"));
        }
        if header.crit.is_some() {
            return Err(self.invalid(": unsupported critical header"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| self.invalid(": no kid"))?;
        let Some(key) = self.key(kid, may_fetch)? else {
            return Ok(None);
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation).map_err(|e| {
                self.invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => ": expired",
                    ErrorKind::ImmatureSignature => ": not valid yet",
                    ErrorKind::InvalidIssuer => ": wrong issuer",
                    ErrorKind::InvalidAudience => ": wrong audience",
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => ": bad signature",
                    ErrorKind::MissingRequiredClaim(_) => ": a required claim is missing",
                    _ => ": malformed",
                })
            })?;
        let exp = data.claims.exp;
        let principal = Arc::new(data.claims.principal());
        if self.verified_capacity > 0 {
            self.verified.insert(
                signature.to_owned(),
                Arc::new(Verified {
                    token: token.into(),
                    principal: principal.clone(),
                    exp,
                }),
            );
        }
        Ok(Some(principal))
    }

    /// [`Inner::try_verify_jwt`], fetching the key set first when it must.
    pub(crate) async fn verify_jwt(
        self: &Arc<Self>,
        token: &str,
    ) -> Result<Arc<Principal>, Refusal> {
        if let Some(p) = self.try_verify_jwt(token, true)? {
            return Ok(p);
        }
        // Boxed: the request path's future stays small.
        Box::pin(self.refresh_keys()).await?;
        self.try_verify_jwt(token, false)?
            .ok_or_else(|| self.invalid(": unknown key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_and_bounded() {
        assert_eq!(
            max_age(Some("public, max-age=300")),
            Duration::from_secs(300)
        );
        assert_eq!(max_age(Some("max-age=0")), MIN_MAX_AGE);
        assert_eq!(max_age(Some("no-cache")), DEFAULT_MAX_AGE);
        assert_eq!(max_age(None), DEFAULT_MAX_AGE);
    }

    fn jwk(v: Value) -> Option<Algorithm> {
        key_of(v.as_object().unwrap()).map(|(a, _)| a)
    }

    #[test]
    fn keys_pin_their_algorithm_and_hmac_is_never_taken() {
        let x = B64.encode([7u8; 32]);
        assert_eq!(
            jwk(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "EdDSA"})),
            Some(Algorithm::EdDSA)
        );
        assert_eq!(
            jwk(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "HS256"})),
            None
        );
        assert_eq!(
            jwk(serde_json::json!({"kty": "oct", "k": x, "alg": "HS256"})),
            None
        );
        assert_eq!(
            jwk(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 5])})),
            None
        );
        let small = B64.encode([0xffu8; 128]);
        assert_eq!(
            jwk(serde_json::json!({"kty": "RSA", "n": small, "e": "AQAB"})),
            None
        );
        let big = B64.encode([0xffu8; 256]);
        assert_eq!(
            jwk(serde_json::json!({"kty": "RSA", "n": big, "e": "AQAB"})),
            Some(Algorithm::RS256)
        );
        assert_eq!(
            jwk(serde_json::json!({"kty": "RSA", "n": big, "e": "AQAB", "alg": "none"})),
            None
        );
    }
}
