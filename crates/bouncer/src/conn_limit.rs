//! Connections per client address: one address (an IPv6 /64, as per-client limits count it)
//! never holds every connection slot. The socket's address counts, never a forwarded one; trusted
//! proxies, which carry everyone's connections, are exempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bouncer_core::context::RequestContext;

#[derive(Debug)]
pub struct PerAddress {
    max: usize,
    exempt: Vec<ipnet::IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's hold on its address's count, released when the connection ends.
#[derive(Debug)]
pub struct Held {
    owner: Arc<PerAddress>,
    group: Option<IpAddr>,
}

impl PerAddress {
    pub fn new(max: usize, exempt: Vec<ipnet::IpNet>) -> Arc<Self> {
        Arc::new(PerAddress {
            max,
            exempt,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A hold for a connection from `peer`, or `None` when its address holds `max` already.
    pub fn take(self: &Arc<Self>, peer: IpAddr) -> Option<Held> {
        let ip = bouncer_core::context::unmapped(peer);
        if self.exempt.iter().any(|n| n.contains(&ip)) {
            return Some(Held {
                owner: self.clone(),
                group: None,
            });
        }
        let group = RequestContext {
            client_ip: Some(ip),
            ..Default::default()
        }
        .client_group()?;
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(group).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Held {
            owner: self.clone(),
            group: Some(group),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(group) = self.group else {
            return;
        };
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&group) {
            *n -= 1;
            if *n == 0 {
                open.remove(&group);
            }
        }
    }
}
