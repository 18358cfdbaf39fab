//! Access-token verification (`TokenService::verify`, what every Bearer JWT goes through). Three
//! ways to make a token from fuzz bytes, none of which may verify:
//! - the bytes as the token;
//! - a JWS with a fuzz header and payload (base64url of fuzz JSON) and a fuzz signature, so
//!   the fuzzer reaches the header and claim checks, not only the base64 decoder;
//! - a genuine token with fuzz edits (any change at all must make it fail).
//!
//! The genuine tokens verify (checked once, when they are made), so the refusals mean something.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bouncer_fuzz::{NOW_MS, token_services};
use libfuzzer_sys::fuzz_target;

/// Which service, header, payload, signature, and edits (position, byte) of the genuine token.
type Input<'a> = (u8, &'a str, &'a str, &'a [u8], Vec<(u16, u8)>);

fuzz_target!(|input: Input<'_>| {
    let (pick, header, payload, signature, edits) = input;
    let services = token_services();
    let (svc, genuine) = &services[usize::from(pick) % services.len()];
    let now_s = NOW_MS / 1000;

    // The bytes as the token.
    let raw = format!("{header}.{payload}");
    for token in [header, payload, raw.as_str()] {
        if token != genuine {
            assert!(
                svc.verify(token, now_s).is_err(),
                "forged token verified: {token:?}"
            );
        }
    }

    // A JWS built from fuzz parts, the real `kid` and `typ` spliced in when the header is JSON,
    // so only the signature (never valid) stands in the way.
    let header_json = match serde_json::from_str::<serde_json::Value>(header) {
        Ok(serde_json::Value::Object(mut h)) => {
            let genuine_header: serde_json::Value = serde_json::from_slice(
                &B64.decode(genuine.split('.').next().unwrap_or_default())
                    .unwrap_or_default(),
            )
            .unwrap_or_default();
            for k in ["kid", "typ", "alg"] {
                if pick & 0x80 != 0 && !h.contains_key(k) {
                    h.insert(k.into(), genuine_header[k].clone());
                }
            }
            serde_json::Value::Object(h).to_string()
        }
        _ => header.to_owned(),
    };
    let jws = format!(
        "{}.{}.{}",
        B64.encode(header_json),
        B64.encode(payload),
        B64.encode(signature)
    );
    assert!(
        svc.verify(&jws, now_s).is_err(),
        "forged JWS verified: {jws:?}"
    );

    // The genuine token with edits (position, new byte).
    let mut edited = genuine.clone().into_bytes();
    for (pos, byte) in edits {
        if edited.is_empty() {
            break;
        }
        let i = usize::from(pos) % (edited.len() + 1);
        match byte {
            0 if i < edited.len() => {
                edited.remove(i);
            }
            1 => edited.insert(i, b'.'),
            b if i < edited.len() => edited[i] = b,
            b => edited.push(b),
        }
    }
    if let Ok(edited) = String::from_utf8(edited)
        && &edited != genuine
    {
        assert!(
            svc.verify(&edited, now_s).is_err(),
            "edited token verified: {edited:?} (genuine {genuine:?})"
        );
    }
});
