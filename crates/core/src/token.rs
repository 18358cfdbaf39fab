//! Access tokens: JWTs signed with a server key. EdDSA by default; RS256, ES256 and HS256 by config.
//! The algorithm is pinned by configuration and never taken from the token. Verification keys are
//! built from the published JWK, so what third parties verify with is exactly what we verify with.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Millis;
use crate::error::{AuthFailure, Error, Result};
use crate::model::SigningKeyRecord;
use crate::settings::{SigningAlg, TokenSettings};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The JOSE `typ` of access tokens (RFC 9068 §2.1); the verifier requires it, so no other JWT
/// signed with the same key (an ID token, say) passes as an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// An access token's claims (API.md: the access-token claims). `iss`, `aud`, `exp`, `iat`, `nbf`
/// and `jti` are set by [`TokenService::issue`]; the rest by the grant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// When the user logged in to start this chain (seconds), kept through refreshes. Required.
    pub auth_time: i64,
    pub client_id: String,
    /// Space-separated; `*` when the token is not narrowed.
    pub scope: String,
    pub username: String,
    /// The user's roles whose `role:NAME` the scope holds, at issue.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The effective permissions at issue, already narrowed by the scope.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The user's credential generation at issue; the token dies when it moves. Required.
    pub r#gen: i64,
    /// The refresh-token family (one login) this token descends from; revoking it ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

fn jwt_alg(a: SigningAlg) -> Algorithm {
    match a {
        SigningAlg::EdDsa => Algorithm::EdDSA,
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::Es256 => Algorithm::ES256,
        SigningAlg::Hs256 => Algorithm::HS256,
    }
}

/// Generates a new key of `alg`, ready to store.
pub fn generate_key(alg: SigningAlg, now: Millis) -> Result<SigningKeyRecord> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let mut rng = rand::rngs::OsRng;
    let kid = Uuid::new_v4().simple().to_string();
    let (private_pem, jwk) = match alg {
        SigningAlg::EdDsa => {
            let key = ed25519_dalek::SigningKey::generate(&mut rng);
            let pem = key
                .to_pkcs8_pem(Default::default())
                .map_err(Error::internal)?
                .to_string();
            let x = B64.encode(key.verifying_key().as_bytes());
            (
                pem,
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            )
        }
        SigningAlg::Rs256 => {
            use rsa::pkcs8::EncodePrivateKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(Error::internal)?;
            let pem = key
                .to_pkcs8_pem(Default::default())
                .map_err(Error::internal)?
                .to_string();
            let n = B64.encode(key.n().to_bytes_be());
            let e = B64.encode(key.e().to_bytes_be());
            (pem, serde_json::json!({"kty": "RSA", "n": n, "e": e}))
        }
        SigningAlg::Es256 => {
            use p256::pkcs8::EncodePrivateKey as _;
            let key = p256::SecretKey::random(&mut rng);
            let pem = key
                .to_pkcs8_pem(Default::default())
                .map_err(Error::internal)?
                .to_string();
            let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                &key.public_key(),
                false,
            );
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(Error::internal("P-256 point without coordinates"));
            };
            (
                pem,
                serde_json::json!({"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y)}),
            )
        }
        SigningAlg::Hs256 => {
            let mut secret = [0u8; 32];
            rand::Rng::fill(&mut rng, &mut secret[..]);
            (B64.encode(secret), serde_json::json!({}))
        }
    };
    let mut jwk = jwk;
    if alg != SigningAlg::Hs256 {
        jwk["kid"] = kid.clone().into();
        jwk["alg"] = alg.name().into();
        jwk["use"] = "sig".into();
    }
    Ok(SigningKeyRecord {
        kid,
        alg: alg.name().into(),
        generation: 0,
        private_pem,
        public_jwk: jwk.to_string(),
        created_at: now,
        activates_at: now,
        retires_at: None,
    })
}

/// Whether the JOSE header names critical extensions. We implement none, so any `crit` makes the
/// token one we must not accept (RFC 7515 §4.1.11). Only called on a verification-cache miss.
pub(crate) fn has_crit(token: &str) -> bool {
    let Some(header) = token.split('.').next() else {
        return true;
    };
    match B64.decode(header) {
        Ok(json) => serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&json)
            .map_or(true, |h| h.contains_key("crit")),
        Err(_) => true,
    }
}

