//! Properties of the HTTP layer's parsers of client input: `Authorization` values
//! ([`parse_authorization`], [`decode_basic`]), the OAuth forms and client Basic credentials
//! (`routes::oauth`), and the forwarded-for chain (`context::resolve`). The fuzz targets
//! `authorization_header`, `token_form` and `forwarded` explore the same code with coverage
//! guidance; these run in the normal suite.
use std::net::{IpAddr, Ipv4Addr};

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bouncer_core::settings::{AuthSettings, Settings};
use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::context::resolve;
use crate::routes::oauth::{KNOWN_PARAMETERS, client_from_basic, parse_form};

fn settings(flags: u8) -> AuthSettings {
    let mut s = Settings::default().auth;
    s.bearer_enabled = flags & 1 != 0;
    s.basic_enabled = flags & 2 != 0;
    s.api_keys_enabled = flags & 4 != 0;
    s
}

fn scheme() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "Basic", "basic", "BASIC", "Bearer", "bearer", "bEaReR",
    ])
    .prop_map(str::to_owned)
}

/// A username Basic can carry: non-empty, no colon, no control characters.
fn username() -> impl Strategy<Value = String> {
    "[^:\\p{Cc}]{1,20}"
}

proptest! {
    #[test]
    fn authorization_values_never_panic(value in any::<String>(), flags in 0u8..8) {
        if let Ok(c) = parse_authorization(&value, &settings(flags)) {
            prop_assert!(!matches!(c, Credential::Session(_)));
        }
    }

    #[test]
    fn near_authorization_values_never_panic(scheme in scheme(), rest in "[A-Za-z0-9+/= :\\t.]{0,40}", flags in 0u8..8) {
        let _ = parse_authorization(&format!("{scheme} {rest}"), &settings(flags));
    }

    #[test]
    fn basic_credentials_round_trip(user in username(), pass in any::<String>(), spaces in " {1,3}") {
        prop_assume!(!pass.starts_with("bnc_"));
        let value = format!("Basic{spaces}{}", STANDARD.encode(format!("{user}:{pass}")));
        let want = Credential::Basic { username: user.clone(), password: pass.clone() };
        prop_assert_eq!(parse_authorization(&value, &settings(2)), Ok(want));
        // Switched off: refused, never taken for another scheme.
        prop_assert!(parse_authorization(&value, &settings(1 | 4)).is_err());
        prop_assert_eq!(parse_basic(&STANDARD.encode(format!("{user}:{pass}"))), Some((user, pass)));
    }

    #[test]
    fn an_api_key_as_basic_password_is_an_api_key(user in "[^:]{0,10}", key in "bnc_[0-9A-Za-z]{0,60}") {
        let value = format!("Basic {}", STANDARD.encode(format!("{user}:{key}")));
        prop_assert_eq!(parse_authorization(&value, &settings(7)), Ok(Credential::ApiKey(key)));
    }

    #[test]
    fn bearer_tokens_are_taken_as_written(scheme in "(?i)bearer", token in "[!-~]{1,60}", pad in " {1,3}") {
        let value = format!("{scheme}{pad}{token}{pad}");
        prop_assert_eq!(parse_authorization(&value, &settings(1)), Ok(Credential::Bearer(token)));
        prop_assert_eq!(parse_authorization(&format!("{scheme} "), &settings(1)), Err((true, "empty bearer token")));
        prop_assert!(parse_authorization(&value, &settings(2 | 4)).is_err());
    }

    #[test]
    fn decoded_basic_halves_encode_back(value in "[A-Za-z0-9+/=]{0,40}") {
        if let Some((u, p)) = decode_basic(&value) {
            prop_assert!(!u.contains(&b':'));
            let joined = [u.as_slice(), b":", p.as_slice()].concat();
            prop_assert_eq!(decode_basic(&STANDARD.encode(joined)), Some((u, p)));
        }
    }

    #[test]
    fn forms_never_panic(bytes in any::<Vec<u8>>()) {
        if let Ok(map) = parse_form(&bytes) {
            prop_assert!(map.keys().all(|k| KNOWN_PARAMETERS.contains(&k.as_str())));
        }
    }

    #[test]
    fn forms_round_trip_and_refuse_repeated_known_parameters(
        pairs in prop::collection::vec((0usize..12, any::<String>()), 0..8),
    ) {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        let mut want = HashMap::new();
        let mut repeated = false;
        for (i, value) in &pairs {
            // Indexes past the list name unknown parameters, which may repeat.
            let name = KNOWN_PARAMETERS.get(*i).copied().unwrap_or("unknown");
            ser.append_pair(name, value);
            if name != "unknown" {
                repeated |= want.insert(name.to_owned(), value.clone()).is_some();
            }
        }
        match parse_form(ser.finish().as_bytes()) {
            Ok(got) => {
                prop_assert!(!repeated);
                prop_assert_eq!(got, want);
            }
            Err(_) => prop_assert!(repeated),
        }
    }

    #[test]
    fn client_basic_credentials_round_trip(id in ".{1,20}", secret in ".{0,20}") {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let header = STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret)));
        prop_assert_eq!(client_from_basic(&header).ok(), Some((id, secret)));
    }

    #[test]
    fn client_basic_never_panics(value in any::<String>()) {
        if let Ok((id, _)) = client_from_basic(&value) {
            prop_assert!(!id.is_empty());
        }
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop(
        clients in prop::collection::vec(any::<u32>(), 1..4),
        proxies_hops in 0usize..3,
        junk in "[ -~]{0,20}",
        use_forwarded in any::<bool>(),
        peer in any::<u32>(),
    ) {
        // Our proxies are 10.0.0.0/8; the clients' addresses are anywhere else.
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let outside = |a: u32| Ipv4Addr::from(if a >> 24 == 10 { a ^ 0x8000_0000 } else { a });
        let mut hops: Vec<String> = clients.iter().map(|a| outside(*a).to_string()).collect();
        let client = IpAddr::V4(outside(*clients.last().unwrap()));
        hops.extend((0..proxies_hops).map(|i| format!("10.0.0.{i}")));
        let (name, value, junk_value) = if use_forwarded {
            let list = hops.iter().map(|h| format!("for={h}")).collect::<Vec<_>>().join(", ");
            ("forwarded", list, format!("for=\"{}\"", junk.replace(['"', ','], "")))
        } else {
            ("x-forwarded-for", hops.join(", "), junk.clone())
        };
        let mut headers = HeaderMap::new();
        headers.append(name, HeaderValue::from_str(&value).unwrap());
        let proxy = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (peer & 0x00ff_ffff)));
        prop_assert_eq!(resolve(Some(proxy), &headers, &proxies).0, Some(client));
        // From an untrusted peer the headers count for nothing.
        let stranger = IpAddr::V4(outside(peer));
        prop_assert_eq!(resolve(Some(stranger), &headers, &proxies), (Some(stranger), false));
        // Whatever a client writes in front of the chain changes nothing.
        let mut with_junk = HeaderMap::new();
        if let Ok(j) = HeaderValue::from_str(&junk_value) {
            with_junk.append(name, j);
        }
        with_junk.append(name, HeaderValue::from_str(&value).unwrap());
        prop_assert_eq!(resolve(Some(proxy), &with_junk, &proxies).0, Some(client));
    }

    #[test]
    fn forwarded_headers_never_panic(
        xff in prop::collection::vec(any::<Vec<u8>>(), 0..3),
        fwd in prop::collection::vec("[ -~]{0,30}", 0..3),
        peer in any::<u32>(),
    ) {
        let mut headers = HeaderMap::new();
        for v in xff.iter().filter_map(|v| HeaderValue::from_bytes(v).ok()) {
            headers.append("x-forwarded-for", v);
        }
        for v in fwd.iter().filter_map(|v| HeaderValue::from_str(v).ok()) {
            headers.append("forwarded", v);
        }
        let proxies: Vec<IpNet> = vec!["0.0.0.0/0".parse().unwrap()];
        let peer = IpAddr::V4(Ipv4Addr::from(peer));
        if let (Some(ip), _) = resolve(Some(peer), &headers, &proxies) {
            prop_assert_eq!(ip, bouncer_core::context::unmapped(ip));
        }
    }
}
