//! What a request brings besides its credential: who sent it (the client address, resolved through
//! trusted proxies only), when, over what, and its id. Built once per request by the HTTP layer and
//! handed to the authenticator, to every service call (inside the [`crate::principal::Principal`])
//! and to [`crate::authz::authorize`]. The CLI makes one with no address.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::clock::Millis;

/// `::ffff:a.b.c.d` (an IPv4 client on a dual-stack socket) as the IPv4 address it is; every other
/// address as it is. The one place addresses are normalized, for limits, allowlists and proxies.
pub fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A CIDR range, or a bare address as the range holding just it; host bits dropped. The one
/// parser of networks (policies, API-key allowlists, trusted proxies).
pub fn network(s: &str) -> Option<IpNet> {
    let net = match s.parse::<IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => IpNet::from(s.parse::<IpAddr>().ok()?),
    };
    // Client addresses are matched unmapped (`::ffff:a.b.c.d` as `a.b.c.d`), so a range inside
    // `::ffff:0:0/96` is the IPv4 range it stands for.
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
    {
        return ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
            .ok()
            .map(IpNet::V4);
    }
    Some(net)
}

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The client's address: the socket peer, or what a trusted proxy says it forwarded for.
    pub client_ip: Option<IpAddr>,
    pub now_ms: Millis,
    /// Whether the client reached us over TLS (directly, or as a trusted proxy says).
    pub https: bool,
    /// Whether the connection came from a configured trusted proxy (whose `X-Original-*` and
    /// `X-Forwarded-*` headers are believed).
    pub via_trusted_proxy: bool,
    /// The request's id (`X-Request-Id`), for audit and logs.
    pub request_id: Option<Arc<str>>,
}

impl RequestContext {
    /// A context with only a time (the CLI, tests).
    pub fn at(now_ms: Millis) -> Self {
        RequestContext {
            now_ms,
            ..Default::default()
        }
    }

    /// The address that per-client limits count: IPv4 as is, IPv6 by its /64 (one subscriber's
    /// prefix, which it can fill with addresses at will).
    pub fn client_group(&self) -> Option<IpAddr> {
        self.client_ip.map(|ip| match unmapped(ip) {
            v4 @ IpAddr::V4(_) => v4,
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        })
    }
}
