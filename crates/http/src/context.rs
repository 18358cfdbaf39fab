//! The request context, built once per request by [`enter`]: the client's address (the socket
//! peer, or, only when the peer is a configured trusted proxy, the rightmost address in
//! `Forwarded` / `X-Forwarded-For` that is not itself a trusted proxy), whether it came over
//! https (this server's own TLS, or a trusted proxy's `X-Forwarded-Proto: https` or
//! `Forwarded: proto=https`), the time and the request id. Handlers and extractors read it with
//! [`Ctx`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use bouncer_core::context::{RequestContext, unmapped as unmap};
use bouncer_core::principal::Subject;
use bouncer_core::service::Bouncer;
use ipnet::IpNet;

/// What [`enter`] needs: the clock, and which peers may speak for others.
#[derive(Clone)]
pub struct ContextState {
    pub bouncer: Arc<Bouncer>,
    pub trusted_proxies: Arc<[IpNet]>,
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = unmap(ip);
    proxies.iter().any(|n| n.contains(&ip))
}

/// One `for=` / `X-Forwarded-For` element as an address (quotes, brackets and ports removed);
/// `None` for `unknown`, obfuscated identifiers and garbage.
fn hop(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The forwarded chain, oldest first, as raw elements: `X-Forwarded-For` when present (what nginx
/// and Traefik append to), else `Forwarded` (RFC 7239) `for=` values. Elements are parsed by the
/// caller from the right, so garbage a client put in front cannot matter.
fn chain(headers: &HeaderMap) -> Vec<String> {
    let xff: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("garbage").to_owned())
        .flat_map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all("forwarded")
        .iter()
        .map(|v| v.to_str().unwrap_or("for=garbage").to_owned())
        .flat_map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .map(|element| {
            element
                .split(';')
                .find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| v.to_owned())
                })
                .unwrap_or_else(|| "garbage".into())
        })
        .collect()
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next_back())
        .map(str::trim);
    if let Some(p) = proto {
        return p.eq_ignore_ascii_case("https");
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .is_some_and(|element| {
            element.split(';').any(|pair| {
                pair.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
            })
        })
}

/// The client address and https-ness for a request from `peer` with `headers`.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    proxies: &[IpNet],
) -> (Option<IpAddr>, bool) {
    let Some(peer) = peer else {
        return (None, false);
    };
    if !trusted(peer, proxies) {
        return (Some(unmap(peer)), false);
    }
    let https = forwarded_https(headers);
    let hops = chain(headers);
    if hops.is_empty() {
        return (Some(peer), https);
    }
    // From the right: our own proxies are skipped; the first hop that is not one of ours is the
    // client. A hop that is not an address before that point leaves the client unknown (never
    // the proxy's own address, which allowlists and limits would treat as one client).
    let mut last_trusted = None;
    for raw in hops.iter().rev() {
        match hop(raw) {
            Some(ip) if trusted(ip, proxies) => last_trusted = Some(ip),
            Some(ip) => return (Some(unmap(ip)), https),
            None => return (None, https),
        }
    }
    (last_trusted.map(unmap), https)
}

/// Builds the [`RequestContext`] and puts it in the request's extensions (with the slot the
/// credential pipeline names the caller in, see [`Entered`]), with the request id the edge settled on;
/// [`Leave::leave`] then audits a refusal.
pub(crate) fn enter(
    st: &ContextState,
    mut req: Request,
    request_id: Arc<str>,
    peer: Option<IpAddr>,
    over_tls: bool,
) -> (Request, Leave) {
    let (client_ip, https) = resolve(peer, req.headers(), &st.trusted_proxies);
    // This server's own TLS counts too.
    let https = https || over_tls;
    let via_trusted_proxy = peer.is_some_and(|p| trusted(p, &st.trusted_proxies));
    let request_id = Some(request_id);
    let ctx = RequestContext {
        client_ip,
        now_ms: st.bouncer.clock.now_ms(),
        https,
        via_trusted_proxy,
        request_id,
    };
    let actor = ActorSlot::default();
    let leave = Leave {
        bouncer: st.bouncer.clone(),
        client_ip: ctx.client_ip,
        request_id: ctx.request_id.clone(),
        actor: actor.clone(),
    };
    req.extensions_mut().insert(Entered { ctx, actor });
    (req, leave)
}

/// What [`enter`] puts in the request's extensions: its context and the slot the caller is named
/// in, as one extension (each is an allocation and a map insert on every request).
#[derive(Debug, Clone)]
pub(crate) struct Entered {
    pub ctx: RequestContext,
    pub actor: ActorSlot,
}

/// The request's context as [`enter`] made it, if it went through the edge (`edge.rs`).
pub(crate) fn entered(extensions: &axum::http::Extensions) -> Option<&RequestContext> {
    extensions.get::<Entered>().map(|e| &e.ctx)
}

