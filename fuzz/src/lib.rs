//! What several fuzz targets share: settings chosen by a fuzz byte, and token services with keys
//! made once per process.

use std::sync::OnceLock;
use std::time::Duration;

use bouncer_core::settings::{AuthSettings, Settings, SigningAlg, TokenFormat, TokenSettings};
use bouncer_core::token::TokenService;

/// The authentication settings with the schemes a fuzz byte switches on (bit 0 Bearer, bit 1
/// Basic, bit 2 API keys).
pub fn auth_settings(flags: u8) -> AuthSettings {
    let mut s = Settings::default().auth;
    s.bearer_enabled = flags & 1 != 0;
    s.basic_enabled = flags & 2 != 0;
    s.api_keys_enabled = flags & 4 != 0;
    s
}

/// The moment (ms) the fuzz tokens are issued and verified at.
pub const NOW_MS: i64 = 1_800_000_000_000;

fn token_settings(algorithm: SigningAlg) -> TokenSettings {
    TokenSettings {
        format: TokenFormat::Jwt,
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

/// One service per algorithm (EdDSA, HS256, ES256), each with a genuine token it issued at
/// [`NOW_MS`]. Made once: key generation is slow next to one fuzz run.
pub fn token_services() -> &'static [(TokenService, String)] {
    static SERVICES: OnceLock<Vec<(TokenService, String)>> = OnceLock::new();
    SERVICES.get_or_init(|| {
        [SigningAlg::EdDsa, SigningAlg::Hs256, SigningAlg::Es256]
            .into_iter()
            .map(|alg| {
                let key = bouncer_core::token::generate_key(alg, NOW_MS).expect("key");
                let svc = TokenService::new(token_settings(alg), &[key]).expect("service");
                let claims = bouncer_core::token::Claims {
                    sub: "0190b3a0-0000-7000-8000-000000000001".into(),
                    scope: "items:read".into(),
                    username: "alice".into(),
                    r#gen: 1,
                    ..Default::default()
                };
                let (token, _) = svc.issue(claims, NOW_MS).expect("issue");
                assert!(
                    svc.verify(&token, NOW_MS / 1000).is_ok(),
                    "a genuine token verifies"
                );
                (svc, token)
            })
            .collect()
    })
}
