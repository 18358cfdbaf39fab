//! The form of the token, revocation and introspection endpoints (`parse_form`) and the client
//! credentials of their `Authorization: Basic` (`client_from_basic`). The form is checked against
//! a plain reading of the same rule (known parameters at most once, unknown ones ignored), and a
//! form serialized from fuzz pairs parses back to them.
#![no_main]

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bouncer_http::routes::oauth::{KNOWN_PARAMETERS, client_from_basic, parse_form};
use libfuzzer_sys::fuzz_target;

fn reference(bytes: &[u8]) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        if KNOWN_PARAMETERS.contains(&&*k) && out.insert(k.into_owned(), v.into_owned()).is_some() {
            return None;
        }
    }
    Some(out)
}

fuzz_target!(|input: (&[u8], Vec<(u8, &str)>, &str)| {
    let (raw, pairs, basic) = input;
    assert_eq!(parse_form(raw).ok(), reference(raw));

    // Pairs: a known name (by index) or an unknown one, with any value.
    let mut ser = form_urlencoded::Serializer::new(String::new());
    let mut want = HashMap::new();
    let mut repeated = false;
    for (i, value) in &pairs {
        let name = KNOWN_PARAMETERS
            .get(usize::from(*i))
            .copied()
            .unwrap_or("x_unknown");
        ser.append_pair(name, value);
        if name != "x_unknown" {
            repeated |= want.insert(name.to_owned(), value.to_string()).is_some();
        }
    }
    match parse_form(ser.finish().as_bytes()) {
        Ok(got) => {
            assert!(!repeated);
            assert_eq!(got, want);
        }
        Err(_) => assert!(repeated),
    }

    // Client credentials from Basic: the id is never empty.
    if let Ok((id, _)) = client_from_basic(basic) {
        assert!(!id.is_empty());
    }
    // id and secret form-encoded, then joined (RFC 6749 §2.3.1), come back as they were.
    if let Some((_, id)) = pairs.first()
        && let Some((_, secret)) = pairs.get(1)
    {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let header = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
        match client_from_basic(&header) {
            Ok((i, s)) => assert_eq!((i.as_str(), s.as_str()), (*id, *secret)),
            Err(_) => assert!(id.is_empty() || header.len() > 4096),
        }
    }
});
