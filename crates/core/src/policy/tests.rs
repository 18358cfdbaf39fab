//! The evaluator's edges.
use super::*;

fn doc(conditions: serde_json::Value) -> PolicyDocument {
    serde_json::from_value(serde_json::json!({
        "effect": "allow", "permissions": ["items:read"], "conditions": conditions
    }))
    .unwrap()
}

fn compile(conditions: serde_json::Value) -> Result<CompiledPolicy> {
    CompiledPolicy::compile("p", &doc(conditions), |_| true)
}

fn facts(now_ms: Millis, ip: Option<&str>, auth_time: Option<Millis>) -> Facts {
    Facts {
        now_ms,
        client_ip: ip.map(|s| crate::context::unmapped(s.parse().unwrap())),
        auth_time,
    }
}

#[test]
fn clock_times_are_strict() {
    for bad in [
        "24:00", "9:00", "09:0", "09:60", "-1:00", "0a:00", "09:00:00", "", ":", "+9:00",
    ] {
        assert_eq!(clock_time(bad, false), None, "{bad}");
    }
    assert_eq!(clock_time("24:00", true), Some(86_400));
    assert_eq!(clock_time("24:01", true), None);
    assert_eq!(clock_time("00:00", false), Some(0));
    assert_eq!(clock_time("23:59", false), Some(86_340));
}

#[test]
fn extreme_times_and_addresses_never_panic() {
    let p = compile(serde_json::json!({
        "time_zone": "Pacific/Chatham",
        "time_windows": [{"start": "22:00", "end": "06:00"}],
        "weekdays": ["sun"],
        "valid_from": "0001-01-01T00:00:00Z",
        "valid_until": "9999-12-31T23:59:59Z",
        "client_ips": ["0.0.0.0/0", "::/0"],
        "not_client_ips": ["255.255.255.255/32"],
        "max_auth_age_s": 31_622_400
    }))
    .unwrap();
    for now in [i64::MIN, i64::MIN / 2, -1, 0, 1, i64::MAX / 2, i64::MAX] {
        for ip in [None, Some("::ffff:1.2.3.4"), Some("ffff::1")] {
            for auth in [None, Some(i64::MIN), Some(i64::MAX), Some(now)] {
                let mut trace = Vec::new();
                let _ = p.conditions_hold(&facts(now, ip, auth), Some(&mut trace));
                assert_eq!(trace.len(), 7);
                let _ = p.conditions_hold(&facts(now, ip, auth), None);
            }
        }
    }
}

#[test]
fn a_login_in_the_future_or_none_fails_the_age_check_only_when_it_should() {
    let p = compile(serde_json::json!({"max_auth_age_s": 60})).unwrap();
    assert!(p.conditions_hold(&facts(100_000, None, Some(50_000)), None));
    assert!(!p.conditions_hold(&facts(200_000, None, Some(50_000)), None));
    assert!(
        !p.conditions_hold(&facts(200_000, None, None), None),
        "no auth_time"
    );
}

#[test]
fn an_unknown_address_counts_against_the_request() {
    let inside = compile(serde_json::json!({"client_ips": ["10.0.0.0/8"]})).unwrap();
    let outside = compile(serde_json::json!({"not_client_ips": ["10.0.0.0/8"]})).unwrap();
    assert!(!inside.conditions_hold(&facts(0, None, None), None));
    assert!(!outside.conditions_hold(&facts(0, None, None), None));
    // In a deny policy the same conditions hold: the deny applies.
    let mut d = doc(serde_json::json!({"not_client_ips": ["10.0.0.0/8"]}));
    d.effect = Effect::Deny;
    let deny = CompiledPolicy::compile("d", &d, |_| true).unwrap();
    assert!(deny.conditions_hold(&facts(0, None, None), None));
    assert!(!deny.conditions_hold(&facts(0, Some("10.1.1.1"), None), None));
    assert!(inside.conditions_hold(&facts(0, Some("::ffff:10.0.0.1"), None), None));
    assert!(outside.conditions_hold(&facts(0, Some("2001:db8::1"), None), None));
}

#[test]
fn a_bare_address_is_its_own_range_and_host_bits_are_dropped() {
    let p = compile(serde_json::json!({"client_ips": ["192.0.2.7", "10.1.2.3/8", "2001:db8::1"]}))
        .unwrap();
    assert!(p.conditions_hold(&facts(0, Some("192.0.2.7"), None), None));
    assert!(!p.conditions_hold(&facts(0, Some("192.0.2.8"), None), None));
    assert!(p.conditions_hold(&facts(0, Some("10.200.0.1"), None), None));
    assert!(p.conditions_hold(&facts(0, Some("2001:db8::1"), None), None));
}

#[test]
fn wider_requirements_are_governed_by_policies_on_their_parts() {
    let p = CompiledPolicy::compile(
        "p",
        &serde_json::from_value(
            serde_json::json!({"effect": "deny", "permissions": ["items:delete"]}),
        )
        .unwrap(),
        |_| true,
    )
    .unwrap();
    for (req, expect) in [
        ("items:delete", true),
        ("items:*", true),
        ("*", true),
        ("items:read", false),
        ("users:*", false),
    ] {
        assert_eq!(
            p.governs(PermissionRef::parse(req).unwrap()),
            expect,
            "{req}"
        );
    }
}

#[test]
fn a_document_survives_a_json_round_trip_unchanged() {
    let d = doc(serde_json::json!({"time_zone": "UTC", "weekdays": ["mon"], "not_client_ips": []}));
    let text = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<PolicyDocument>(&text).unwrap(), d);
    assert!(!text.contains("null"), "absent fields stay absent: {text}");
}
