//! Properties of the credential formats clients send: API keys (`secret::api_key_well_formed`)
//! and access tokens (`token::TokenService::verify`). The fuzz targets `api_key` and
//! `jwt_verify` explore the same code with coverage guidance; these run in the normal suite.
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use proptest::prelude::*;

use crate::secret::{api_key_well_formed, generate_api_key};
use crate::settings::{SigningAlg, TokenFormat, TokenSettings};
use crate::token::{Claims, TokenService, generate_key};

const NOW_MS: i64 = 1_800_000_000_000;

/// An EdDSA and an HS256 service, each with a genuine token and its claims; made once.
fn services() -> &'static [(TokenService, String, Claims)] {
    static SERVICES: OnceLock<Vec<(TokenService, String, Claims)>> = OnceLock::new();
    SERVICES.get_or_init(|| {
        [SigningAlg::EdDsa, SigningAlg::Hs256]
            .into_iter()
            .map(|algorithm| {
                let settings = TokenSettings {
                    format: TokenFormat::Jwt,
                    issuer: "https://issuer.test".into(),
                    audience: "bouncer".into(),
                    algorithm,
                    access_ttl: Duration::from_secs(900),
                    leeway: Duration::from_secs(60),
                    refresh_ttl: Duration::from_secs(3600),
                    refresh_absolute_ttl: Duration::from_secs(86_400),
                    refresh_retry_window: Duration::ZERO,
                };
                let svc = TokenService::new(settings, &[generate_key(algorithm, NOW_MS).unwrap()])
                    .unwrap();
                let claims = Claims {
                    sub: "0190b3a0-0000-7000-8000-000000000001".into(),
                    scope: "items:read".into(),
                    r#gen: 1,
                    ..Default::default()
                };
                let (token, claims) = svc.issue(claims, NOW_MS).unwrap();
                (svc, token, claims)
            })
            .collect()
    })
}

fn genuine_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(generate_api_key)
}

proptest! {
    #[test]
    fn api_key_checks_never_panic(s in any::<String>()) {
        if api_key_well_formed(&s) {
            prop_assert!(s.starts_with("bnc_") && s.len() == 53);
        }
    }

    #[test]
    fn a_made_up_key_of_the_right_shape_is_refused(body in "[0-9A-Za-z]{43}", check in "[0-9A-Za-z]{6}") {
        // One checksum in 62^6 is right for a body: a made-up key passing is not a flake to fear.
        let key = format!("bnc_{body}{check}");
        prop_assert!(!api_key_well_formed(&key), "{}", key);
    }

    #[test]
    fn an_edited_api_key_is_refused(at in 0usize..53, c in "[0-9A-Za-z_]", cut in 1usize..5) {
        let key = genuine_key();
        prop_assert!(api_key_well_formed(key));
        prop_assert!(!api_key_well_formed(&key[..key.len() - cut]));
        let (longer, prefixed) = (format!("{key}{c}"), format!("{c}{key}"));
        prop_assert!(!api_key_well_formed(&longer));
        prop_assert!(!api_key_well_formed(&prefixed));
        // The prefix and the checksum are checked exactly (a body edit fails the 32-bit checksum,
        // which is not certain, so not asserted).
        let mut edited = key.to_owned();
        edited.replace_range(at..at + 1, &c);
        if !(4..47).contains(&at) && edited != key {
            prop_assert!(!api_key_well_formed(&edited), "{}", edited);
        }
    }

    #[test]
    fn arbitrary_text_never_verifies(s in any::<String>(), which in 0usize..2) {
        let (svc, _, _) = &services()[which];
        prop_assert!(svc.verify(&s, NOW_MS / 1000).is_err());
    }

    #[test]
    fn a_forged_signature_never_verifies(
        which in 0usize..2,
        scope in "[a-z:* ]{0,20}",
        sub in "[0-9a-f-]{0,36}",
        signature in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        // The genuine header (algorithm, key id, typ) over claims the forger chose: only the
        // signature is missing.
        let (svc, genuine, claims) = &services()[which];
        let header = genuine.split('.').next().unwrap();
        let forged_claims = Claims { scope, sub, ..claims.clone() };
        let payload = B64.encode(serde_json::to_vec(&forged_claims).unwrap());
        let forged = format!("{header}.{payload}.{}", B64.encode(&signature));
        prop_assert!(svc.verify(&forged, NOW_MS / 1000).is_err());
        prop_assert!(svc.verify(genuine, NOW_MS / 1000).is_ok());
    }

    #[test]
    fn an_edited_token_never_verifies(which in 0usize..2, at in any::<prop::sample::Index>(), c in any::<char>()) {
        let (svc, genuine, _) = &services()[which];
        let at = at.index(genuine.len());
        let mut edited = genuine.clone();
        edited.replace_range(at..at + 1, &c.to_string());
        prop_assume!(&edited != genuine);
        prop_assert!(svc.verify(&edited, NOW_MS / 1000).is_err(), "{}", edited);
    }

    #[test]
    fn another_keys_token_never_verifies(which in 0usize..2) {
        let (svc, _, _) = &services()[which];
        let (_, other, _) = &services()[1 - which];
        prop_assert!(svc.verify(other, NOW_MS / 1000).is_err());
    }
}
