//! Conditional policies: named rules an operator attaches to permissions ("items:delete only from
//! the office network, in office hours"). A [`PolicyDocument`] is what clients PUT and read back;
//! [`CompiledPolicy::compile`] checks it once (every bad value is a validation error naming its
//! field) and turns it into the form [`crate::authz::Authorizer`] evaluates on every request: time
//! zones resolved, CIDRs parsed, windows in seconds of the day. Nothing a client sends can make the
//! evaluator fail: every input it sees was accepted by `compile`.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::permission::{Permission, PermissionRef};
use crate::principal::Principal;

mod document;
pub use document::{Conditions, Day, Effect, KindName, Policy, PolicyDocument, TimeWindow};

/// Most policies a deployment may hold: each is evaluated on the requests it names.
pub const MAX_POLICIES: usize = 500;
const MAX_LIST: usize = 256;
const DESCRIPTION_MAX: usize = 1000;

/// One condition of a policy, compiled.
#[derive(Debug, Clone)]
enum Condition {
    /// Local time of day in the zone, in any of the windows (seconds of the day).
    TimeWindows(Vec<(u32, u32)>),
    /// Local weekday in the zone, one of the set (bit per [`Day`]).
    Weekdays(u8),
    ValidFrom(Millis),
    ValidUntil(Millis),
    ClientIps(Vec<IpNet>),
    NotClientIps(Vec<IpNet>),
    MaxAuthAge(Millis),
}

impl Condition {
    /// The field of the policy document this condition comes from (explain names steps by it).
    pub fn field(&self) -> &'static str {
        match self {
            Condition::TimeWindows(_) => "time_windows",
            Condition::Weekdays(_) => "weekdays",
            Condition::ValidFrom(_) => "valid_from",
            Condition::ValidUntil(_) => "valid_until",
            Condition::ClientIps(_) => "client_ips",
            Condition::NotClientIps(_) => "not_client_ips",
            Condition::MaxAuthAge(_) => "max_auth_age_s",
        }
    }
}

/// What conditions are evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub now_ms: Millis,
    pub client_ip: Option<IpAddr>,
    pub auth_time: Option<Millis>,
}

impl Facts {
    pub fn of(p: &Principal) -> Self {
        Facts {
            now_ms: p.context.now_ms,
            client_ip: p.context.client_ip.map(crate::context::unmapped),
            auth_time: p.auth_time,
        }
    }
}

/// A condition's verdict, with what it saw (for explain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionResult {
    pub field: &'static str,
    pub holds: bool,
    pub detail: String,
}

/// A policy ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub name: Arc<str>,
    pub effect: Effect,
    permissions: Vec<Permission>,
    roles: Option<Vec<String>>,
    /// Bit per [`KindName`]; `None`: every kind.
    kinds: Option<u8>,
    zone: TimeZone,
    conditions: Vec<Condition>,
}

/// Whether two permissions share any permission (either covers the other).
fn overlaps(policy: &Permission, required: PermissionRef<'_>) -> bool {
    policy.covers_ref(required)
        || match (required, policy) {
            (PermissionRef::All, _) => true,
            (PermissionRef::Resource(r), Permission::Exact(p, _)) => r == p,
            _ => false,
        }
}

fn kind_bit(k: KindName) -> u8 {
    1 << (k as u8)
}

/// `HH:MM` as seconds of the day; `24:00` only where `end_of_day` allows it.
#[doc(hidden)]
pub fn clock_time(s: &str, end_of_day: bool) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if end_of_day => Some(86_400),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

