//! Configuration: defaults, then a TOML file (`--config`), then environment variables
//! (`BOUNCER_<SECTION>__<KEY>`, plus the short `BOUNCER_LISTEN`, `BOUNCER_DATABASE_URL`,
//! `BOUNCER_ADMIN_USERNAME`, `BOUNCER_ADMIN_PASSWORD`). Unknown keys and bad values stop start-up with
//! one line naming the key, the value and what was expected. Validated once, here; never re-read.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bouncer_core::settings::{AuthSettings, PasswordSettings, Settings, SigningAlg, TokenSettings};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./bouncer-data/bouncer.db";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub passwords: PasswordConfig,
    pub tokens: TokenConfig,
    pub keys: KeysConfig,
    pub sessions: SessionsConfig,
    pub forward_auth: ForwardAuthConfig,
    pub cors: CorsConfig,
    pub admin: AdminConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_s: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthConfig {
    pub rules: Vec<ForwardRuleConfig>,
}

/// One `[[forward_auth.rules]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardRuleConfig {
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    pub idle_timeout_s: u64,
    pub absolute_timeout_s: u64,
    pub secure_cookie: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    pub publish_delay_s: u64,
    pub encryption_key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub body_limit_bytes: usize,
    pub request_timeout_s: u64,
    pub header_read_timeout_s: u64,
    pub max_connections: usize,
    pub shutdown_grace_s: u64,
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: String,
    pub level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub basic: bool,
    pub bearer: bool,
    pub registration: bool,
    pub basic_cache_ttl_s: u64,
    pub revision_poll_ms: u64,
    pub default_role: String,
    pub cache_max_age_s: u64,
    pub api_keys: bool,
    pub api_key_query: bool,
    pub api_key_header: String,
    pub api_key_cookie: String,
    pub api_key_query_param: String,
    pub sessions: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfig {
    pub min_length: usize,
    pub max_length: usize,
    pub min_score: u8,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub hash_workers: usize,
    pub hash_queue: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub format: String,
    pub issuer: String,
    pub audience: String,
    pub algorithm: String,
    pub access_ttl_s: u64,
    pub leeway_s: u64,
    pub refresh_ttl_s: u64,
    pub refresh_absolute_ttl_s: u64,
    pub refresh_retry_window_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub username: String,
    pub password: String,
}

impl Default for Config {
    fn default() -> Self {
        let core = Settings::default();
        Config {
            server: ServerConfig {
                listen: "127.0.0.1:8080".into(),
                body_limit_bytes: 64 * 1024,
                request_timeout_s: 30,
                header_read_timeout_s: 10,
                max_connections: 1024,
                shutdown_grace_s: 30,
                trusted_proxies: Vec::new(),
            },
            database: DatabaseConfig {
                url: DEFAULT_DATABASE_URL.into(),
            },
            log: LogConfig {
                format: "pretty".into(),
                level: "info".into(),
            },
            auth: AuthConfig {
                basic: true,
                bearer: true,
                registration: true,
                basic_cache_ttl_s: core.auth.basic_cache_ttl.as_secs(),
                revision_poll_ms: 1000,
                default_role: core.auth.default_role.clone(),
                cache_max_age_s: core.auth.cache_max_age.as_secs(),
                api_keys: core.auth.api_keys_enabled,
                api_key_query: core.auth.api_key_query,
                api_key_header: core.auth.api_key_header.clone(),
                api_key_cookie: core.auth.api_key_cookie.clone(),
                api_key_query_param: core.auth.api_key_query_param.clone(),
                sessions: core.auth.sessions_enabled,
            },
            passwords: PasswordConfig {
                min_length: core.passwords.min_length,
                max_length: core.passwords.max_length,
                min_score: core.passwords.min_score,
                argon2_memory_kib: core.passwords.argon2_m_kib,
                argon2_iterations: core.passwords.argon2_t,
                argon2_parallelism: core.passwords.argon2_p,
                hash_workers: 0,
                hash_queue: core.passwords.queue,
            },
            tokens: TokenConfig {
                format: "jwt".into(),
                issuer: String::new(),
                audience: core.tokens.audience,
                algorithm: "EdDSA".into(),
                access_ttl_s: core.tokens.access_ttl.as_secs(),
                leeway_s: core.tokens.leeway.as_secs(),
                refresh_ttl_s: core.tokens.refresh_ttl.as_secs(),
                refresh_absolute_ttl_s: core.tokens.refresh_absolute_ttl.as_secs(),
                refresh_retry_window_s: core.tokens.refresh_retry_window.as_secs(),
            },
            sessions: SessionsConfig {
                idle_timeout_s: core.auth.session_idle.as_secs(),
                absolute_timeout_s: core.auth.session_absolute.as_secs(),
                secure_cookie: "auto".into(),
            },
            forward_auth: ForwardAuthConfig::default(),
            cors: CorsConfig {
                allowed_origins: Vec::new(),
                allowed_methods: vec!["GET".into(), "POST".into()],
                allowed_headers: vec![
                    "Authorization".into(),
                    "Content-Type".into(),
                    "X-CSRF-Token".into(),
                ],
                exposed_headers: Vec::new(),
                allow_credentials: false,
                max_age_s: 600,
            },
            keys: KeysConfig {
                publish_delay_s: core.keys.publish_delay.as_secs(),
                encryption_key_file: String::new(),
            },
            admin: AdminConfig {
                username: "admin".into(),
                password: String::new(),
            },
        }
    }
}

