//! The parts of the configuration the domain needs, already validated by the binary.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    EdDsa,
    Rs256,
    Es256,
    Hs256,
}

impl SigningAlg {
    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::Hs256 => "HS256",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    /// Bounds on a new password's length, in characters.
    pub min_length: usize,
    pub max_length: usize,
    /// The lowest zxcvbn score (0-4) a new password may have; 0 turns the check off.
    pub min_score: u8,
    pub argon2_m_kib: u32,
    pub argon2_t: u32,
    pub argon2_p: u32,
    /// Concurrent hashes; defaults to the number of cores.
    pub workers: usize,
    /// Hash requests that may wait for a worker before new ones get 503.
    pub queue: usize,
}

/// What access tokens are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormat {
    /// Signed JWTs (RFC 9068) that anyone can verify with the JWKS.
    Jwt,
    /// Random strings, stored as digests with their claims: revocable at once, verifiable only by
    /// Bouncer (introspection, forward-auth).
    Opaque,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub format: TokenFormat,
    pub issuer: String,
    pub audience: String,
    pub algorithm: SigningAlg,
    pub access_ttl: Duration,
    pub leeway: Duration,
    /// A refresh token's sliding lifetime: each rotation starts it again.
    pub refresh_ttl: Duration,
    /// A refresh-token family's absolute lifetime, from the login; never extended.
    pub refresh_absolute_ttl: Duration,
    /// How long the same client may present a just-rotated refresh token again and get the same
    /// new pair (0: never; a second use is always theft).
    pub refresh_retry_window: Duration,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `[throttle]`: failed password and secret checks, registrations.
    pub throttle: crate::throttle::ThrottleSettings,
    pub basic_enabled: bool,
    pub bearer_enabled: bool,
    pub registration_enabled: bool,
    /// The role self-registration gives; it cannot be deleted.
    pub default_role: String,
    /// API keys accepted at all, and where they are read (the query only when switched on: URLs
    /// reach logs).
    pub api_keys_enabled: bool,
    pub api_key_query: bool,
    pub api_key_header: String,
    pub api_key_cookie: String,
    pub api_key_query_param: String,
    /// Cookie sessions (`/auth/login`) accepted at all, and their idle and absolute lifetimes.
    pub sessions_enabled: bool,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// How long a verified Basic credential is trusted without Argon2 again.
    pub basic_cache_ttl: Duration,
    /// How often to read the change feed for changes made by other processes (PostgreSQL also
    /// wakes the reader at once through LISTEN/NOTIFY).
    pub revision_poll: Duration,
    /// A cached user state older than this is read again even if the change feed is silent.
    pub cache_max_age: Duration,
}

#[derive(Clone)]
pub struct KeySettings {
    /// How long a rotated-in key is published before it signs (the JWKS cache lifetime).
    pub publish_delay: Duration,
    /// Seals private keys at rest when set.
    pub encryption_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySettings")
            .field("publish_delay", &self.publish_delay)
            .field("encryption_key", &self.encryption_key.map(|_| "(set)"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub passwords: PasswordSettings,
    pub tokens: TokenSettings,
    pub auth: AuthSettings,
    pub keys: KeySettings,
    /// `[[forward_auth.rules]]`, in order.
    pub forward_rules: Vec<crate::forward::Rule>,
    pub audit: AuditSettings,
}

#[derive(Debug, Clone, Copy)]
pub struct AuditSettings {
    /// Events older than this are pruned.
    pub retention_days: u32,
    /// Also log each event as a JSON line.
    pub json_log: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            retention_days: 90,
            json_log: false,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Settings {
            passwords: PasswordSettings {
                min_length: 8,
                max_length: 1024,
                min_score: 2,
                argon2_m_kib: 19_456,
                argon2_t: 2,
                argon2_p: 1,
                workers: cores,
                queue: 64,
            },
            tokens: TokenSettings {
                format: TokenFormat::Jwt,
                issuer: "http://127.0.0.1:8080".into(),
                audience: "bouncer".into(),
                algorithm: SigningAlg::EdDsa,
                access_ttl: Duration::from_secs(900),
                leeway: Duration::from_secs(60),
                refresh_ttl: Duration::from_secs(1_209_600),
                refresh_absolute_ttl: Duration::from_secs(7_776_000),
                refresh_retry_window: Duration::ZERO,
            },
            auth: AuthSettings {
                throttle: crate::throttle::ThrottleSettings::default(),
                basic_enabled: true,
                bearer_enabled: true,
                registration_enabled: true,
                default_role: crate::model::ROLE_USER.into(),
                api_keys_enabled: true,
                api_key_query: false,
                api_key_header: "X-API-Key".into(),
                api_key_cookie: "api_key".into(),
                api_key_query_param: "api_key".into(),
                sessions_enabled: true,
                session_idle: Duration::from_secs(1800),
                session_absolute: Duration::from_secs(43_200),
                basic_cache_ttl: Duration::from_secs(60),
                revision_poll: Duration::from_secs(1),
                cache_max_age: Duration::from_secs(30),
            },
            keys: KeySettings {
                publish_delay: Duration::from_secs(300),
                encryption_key: None,
            },
            forward_rules: Vec::new(),
            audit: AuditSettings::default(),
        }
    }
}
