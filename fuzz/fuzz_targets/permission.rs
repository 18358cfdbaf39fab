//! Permission strings (`*`, `resource:*`, `resource:action`): `Permission::parse` and the
//! borrowed `PermissionRef::parse` agree; what parses is printed back exactly as written (one
//! spelling per permission), and the wildcard rules hold for it.
#![no_main]

use bouncer_core::permission::{Permission, PermissionRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (a, b) = input;
    let (pa, pb) = (Permission::parse(a), Permission::parse(b));
    for (s, p) in [(a, &pa), (b, &pb)] {
        assert_eq!(
            p.as_ref().map(Permission::borrowed),
            PermissionRef::parse(s)
        );
        let Some(p) = p else { continue };
        assert_eq!(p.to_string(), s, "not its own spelling");
        assert_eq!(Permission::parse(&p.to_string()).as_ref(), Some(p));
        assert!(p.covers(p));
        assert!(Permission::All.covers(p));
        match p {
            Permission::All => {}
            Permission::Resource(r) => {
                assert!(!p.covers(&Permission::All));
                assert!(p.covers(&Permission::Exact(r.clone(), "x".into())));
            }
            Permission::Exact(r, _) => {
                assert!(Permission::Resource(r.clone()).covers(p));
                assert!(!p.covers(&Permission::Resource(r.clone())));
            }
        }
    }
    if let (Some(pa), Some(pb)) = (&pa, &pb) {
        // Covering is a partial order: antisymmetric, and only `*` covers `*`.
        if pa.covers(pb) && pb.covers(pa) {
            assert_eq!(pa, pb);
        }
        if pa.covers(pb) && pb == &Permission::All {
            assert_eq!(pa, &Permission::All);
        }
        // A resource wildcard covers exactly its resource's permissions.
        if let (Permission::Resource(r), Permission::Exact(rb, _)) = (pa, pb) {
            assert_eq!(pa.covers(pb), r == rb);
        }
    }
});
