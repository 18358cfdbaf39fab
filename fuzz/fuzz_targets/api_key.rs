//! The API-key format (`bnc_` + 43 base62 + a 6-character checksum): whatever a client sends,
//! `api_key_well_formed` answers without panicking, accepts only the exact shape, and a
//! well-formed key stops being one when a character is added or removed, or when a character of
//! its prefix or checksum changes (a body change is caught too, but by a 32-bit checksum, so
//! that is not asserted).
#![no_main]

use bouncer_core::secret::{API_KEY_PREFIX, api_key_well_formed};
use libfuzzer_sys::fuzz_target;

/// A genuine key, made once.
fn generated() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(bouncer_core::secret::generate_api_key)
}

fn base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fuzz_target!(|input: (&str, bool, u8, u8)| {
    let (key, prefixed, extra, at) = input;
    let genuine = generated();
    assert!(api_key_well_formed(genuine));
    let i = usize::from(at) % genuine.len();
    if extra.is_ascii() && genuine.as_bytes()[i] != extra {
        let mut edited = genuine.as_bytes().to_vec();
        edited[i] = extra;
        let edited = String::from_utf8(edited).expect("ASCII");
        let well_formed = api_key_well_formed(&edited);
        if i < API_KEY_PREFIX.len() || i >= genuine.len() - 6 {
            assert!(!well_formed, "{edited}");
        }
    }

    // Half the runs get the prefix for free, so the shape and checksum checks are reached.
    let owned;
    let key = if prefixed {
        owned = format!("{API_KEY_PREFIX}{key}");
        owned.as_str()
    } else {
        key
    };
    if api_key_well_formed(key) {
        let rest = key.strip_prefix(API_KEY_PREFIX).expect("prefix");
        assert_eq!(rest.len(), 49);
        assert!(rest.bytes().all(base62));
        assert!(!api_key_well_formed(&key[..key.len() - 1]));
        assert!(!api_key_well_formed(&format!("{key}{}", char::from(extra))));
        assert!(!api_key_well_formed(&format!(" {key}")));
    }
});
