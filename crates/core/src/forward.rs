//! Forward-auth rules (`[[forward_auth.rules]]`): which original requests need what. The first rule
//! whose path and method match decides. Paths are compared as the upstream will see them
//! (normalized by [`normalize_path`]), so no spelling of a path slips past its rule.

use percent_encoding::percent_decode_str;

/// What a matching rule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleNeed {
    /// No credential needed.
    Public,
    /// Any valid credential.
    Authenticated,
    Role(String),
    Permission(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// `*` matches one segment, `**` any number (zero included); otherwise exact.
    pub path: String,
    /// Upper-case methods; empty: every method.
    pub methods: Vec<String>,
    pub need: RuleNeed,
}

/// The path the upstream will serve for `uri`: query and fragment stripped, percent-encoding
/// decoded once, repeated slashes merged, dot segments resolved (RFC 3986 §5.2.4); always
/// absolute. `None` when it is not a path at all (no leading `/`, or not UTF-8 once decoded).
pub fn normalize_path(uri: &str) -> Option<String> {
    let end = uri.find(['?', '#']).unwrap_or(uri.len());
    let raw = &uri[..end];
    if !raw.starts_with('/') {
        return None;
    }
    // Spellings upstreams disagree on (path parameters `;`, encoded `/` and `\`): refused, so no
    // rule can be slipped past by one of them.
    let lower = raw.to_ascii_lowercase();
    if raw.contains([';', '\\']) || lower.contains("%2f") || lower.contains("%5c") {
        return None;
    }
    let decoded = percent_decode_str(raw).decode_utf8().ok()?;
    if decoded.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    Some(format!("/{}", out.join("/")))
}

/// Whether the pattern's segments (walked without collecting them) match the path's.
fn glob_match<'a>(mut pattern: impl Iterator<Item = &'a str> + Clone, path: &[&str]) -> bool {
    match pattern.next() {
        None => path.is_empty(),
        Some("**") => (0..=path.len()).any(|i| glob_match(pattern.clone(), &path[i..])),
        Some(p) => match path.split_first() {
            // Case-insensitive: stricter for upstreams that are, the same for those that are not.
            Some((&s, path_rest)) => {
                (p == "*" || p.eq_ignore_ascii_case(s)) && glob_match(pattern, path_rest)
            }
            None => false,
        },
    }
}

/// A normalized path's segments; `None` for very long paths, which match no rule (bounded work
/// whatever the path: at most two `**` per rule, configuration refuses more).
fn segments(path: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (segments.len() <= 64).then_some(segments)
}

impl Rule {
    /// Whether the rule covers `method` on the normalized `path`.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        segments(path).is_some_and(|s| self.matches_segments(method, &s))
    }

    fn matches_segments(&self, method: &str, path: &[&str]) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
        {
            return false;
        }
        glob_match(self.path.split('/').filter(|s| !s.is_empty()), path)
    }
}

/// The first rule covering the request, if any (and if the request named a path at all). The
/// path is split once, whatever the number of rules.
pub fn first_match<'r>(rules: &'r [Rule], method: &str, path: Option<&str>) -> Option<&'r Rule> {
    let path = segments(path?)?;
    rules.iter().find(|r| r.matches_segments(method, &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_what_the_upstream_sees() {
        for (uri, want) in [
            ("/public#/admin", "/public"),
            ("/public?next=/admin", "/public"),
            ("/public/../admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("//admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/a/./b//c/", "/a/b/c"),
            ("/../../etc", "/etc"),
            ("/", "/"),
        ] {
            assert_eq!(normalize_path(uri).as_deref(), Some(want), "{uri}");
        }
        for bad in [
            "admin",
            "",
            "http://x/admin",
            "/%ff",
            "/a%00b",
            "/a\\\\..\\\\admin",
        ] {
            assert_eq!(normalize_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn globs() {
        let rule = |p: &str| Rule {
            path: p.into(),
            methods: vec![],
            need: RuleNeed::Public,
        };
        assert!(rule("/admin/**").matches("GET", "/admin"));
        assert!(rule("/admin/**").matches("GET", "/admin/x/y"));
        assert!(!rule("/admin/**").matches("GET", "/administrator"));
        assert!(rule("/items/*").matches("GET", "/items/1"));
        assert!(!rule("/items/*").matches("GET", "/items/1/2"));
        assert!(!rule("/items/*").matches("GET", "/items"));
        assert!(rule("/exact").matches("GET", "/exact"));
        assert!(
            rule("/admin/**").matches("GET", "/ADMIN/x"),
            "case-insensitive"
        );
        assert!(!rule("/exact").matches("GET", "/exact/more"));
        let post_only = Rule {
            path: "/items/**".into(),
            methods: vec!["POST".into()],
            need: RuleNeed::Public,
        };
        assert!(post_only.matches("post", "/items/1"));
        assert!(!post_only.matches("GET", "/items/1"));
    }
}
