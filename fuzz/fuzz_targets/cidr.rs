//! `context::network`, the one parser of CIDR ranges and bare addresses (policy `client_ips`,
//! API-key allowlists, trusted proxies): a parsed network has no host bits, prints and parses back
//! to itself, holds exactly what ipnet's own reading of the text holds, and a range written in
//! `::ffff:0:0/96` becomes the IPv4 range it stands for.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bouncer_core::context::{network, unmapped};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, u128, u8)| {
    let (text, bits, prefix) = input;
    let probe6 = Ipv6Addr::from(bits);
    let probe4 = Ipv4Addr::from(bits as u32);
    check(text, probe6, probe4);
    // Well-formed texts too, so the interesting branches are reached every run.
    for net in [
        format!("{probe4}/{}", prefix % 33),
        format!("{probe6}/{}", prefix % 129),
        format!("::ffff:{probe4}/{}", 96 + prefix % 33),
        probe6.to_string(),
    ] {
        assert!(network(&net).is_some(), "{net}");
        check(&net, probe6, probe4);
    }
});

fn check(text: &str, probe6: Ipv6Addr, probe4: Ipv4Addr) {
    let Some(net) = network(text) else {
        assert!(
            text.parse::<IpNet>().is_err() && text.parse::<IpAddr>().is_err(),
            "{text}"
        );
        return;
    };
    assert_eq!(net, net.trunc(), "host bits left in {text}");
    assert_eq!(network(&net.to_string()), Some(net), "{text} -> {net}");
    // What ipnet reads (host bits dropped), as the address family clients are matched in.
    let theirs = text
        .parse::<IpNet>()
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(text.parse::<IpAddr>().expect("an address")));
    for ip in [
        IpAddr::V6(probe6),
        IpAddr::V4(probe4),
        IpAddr::V6(probe4.to_ipv6_mapped()),
    ] {
        let client = unmapped(ip);
        let mapped_client = match client {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            v6 => v6,
        };
        let expected = match (theirs, net) {
            // Rewritten from `::ffff:a.b.c.d/p`: held when the mapped form is.
            (IpNet::V6(_), IpNet::V4(_)) => theirs.contains(&mapped_client),
            _ => theirs.contains(&client),
        };
        assert_eq!(net.contains(&client), expected, "{text} / {client}");
    }
}
