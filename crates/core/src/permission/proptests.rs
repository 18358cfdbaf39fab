//! Properties of permission strings and scopes (the fuzz targets `permission` and `permission_set`
//! explore the same parsers with coverage guidance; these run in the normal suite).
use proptest::prelude::*;

use super::*;

/// A valid segment: a lowercase letter, then up to 63 of `[a-z0-9_.-]`.
fn segment() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.-]{0,15}"
}

/// Any valid permission.
fn permission() -> impl Strategy<Value = Permission> {
    prop_oneof![
        1 => Just(Permission::All),
        3 => segment().prop_map(Permission::Resource),
        6 => (segment(), segment()).prop_map(|(r, a)| Permission::Exact(r, a)),
    ]
}

/// Strings near the grammar: its characters and a few others, so most fail somewhere
/// interesting.
fn near_permission() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9:*_.\\- \\x00é]{0,20}"
}

proptest! {
    #[test]
    fn parsing_never_panics_and_agrees_with_the_borrowed_parser(s in any::<String>()) {
        let p = Permission::parse(&s);
        prop_assert_eq!(p.as_ref().map(Permission::borrowed), PermissionRef::parse(&s));
    }

    #[test]
    fn what_parses_is_its_own_spelling(s in near_permission()) {
        if let Some(p) = Permission::parse(&s) {
            prop_assert_eq!(p.to_string(), s);
        }
    }

    #[test]
    fn valid_permissions_round_trip(p in permission()) {
        let text = p.to_string();
        prop_assert_eq!(Permission::parse(&text), Some(p));
    }

    #[test]
    fn segments_longer_than_64_are_refused(r in "[a-z][a-z0-9]{64,80}", a in segment()) {
        prop_assert_eq!(Permission::parse(&format!("{r}:{a}")), None);
        prop_assert_eq!(Permission::parse(&format!("{a}:{r}")), None);
        prop_assert_eq!(Permission::parse(&format!("{r}:*")), None);
    }

    #[test]
    fn wildcards_cover_what_they_name(r in segment(), a in segment(), other in segment()) {
        let exact = Permission::Exact(r.clone(), a.clone());
        let resource = Permission::Resource(r.clone());
        prop_assert!(Permission::All.covers(&exact));
        prop_assert!(Permission::All.covers(&resource));
        prop_assert!(Permission::All.covers(&Permission::All));
        prop_assert!(resource.covers(&exact));
        prop_assert!(resource.covers(&resource));
        prop_assert!(!resource.covers(&Permission::All));
        // A set of exact permissions never grants the wildcard.
        prop_assert!(!exact.covers(&resource));
        prop_assert_eq!(
            resource.covers(&Permission::Exact(other.clone(), a.clone())),
            other == r
        );
        prop_assert_eq!(exact.covers(&Permission::Exact(r.clone(), other.clone())), other == a);
    }

    #[test]
    fn covering_is_a_partial_order(a in permission(), b in permission(), c in permission()) {
        prop_assert!(a.covers(&a));
        if a.covers(&b) && b.covers(&a) {
            prop_assert_eq!(&a, &b);
        }
        if a.covers(&b) && b.covers(&c) {
            prop_assert!(a.covers(&c));
        }
    }

    #[test]
    fn scopes_round_trip(perms in prop::collection::vec(permission(), 0..8), gaps in prop::collection::vec(1..4usize, 8)) {
        // Joined by one or more spaces: the extra ones are ignored.
        let scope = perms
            .iter()
            .zip(&gaps)
            .map(|(p, n)| format!("{p}{}", " ".repeat(*n)))
            .collect::<String>();
        let set = PermissionSet::parse_scope(&scope).unwrap();
        prop_assert_eq!(&set, &PermissionSet::new(perms.clone()));
        let printed = set.to_scope();
        prop_assert_eq!(PermissionSet::parse_scope(&printed), Ok(set.clone()));
        for p in &perms {
            prop_assert!(set.covers(p));
        }
    }

    #[test]
    fn a_bad_scope_item_is_named(good in prop::collection::vec(permission(), 0..4), bad in near_permission()) {
        prop_assume!(!bad.contains(' ') && !bad.is_empty() && Permission::parse(&bad).is_none());
        let scope = good.iter().map(|p| format!("{p} ")).collect::<String>() + &bad;
        prop_assert_eq!(PermissionSet::parse_scope(&scope), Err(bad));
    }

    #[test]
    fn a_scope_never_widens_what_is_held(
        scope in prop::collection::vec(permission(), 0..6),
        held in prop::collection::vec(permission(), 0..6),
        required in permission(),
    ) {
        let (scope, held) = (PermissionSet::new(scope), PermissionSet::new(held));
        let effective = scope.effective_within(&held);
        for e in effective.iter() {
            prop_assert!(held.covers(e), "{} beyond what is held", e);
            prop_assert!(scope.covers(e), "{} beyond the scope", e);
        }
        if effective.covers(&required) {
            prop_assert!(held.covers(&required) && scope.covers(&required));
        }
        // What both the scope and the holder grant exactly is kept.
        if held.iter().any(|h| h == &required) && scope.covers(&required) && !required.names_role() {
            prop_assert!(effective.covers(&required), "{} lost", required);
        }
    }
}
