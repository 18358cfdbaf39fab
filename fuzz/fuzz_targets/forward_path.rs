//! The original request's path in forward-auth (`X-Original-URI` / `X-Forwarded-Uri`, written by
//! the client): `normalize_path` gives an absolute path with no empty, `.` or `..` segments and no
//! control characters or backslashes, the same path for the same path with a query or fragment
//! added, and rule matching over it never panics (and a `/**` rule matches every path).
#![no_main]

use bouncer_core::forward::{Rule, RuleNeed, first_match, normalize_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, &str)| {
    let (uri, pattern, method) = input;
    let Some(path) = normalize_path(uri) else {
        return;
    };
    assert!(path.starts_with('/'), "{path:?}");
    if path != "/" {
        for seg in path[1..].split('/') {
            assert!(!matches!(seg, "" | "." | ".."), "{uri:?} -> {path:?}");
        }
    }
    assert!(!path.chars().any(|c| c.is_control() || c == '\\'));
    if !uri.contains(['?', '#']) {
        assert_eq!(
            normalize_path(&format!("{uri}?q=/..#/x")).as_ref(),
            Some(&path)
        );
    }
    let rule = |p: &str| Rule {
        path: p.into(),
        methods: vec![],
        need: RuleNeed::Public,
    };
    // Configuration refuses more than two `**` in a rule (matching is exponential in them).
    let pattern = if pattern.split('/').filter(|s| *s == "**").count() > 2 {
        "/"
    } else {
        pattern
    };
    let rules = [rule(pattern), rule("/**")];
    let hit = first_match(&rules, method, Some(&path));
    let segments = path.split('/').filter(|s| !s.is_empty()).count();
    assert_eq!(hit.is_some(), segments <= 64, "{path:?}");
});