/// A configuration problem, already phrased as the one line the operator sees.
#[derive(Debug, thiserror::Error)]
#[error("config: {0}")]
pub struct ConfigError(pub String);

/// Keys whose value is a string: read from the environment verbatim.
const STRING_KEYS: &[&str] = &[
    "server.listen",
    "database.url",
    "log.format",
    "log.level",
    "tokens.format",
    "tokens.issuer",
    "tokens.audience",
    "tokens.algorithm",
    "admin.username",
    "admin.password",
    "auth.default_role",
    "keys.encryption_key_file",
    "auth.api_key_header",
    "auth.api_key_cookie",
    "auth.api_key_query_param",
    "sessions.secure_cookie",
];

/// Keys whose values never appear in an error message (a database URL may hold a password).
fn is_secret(key: &str) -> bool {
    key.contains("password") || key == "database.url"
}

fn bad(key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
    if is_secret(key) {
        return ConfigError(format!("{key}: expected {expected} (value not shown)"));
    }
    ConfigError(format!(
        "{key} = {value:?}: expected {expected}",
        value = value.to_string()
    ))
}

const SHORT_ENV: &[(&str, &str)] = &[
    ("BOUNCER_LISTEN", "server.listen"),
    ("BOUNCER_DATABASE_URL", "database.url"),
    ("BOUNCER_ADMIN_USERNAME", "admin.username"),
    ("BOUNCER_ADMIN_PASSWORD", "admin.password"),
];

