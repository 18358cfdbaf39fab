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

mod defaults;
mod issuers;
mod sections;

pub use issuers::{IssuerClaimsConfig, IssuerConfig, acceptable_url};

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
    pub audit: AuditConfig,
    pub throttle: ThrottleConfig,
    pub metrics: MetricsConfig,
    pub admin: AdminConfig,
    /// Outside issuers whose tokens are accepted (`[[issuers]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<IssuerConfig>,
}

/// `[throttle]`: failures of password and secret checks, and registrations, per client address.
/// A limit of 0 switches that limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    pub per_user_address: u32,
    pub per_address: u32,
    pub window_s: u64,
    pub registrations_per_address_per_hour: u32,
}

/// `[metrics]`: Prometheus text at `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Set: `/metrics` is served on this address only; empty: on the API's, needing `metrics:read`.
    pub listen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Events older than this are pruned in the background.
    pub retention_days: u32,
    /// Also write each event as a JSON log line.
    pub json_log: bool,
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
    /// Connections one client address may hold at once (trusted proxies exempt).
    pub max_connections_per_ip: usize,
    /// Larger request heads (request line and headers) get 431.
    pub max_header_bytes: usize,
    /// Time allowed to send the whole request body once the headers are in.
    pub body_read_timeout_s: u64,
    pub shutdown_grace_s: u64,
    pub trusted_proxies: Vec<String>,
    /// Both set: HTTPS (rustls), the pair re-read on SIGHUP, HSTS sent.
    pub tls_cert_file: String,
    pub tls_key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub pool_size: u32,
    /// A pool or SQLite lock wait past it: 503 + Retry-After.
    pub acquire_timeout_s: u64,
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
    "server.tls_cert_file",
    "server.tls_key_file",
    "metrics.listen",
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
                    // figment's path may already end with the unknown key itself.
                    let full = if key == "(top level)" {
                        f.clone()
                    } else if key == *f || key.ends_with(&format!(".{f}")) {
                        key.clone()
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

    /// Every rule a value must meet beyond its type.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if !(1..=36_500).contains(&self.audit.retention_days) {
            return Err(bad(
                "audit.retention_days",
                self.audit.retention_days.to_string(),
                "1 to 36500 days",
            ));
        }
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
        if !(8192..=1_048_576).contains(&self.server.max_header_bytes) {
            return Err(bad(
                "server.max_header_bytes",
                self.server.max_header_bytes,
                "8192 to 1048576",
            ));
        }
        if self.server.max_connections_per_ip == 0 {
            return Err(bad("server.max_connections_per_ip", 0, "at least 1"));
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
        self.validate_limits()?;
        self.issuer_settings()?;
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

    /// The `iss` of Bouncer's own tokens: `tokens.issuer`, or `http://` + `server.listen`.
    pub fn settings_issuer(&self) -> String {
        if self.tokens.issuer.is_empty() {
            format!("http://{}", self.server.listen)
        } else {
            self.tokens.issuer.clone()
        }
    }

    /// The domain's view of this configuration.
    pub fn settings(&self) -> Settings {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let issuer = self.settings_issuer();
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
                throttle: bouncer_core::throttle::ThrottleSettings {
                    per_user_address: self.throttle.per_user_address,
                    per_address: self.throttle.per_address,
                    window: Duration::from_secs(self.throttle.window_s),
                    registrations_per_hour: self.throttle.registrations_per_address_per_hour,
                },
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
            audit: bouncer_core::settings::AuditSettings {
                retention_days: self.audit.retention_days,
                json_log: self.audit.json_log,
            },
        }
    }
}

/// `bouncer config default`: a complete, commented file with every key at its default.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

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
