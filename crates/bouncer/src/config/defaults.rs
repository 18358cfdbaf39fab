//! Every key's default: what `bouncer config default` prints (the test `default_toml_is_the_defaults`
//! holds `default.toml` to it).

use super::*;

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
                max_connections_per_ip: 256,
                max_header_bytes: 16384,
                body_read_timeout_s: 30,
                shutdown_grace_s: 30,
                trusted_proxies: Vec::new(),
                tls_cert_file: String::new(),
                tls_key_file: String::new(),
            },
            database: DatabaseConfig {
                url: DEFAULT_DATABASE_URL.into(),
                pool_size: 16,
                acquire_timeout_s: 5,
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
            audit: AuditConfig {
                retention_days: core.audit.retention_days,
                json_log: core.audit.json_log,
            },
            keys: KeysConfig {
                publish_delay_s: core.keys.publish_delay.as_secs(),
                encryption_key_file: String::new(),
            },
            throttle: ThrottleConfig {
                per_user_address: 10,
                per_address: 100,
                window_s: 900,
                registrations_per_address_per_hour: 20,
            },
            metrics: MetricsConfig {
                enabled: false,
                listen: String::new(),
            },
            admin: AdminConfig {
                username: "admin".into(),
                password: String::new(),
            },
            issuers: Vec::new(),
        }
    }
}