fn ranges(field: &str, list: &[String], allow_empty: bool) -> Result<Vec<IpNet>> {
    if list.is_empty() && !allow_empty {
        return Err(Error::validation(
            field,
            "must name at least one range; leave the condition out to allow any address",
        ));
    }
    if list.len() > MAX_LIST {
        return Err(Error::validation(
            field,
            format!("at most {MAX_LIST} ranges"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            crate::context::network(s).ok_or_else(|| {
                Error::validation(
                    format!("{field}[{i}]"),
                    format!(
                        "{s:?} is not an IPv4 or IPv6 address or CIDR range (such as 10.0.0.0/8)"
                    ),
                )
            })
        })
        .collect()
}

fn in_any(ranges: &[IpNet], ip: IpAddr) -> bool {
    ranges.iter().any(|n| n.contains(&ip))
}

fn hhmm(secs: u32) -> String {
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

impl CompiledPolicy {
    /// Checks a document (every bad value is a validation error naming its field, as
    /// `conditions.time_windows[0].start`) and compiles it. `role_exists` says whether a role
    /// named in `roles` exists: a policy for a role nobody can hold is a typo.
    pub fn compile(
        name: &str,
        doc: &PolicyDocument,
        role_exists: impl Fn(&str) -> bool,
    ) -> Result<Self> {
        crate::validate::role_name(name)?;
        if let Some(d) = &doc.description
            && (d.chars().count() > DESCRIPTION_MAX || d.chars().any(char::is_control))
        {
            return Err(Error::validation(
                "description",
                format!("at most {DESCRIPTION_MAX} characters, no control characters"),
            ));
        }
        if doc.permissions.is_empty() || doc.permissions.len() > MAX_LIST {
            return Err(Error::validation(
                "permissions",
                format!("must name 1 to {MAX_LIST} permissions"),
            ));
        }
        let mut permissions = Vec::with_capacity(doc.permissions.len());
        for (i, p) in doc.permissions.iter().enumerate() {
            let parsed = Permission::parse(p).ok_or_else(|| {
                Error::validation(
                    format!("permissions[{i}]"),
                    format!("{p:?} is not a permission (resource:action, resource:* or *)"),
                )
            })?;
            permissions.push(parsed);
        }
        if let Some(roles) = &doc.roles {
            if roles.is_empty() || roles.len() > MAX_LIST {
                return Err(Error::validation(
                    "roles",
                    "must name at least one role; leave it out to apply to everyone",
                ));
            }
            for (i, r) in roles.iter().enumerate() {
                if !role_exists(r) {
                    return Err(Error::validation(
                        format!("roles[{i}]"),
                        format!("no role named {r:?}"),
                    ));
                }
            }
        }
        let kinds = match &doc.credential_kinds {
            None => None,
            Some(k) if k.is_empty() => {
                return Err(Error::validation(
                    "credential_kinds",
                    "must name at least one kind; leave it out to apply to every credential",
                ));
            }
            Some(k) => Some(k.iter().fold(0u8, |m, k| m | kind_bit(*k))),
        };
        let (zone, conditions) = match &doc.conditions {
            None => (TimeZone::UTC, Vec::new()),
            Some(c) => compile_conditions(c)?,
        };
        Ok(CompiledPolicy {
            name: Arc::from(name),
            effect: doc.effect,
            permissions,
            roles: doc.roles.clone(),
            kinds,
            zone,
            conditions,
        })
    }

    /// Whether the policy governs `required`: one of its permissions overlaps it. A policy on
    /// `items:*` governs `items:delete`, and a policy on `items:delete` governs a requirement of
    /// `items:*` (or `*`), which includes it: a wider requirement never slips past a rule on
    /// one of its parts.
    pub fn governs(&self, required: PermissionRef<'_>) -> bool {
        self.permissions.iter().any(|p| overlaps(p, required))
    }

    /// Whether the policy applies to this caller (its roles and credential kinds); `Err` names
    /// what excluded it, for explain.
    pub fn applies_to(&self, p: &Principal) -> std::result::Result<(), &'static str> {
        if let Some(k) = self.kinds
            && k & kind_bit(p.credential.into()) == 0
        {
            return Err("credential_kinds");
        }
        if let Some(roles) = &self.roles
            && !roles.iter().any(|r| p.has_role(r))
        {
            return Err("roles");
        }
        Ok(())
    }

    /// Whether every condition holds. With `trace`, every condition is evaluated and reported;
    /// without, the first that fails ends it.
    pub fn conditions_hold(
        &self,
        facts: &Facts,
        mut trace: Option<&mut Vec<ConditionResult>>,
    ) -> bool {
        let mut all = true;
        // The local time, computed once and only if a condition needs it. The offset, and so
        // daylight saving time, comes from the time-zone database.
        let mut local = None;
        for c in &self.conditions {
            let holds = self.condition_holds(c, facts, &mut local);
            if let Some(t) = trace.as_deref_mut() {
                t.push(ConditionResult {
                    field: c.field(),
                    holds,
                    detail: self.describe(c, facts, &mut local, holds),
                });
            } else if !holds {
                return false;
            }
            all &= holds;
        }
        all
    }

    fn local_time(
        &self,
        facts: &Facts,
        local: &mut Option<jiff::civil::DateTime>,
    ) -> jiff::civil::DateTime {
        *local.get_or_insert_with(|| {
            let ts = Timestamp::from_millisecond(facts.now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
            self.zone.to_datetime(ts)
        })
    }

    fn condition_holds(
        &self,
        c: &Condition,
        facts: &Facts,
        local: &mut Option<jiff::civil::DateTime>,
    ) -> bool {
        match c {
            Condition::TimeWindows(windows) => {
                let t = self.local_time(facts, local);
                let s = u32::try_from(
                    i32::from(t.hour()) * 3600 + i32::from(t.minute()) * 60 + i32::from(t.second()),
                )
                .unwrap_or(0);
                windows.iter().any(|&(start, end)| {
                    if start < end {
                        start <= s && s < end
                    } else {
                        // Across midnight.
                        s >= start || s < end
                    }
                })
            }
            Condition::Weekdays(mask) => {
                let t = self.local_time(facts, local);
                mask & Day::of(t.weekday()).bit() != 0
            }
            Condition::ValidFrom(from) => facts.now_ms >= *from,
            Condition::ValidUntil(until) => facts.now_ms < *until,
            // An unknown address proves nothing, so a range condition decides against the
            // request: it fails in an allow policy and holds in a deny policy.
            Condition::ClientIps(r) => match facts.client_ip {
                Some(ip) => in_any(r, ip),
                None => self.effect == Effect::Deny,
            },
            Condition::NotClientIps(r) => match facts.client_ip {
                Some(ip) => !in_any(r, ip),
                None => self.effect == Effect::Deny,
            },
            Condition::MaxAuthAge(max) => facts
                .auth_time
                .is_some_and(|at| facts.now_ms.saturating_sub(at) <= *max),
        }
    }

    fn describe(
        &self,
        c: &Condition,
        facts: &Facts,
        local: &mut Option<jiff::civil::DateTime>,
        holds: bool,
    ) -> String {
        let zone = self.zone.iana_name().unwrap_or("UTC");
        match c {
            Condition::TimeWindows(w) => {
                let t = self.local_time(facts, local);
                let windows: Vec<String> = w
                    .iter()
                    .map(|(s, e)| format!("{}-{}", hhmm(*s), hhmm(*e)))
                    .collect();
                format!(
                    "local time {:02}:{:02} ({zone}) {} {}",
                    t.hour(),
                    t.minute(),
                    if holds { "is in" } else { "is outside" },
                    windows.join(", ")
                )
            }
            Condition::Weekdays(_) => {
                let t = self.local_time(facts, local);
                format!(
                    "local day {:?} ({zone}) {}",
                    t.weekday(),
                    if holds {
                        "is allowed"
                    } else {
                        "is not allowed"
                    }
                )
            }
            Condition::ValidFrom(from) => format!(
                "now {} valid_from {}",
                if holds { "is at or after" } else { "is before" },
                crate::clock::rfc3339(*from)
            ),
            Condition::ValidUntil(until) => format!(
                "now {} valid_until {}",
                if holds { "is before" } else { "is at or after" },
                crate::clock::rfc3339(*until)
            ),
            Condition::ClientIps(_) | Condition::NotClientIps(_) => match facts.client_ip {
                None => "the client address is unknown, which counts against the request".into(),
                Some(ip) => format!(
                    "client address {ip} {}",
                    if holds {
                        "satisfies the ranges"
                    } else {
                        "does not satisfy the ranges"
                    }
                ),
            },
            Condition::MaxAuthAge(max) => match facts.auth_time {
                None => "the credential carries no login time (auth_time)".into(),
                Some(at) => format!(
                    "login {} s ago, limit {} s",
                    facts.now_ms.saturating_sub(at) / 1000,
                    max / 1000
                ),
            },
        }
    }
}

fn compile_conditions(c: &Conditions) -> Result<(TimeZone, Vec<Condition>)> {
    let f = |name: &str| format!("conditions.{name}");
    let zone = match &c.time_zone {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|_| {
            Error::validation(
                f("time_zone"),
                format!("{name:?} is not an IANA time zone (such as Europe/Berlin)"),
            )
        })?,
    };
    let mut out = Vec::new();
    if let Some(windows) = &c.time_windows {
        if windows.is_empty() || windows.len() > MAX_LIST {
            return Err(Error::validation(
                f("time_windows"),
                "must hold at least one window; leave it out to allow any time",
            ));
        }
        let mut compiled = Vec::with_capacity(windows.len());
        for (i, w) in windows.iter().enumerate() {
            let start = clock_time(&w.start, false).ok_or_else(|| {
                Error::validation(
                    f(&format!("time_windows[{i}].start")),
                    format!("{:?} is not a time of day HH:MM (00:00 to 23:59)", w.start),
                )
            })?;
            let end = clock_time(&w.end, true).ok_or_else(|| {
                Error::validation(
                    f(&format!("time_windows[{i}].end")),
                    format!("{:?} is not a time of day HH:MM (00:00 to 24:00)", w.end),
                )
            })?;
            if start == end {
                return Err(Error::validation(
                    f(&format!("time_windows[{i}]")),
                    "the window is empty (start equals end)",
                ));
            }
            compiled.push((start, end));
        }
        out.push(Condition::TimeWindows(compiled));
    }
    if let Some(days) = &c.weekdays {
        if days.is_empty() {
            return Err(Error::validation(
                f("weekdays"),
                "must name at least one day; leave it out to allow every day",
            ));
        }
        out.push(Condition::Weekdays(days.iter().fold(0, |m, d| m | d.bit())));
    }
    let instant = |name: &str, v: &Option<String>| -> Result<Option<Millis>> {
        v.as_deref()
            .map(|s| {
                crate::clock::parse_rfc3339(s).ok_or_else(|| {
                    Error::validation(
                        f(name),
                        format!("{s:?} is not an RFC 3339 time (such as 2026-01-01T00:00:00Z)"),
                    )
                })
            })
            .transpose()
    };
    let from = instant("valid_from", &c.valid_from)?;
    let until = instant("valid_until", &c.valid_until)?;
    if let (Some(a), Some(b)) = (from, until)
        && a >= b
    {
        return Err(Error::validation(
            f("valid_until"),
            "must be after valid_from",
        ));
    }
    out.extend(from.map(Condition::ValidFrom));
    out.extend(until.map(Condition::ValidUntil));
    if let Some(list) = &c.client_ips {
        out.push(Condition::ClientIps(ranges(&f("client_ips"), list, false)?));
    }
    if let Some(list) = &c.not_client_ips {
        out.push(Condition::NotClientIps(ranges(
            &f("not_client_ips"),
            list,
            true,
        )?));
    }
    if let Some(max) = c.max_auth_age_s {
        if max == 0 || max > 366 * 86_400 {
            return Err(Error::validation(
                f("max_auth_age_s"),
                "must be 1 to 31622400 seconds",
            ));
        }
        out.push(Condition::MaxAuthAge(
            i64::try_from(max).unwrap_or(0) * 1000,
        ));
    }
    Ok((zone, out))
}

/// Every IANA time-zone name the bundled database knows: what `conditions.time_zone` accepts.
pub fn time_zone_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
    names.sort();
    names
}

/// Every policy in force, compiled: what the authorizer holds and swaps as a whole.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<CompiledPolicy>,
}

impl PolicySet {
    /// The set of `policies`, ordered by name (so decisions and explains are stable).
    pub fn new(mut policies: Vec<CompiledPolicy>) -> Self {
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        PolicySet { policies }
    }
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
    pub fn len(&self) -> usize {
        self.policies.len()
    }
    /// Every policy, by name.
    pub fn policies(&self) -> impl Iterator<Item = &CompiledPolicy> {
        self.policies.iter()
    }
    /// The policies that govern `required`.
    pub fn governing<'a>(
        &'a self,
        required: PermissionRef<'a>,
    ) -> impl Iterator<Item = &'a CompiledPolicy> + 'a {
        self.policies.iter().filter(move |p| p.governs(required))
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
