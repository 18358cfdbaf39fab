//! `[[issuers]]`: outside identity providers, validated into the domain's settings. URLs must be
//! https, except on loopback hosts (a provider on the same machine, tests).

use bouncer_core::issuers::{ClaimPaths, IssuerSettings};
use jsonwebtoken::Algorithm;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, bad};

/// One `[[issuers]]` entry: an identity provider whose access tokens Bouncer accepts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerConfig {
    pub issuer: String,
    /// Empty: discovery at `{issuer}/.well-known/openid-configuration`.
    pub jwks_uri: String,
    pub audience: String,
    pub algorithms: Vec<String>,
    pub require_at_jwt: bool,
    pub claims: IssuerClaimsConfig,
}

/// `[issuers.claims]`: dotted paths into the token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerClaimsConfig {
    pub subject: String,
    pub username: String,
    pub roles: String,
    pub scopes: String,
}

impl Default for IssuerClaimsConfig {
    fn default() -> Self {
        IssuerClaimsConfig {
            subject: "sub".into(),
            username: "preferred_username".into(),
            roles: "roles".into(),
            scopes: "scope".into(),
        }
    }
}

/// Algorithms an outside issuer may be allowed: asymmetric only (a shared secret would let anyone
/// holding the key set forge tokens), never `none`.
const ALGORITHMS: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// https, or http on a loopback host; no credentials, query or fragment.
pub fn acceptable_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return false,
    };
    (u.scheme() == "https" || (u.scheme() == "http" && loopback))
        && u.username().is_empty()
        && u.password().is_none()
        && u.query().is_none()
        && u.fragment().is_none()
}

impl Config {
    /// The outside issuers as the domain takes them; each error names the entry and the key.
    pub fn issuer_settings(&self) -> Result<Vec<IssuerSettings>, ConfigError> {
        let own = self.settings_issuer();
        let mut seen = std::collections::HashSet::new();
        self.issuers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let key = |f: &str| format!("issuers[{i}].{f}");
                if !acceptable_url(&c.issuer) {
                    return Err(bad(
                        &key("issuer"),
                        &c.issuer,
                        "an https URL (http only on a loopback host)",
                    ));
                }
                if c.issuer == own {
                    return Err(bad(
                        &key("issuer"),
                        &c.issuer,
                        "another issuer than Bouncer's own (tokens.issuer)",
                    ));
                }
                if !seen.insert(c.issuer.clone()) {
                    return Err(bad(&key("issuer"), &c.issuer, "each issuer once"));
                }
                if !c.jwks_uri.is_empty() && !acceptable_url(&c.jwks_uri) {
                    return Err(bad(
                        &key("jwks_uri"),
                        &c.jwks_uri,
                        "empty (discovery), or an https URL (http only on a loopback host)",
                    ));
                }
                if c.audience.is_empty() {
                    return Err(bad(&key("audience"), "", "the audience its tokens carry"));
                }
                if c.algorithms.is_empty() {
                    return Err(bad(&key("algorithms"), "[]", "at least one algorithm"));
                }
                let algorithms = c
                    .algorithms
                    .iter()
                    .map(|a| {
                        ALGORITHMS
                            .iter()
                            .find(|(name, _)| name == a)
                            .map(|(_, alg)| *alg)
                            .ok_or_else(|| {
                                bad(
                                    &key("algorithms"),
                                    a,
                                    "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA",
                                )
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                for (f, path) in [
                    ("subject", &c.claims.subject),
                    ("username", &c.claims.username),
                    ("roles", &c.claims.roles),
                    ("scopes", &c.claims.scopes),
                ] {
                    let ok = !path.is_empty()
                        && path.len() <= 200
                        && path.split('.').all(|p| !p.is_empty());
                    if !ok {
                        return Err(bad(
                            &key(&format!("claims.{f}")),
                            path,
                            "a dotted claim path such as realm_access.roles",
                        ));
                    }
                }
                Ok(IssuerSettings {
                    issuer: c.issuer.clone(),
                    jwks_uri: Some(c.jwks_uri.clone()).filter(|u| !u.is_empty()),
                    audience: c.audience.clone(),
                    algorithms,
                    require_at_jwt: c.require_at_jwt,
                    claims: ClaimPaths {
                        subject: c.claims.subject.clone(),
                        username: c.claims.username.clone(),
                        roles: c.claims.roles.clone(),
                        scopes: c.claims.scopes.clone(),
                    },
                })
            })
            .collect()
    }
}
