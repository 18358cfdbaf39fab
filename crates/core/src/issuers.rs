//! Tokens from identity providers the deployment already runs (`[[issuers]]`: Keycloak, Auth0,
//! Entra ID, another Bouncer). A token whose `iss` names a configured issuer is verified against
//! that issuer's key set and mapped onto Bouncer's roles; Bouncer's permissions and policies then
//! apply to it like to any other credential. An outside subject is never a local user.
//!
//! Key sets come only from configured URLs (the `jwks_uri`, or the one the issuer's discovery
//! document names), never from the token (`jku`, `x5u`, `iss`). They are fetched in the
//! background at start (an unreachable issuer does not stop start-up), again on an unknown `kid`
//! at most once per [`REFETCH_EVERY_MS`], and the last good set is kept when a fetch fails. The
//! fetching itself (timeouts, size limits, https) is the binary's [`Fetcher`]: the domain does no
//! I/O of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::clock::{Clock, Millis};
use crate::error::AuthFailure;

/// An unknown `kid` refetches the key set at most this often.
pub const REFETCH_EVERY_MS: Millis = 10_000;

/// Where the claims a token carries are found: dotted paths into its payload.
#[derive(Debug, Clone)]
pub struct ClaimPaths {
    pub subject: String,
    pub username: String,
    /// Role names (an array of strings, or one space- or comma-separated string), mapped onto the
    /// Bouncer roles of the same name.
    pub roles: String,
    /// Scopes (a space-separated string or an array).
    pub scopes: String,
}

/// One `[[issuers]]` entry, validated by the binary.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    pub issuer: String,
    /// Overrides discovery (`{issuer}/.well-known/openid-configuration`).
    pub jwks_uri: Option<String>,
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
    /// A header `typ` other than `at+jwt` (RFC 9068) is refused.
    pub require_at_jwt: bool,
    pub claims: ClaimPaths,
}

/// Gets a document from a configured URL: the binary's HTTP client (timeouts, a size limit,
/// https except on loopback hosts, no redirects). The error is for logs.
#[async_trait]
pub trait Fetcher: Send + Sync {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// What a verified outside token says, before it is mapped onto Bouncer's roles.
#[derive(Debug, Clone)]
pub struct OutsideToken {
    pub issuer: String,
    pub sub: String,
    pub username: String,
    /// Role names as the token gives them (not yet filtered by the roles Bouncer has).
    pub roles: Vec<String>,
    /// Scope values as the token gives them; `None` without a scope claim.
    pub scopes: Option<Vec<String>>,
    /// The token's `auth_time`, in ms, when it has one.
    pub auth_time: Option<Millis>,
    pub exp: i64,
}

struct Issuer {
    settings: IssuerSettings,
    validation: Validation,
    keys: RwLock<Option<Arc<HashMap<String, DecodingKey>>>>,
    /// When a fetch was last started (ms; 0: never).
    last_fetch: AtomicI64,
    fetching: tokio::sync::Mutex<()>,
}

/// Every configured outside issuer.
pub struct Issuers {
    issuers: Vec<Issuer>,
    fetcher: Arc<dyn Fetcher>,
    clock: Arc<dyn Clock>,
}

/// `iss` of a compact JWS, read without checking anything (which issuer's keys to check it with).
pub fn peek_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&json).ok()?;
    v.get("iss")?.as_str().map(str::to_owned)
}

/// The value at a dotted path (`realm_access.roles`).
fn at_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Strings from an array of strings, or from one space- or comma-separated string.
fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        Value::String(s) => Some(
            s.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn key_set(json: &[u8], algorithms: &[Algorithm]) -> Result<HashMap<String, DecodingKey>, String> {
    let set: JwkSet = serde_json::from_slice(json).map_err(|e| format!("not a JWK set: {e}"))?;
    let mut keys = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        // Only signing keys of an allowed algorithm family; a key without `kid` is named by its
        // position (a token naming no `kid` may use the only key there is).
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if let Some(alg) = jwk.common.key_algorithm
            && !algorithms
                .iter()
                .any(|a| format!("{a:?}") == format!("{alg:?}"))
        {
            continue;
        }
        let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
        keys.insert(kid, key);
    }
    if keys.is_empty() {
        return Err("the key set holds no usable signing key".into());
    }
    Ok(keys)
}

