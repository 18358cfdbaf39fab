//! Policy documents as `PUT /policies/{name}` receives them (JSON bytes): parsing, checking and
//! compiling never panic; a parsed document serializes and parses back to itself; a compiled one
//! compiles again from its serialized form, governs each permission it names, evaluates at
//! extreme times and addresses without panicking, and reports one trace line per condition.
#![no_main]

use bouncer_core::permission::PermissionRef;
use bouncer_core::policy::{CompiledPolicy, Facts, PolicyDocument};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<PolicyDocument>(data) else {
        return;
    };
    let text = serde_json::to_string(&doc).expect("a document serializes");
    let back: PolicyDocument = serde_json::from_str(&text).expect("and parses back");
    assert_eq!(back, doc);

    let compiled = CompiledPolicy::compile("fuzz", &doc, |_| true);
    assert_eq!(
        compiled.is_ok(),
        CompiledPolicy::compile("fuzz", &back, |_| true).is_ok()
    );
    if doc.roles.is_some() {
        assert!(CompiledPolicy::compile("fuzz", &doc, |_| false).is_err());
    }
    let Ok(policy) = compiled else { return };
    for p in &doc.permissions {
        let p = PermissionRef::parse(p).expect("a compiled policy's permissions parse");
        assert!(policy.governs(p));
    }
    let expected = doc.conditions.as_ref().map_or(0, |c| {
        usize::from(c.time_windows.is_some())
            + usize::from(c.weekdays.is_some())
            + usize::from(c.valid_from.is_some())
            + usize::from(c.valid_until.is_some())
            + usize::from(c.client_ips.is_some())
            + usize::from(c.not_client_ips.is_some())
            + usize::from(c.max_auth_age_s.is_some())
    });
    for now_ms in [i64::MIN, -1, 0, 1_800_000_000_000, i64::MAX] {
        for ip in [None, Some("203.0.113.9"), Some("2001:db8::1")] {
            for auth_time in [None, Some(i64::MIN), Some(now_ms), Some(i64::MAX)] {
                let facts = Facts {
                    now_ms,
                    client_ip: ip.map(|s| s.parse().expect("address")),
                    auth_time,
                };
                let mut trace = Vec::new();
                let all = policy.conditions_hold(&facts, Some(&mut trace));
                assert_eq!(trace.len(), expected);
                assert_eq!(all, trace.iter().all(|c| c.holds));
                assert_eq!(policy.conditions_hold(&facts, None), all);
            }
        }
    }
});
