//! Bouncer's permission grammar and scope rules, mirrored from the server
//! (`crates/core/src/permission`), on borrowed strings: nothing is allocated on the request path.
//!
//! A permission is `resource:action`, `resource:*` or `*`. Held `*` covers everything; held
//! `items:*` covers `items:*` and every `items:ACTION`; an exact permission covers only itself. A
//! wildcard requirement is met only by an equal or wider wildcard, never by a set of exact ones.
//! `role:NAME` (and `role:*`) in a scope names roles, not permissions: a narrowed token may use the
//! role `NAME` only when its scope covers `role:NAME`.

/// The scope resource that names roles (`role:admin`).
pub const ROLE_SCOPE: &str = "role";

/// A parsed permission, borrowed from its string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Perm<'a> {
    /// `*`
    All,
    /// `resource:*`
    Resource(&'a str),
    /// `resource:action`
    Exact(&'a str, &'a str),
}

const fn valid_segment(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 64 || !s[0].is_ascii_lowercase() {
        return false;
    }
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-' || c == b'.') {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `s` is a permission in Bouncer's grammar (`*`, `resource:*`, `resource:action`:
/// lowercase ASCII letters, digits, `_-.`, each part starting with a letter, at most 64 long).
/// A `const fn`, so [`permission!`](crate::permission!) refuses a bad name at compile time.
pub const fn is_valid_permission(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() == 1 && b[0] == b'*' {
        return true;
    }
    let mut colon = 0;
    while colon < b.len() && b[colon] != b':' {
        colon += 1;
    }
    if colon == b.len() {
        return false;
    }
    let (resource, rest) = b.split_at(colon);
    let (_, action) = rest.split_at(1);
    if !valid_segment(resource) {
        return false;
    }
    (action.len() == 1 && action[0] == b'*') || valid_segment(action)
}

/// Whether `s` can be a role name: 1 to 64 characters, no whitespace, no control characters.
pub const fn is_valid_role(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() || b[i].is_ascii_control() {
            return false;
        }
        i += 1;
    }
    true
}

impl<'a> Perm<'a> {
    pub(crate) fn parse(s: &'a str) -> Option<Self> {
        if s == "*" {
            return Some(Perm::All);
        }
        if !is_valid_permission(s) {
            return None;
        }
        let (resource, action) = s.split_once(':')?;
        Some(if action == "*" {
            Perm::Resource(resource)
        } else {
            Perm::Exact(resource, action)
        })
    }

    /// Whether holding `self` grants `required` (`Permission::covers` on the server).
    pub(crate) fn covers(self, required: Perm<'_>) -> bool {
        match (self, required) {
            (Perm::All, _) => true,
            (Perm::Resource(g), Perm::Resource(r)) => g == r,
            (Perm::Resource(g), Perm::Exact(r, _)) => g == r,
            (Perm::Exact(gr, ga), Perm::Exact(rr, ra)) => gr == rr && ga == ra,
            _ => false,
        }
    }

    pub(crate) fn names_role(self) -> bool {
        matches!(
            self,
            Perm::Resource(ROLE_SCOPE) | Perm::Exact(ROLE_SCOPE, _)
        )
    }
}

/// Whether any entry of `held` (strings in the grammar; others grant nothing) covers `required`.
pub(crate) fn set_covers<S: AsRef<str>>(held: &[S], required: Perm<'_>) -> bool {
    held.iter()
        .filter_map(|h| Perm::parse(h.as_ref()))
        .any(|h| h.covers(required))
}

/// Whether a scope lets its credential use the role `role` (`role:NAME`, `role:*` or `*`).
pub(crate) fn scope_covers_role<S: AsRef<str>>(scopes: &[S], role: &str) -> bool {
    set_covers(scopes, Perm::Exact(ROLE_SCOPE, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Perm<'_> {
        Perm::parse(s).unwrap()
    }

    #[test]
    fn parses_what_bouncer_parses() {
        assert_eq!(p("*"), Perm::All);
        assert_eq!(p("items:*"), Perm::Resource("items"));
        assert_eq!(p("items:read"), Perm::Exact("items", "read"));
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
            "1tems:read",
        ] {
            assert!(Perm::parse(bad).is_none(), "{bad:?}");
            assert!(!is_valid_permission(bad), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_cover_as_on_the_server() {
        assert!(p("*").covers(p("items:delete")));
        assert!(p("*").covers(p("items:*")));
        assert!(p("items:*").covers(p("items:delete")));
        assert!(p("items:*").covers(p("items:*")));
        assert!(!p("items:write").covers(p("items:*")));
        assert!(!p("items:*").covers(p("users:read")));
        assert!(!p("items:*").covers(p("*")));
        assert!(p("items:read").covers(p("items:read")));
        assert!(!p("items:read").covers(p("items:write")));
        assert!(!set_covers(&["items:read", "items:write"], p("items:*")));
    }

    #[test]
    fn role_scopes() {
        assert!(scope_covers_role(&["*"], "admin"));
        assert!(scope_covers_role(&["role:*"], "admin"));
        assert!(scope_covers_role(&["items:read", "role:admin"], "admin"));
        assert!(!scope_covers_role(&["items:read"], "admin"));
        assert!(!scope_covers_role(&["role:user"], "admin"));
        assert!(p("role:admin").names_role() && p("role:*").names_role());
        assert!(!p("items:read").names_role() && !p("*").names_role());
    }
}
