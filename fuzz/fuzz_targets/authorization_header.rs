//! `Authorization` header values (Bearer, Basic, an API key as a Basic password) under every
//! combination of enabled schemes, and the Basic decoder itself.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bouncer_core::auth::Credential;
use bouncer_http::extract::{decode_basic, parse_authorization, parse_basic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &str, &str, &str)| {
    let (flags, value, user, pass) = input;
    let settings = bouncer_fuzz::auth_settings(flags);

    // Any value: a credential of an enabled scheme, taken from the value as written, or a refusal.
    let scheme = value.split_once(' ').map_or(value, |(s, _)| s);
    let rest = value.split_once(' ').map_or("", |(_, r)| r).trim();
    match parse_authorization(value, &settings) {
        Ok(Credential::Bearer(token)) => {
            assert!(settings.bearer_enabled && scheme.eq_ignore_ascii_case("bearer"));
            assert!(!token.is_empty());
            assert_eq!(token, rest);
        }
        Ok(Credential::Basic { username, password }) => {
            assert!(settings.basic_enabled && scheme.eq_ignore_ascii_case("basic"));
            assert!(!username.is_empty() && !username.contains(':'));
            assert!(!username.chars().any(char::is_control));
            assert!(!(settings.api_keys_enabled && password.starts_with("bnc_")));
            assert_eq!(parse_basic(rest), Some((username, password)));
        }
        Ok(Credential::ApiKey(key)) => {
            assert!(settings.api_keys_enabled && scheme.eq_ignore_ascii_case("basic"));
            assert!(key.starts_with("bnc_"));
        }
        Ok(Credential::Session(_)) => panic!("an Authorization header never carries a session"),
        Err((invalid_token, _)) => assert!(!invalid_token || settings.bearer_enabled),
    }

    // The decoder: the username half never holds the colon, and re-encoding round-trips.
    if let Some((u, p)) = decode_basic(value) {
        assert!(!u.contains(&b':'));
        let mut joined = u.clone();
        joined.push(b':');
        joined.extend_from_slice(&p);
        assert_eq!(decode_basic(&STANDARD.encode(&joined)), Some((u, p)));
    }

    // A well-formed Basic header built from fuzz strings: split at the first colon (RFC 7617), so
    // a colon in the username moves the rest into the password.
    let joined = format!("{user}:{pass}");
    let (user, pass) = joined.split_once(':').expect("a colon");
    let encoded = STANDARD.encode(&joined);
    let header = format!("Basic {encoded}");
    let valid_user = !user.is_empty() && !user.chars().any(char::is_control);
    let want = if settings.api_keys_enabled && pass.starts_with("bnc_") {
        Some(Credential::ApiKey(pass.to_owned()))
    } else if valid_user && settings.basic_enabled {
        Some(Credential::Basic {
            username: user.to_owned(),
            password: pass.to_owned(),
        })
    } else {
        None
    };
    if encoded.len() <= 4096 {
        assert_eq!(parse_authorization(&header, &settings).ok(), want);
    }
});