impl Issuers {
    pub fn new(
        settings: Vec<IssuerSettings>,
        leeway_s: u64,
        fetcher: Arc<dyn Fetcher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let issuers = settings
            .into_iter()
            .map(|s| {
                let mut validation = Validation::new(s.algorithms[0]);
                validation.algorithms = s.algorithms.clone();
                validation.set_issuer(&[&s.issuer]);
                validation.set_audience(&[&s.audience]);
                validation.leeway = leeway_s;
                validation.validate_nbf = true;
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                Issuer {
                    settings: s,
                    validation,
                    keys: RwLock::new(None),
                    last_fetch: AtomicI64::new(0),
                    fetching: tokio::sync::Mutex::new(()),
                }
            })
            .collect();
        Issuers {
            issuers,
            fetcher,
            clock,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    pub fn knows(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i.settings.issuer == iss)
    }

    /// Fetches every issuer's key set (at start, in the background); failures are logged.
    pub async fn refresh_all(&self) {
        for i in &self.issuers {
            self.refresh(i).await;
        }
    }

    /// Fetches one issuer's key set (discovery first without a configured `jwks_uri`), keeping
    /// the last good set when anything fails. One fetch at a time per issuer.
    async fn refresh(&self, issuer: &Issuer) {
        let _one = issuer.fetching.lock().await;
        issuer
            .last_fetch
            .store(self.clock.now_ms().max(1), Ordering::SeqCst);
        let s = &issuer.settings;
        let result = async {
            let jwks_uri = match &s.jwks_uri {
                Some(u) => u.clone(),
                None => {
                    let url = format!(
                        "{}/.well-known/openid-configuration",
                        s.issuer.trim_end_matches('/')
                    );
                    let doc: Value = serde_json::from_slice(&self.fetcher.fetch(&url).await?)
                        .map_err(|e| format!("{url}: not JSON: {e}"))?;
                    if doc.get("issuer").and_then(Value::as_str) != Some(s.issuer.as_str()) {
                        return Err(format!("{url}: names another issuer"));
                    }
                    doc.get("jwks_uri")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("{url}: no jwks_uri"))?
                        .to_owned()
                }
            };
            let json = self.fetcher.fetch(&jwks_uri).await?;
            key_set(&json, &s.algorithms).map_err(|e| format!("{jwks_uri}: {e}"))
        }
        .await;
        match result {
            Ok(keys) => {
                tracing::info!(issuer = %s.issuer, keys = keys.len(), "fetched the issuer's key set");
                *issuer.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
            }
            Err(e) => tracing::warn!(
                issuer = %s.issuer,
                error = %e,
                "could not fetch the issuer's key set; keeping the last good one"
            ),
        }
    }

    fn key(issuer: &Issuer, kid: Option<&str>) -> Option<DecodingKey> {
        let keys = issuer.keys.read().unwrap_or_else(|e| e.into_inner());
        let keys = keys.as_ref()?;
        match kid {
            Some(k) => keys.get(k).cloned(),
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// Verifies an outside token: signature with the issuer's key named by `kid` (refetching the
    /// set once, rate-limited, when it is unknown), an allowed algorithm, issuer, audience, times,
    /// `typ` when required, no `crit`. Then reads the mapped claims.
    pub async fn verify(&self, token: &str) -> Result<OutsideToken, AuthFailure> {
        let iss = peek_issuer(token).ok_or(AuthFailure::Malformed)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.settings.issuer == iss)
            .ok_or(AuthFailure::WrongIssuerOrAudience)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        if !issuer.settings.algorithms.contains(&header.alg) {
            return Err(AuthFailure::BadSignature);
        }
        if issuer.settings.require_at_jwt {
            let typ = header.typ.as_deref().unwrap_or_default();
            if !typ.eq_ignore_ascii_case("at+jwt")
                && !typ.eq_ignore_ascii_case("application/at+jwt")
            {
                return Err(AuthFailure::Malformed);
            }
        }
        if crate::token::has_crit(token) {
            return Err(AuthFailure::Malformed);
        }
        let kid = header.kid.as_deref();
        let key = match Self::key(issuer, kid) {
            Some(k) => k,
            None => {
                let now = self.clock.now_ms();
                let last = issuer.last_fetch.load(Ordering::SeqCst);
                if last != 0 && now - last < REFETCH_EVERY_MS {
                    return Err(AuthFailure::UnknownKey);
                }
                self.refresh(issuer).await;
                Self::key(issuer, kid).ok_or(AuthFailure::UnknownKey)?
            }
        };
        let data = jsonwebtoken::decode::<Value>(token, &key, &issuer.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => AuthFailure::Expired,
                K::ImmatureSignature => AuthFailure::NotYetValid,
                K::InvalidIssuer | K::InvalidAudience => AuthFailure::WrongIssuerOrAudience,
                K::InvalidSignature | K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                    AuthFailure::BadSignature
                }
                _ => AuthFailure::Malformed,
            }
        })?;
        let c = &data.claims;
        let paths = &issuer.settings.claims;
        let sub = at_path(c, &paths.subject)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or(AuthFailure::Malformed)?
            .to_owned();
        let username = at_path(c, &paths.username)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .unwrap_or(&sub)
            .to_owned();
        Ok(OutsideToken {
            issuer: iss,
            sub,
            username,
            roles: strings(at_path(c, &paths.roles)).unwrap_or_default(),
            scopes: strings(at_path(c, &paths.scopes)),
            auth_time: c
                .get("auth_time")
                .and_then(Value::as_i64)
                .map(|s| s.saturating_mul(1000)),
            exp: c.get("exp").and_then(Value::as_i64).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_are_found_by_dotted_paths_as_arrays_or_strings() {
        let c = json!({"realm_access": {"roles": ["admin", "user"]}, "scope": "a:b c:d", "scp": ["x:y"]});
        assert_eq!(
            strings(at_path(&c, "realm_access.roles")).unwrap(),
            ["admin", "user"]
        );
        assert_eq!(strings(at_path(&c, "scope")).unwrap(), ["a:b", "c:d"]);
        assert_eq!(strings(at_path(&c, "scp")).unwrap(), ["x:y"]);
        assert!(strings(at_path(&c, "realm_access.nope")).is_none());
        assert!(strings(at_path(&c, "realm_access")).is_none());
    }

    #[test]
    fn the_issuer_is_peeked_without_trusting_anything() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"iss":"https://idp.example","sub":"x"}"#);
        assert_eq!(
            peek_issuer(&format!("e30.{payload}.sig")).as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(peek_issuer("garbage"), None);
        assert_eq!(peek_issuer("a.b.c"), None);
    }
}
