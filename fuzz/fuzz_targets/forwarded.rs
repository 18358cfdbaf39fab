//! The client address behind trusted proxies (`context::resolve`: `X-Forwarded-For`, `Forwarded`
//! and their protocol headers, in any number and any bytes). An untrusted peer is always the
//! client, never https; behind trusted proxies the client is an address that is not a proxy (or,
//! when every hop is one, the leftmost), and nothing a client writes to the left of that hop
//! changes who the client is.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bouncer_core::context::unmapped;
use bouncer_http::context::resolve;
use http::{HeaderMap, HeaderValue};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = [
    "x-forwarded-for",
    "forwarded",
    "x-forwarded-proto",
    "x-real-ip",
];

fn ip(bits: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

fn headers(entries: &[(u8, &[u8])]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in entries {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            h.append(NAMES[usize::from(*name) % NAMES.len()], v);
        }
    }
    h
}

type Input<'a> = (
    Option<(u128, bool)>,
    Vec<(u128, bool, u8)>,
    Vec<(u8, &'a [u8])>,
    &'a [u8],
);

fuzz_target!(|input: Input<'_>| {
    let (peer, proxies, entries, prefix) = input;
    let peer = peer.map(|(bits, v4)| ip(bits, v4));
    let proxies: Vec<IpNet> = proxies
        .into_iter()
        .map(|(bits, v4, len)| match ip(bits, v4) {
            IpAddr::V4(a) => IpNet::V4(Ipv4Net::new(a, len % 33).expect("prefix").trunc()),
            IpAddr::V6(a) => IpNet::V6(Ipv6Net::new(a, len % 129).expect("prefix").trunc()),
        })
        .collect();
    let trusted = |ip: IpAddr| proxies.iter().any(|n| n.contains(&unmapped(ip)));
    let h = headers(&entries);
    let (client, https) = resolve(peer, &h, &proxies);

    let Some(peer) = peer else {
        assert_eq!((client, https), (None, false));
        return;
    };
    if !trusted(peer) {
        assert_eq!((client, https), (Some(unmapped(peer)), false));
        return;
    }
    let Some(client) = client else { return };
    if client == peer {
        return;
    }
    assert_eq!(client, unmapped(client), "the client is given unmapped");
    if trusted(client) {
        return; // Every hop was one of ours: the leftmost.
    }
    // The client's hop decided; a value a client puts in front of the chain changes nothing.
    let Ok(front) = HeaderValue::from_bytes(prefix) else {
        return;
    };
    let name = if h.contains_key("x-forwarded-for") {
        "x-forwarded-for"
    } else {
        "forwarded"
    };
    let mut with_front = HeaderMap::new();
    with_front.append(name, front);
    for (k, v) in &h {
        with_front.append(k, v.clone());
    }
    let (again, _) = resolve(Some(peer), &with_front, &proxies);
    assert_eq!(
        again,
        Some(client),
        "a prepended {name} value changed the client"
    );
});