struct Verifier {
    key: DecodingKey,
    /// Past this (ms) the key verifies nothing: every token it signed has expired.
    retires_at: Option<Millis>,
}

struct Signer {
    kid: String,
    key: EncodingKey,
    /// EdDSA keys, decoded once: jsonwebtoken re-decodes the PKCS#8 key and recomputes the public
    /// key (a second scalar multiplication) at every signature, which halves issuance speed.
    ed25519: Option<ed25519_dalek::SigningKey>,
    /// The key signs from this moment (ms) on: a rotation publishes first, signs later.
    activates_at: Millis,
}

/// The keys in force, swapped as a whole when they change.
struct KeySet {
    /// Oldest first; the newest active one signs.
    signers: Vec<Signer>,
    verifiers: HashMap<String, Verifier>,
    /// Public JWKs, each with the time it leaves the set (its key's retirement).
    published: Vec<(Option<Millis>, serde_json::Value)>,
}

/// Signs and verifies access tokens with the keys of the configured algorithm. The keys can be
/// swapped at runtime ([`TokenService::reload`]) when a rotation happens on any instance.
pub struct TokenService {
    settings: TokenSettings,
    alg: Algorithm,
    keys: std::sync::RwLock<Arc<KeySet>>,
    validation: Validation,
}

impl TokenService {
    /// Builds from stored keys: every unretired key of the configured algorithm verifies and is
    /// published; the newest one whose activation time has come signs.
    pub fn new(settings: TokenSettings, keys: &[SigningKeyRecord]) -> Result<Self> {
        let alg = jwt_alg(settings.algorithm);
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        // Time claims are checked below against our Clock, so tests can move time.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let set = Self::key_set(settings.algorithm, keys)?;
        Ok(Self {
            alg,
            keys: std::sync::RwLock::new(Arc::new(set)),
            validation,
            settings,
        })
    }