impl Config {
    /// Loads defaults, then `file` (which must exist if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!("{}: no such file", path.display())));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        // Only BOUNCER_<SECTION>__<KEY> names are configuration; other BOUNCER_* variables (set by
        // tools around us) are none of our business. Values of string keys are taken verbatim (a
        // password of digits stays a string); the rest are parsed as TOML values.
        let string_var = |var: &str| {
            let key = var
                .strip_prefix("BOUNCER_")
                .unwrap_or(var)
                .to_ascii_lowercase()
                .replace("__", ".");
            STRING_KEYS.contains(&key.as_str()).then_some(key)
        };
        fig = fig.merge(
            Env::prefixed("BOUNCER_")
                .filter(move |k| {
                    k.as_str().contains("__") && string_var(&format!("BOUNCER_{k}")).is_none()
                })
                .split("__"),
        );
        for (var, value) in std::env::vars() {
            if !var.contains("__") {
                continue;
            }
            if let Some(key) = string_var(&var) {
                fig = fig.merge(Serialized::default(&key, value));
            }
        }
        for (var, key) in SHORT_ENV {
            if let Ok(value) = std::env::var(var) {
                fig = fig.merge(Serialized::default(key, value));
            }
        }
        let config: Config = fig.extract().map_err(|e| {
            let e = e
                .into_iter()
                .next()
                .expect("a figment error has at least one cause");
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            let key = if key.is_empty() {
                "(top level)".to_owned()
            } else {
                key
            };
            if is_secret(&key) {
                // The message would quote the value.
                return ConfigError(format!("{key}: invalid value, not shown (from {source})"));
            }
            let what = match &e.kind {
                figment::error::Kind::UnknownField(f, _) => {
                    let full = if key == "(top level)" {
                        f.clone()
                    } else {
                        format!("{key}.{f}")
                    };
                    return ConfigError(format!("{full}: unknown key (from {source})"));
                }
                other => other.to_string(),
            };
            ConfigError(format!("{key}: {what} (from {source})"))
        })?;
        config.validate()?;
        Ok(config)
    }

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
                t.parse::<ipnet::IpNet>()
                    .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        bad(
                            "server.trusted_proxies",
                            t,
                            "CIDRs such as 10.0.0.0/8 or addresses such as 127.0.0.1",
                        )
                    })
            })
            .collect()
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            bad(
                "server.listen",
                &self.server.listen,
                "an address like 127.0.0.1:8080",
            )
        })
    }

    pub fn token_format(&self) -> Result<bouncer_core::settings::TokenFormat, ConfigError> {
        use bouncer_core::settings::TokenFormat;
        match self.tokens.format.as_str() {
            "jwt" => Ok(TokenFormat::Jwt),
            "opaque" => Ok(TokenFormat::Opaque),
            other => Err(bad("tokens.format", other, "jwt or opaque")),
        }
    }

    pub fn algorithm(&self) -> Result<SigningAlg, ConfigError> {
        match self.tokens.algorithm.as_str() {
            "EdDSA" => Ok(SigningAlg::EdDsa),
            "RS256" => Ok(SigningAlg::Rs256),
            "ES256" => Ok(SigningAlg::Es256),
            "HS256" => Ok(SigningAlg::Hs256),
            other => Err(bad(
                "tokens.algorithm",
                other,
                "one of EdDSA, RS256, ES256, HS256",
            )),
        }
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

    /// Every rule a value must meet beyond its type.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.algorithm()?;
        if bouncer_store::Backend::of_url(&self.database.url).is_none() {
            return Err(bad(
                "database.url",
                &self.database.url,
                "sqlite://PATH or postgres://USER@HOST:PORT/DB",
            ));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(bad("log.format", &self.log.format, "pretty or json"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(bad(
                "log.level",
                &self.log.level,
                "a level such as info, debug or warn",
            ));
        }
        let p = &self.passwords;
        if !(8..=1024).contains(&p.min_length) {
            return Err(bad("passwords.min_length", p.min_length, "8 to 1024"));
        }
        if !(p.min_length..=1024).contains(&p.max_length) {
            return Err(bad(
                "passwords.max_length",
                p.max_length,
                "passwords.min_length to 1024",
            ));
        }
        if p.min_score > 4 {
            return Err(bad("passwords.min_score", p.min_score, "0 to 4 (zxcvbn)"));
        }
        if bouncer_core::validate::role_name(&self.auth.default_role).is_err() {
            return Err(bad(
                "auth.default_role",
                &self.auth.default_role,
                "a role name (lowercase letters, digits, '_', '-', '.')",
            ));
        }
        if p.argon2_memory_kib < 8 * p.argon2_parallelism.max(1) {
            return Err(bad(
                "passwords.argon2_memory_kib",
                p.argon2_memory_kib,
                "at least 8 × argon2_parallelism",
            ));
        }
        if p.argon2_iterations < 1 {
            return Err(bad(
                "passwords.argon2_iterations",
                p.argon2_iterations,
                "at least 1",
            ));
        }
        if !(1..=16).contains(&p.argon2_parallelism) {
            return Err(bad(
                "passwords.argon2_parallelism",
                p.argon2_parallelism,
                "1 to 16",
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(bad(
                "server.body_limit_bytes",
                self.server.body_limit_bytes,
                "at least 1024",
            ));
        }
        if self.server.max_connections == 0 {
            return Err(bad("server.max_connections", 0, "at least 1"));
        }
        if self.server.header_read_timeout_s == 0 || self.server.request_timeout_s == 0 {
            return Err(bad(
                "server.header_read_timeout_s / request_timeout_s",
                0,
                "at least 1",
            ));
        }
        if !(60..=86_400).contains(&self.tokens.access_ttl_s) {
            return Err(bad(
                "tokens.access_ttl_s",
                self.tokens.access_ttl_s,
                "60 to 86400",
            ));
        }
        for (key, v) in [
            ("tokens.refresh_ttl_s", self.tokens.refresh_ttl_s),
            (
                "tokens.refresh_absolute_ttl_s",
                self.tokens.refresh_absolute_ttl_s,
            ),
        ] {
            if !(1..=31_622_400).contains(&v) {
                return Err(bad(key, v, "1 to 31622400 (366 days)"));
            }
        }
        if self.tokens.refresh_retry_window_s > 60 {
            return Err(bad(
                "tokens.refresh_retry_window_s",
                self.tokens.refresh_retry_window_s,
                "0 to 60",
            ));
        }
        if !(1..=3600).contains(&self.auth.cache_max_age_s) {
            return Err(bad(
                "auth.cache_max_age_s",
                self.auth.cache_max_age_s,
                "1 to 3600",
            ));
        }
        self.token_format()?;
        self.trusted_proxies()?;
        self.secure_cookie()?;
        self.forward_rules()?;
        self.cors()?;
        let sess = &self.sessions;
        if !(60..=31_622_400).contains(&sess.absolute_timeout_s) {
            return Err(bad(
                "sessions.absolute_timeout_s",
                sess.absolute_timeout_s,
                "60 to 31622400",
            ));
        }
        if !(60..=sess.absolute_timeout_s).contains(&sess.idle_timeout_s) {
            return Err(bad(
                "sessions.idle_timeout_s",
                sess.idle_timeout_s,
                "60 to sessions.absolute_timeout_s",
            ));
        }
        for (key, name) in [
            ("auth.api_key_header", &self.auth.api_key_header),
            ("auth.api_key_cookie", &self.auth.api_key_cookie),
            ("auth.api_key_query_param", &self.auth.api_key_query_param),
        ] {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(bad(key, name, "1-64 letters, digits, '-' or '_'"));
            }
        }
        if self.keys.publish_delay_s > 86_400 {
            return Err(bad(
                "keys.publish_delay_s",
                self.keys.publish_delay_s,
                "0 to 86400",
            ));
        }
        self.encryption_key()?;
        if self.tokens.leeway_s > 300 {
            return Err(bad("tokens.leeway_s", self.tokens.leeway_s, "0 to 300"));
        }
        if self.tokens.audience.is_empty() {
            return Err(bad("tokens.audience", "", "a non-empty string"));
        }
        if bouncer_core::validate::username(&self.admin.username).is_err() {
            return Err(bad(
                "admin.username",
                &self.admin.username,
                "3-64 letters, digits, '.', '_' or '-'",
            ));
        }
        let admin_pw = self.admin.password.chars().count();
        if !self.admin.password.is_empty() && !(p.min_length..=p.max_length).contains(&admin_pw) {
            return Err(ConfigError(format!(
                "admin.password: expected {} to {} characters (value not shown)",
                p.min_length, p.max_length
            )));
        }
        Ok(())
    }

    /// The domain's view of this configuration.
    pub fn settings(&self) -> Settings {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let issuer = if self.tokens.issuer.is_empty() {
            format!("http://{}", self.server.listen)
        } else {
            self.tokens.issuer.clone()
        };
        Settings {
            passwords: PasswordSettings {
                min_length: self.passwords.min_length,
                max_length: self.passwords.max_length,
                min_score: self.passwords.min_score,
                argon2_m_kib: self.passwords.argon2_memory_kib,
                argon2_t: self.passwords.argon2_iterations,
                argon2_p: self.passwords.argon2_parallelism,
                workers: if self.passwords.hash_workers == 0 {
                    cores
                } else {
                    self.passwords.hash_workers
                },
                queue: self.passwords.hash_queue,
            },
            tokens: TokenSettings {
                format: self
                    .token_format()
                    .unwrap_or(bouncer_core::settings::TokenFormat::Jwt),
                issuer,
                audience: self.tokens.audience.clone(),
                algorithm: self.algorithm().unwrap_or(SigningAlg::EdDsa),
                access_ttl: Duration::from_secs(self.tokens.access_ttl_s),
                leeway: Duration::from_secs(self.tokens.leeway_s),
                refresh_ttl: Duration::from_secs(self.tokens.refresh_ttl_s),
                refresh_absolute_ttl: Duration::from_secs(self.tokens.refresh_absolute_ttl_s),
                refresh_retry_window: Duration::from_secs(self.tokens.refresh_retry_window_s),
            },
            forward_rules: self.forward_rules().unwrap_or_default(),
            keys: bouncer_core::settings::KeySettings {
                publish_delay: Duration::from_secs(self.keys.publish_delay_s),
                encryption_key: self.encryption_key().ok().flatten(),
            },
            auth: AuthSettings {
                basic_enabled: self.auth.basic,
                bearer_enabled: self.auth.bearer,
                registration_enabled: self.auth.registration,
                default_role: self.auth.default_role.clone(),
                api_keys_enabled: self.auth.api_keys,
                api_key_query: self.auth.api_key_query,
                api_key_header: self.auth.api_key_header.clone(),
                api_key_cookie: self.auth.api_key_cookie.clone(),
                api_key_query_param: self.auth.api_key_query_param.clone(),
                sessions_enabled: self.auth.sessions,
                session_idle: Duration::from_secs(self.sessions.idle_timeout_s),
                session_absolute: Duration::from_secs(self.sessions.absolute_timeout_s),
                basic_cache_ttl: Duration::from_secs(self.auth.basic_cache_ttl_s),
                revision_poll: Duration::from_millis(self.auth.revision_poll_ms.max(100)),
                cache_max_age: Duration::from_secs(self.auth.cache_max_age_s),
            },
        }
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

/// `bouncer config default`: a complete, commented file with every key at its default.
pub const DEFAULT_TOML: &str = r#"# Bouncer configuration. Every key is optional; these are the defaults.
# Any key can be overridden by an environment variable BOUNCER_<SECTION>__<KEY>,
# e.g. BOUNCER_SERVER__LISTEN=0.0.0.0:8080. Short forms: BOUNCER_LISTEN, BOUNCER_DATABASE_URL,
# BOUNCER_ADMIN_USERNAME, BOUNCER_ADMIN_PASSWORD.

[server]
# Address and port to listen on.
listen = "127.0.0.1:8080"
# Largest request body accepted (413 above it).
body_limit_bytes = 65536
# A request that takes longer gets 408.
request_timeout_s = 30
# Time allowed to send the request headers (slow clients are cut off).
header_read_timeout_s = 10
# Connections served at once; more are refused until one closes.
max_connections = 1024
# On SIGTERM, how long in-flight requests may take to finish.
shutdown_grace_s = 30
# Proxies (CIDRs or addresses) whose Forwarded / X-Forwarded-For / X-Forwarded-Proto headers are
# believed. None by default: the client address is the socket's.
trusted_proxies = []

[database]
# sqlite://PATH (created if missing) or postgres://USER:PASSWORD@HOST:PORT/DB
url = "sqlite://./bouncer-data/bouncer.db"

[log]
# "pretty" or "json". RUST_LOG overrides level.
format = "pretty"
level = "info"

[auth]
# Credential schemes accepted on protected routes.
basic = true
bearer = true
# POST /auth/register open to anyone.
registration = true
# How long a verified Basic credential skips Argon2 (a password change ends it at once).
basic_cache_ttl_s = 60
# How often to read the change feed for changes made by other processes (CLI, other instances);
# on PostgreSQL, LISTEN/NOTIFY also delivers them at once.
revision_poll_ms = 1000
# A cached credential older than this is re-read even if the change feed is silent.
cache_max_age_s = 30
# API keys (bnc_...): accepted at all; read from this header, this cookie, the password of HTTP
# Basic, and the query parameter only when api_key_query is on (URLs reach logs).
api_keys = true
api_key_query = false
api_key_header = "X-API-Key"
api_key_cookie = "api_key"
api_key_query_param = "api_key"
# Cookie sessions (POST /auth/login).
sessions = true
# The role self-registration gives (it must exist; it cannot be deleted).
default_role = "user"

[passwords]
# New passwords: length in characters, not equal to the username or email, and a zxcvbn
# strength score (0-4; 0 turns the check off) of at least min_score. Otherwise 422 weak_password.
min_length = 8
max_length = 1024
min_score = 2
# Argon2id parameters (OWASP minimum: 19456 KiB, 2 iterations, parallelism 1; weaker values warn).
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1
# Hashes computed at once (0 = number of cores) and how many may wait before new ones get 503.
hash_workers = 0
hash_queue = 64

[tokens]
# "jwt" (signed, verifiable by anyone with the JWKS) or "opaque" (random, stored as digests,
# revocable at once; checked by Bouncer itself: introspection, forward-auth).
format = "jwt"
# "iss" of issued tokens; empty means http://<server.listen>.
issuer = ""
audience = "bouncer"
# EdDSA, RS256, ES256 or HS256. The key is generated on first start and stored in the database.
algorithm = "EdDSA"
access_ttl_s = 900
# Clock skew tolerated on exp/nbf/iat.
leeway_s = 60
# Refresh tokens rotate on every use. Sliding lifetime (each rotation starts it again) and the
# absolute lifetime of a login (never extended); the earlier end wins.
refresh_ttl_s = 1209600
refresh_absolute_ttl_s = 7776000
# Up to 60: the same client presenting a just-rotated refresh token again within this many seconds
# (a lost response) gets the same new pair instead of a revoked login. 0: never.
refresh_retry_window_s = 0

[sessions]
# A session ends after this long without use, and this long after the login whatever happens.
idle_timeout_s = 1800
absolute_timeout_s = 43200
# The cookie's Secure attribute: "auto" (when served over TLS or a trusted proxy says https),
# "always" or "never".
secure_cookie = "auto"

[keys]
# A rotation (`bouncer keys rotate`) publishes the new key at once and signs with it after this
# long (the JWKS cache lifetime); `--now` skips the wait.
publish_delay_s = 300
# A file holding a 32-byte key-encryption key (64 hex digits or base64): private signing keys are
# then sealed at rest. BOUNCER_KEY_ENCRYPTION_KEY gives the key itself instead.
encryption_key_file = ""

[cors]
# Default: no cross-origin access at all. Origins are exact (scheme, host and port); "*" alone
# allows any origin, and only without credentials. Preflights are answered without
# authentication; `Vary: Origin` is on every response.
allowed_origins = []
allowed_methods = ["GET", "POST"]
allowed_headers = ["Authorization", "Content-Type", "X-CSRF-Token"]
exposed_headers = []
allow_credentials = false
max_age_s = 600

# Forward-auth (GET /auth/verify, for nginx auth_request or Traefik forwardAuth): rules tried in
# order, the first whose path and methods match decides. `path`: an exact path, or a glob where `*`
# is one segment and `**` any depth. Then `public = true` (no credential needed), or `role`, or
# `permission`, or neither (any valid credential). With no rules, any valid credential passes;
# with rules, a request no rule covers is refused. The original URI is read only from
# server.trusted_proxies.
#
# [[forward_auth.rules]]
# path = "/public/**"
# public = true
#
# [[forward_auth.rules]]
# path = "/items/**"
# methods = ["POST", "PUT", "PATCH", "DELETE"]
# permission = "items:write"

[admin]
# The first admin, created when the database has no users. With an empty password one is
# generated and printed once to stderr.
username = "admin"
password = ""
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toml_is_the_defaults() {
        let from_file: Config = Figment::from(Toml::string(DEFAULT_TOML)).extract().unwrap();
        let a = serde_json::to_value(&from_file).unwrap();
        let b = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(a, b);
    }
}
