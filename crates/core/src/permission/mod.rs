//! Permissions are `resource:action` strings; `resource:*` and `*` are wildcards. OAuth2 scopes use
//! the same strings. Parsing happens once, at the edge; checks work on the parsed form.

use std::fmt;

pub mod registry;

/// A parsed permission or scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// `*`: everything.
    All,
    /// `resource:*`: every action on one resource.
    Resource(String),
    /// `resource:action`.
    Exact(String, String),
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}

impl Permission {
    /// Whether this is a `role:NAME` or `role:*` scope: it names roles, not a permission.
    pub fn names_role(&self) -> bool {
        matches!(
            self.borrowed(),
            PermissionRef::Exact(crate::authz::ROLE_SCOPE, _)
                | PermissionRef::Resource(crate::authz::ROLE_SCOPE)
        )
    }

    /// Parses `*`, `resource:*` or `resource:action` (lowercase ASCII letters, digits, `_-.`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match PermissionRef::parse(s)? {
            PermissionRef::All => Permission::All,
            PermissionRef::Resource(r) => Permission::Resource(r.to_owned()),
            PermissionRef::Exact(r, a) => Permission::Exact(r.to_owned(), a.to_owned()),
        })
    }

    /// Whether holding `self` grants `required`. A wildcard requirement (`items:*`) is granted only by
    /// an equal or wider wildcard, never by a set of exact permissions.
    pub fn covers(&self, required: &Permission) -> bool {
        self.covers_ref(required.borrowed())
    }

    /// [`Permission::covers`] for a borrowed requirement (no allocation on the request path).
    pub fn covers_ref(&self, required: PermissionRef<'_>) -> bool {
        match (self, required) {
            (Permission::All, _) => true,
            (Permission::Resource(g), PermissionRef::Resource(r)) => g == r,
            (Permission::Resource(g), PermissionRef::Exact(r, _)) => g == r,
            (Permission::Exact(gr, ga), PermissionRef::Exact(rr, ra)) => gr == rr && ga == ra,
            _ => false,
        }
    }

    pub fn borrowed(&self) -> PermissionRef<'_> {
        match self {
            Permission::All => PermissionRef::All,
            Permission::Resource(r) => PermissionRef::Resource(r),
            Permission::Exact(r, a) => PermissionRef::Exact(r, a),
        }
    }
}

/// A permission borrowed from a string, for checks on the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionRef<'a> {
    All,
    Resource(&'a str),
    Exact(&'a str, &'a str),
}

impl<'a> PermissionRef<'a> {
    /// The same grammar as [`Permission::parse`].
    pub fn parse(s: &'a str) -> Option<Self> {
        if s == "*" {
            return Some(PermissionRef::All);
        }
        let (resource, action) = s.split_once(':')?;
        if !valid_segment(resource) {
            return None;
        }
        if action == "*" {
            Some(PermissionRef::Resource(resource))
        } else if valid_segment(action) {
            Some(PermissionRef::Exact(resource, action))
        } else {
            None
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::All => f.write_str("*"),
            Permission::Resource(r) => write!(f, "{r}:*"),
            Permission::Exact(r, a) => write!(f, "{r}:{a}"),
        }
    }
}

/// A small set of permissions; checks are a linear scan, which beats hashing for the handful a
/// user holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(Vec<Permission>);

impl PermissionSet {
    pub fn new(mut perms: Vec<Permission>) -> Self {
        perms.sort();
        perms.dedup();
        PermissionSet(perms)
    }

    /// Parses a list of strings; the error names the first bad one.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut out = Vec::new();
        for s in items {
            out.push(Permission::parse(s).ok_or_else(|| s.to_owned())?);
        }
        Ok(Self::new(out))
    }

    /// Parses an OAuth2 `scope` parameter: space-separated (RFC 6749 §3.3).
    pub fn parse_scope(scope: &str) -> Result<Self, String> {
        Self::parse(scope.split(' ').filter(|s| !s.is_empty()))
    }

    pub fn covers(&self, required: &Permission) -> bool {
        self.covers_ref(required.borrowed())
    }

    pub fn covers_ref(&self, required: PermissionRef<'_>) -> bool {
        self.0.iter().any(|p| p.covers_ref(required))
    }

    /// The permissions a credential scoped to `self` may use of `held`: each scope entry held as
    /// a whole, and each held permission a wider entry covers (scope `items:*` over held
    /// `items:read`); `*` is all of `held`. `role:` entries name roles, not permissions: left out.
    pub fn effective_within(&self, held: &PermissionSet) -> PermissionSet {
        if self.covers(&Permission::All) {
            return held.clone();
        }
        let mut effective: Vec<Permission> = Vec::new();
        for s in self.0.iter().filter(|s| !s.names_role()) {
            if held.covers(s) {
                effective.push(s.clone());
            } else {
                effective.extend(held.0.iter().filter(|u| s.covers(u)).cloned());
            }
        }
        PermissionSet::new(effective)
    }

    /// Whether, as a scope, this lets its credential use the role `role` (`role:NAME`, `role:*`
    /// or `*`): scopes narrow roles as they narrow permissions.
    pub fn covers_role(&self, role: &str) -> bool {
        self.covers_ref(PermissionRef::Exact(crate::authz::ROLE_SCOPE, role))
    }

    pub fn extend(&mut self, other: &PermissionSet) {
        self.0.extend(other.0.iter().cloned());
        self.0.sort();
        self.0.dedup();
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// The space-separated form used in `scope` claims and responses.
    pub fn to_scope(&self) -> String {
        self.to_strings().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        Permission::parse(s).unwrap()
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(p("*"), Permission::All);
        assert_eq!(p("items:*"), Permission::Resource("items".into()));
        assert_eq!(p("items:read").to_string(), "items:read");
        for bad in [
            "",
            "items",
            ":read",
            "items:",
            "Items:read",
            "items:read:x",
            "*:read",
            "i tems:read",
            "items:*x",
            "items:re\0ad",
        ] {
            assert!(Permission::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_cover() {
        assert!(p("*").covers(&p("items:delete")));
        assert!(p("*").covers(&p("items:*")));
        assert!(p("items:*").covers(&p("items:delete")));
        assert!(p("items:*").covers(&p("items:*")));
        assert!(!p("items:write").covers(&p("items:*")));
        assert!(!p("items:*").covers(&p("users:read")));
        assert!(!p("items:*").covers(&p("*")));
        assert!(p("items:read").covers(&p("items:read")));
        assert!(!p("items:read").covers(&p("items:write")));
    }

    #[test]
    fn scope_parsing() {
        let s = PermissionSet::parse_scope("items:read  items:write").unwrap();
        assert_eq!(s.to_scope(), "items:read items:write");
        assert_eq!(
            PermissionSet::parse_scope("items:read bad").unwrap_err(),
            "bad"
        );
    }
}

#[cfg(test)]
mod proptests;