    /// Replaces the key set (after a rotation, here or on another instance).
    pub fn reload(&self, keys: &[SigningKeyRecord]) -> Result<()> {
        let set = Arc::new(Self::key_set(self.settings.algorithm, keys)?);
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = set;
        Ok(())
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn key_set(algorithm: SigningAlg, keys: &[SigningKeyRecord]) -> Result<KeySet> {
        let mut mine: Vec<&SigningKeyRecord> =
            keys.iter().filter(|k| k.alg == algorithm.name()).collect();
        mine.sort_by_key(|k| (k.generation, k.created_at, k.kid.clone()));
        if mine.is_empty() {
            return Err(Error::internal("no signing key"));
        }
        let mut signers = Vec::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for k in &mine {
            let key = match algorithm {
                SigningAlg::EdDsa => EncodingKey::from_ed_pem(k.private_pem.as_bytes()),
                SigningAlg::Rs256 => EncodingKey::from_rsa_pem(k.private_pem.as_bytes()),
                SigningAlg::Es256 => EncodingKey::from_ec_pem(k.private_pem.as_bytes()),
                SigningAlg::Hs256 => B64
                    .decode(&k.private_pem)
                    .map(|s| EncodingKey::from_secret(&s))
                    .map_err(|e| {
                        jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::Base64(
                            e,
                        ))
                    }),
            }
            .map_err(Error::internal)?;
            let ed25519 = match algorithm {
                SigningAlg::EdDsa => {
                    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
                    Some(
                        ed25519_dalek::SigningKey::from_pkcs8_pem(&k.private_pem)
                            .map_err(Error::internal)?,
                    )
                }
                _ => None,
            };
            // A replaced key keeps signing until its successor activates.
            signers.push(Signer {
                kid: k.kid.clone(),
                key,
                ed25519,
                activates_at: k.activates_at,
            });
            let jwk: serde_json::Value =
                serde_json::from_str(&k.public_jwk).map_err(Error::internal)?;
            let s = |f: &str| jwk[f].as_str().unwrap_or_default().to_owned();
            let key = match algorithm {
                SigningAlg::EdDsa => DecodingKey::from_ed_components(&s("x")),
                SigningAlg::Rs256 => DecodingKey::from_rsa_components(&s("n"), &s("e")),
                SigningAlg::Es256 => DecodingKey::from_ec_components(&s("x"), &s("y")),
                SigningAlg::Hs256 => B64
                    .decode(&k.private_pem)
                    .map(|secret| DecodingKey::from_secret(&secret))
                    .map_err(|e| jsonwebtoken::errors::ErrorKind::Base64(e).into()),
            }
            .map_err(Error::internal)?;
            verifiers.insert(
                k.kid.clone(),
                Verifier {
                    key,
                    retires_at: k.retires_at,
                },
            );
            if algorithm != SigningAlg::Hs256 {
                published.push((k.retires_at, jwk));
            }
        }
        Ok(KeySet {
            signers,
            verifiers,
            published,
        })
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The RFC 7517 key set at `now` (empty for HS256, whose key is secret): every key that signs,
    /// will sign, or still verifies unexpired tokens.
    pub fn jwks_at(&self, now: Millis) -> serde_json::Value {
        let set = self.current();
        let keys: Vec<&serde_json::Value> = set
            .published
            .iter()
            .filter(|(retires, _)| retires.is_none_or(|r| r > now))
            .map(|(_, jwk)| jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Every published key, retiring or not (tests).
    pub fn jwks(&self) -> serde_json::Value {
        self.jwks_at(i64::MIN)
    }

    /// The `kid` that signs at `now`.
    pub fn signing_kid(&self, now: Millis) -> String {
        let set = self.current();
        Self::signer(&set, now).kid.clone()
    }

    /// The newest key whose activation time has come (the oldest if none has: it cannot happen,
    /// a first key activates when it is made).
    fn signer(set: &KeySet, now: Millis) -> &Signer {
        set.signers
            .iter()
            .rev()
            .find(|s| s.activates_at <= now)
            .unwrap_or(&set.signers[0])
    }

    pub fn algorithm(&self) -> SigningAlg {
        self.settings.algorithm
    }

    /// Signs an access token with `claims` (subject, scope, generation...), filling in the issuer,
    /// audience, a fresh `jti`, and the times: valid from `now` for the configured lifetime.
    pub fn issue(&self, claims: Claims, now: Millis) -> Result<(String, Claims)> {
        let claims = self.complete(claims, now);
        Ok((self.sign_at(&claims, Some(ACCESS_TOKEN_TYP), now)?, claims))
    }

    /// Signs completed claims with the key that was signing at their `iat`: the same claims give
    /// the same token (EdDSA, RS256 and HS256 signatures are deterministic; ES256's use RFC 6979).
    pub fn sign_issued(&self, claims: &Claims) -> Result<String> {
        self.sign_at(
            claims,
            Some(ACCESS_TOKEN_TYP),
            claims.iat.saturating_mul(1000),
        )
    }

    /// Fills in the issuer, audience, a fresh `jti`, and the times (valid from `now` for the
    /// configured lifetime): what every access token carries, JWT or opaque.
    pub fn complete(&self, mut claims: Claims, now: Millis) -> Claims {
        let iat = now.div_euclid(1000);
        let ttl = i64::try_from(self.settings.access_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        claims.iss = self.settings.issuer.clone();
        claims.aud = self.settings.audience.clone();
        claims.exp = iat + ttl;
        claims.iat = iat;
        claims.nbf = iat;
        // Unique, not secret: the thread's CSPRNG, no system call per token.
        claims.jti = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .to_string();
        claims
    }

    /// The time checks of [`TokenService::verify`], for claims that come from elsewhere (opaque
    /// tokens' stored claims).
    pub fn check_times(&self, c: &Claims, now_s: i64) -> std::result::Result<(), AuthFailure> {
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(0);
        if c.exp <= now_s - leeway {
            return Err(AuthFailure::Expired);
        }
        if c.nbf > now_s + leeway || c.iat > now_s + leeway {
            return Err(AuthFailure::NotYetValid);
        }
        Ok(())
    }

    /// Signs arbitrary claims with the current key as an access token (`typ: at+jwt`); tests build
    /// hostile tokens with it.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String> {
        self.sign_typed(claims, Some(ACCESS_TOKEN_TYP))
    }

    /// Signs with the key active now (by the system clock) and the given header `typ` (tests: a
    /// JWT that is not an access token).
    pub fn sign_typed<T: Serialize>(&self, claims: &T, typ: Option<&str>) -> Result<String> {
        self.sign_at(claims, typ, i64::MAX)
    }

    fn sign_at<T: Serialize>(&self, claims: &T, typ: Option<&str>, now: Millis) -> Result<String> {
        let set = self.current();
        let signer = Self::signer(&set, now);
        let mut header = Header::new(self.alg);
        header.kid = Some(signer.kid.clone());
        header.typ = typ.map(str::to_owned);
        let Some(ed) = &signer.ed25519 else {
            return jsonwebtoken::encode(&header, claims, &signer.key).map_err(Error::internal);
        };
        // RFC 7515 compact serialization, signed with the decoded key (RFC 8037 EdDSA).
        use ed25519_dalek::Signer as _;
        let mut jws = B64.encode(serde_json::to_vec(&header).map_err(Error::internal)?);
        jws.push('.');
        B64.encode_string(
            serde_json::to_vec(claims).map_err(Error::internal)?,
            &mut jws,
        );
        let signature = ed.sign(jws.as_bytes());
        jws.push('.');
        B64.encode_string(signature.to_bytes(), &mut jws);
        Ok(jws)
    }

    /// Verifies signature, algorithm, `kid`, `iss`, `aud`, and the time claims against `now_s`
    /// with the configured leeway.
    pub fn verify(&self, token: &str, now_s: i64) -> std::result::Result<Claims, AuthFailure> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthFailure::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        if header.alg != self.alg {
            return Err(AuthFailure::BadSignature);
        }
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
            && !typ.eq_ignore_ascii_case("application/at+jwt")
        {
            return Err(AuthFailure::Malformed);
        }
        if has_crit(token) {
            return Err(AuthFailure::Malformed);
        }
        let set = self.current();
        let verifier = header
            .kid
            .as_deref()
            .and_then(|k| set.verifiers.get(k))
            .filter(|v| v.retires_at.is_none_or(|r| r > now_s.saturating_mul(1000)))
            .ok_or(AuthFailure::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &verifier.key, &self.validation).map_err(
            |e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::InvalidSignature | K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                        AuthFailure::BadSignature
                    }
                    K::InvalidIssuer | K::InvalidAudience => AuthFailure::WrongIssuerOrAudience,
                    _ => AuthFailure::Malformed,
                }
            },
        )?;
        let c = data.claims;
        self.check_times(&c, now_s)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(algorithm: SigningAlg) -> TokenSettings {
        TokenSettings {
            format: crate::settings::TokenFormat::Jwt,
            issuer: "https://issuer.test".into(),
            audience: "bouncer".into(),
            algorithm,
            access_ttl: Duration::from_secs(900),
            leeway: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(3600),
            refresh_absolute_ttl: Duration::from_secs(86_400),
            refresh_retry_window: Duration::ZERO,
        }
    }