/// What [`enter`] keeps for after the response.
pub(crate) struct Leave {
    bouncer: Arc<Bouncer>,
    client_ip: Option<IpAddr>,
    request_id: Option<Arc<str>>,
    actor: ActorSlot,
}

impl Leave {
    /// Every refusal (403) is audited, whichever check made it (authorizer, CSRF, key allowlist),
    /// naming the caller the credential pipeline found.
    pub(crate) fn leave(self, res: &Response) {
        if res.status() != axum::http::StatusCode::FORBIDDEN {
            return;
        }
        let refusal = res.extensions().get::<crate::error::Refusal>();
        let audit = &self.bouncer.audit;
        let event = audit.event(
            bouncer_core::audit::Origin {
                client_ip: self.client_ip.map(|ip| unmap(ip).to_string()),
                request_id: self.request_id.as_deref().map(str::to_owned),
            },
            self.actor.name().unwrap_or("anonymous"),
            "authz.denied",
            bouncer_core::model::Outcome::Failure,
            refusal.and_then(|r| r.subject.as_deref()),
            Some(refusal.map_or("forbidden", |r| r.code.as_str())),
        );
        audit.record(event);
    }
}

/// Who the request authenticated as: filled by the credential pipeline, read by [`Leave::leave`] after
/// the response (the audit of refusals names the caller).
#[derive(Debug, Clone, Default)]
pub struct ActorSlot(Arc<std::sync::OnceLock<Subject>>);

impl ActorSlot {
    /// Records the authenticated caller (the first one set stays): a shared reference, so the
    /// request path copies no string.
    pub fn set(&self, subject: &Subject) {
        let _ = self.0.set(subject.clone());
    }
    fn name(&self) -> Option<&str> {
        self.0.get().map(|s| match s {
            Subject::User(u) => u.user.username.as_str(),
            Subject::Client(c) => c.client.id.as_str(),
            Subject::Outside(o) => o.id.as_str(),
        })
    }
}

/// The request's context (see [`enter`]).
#[derive(Debug, Clone)]
pub struct Ctx(pub RequestContext);

/// The context [`enter`] stored (every request passes the edge; an empty one otherwise).
pub fn of(parts: &Parts) -> RequestContext {
    entered(&parts.extensions).cloned().unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx(of(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn only_trusted_proxies_speak_for_others() {
        let proxies = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let spoof = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        // From an untrusted address, forwarding headers are ignored.
        let (ip, https) = resolve(Some("203.0.113.9".parse().unwrap()), &spoof, &proxies);
        assert_eq!(ip, Some("203.0.113.9".parse().unwrap()));
        assert!(!https);
        // From a trusted proxy, the rightmost untrusted hop wins (the client cannot prepend).
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")]);
        let (ip, _) = resolve(Some("127.0.0.1".parse().unwrap()), &chain, &proxies);
        assert_eq!(ip, Some("198.51.100.7".parse().unwrap()));
        let (ip, https) = resolve(Some("127.0.0.1".parse().unwrap()), &spoof, &proxies);
        assert_eq!(ip, Some("1.2.3.4".parse().unwrap()));
        assert!(https);
        // RFC 7239, with quotes, brackets and ports; proto=https.
        let fwd = headers(&[(
            "forwarded",
            r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.2"#,
        )]);
        let (ip, https) = resolve(Some("10.0.0.1".parse().unwrap()), &fwd, &proxies);
        assert_eq!(ip, Some("2001:db8::1".parse().unwrap()));
        assert!(
            !https,
            "the last element (our proxy's hop) did not say https"
        );
        // X-Forwarded-For (what proxies append to) wins over a Forwarded a client made up.
        let both = headers(&[
            ("forwarded", "for=10.9.9.9"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        let (ip, _) = resolve(Some("127.0.0.1".parse().unwrap()), &both, &proxies);
        assert_eq!(ip, Some("198.51.100.7".parse().unwrap()));
        // Garbage where the client should be: unknown, never the proxy itself.
        let junk = headers(&[("x-forwarded-for", "not-an-ip")]);
        let (ip, _) = resolve(Some("127.0.0.1".parse().unwrap()), &junk, &proxies);
        assert_eq!(ip, None);
        // Garbage a client put in front of the real hop does not matter.
        let front = headers(&[("x-forwarded-for", "junk, 198.51.100.7, 10.0.0.3")]);
        let (ip, _) = resolve(Some("127.0.0.1".parse().unwrap()), &front, &proxies);
        assert_eq!(ip, Some("198.51.100.7".parse().unwrap()));
        // An IPv4-mapped IPv6 peer matches IPv4 ranges.
        let (ip, _) = resolve(Some("::ffff:127.0.0.1".parse().unwrap()), &chain, &proxies);
        assert_eq!(ip, Some("198.51.100.7".parse().unwrap()));
    }
}
