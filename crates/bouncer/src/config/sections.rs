//! The sections whose values need more than a type to be valid: CORS, forward-auth rules,
//! trusted proxies, the session cookie's `Secure`, and the key-encryption key. Each error is one
//! line naming the key, the value (never a secret's) and what was expected.

use std::time::Duration;

use super::{Config, ConfigError, bad};

impl Config {
    pub fn secure_cookie(&self) -> Result<bouncer_http::SecureCookie, ConfigError> {
        match self.sessions.secure_cookie.as_str() {
            "auto" => Ok(bouncer_http::SecureCookie::Auto),
            "always" => Ok(bouncer_http::SecureCookie::Always),
            "never" => Ok(bouncer_http::SecureCookie::Never),
            other => Err(bad(
                "sessions.secure_cookie",
                other,
                "auto, always or never",
            )),
        }
    }

    /// `[cors]` for the HTTP layer; `None` when no origin is allowed (no cross-origin access).
    pub fn cors(&self) -> Result<Option<bouncer_http::CorsOptions>, ConfigError> {
        use axum::http::{HeaderName, HeaderValue, Method};
        let c = &self.cors;
        if c.allowed_origins.is_empty() {
            return Ok(None);
        }
        let any_origin = c.allowed_origins.iter().any(|o| o == "*");
        if any_origin && c.allow_credentials {
            return Err(bad(
                "cors.allow_credentials",
                true,
                "false while cors.allowed_origins holds \"*\" (any origin with credentials is refused)",
            ));
        }
        if any_origin && c.allowed_origins.len() > 1 {
            return Err(bad(
                "cors.allowed_origins",
                "*",
                "either \"*\" alone or exact origins",
            ));
        }
        let mut origins = Vec::new();
        if !any_origin {
            for o in &c.allowed_origins {
                // Exact scheme://host[:port], nothing else: compared byte for byte.
                let (scheme, rest) = o.split_once("://").unwrap_or(("", ""));
                let ok = matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', '@', ' ', '*'])
                    && o.to_ascii_lowercase() == *o;
                let v = HeaderValue::from_str(o)
                    .ok()
                    .filter(|_| ok)
                    .ok_or_else(|| {
                        bad(
                            "cors.allowed_origins",
                            o,
                            "exact origins like https://app.example (lower case, no path)",
                        )
                    })?;
                origins.push(v);
            }
        }
        let methods = c
            .allowed_methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    bad(
                        "cors.allowed_methods",
                        m,
                        "HTTP methods such as GET or POST",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (key, list) in [
            ("cors.allowed_methods", &c.allowed_methods),
            ("cors.allowed_headers", &c.allowed_headers),
            ("cors.exposed_headers", &c.exposed_headers),
        ] {
            if list.iter().any(|v| v.trim() == "*") {
                return Err(bad(
                    key,
                    "*",
                    "exact names (a wildcard is not allowed here)",
                ));
            }
        }
        let names = |key: &str, list: &[String]| {
            list.iter()
                .map(|h| {
                    HeaderName::from_bytes(h.as_bytes())
                        .map_err(|_| bad(key, h, "header names such as Content-Type"))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        if c.max_age_s > 86_400 {
            return Err(bad("cors.max_age_s", c.max_age_s, "0 to 86400"));
        }
        Ok(Some(bouncer_http::CorsOptions {
            allowed_origins: origins,
            any_origin,
            allowed_methods: methods,
            allowed_headers: names("cors.allowed_headers", &c.allowed_headers)?,
            exposed_headers: names("cors.exposed_headers", &c.exposed_headers)?,
            allow_credentials: c.allow_credentials,
            max_age: Duration::from_secs(c.max_age_s),
        }))
    }

    /// `[[forward_auth.rules]]` as the domain's rules; each error names the rule.
    pub fn forward_rules(&self) -> Result<Vec<bouncer_core::forward::Rule>, ConfigError> {
        use bouncer_core::forward::{Rule, RuleNeed};
        self.forward_auth
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let key = |f: &str| format!("forward_auth.rules[{i}].{f}");
                if !r.path.starts_with('/') || r.path.chars().any(|c| c.is_whitespace()) {
                    return Err(bad(&key("path"), &r.path, "a path starting with /"));
                }
                if r.path.matches("**").count() > 2 {
                    return Err(bad(&key("path"), &r.path, "at most two ** in a path"));
                }
                let methods = r
                    .methods
                    .iter()
                    .map(|m| {
                        let up = m.to_ascii_uppercase();
                        if axum::http::Method::from_bytes(up.as_bytes()).is_ok() && !up.is_empty() {
                            Ok(up)
                        } else {
                            Err(bad(&key("methods"), m, "HTTP methods such as GET or POST"))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let need = match (r.public, &r.role, &r.permission) {
                    (true, None, None) => RuleNeed::Public,
                    (true, _, _) => {
                        return Err(bad(
                            &key("public"),
                            true,
                            "public alone, without role or permission",
                        ));
                    }
                    (false, Some(_), Some(_)) => {
                        return Err(bad(
                            &key("role"),
                            "both",
                            "a role or a permission, not both",
                        ));
                    }
                    (false, Some(role), None) => {
                        bouncer_core::validate::role_name(role)
                            .map_err(|_| bad(&key("role"), role, "a role name"))?;
                        RuleNeed::Role(role.clone())
                    }
                    (false, None, Some(p)) => {
                        bouncer_core::permission::Permission::parse(p).ok_or_else(|| {
                            bad(&key("permission"), p, "resource:action, resource:* or *")
                        })?;
                        RuleNeed::Permission(p.clone())
                    }
                    (false, None, None) => RuleNeed::Authenticated,
                };
                Ok(Rule {
                    path: r.path.clone(),
                    methods,
                    need,
                })
            })
            .collect()
    }

    /// `server.trusted_proxies` as networks: CIDRs, or single addresses.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.server
            .trusted_proxies
            .iter()
            .map(|t| {
                bouncer_core::context::network(t).ok_or_else(|| {
                    bad(
                        "server.trusted_proxies",
                        t,
                        "CIDRs such as 10.0.0.0/8 or addresses such as 127.0.0.1",
                    )
                })
            })
            .collect()
    }

    /// The key-encryption key: `BOUNCER_KEY_ENCRYPTION_KEY`, else the contents of
    /// `keys.encryption_key_file`; 32 bytes as 64 hex digits or base64. Never echoed.
    pub fn encryption_key(&self) -> Result<Option<[u8; 32]>, ConfigError> {
        let (source, text) = match std::env::var("BOUNCER_KEY_ENCRYPTION_KEY") {
            Ok(v) if !v.is_empty() => ("BOUNCER_KEY_ENCRYPTION_KEY", v),
            _ if self.keys.encryption_key_file.is_empty() => return Ok(None),
            _ => (
                "keys.encryption_key_file",
                std::fs::read_to_string(&self.keys.encryption_key_file).map_err(|e| {
                    ConfigError(format!(
                        "keys.encryption_key_file = {:?}: cannot read it: {e}",
                        self.keys.encryption_key_file
                    ))
                })?,
            ),
        };
        parse_key(text.trim()).map(Some).ok_or_else(|| {
            ConfigError(format!(
                "{source}: expected 32 bytes as 64 hex digits or base64 (value not shown)"
            ))
        })
    }
}

/// 32 bytes from 64 hex digits or base64 (standard or URL-safe, padded or not).
fn parse_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(text).ok())?
    };
    bytes.try_into().ok()
}

impl Config {
    /// `[database]`'s pool settings for the store.
    pub fn pool_settings(&self) -> bouncer_store::PoolSettings {
        bouncer_store::PoolSettings {
            size: self.database.pool_size,
            acquire_timeout: Duration::from_secs(self.database.acquire_timeout_s),
        }
    }

