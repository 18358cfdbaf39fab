//! Properties of the policy document's parsers: clock times and windows, time zones, CIDR ranges
//! (`context::network`, checked against ipnet) and RFC 3339 bounds. The fuzz targets
//! `policy_document`, `policy_conditions` and `cidr` explore the same code with coverage
//! guidance; these run in the normal suite.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use super::*;
use crate::context::{network, unmapped};

fn policy(conditions: Conditions) -> Result<CompiledPolicy> {
    let doc = PolicyDocument {
        description: None,
        effect: Effect::Allow,
        permissions: vec!["items:read".into()],
        roles: None,
        credential_kinds: None,
        conditions: Some(conditions),
    };
    CompiledPolicy::compile("p", &doc, |_| true)
}

fn at(now_ms: Millis, client_ip: Option<IpAddr>) -> Facts {
    Facts {
        now_ms,
        client_ip,
        auth_time: None,
    }
}

fn window(start: u32, end: u32) -> Conditions {
    Conditions {
        time_windows: Some(vec![TimeWindow {
            start: hhmm(start),
            end: hhmm(end),
        }]),
        ..Default::default()
    }
}

/// Midnight UTC of some day in 2027.
const MIDNIGHT_MS: Millis = 1_800_000_000_000 / 86_400_000 * 86_400_000;