    fn test_claims(scope: &str) -> Claims {
        Claims {
            sub: Uuid::new_v4().to_string(),
            scope: scope.into(),
            r#gen: 1,
            ..Default::default()
        }
    }

    #[test]
    fn every_algorithm_round_trips_and_is_pinned() {
        let now = 1_800_000_000_000;
        let mut services = Vec::new();
        for alg in [
            SigningAlg::EdDsa,
            SigningAlg::Rs256,
            SigningAlg::Es256,
            SigningAlg::Hs256,
        ] {
            let key = generate_key(alg, now).unwrap();
            assert!(
                !key.public_jwk.contains("\"d\""),
                "no private part in the JWK"
            );
            let svc = TokenService::new(settings(alg), &[key]).unwrap();
            let (token, claims) = svc.issue(test_claims("items:read"), now).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, jwt_alg(alg));
            let back = svc.verify(&token, now / 1000).unwrap();
            assert_eq!(back.jti, claims.jti);
            assert_eq!(back.scope, "items:read");
            assert_eq!(
                svc.jwks()["keys"].as_array().unwrap().len(),
                usize::from(alg != SigningAlg::Hs256)
            );
            services.push((svc, token));
        }
        // A token of one algorithm is refused by a service pinned to another.
        for (i, (svc, _)) in services.iter().enumerate() {
            for (j, (_, token)) in services.iter().enumerate() {
                if i != j {
                    assert!(svc.verify(token, now / 1000).is_err());
                }
            }
        }
    }

    #[test]
    fn unknown_critical_header_parameters_are_refused() {
        let now = 1_800_000_000_000;
        let svc = TokenService::new(
            settings(SigningAlg::EdDsa),
            &[generate_key(SigningAlg::EdDsa, now).unwrap()],
        )
        .unwrap();
        let (token, _) = svc.issue(test_claims(""), now).unwrap();
        assert!(svc.verify(&token, now / 1000).is_ok());
        // Same key, same claims, a header naming a critical extension: refused.
        let (_, payload) = token.split_once('.').unwrap();
        let payload = payload.split('.').next().unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(svc.signing_kid(now));
        let set = svc.current();
        let signing_key = &set.signers.last().unwrap().key;
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        let mut h = serde_json::to_value(&header).unwrap();
        h["crit"] = serde_json::json!(["exp"]);
        h["exp"] = serde_json::json!(1);
        let signing_input = format!("{}.{payload}", B64.encode(h.to_string()));
        let sig =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), signing_key, Algorithm::EdDSA)
                .unwrap();
        let forged = format!("{signing_input}.{sig}");
        assert_eq!(
            svc.verify(&forged, now / 1000).unwrap_err(),
            AuthFailure::Malformed
        );
        // The same construction without `crit` verifies, so the refusal is the `crit`.
        h.as_object_mut().unwrap().remove("crit");
        let signing_input = format!("{}.{payload}", B64.encode(h.to_string()));
        let sig =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), signing_key, Algorithm::EdDSA)
                .unwrap();
        assert!(
            svc.verify(&format!("{signing_input}.{sig}"), now / 1000)
                .is_ok()
        );
    }

    #[test]
    fn only_access_tokens_are_accepted() {
        let now = 1_800_000_000_000;
        let svc = TokenService::new(
            settings(SigningAlg::EdDsa),
            &[generate_key(SigningAlg::EdDsa, now).unwrap()],
        )
        .unwrap();
        let (_, claims) = svc.issue(test_claims(""), now).unwrap();
        for typ in [Some("at+jwt"), Some("AT+JWT"), Some("application/at+jwt")] {
            let t = svc.sign_typed(&claims, typ).unwrap();
            assert!(svc.verify(&t, now / 1000).is_ok(), "{typ:?}");
        }
        // The same claims and key as an ID token, a plain JWT, or with no typ: not access tokens.
        for typ in [Some("JWT"), Some("id+jwt"), None] {
            let t = svc.sign_typed(&claims, typ).unwrap();
            assert_eq!(
                svc.verify(&t, now / 1000).unwrap_err(),
                AuthFailure::Malformed,
                "{typ:?}"
            );
        }
    }

    #[test]
    fn time_claims_respect_leeway() {
        let now = 1_800_000_000_000;
        let svc = TokenService::new(
            settings(SigningAlg::EdDsa),
            &[generate_key(SigningAlg::EdDsa, now).unwrap()],
        )
        .unwrap();
        let (token, c) = svc.issue(test_claims(""), now).unwrap();
        assert!(svc.verify(&token, c.exp + 59).is_ok());
        assert_eq!(
            svc.verify(&token, c.exp + 60).unwrap_err(),
            AuthFailure::Expired
        );
        assert!(svc.verify(&token, c.iat - 60).is_ok());
        assert_eq!(
            svc.verify(&token, c.iat - 61).unwrap_err(),
            AuthFailure::NotYetValid
        );
        assert_eq!(
            svc.verify(&"x".repeat(MAX_TOKEN_LEN + 1), now / 1000)
                .unwrap_err(),
            AuthFailure::Malformed
        );
    }
}