    /// `[throttle]`, `[database]` pool, `[metrics]`, TLS and the body read timeout.
    pub(super) fn validate_limits(&self) -> Result<(), ConfigError> {
        let t = &self.throttle;
        if !(1..=86_400).contains(&t.window_s) {
            return Err(bad("throttle.window_s", t.window_s, "1 to 86400"));
        }
        if t.per_user_address > 0 && t.per_address > 0 && t.per_address < t.per_user_address {
            return Err(bad(
                "throttle.per_address",
                t.per_address,
                "at least throttle.per_user_address (or 0: off)",
            ));
        }
        let d = &self.database;
        if !(1..=1000).contains(&d.pool_size) {
            return Err(bad("database.pool_size", d.pool_size, "1 to 1000"));
        }
        if !(1..=600).contains(&d.acquire_timeout_s) {
            return Err(bad(
                "database.acquire_timeout_s",
                d.acquire_timeout_s,
                "1 to 600",
            ));
        }
        if !(1..=3600).contains(&self.server.body_read_timeout_s) {
            return Err(bad(
                "server.body_read_timeout_s",
                self.server.body_read_timeout_s,
                "1 to 3600",
            ));
        }
        let s = &self.server;
        if s.tls_cert_file.is_empty() != s.tls_key_file.is_empty() {
            let (key, value) = if s.tls_cert_file.is_empty() {
                ("server.tls_cert_file", "")
            } else {
                ("server.tls_key_file", "")
            };
            return Err(bad(
                key,
                value,
                "set together with the other of server.tls_cert_file / tls_key_file",
            ));
        }
        if !self.metrics.listen.is_empty() {
            self.metrics
                .listen
                .parse::<std::net::SocketAddr>()
                .map_err(|_| {
                    bad(
                        "metrics.listen",
                        &self.metrics.listen,
                        "empty, or an address like 127.0.0.1:9090",
                    )
                })?;
        }
        Ok(())
    }
}