proptest! {
    #[test]
    fn clock_times_never_panic_and_print_back(s in any::<String>(), eod in any::<bool>()) {
        if let Some(v) = clock_time(&s, eod) {
            prop_assert_eq!(hhmm(v), s);
        }
    }

    #[test]
    fn every_clock_time_parses(h in 0u32..24, m in 0u32..60) {
        let s = format!("{h:02}:{m:02}");
        prop_assert_eq!(clock_time(&s, false), Some(h * 3600 + m * 60));
        prop_assert_eq!(clock_time(&s, true), Some(h * 3600 + m * 60));
        prop_assert_eq!(clock_time(&format!("{h}:{m:02}"), false).is_some(), h >= 10);
    }

    #[test]
    fn a_time_is_inside_a_window_exactly_when_it_is(
        start in 0u32..1440,
        end in 1u32..=1440,
        t in 0u32..86_400,
    ) {
        let (start, end) = (start * 60, end * 60);
        let compiled = policy(window(start, end));
        if start == end {
            prop_assert!(compiled.is_err(), "an empty window is refused");
            return Ok(());
        }
        let p = compiled.unwrap();
        let inside = if start < end {
            start <= t && t < end
        } else {
            t >= start || t < end // across midnight
        };
        prop_assert_eq!(p.conditions_hold(&at(MIDNIGHT_MS + i64::from(t) * 1000, None), None), inside);
    }

    #[test]
    fn windows_are_local_to_their_zone(
        zone in prop::sample::select(vec!["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]),
        start in 0u32..1440,
        len in 1u32..1440,
        ms in 0i64..4_102_444_800_000,
    ) {
        let (start, end) = (start * 60, (start + len) % 1440 * 60);
        let mut c = window(start, end);
        c.time_zone = Some(zone.into());
        let p = policy(c).unwrap();
        let local = TimeZone::get(zone).unwrap().to_datetime(Timestamp::from_millisecond(ms).unwrap());
        let t = u32::try_from(i32::from(local.hour()) * 3600 + i32::from(local.minute()) * 60 + i32::from(local.second())).unwrap();
        let inside = if start < end { start <= t && t < end } else { t >= start || t < end };
        prop_assert_eq!(p.conditions_hold(&at(ms, None), None), inside);
    }

    #[test]
    fn any_condition_text_compiles_or_is_refused(
        zone in any::<String>(),
        start in any::<String>(),
        end in any::<String>(),
        from in any::<String>(),
        ips in prop::collection::vec(any::<String>(), 0..3),
        now in any::<i64>(),
    ) {
        let c = Conditions {
            time_zone: Some(zone),
            time_windows: Some(vec![TimeWindow { start, end }]),
            valid_from: Some(from),
            client_ips: Some(ips),
            ..Default::default()
        };
        if let Ok(p) = policy(c) {
            let mut trace = Vec::new();
            p.conditions_hold(&at(now, None), Some(&mut trace));
            prop_assert_eq!(trace.len(), 3);
        }
    }

    #[test]
    fn networks_never_panic(s in any::<String>()) {
        if let Some(net) = network(&s) {
            prop_assert_eq!(net, net.trunc());
            prop_assert_eq!(network(&net.to_string()), Some(net));
        }
    }

    #[test]
    fn ipv4_ranges_agree_with_ipnet(addr in any::<u32>(), len in 0u8..=32, probe in any::<u32>()) {
        let theirs = Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc();
        let ours = network(&format!("{}/{len}", Ipv4Addr::from(addr))).unwrap();
        prop_assert_eq!(ours, IpNet::V4(theirs));
        let probe = Ipv4Addr::from(probe);
        prop_assert_eq!(ours.contains(&IpAddr::V4(probe)), theirs.contains(&probe));
        // The network's own address is inside; a bare address is the range of just itself.
        prop_assert!(ours.contains(&IpAddr::V4(theirs.network())));
        let bare = network(&probe.to_string()).unwrap();
        prop_assert_eq!(bare.prefix_len(), 32);
        prop_assert!(bare.contains(&IpAddr::V4(probe)));
    }

    #[test]
    fn ipv6_ranges_agree_with_ipnet(addr in any::<u128>(), len in 0u8..=128, probe in any::<u128>()) {
        let theirs = Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap().trunc();
        let ours = network(&format!("{}/{len}", Ipv6Addr::from(addr))).unwrap();
        let probe = Ipv6Addr::from(probe);
        if theirs.prefix_len() < 96 || theirs.network().to_ipv4_mapped().is_none() {
            prop_assert_eq!(ours, IpNet::V6(theirs));
            prop_assert_eq!(ours.contains(&IpAddr::V6(probe)), theirs.contains(&probe));
        }
    }

    #[test]
    fn mapped_ranges_are_their_ipv4_ranges(addr in any::<u32>(), len in 0u8..=32, probe in any::<u32>()) {
        let v4 = Ipv4Addr::from(addr);
        let mapped = Ipv6Net::new(v4.to_ipv6_mapped(), 96 + len).unwrap().trunc();
        let ours = network(&format!("::ffff:{v4}/{}", 96 + len)).unwrap();
        prop_assert_eq!(ours, IpNet::V4(Ipv4Net::new(v4, len).unwrap().trunc()));
        // A client on a dual-stack socket (::ffff:a.b.c.d) is matched as the IPv4 address.
        let probe = Ipv4Addr::from(probe);
        let client = unmapped(IpAddr::V6(probe.to_ipv6_mapped()));
        prop_assert_eq!(ours.contains(&client), mapped.contains(&probe.to_ipv6_mapped()));
    }

    #[test]
    fn client_ips_hold_for_addresses_in_range(addr in any::<u32>(), len in 0u8..=32, probe in any::<u32>()) {
        let net = Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap();
        let p = policy(Conditions { client_ips: Some(vec![net.to_string()]), ..Default::default() }).unwrap();
        for ip in [Ipv4Addr::from(probe), net.network(), net.broadcast()] {
            prop_assert_eq!(p.conditions_hold(&at(0, Some(IpAddr::V4(ip))), None), net.contains(&ip));
        }
    }

    #[test]
    fn validity_bounds_hold_at_their_edges(from in -62_135_596_800_000i64..253_401_000_000_000, len in 1i64..1_000_000_000) {
        let until = from + len;
        for ms in [from, until] {
            prop_assert_eq!(crate::clock::parse_rfc3339(&crate::clock::rfc3339(ms)), Some(ms));
        }
        let p = policy(Conditions {
            valid_from: Some(crate::clock::rfc3339(from)),
            valid_until: Some(crate::clock::rfc3339(until)),
            ..Default::default()
        })
        .unwrap();
        prop_assert!(!p.conditions_hold(&at(from - 1, None), None));
        prop_assert!(p.conditions_hold(&at(from, None), None));
        prop_assert!(p.conditions_hold(&at(until - 1, None), None));
        prop_assert!(!p.conditions_hold(&at(until, None), None));
    }
}
