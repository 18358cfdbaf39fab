//! The condition fields of a policy document, from fuzz strings, each checked against an
//! independent reading of its rule:
//! - time windows (`HH:MM`, end `24:00` allowed): compile accepts exactly the clock times the
//!   reference accepts, and a time is inside the compiled window exactly when it is inside the
//!   reference window (across midnight too);
//! - time zones: any name compiles or is refused without panicking, and evaluates at any time;
//! - `client_ips`: accepted exactly when every entry is a network, and an address satisfies the
//!   condition exactly when one of those networks holds it;
//! - `valid_from` / `valid_until` (RFC 3339): printed and parsed back to the same instant, and the
//!   bounds hold at their edges.
#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use bouncer_core::clock::{parse_rfc3339, rfc3339};
use bouncer_core::context::{network, unmapped};
use bouncer_core::policy::{
    CompiledPolicy, Conditions, Effect, Facts, PolicyDocument, TimeWindow, clock_time,
};
use libfuzzer_sys::fuzz_target;

/// `HH:MM`, read without the parser under test.
fn reference_clock(s: &str, end_of_day: bool) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return None;
    }
    let digit = |i: usize| b[i].is_ascii_digit().then(|| u32::from(b[i] - b'0'));
    let (h, m) = (digit(0)? * 10 + digit(1)?, digit(3)? * 10 + digit(4)?);
    if h == 24 && m == 0 && end_of_day {
        return Some(86_400);
    }
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}

fn policy(conditions: Conditions) -> Option<CompiledPolicy> {
    let doc = PolicyDocument {
        description: None,
        effect: Effect::Allow,
        permissions: vec!["items:read".into()],
        roles: None,
        credential_kinds: None,
        conditions: Some(conditions),
    };
    CompiledPolicy::compile("fuzz", &doc, |_| true).ok()
}

fn facts(now_ms: i64, client_ip: Option<IpAddr>) -> Facts {
    Facts {
        now_ms,
        client_ip,
        auth_time: None,
    }
}

type Input<'a> = (
    &'a str,
    &'a str,
    &'a str,
    u32,
    i64,
    Vec<&'a str>,
    u128,
    (&'a str, &'a str),
);

fuzz_target!(|input: Input<'_>| {
    let (start, end, zone, second, instant, ips, probe, (from, until)) = input;

    // Time windows, in UTC.
    for (s, eod) in [(start, false), (end, true)] {
        assert_eq!(clock_time(s, eod), reference_clock(s, eod), "{s:?}");
    }
    let window = vec![TimeWindow {
        start: start.into(),
        end: end.into(),
    }];
    let compiled = policy(Conditions {
        time_windows: Some(window.clone()),
        ..Default::default()
    });
    match (reference_clock(start, false), reference_clock(end, true)) {
        (Some(s), Some(e)) if s != e => {
            let p = compiled.expect("a valid window compiles");
            let t = second % 86_400;
            // Some day at midnight UTC, plus t seconds.
            let now_ms = 1_800_000_000_000 / 86_400_000 * 86_400_000 + i64::from(t) * 1000;
            let inside = if s < e {
                s <= t && t < e
            } else {
                t >= s || t < e
            };
            assert_eq!(p.conditions_hold(&facts(now_ms, None), None), inside);
        }
        _ => assert!(compiled.is_none(), "{start:?}-{end:?} compiled"),
    }

    // Any zone name, any instant.
    if let Some(p) = policy(Conditions {
        time_zone: Some(zone.into()),
        time_windows: Some(vec![TimeWindow {
            start: "09:00".into(),
            end: "17:00".into(),
        }]),
        weekdays: Some(vec![bouncer_core::policy::Day::Mon]),
        ..Default::default()
    }) {
        let mut trace = Vec::new();
        p.conditions_hold(&facts(instant, None), Some(&mut trace));
        assert_eq!(trace.len(), 2);
    }

    // Client address ranges.
    let nets: Option<Vec<_>> = ips.iter().map(|s| network(s)).collect();
    let compiled = policy(Conditions {
        client_ips: Some(ips.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    });
    match nets {
        Some(nets) if !nets.is_empty() && nets.len() <= 256 => {
            let p = compiled.expect("valid ranges compile");
            let ip = unmapped(IpAddr::V6(Ipv6Addr::from(probe)));
            let ip4 = unmapped(IpAddr::V6(Ipv6Addr::from(
                probe & 0xffff_ffff | 0xffff << 32,
            )));
            for ip in [ip, ip4] {
                let inside = nets.iter().any(|n| n.contains(&ip));
                assert_eq!(p.conditions_hold(&facts(0, Some(ip)), None), inside, "{ip}");
            }
            assert!(!p.conditions_hold(&facts(0, None), None), "unknown address");
        }
        _ => assert!(compiled.is_none()),
    }

    // RFC 3339 bounds.
    for s in [from, until] {
        if let Some(ms) = parse_rfc3339(s) {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{s:?}");
        }
    }
    let compiled = policy(Conditions {
        valid_from: Some(from.into()),
        valid_until: Some(until.into()),
        ..Default::default()
    });
    match (parse_rfc3339(from), parse_rfc3339(until)) {
        (Some(a), Some(b)) if a < b => {
            let p = compiled.expect("valid bounds compile");
            assert!(p.conditions_hold(&facts(a, None), None));
            assert!(!p.conditions_hold(&facts(b, None), None));
            assert!(a == i64::MIN || !p.conditions_hold(&facts(a - 1, None), None));
        }
        _ => assert!(compiled.is_none()),
    }
});
