//! Scopes (`PermissionSet::parse_scope`, the OAuth `scope` parameter and the claim) and how a scope
//! narrows held permissions: a parsed scope prints back to a scope that parses to the same set,
//! and `effective_within` never grants what either the scope or the holder lacks.
#![no_main]

use bouncer_core::permission::{Permission, PermissionSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, &str)| {
    let (scope, held, required) = input;
    let parsed = PermissionSet::parse_scope(scope);
    match &parsed {
        Ok(set) => {
            assert_eq!(
                PermissionSet::parse_scope(&set.to_scope()).as_ref(),
                Ok(set)
            );
            for item in scope.split(' ').filter(|s| !s.is_empty()) {
                let p = Permission::parse(item).expect("every item of a parsed scope parses");
                assert!(set.covers(&p));
            }
        }
        Err(bad) => {
            assert!(
                scope.split(' ').any(|s| s == bad),
                "the error names an item"
            );
            assert!(Permission::parse(bad).is_none());
        }
    }
    let (Ok(scope), Ok(held)) = (parsed, PermissionSet::parse_scope(held)) else {
        return;
    };
    let effective = scope.effective_within(&held);
    for e in effective.iter() {
        assert!(held.covers(e), "{e} granted beyond what is held");
        assert!(scope.covers(e), "{e} granted beyond the scope");
    }
    if let Some(req) = Permission::parse(required)
        && effective.covers(&req)
    {
        assert!(held.covers(&req) && scope.covers(&req), "{req}");
    }
    let mut union = scope.clone();
    union.extend(&held);
    for p in scope.iter().chain(held.iter()) {
        assert!(union.covers(p));
    }
});
