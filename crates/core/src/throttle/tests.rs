//! The in-memory rules. Sharing through the store is tested against real databases in the
//! integration suite (`throttling` module: two servers on one database).

use super::*;
use crate::clock::ManualClock;

fn throttle(per_user: u32, per_address: u32) -> (Throttle, ManualClock) {
    let clock = ManualClock::default();
    let t = Throttle::new(
        ThrottleSettings {
            per_user_address: per_user,
            per_address,
            window: Duration::from_secs(900),
            registrations_per_hour: 3,
        },
        Arc::new(clock.clone()),
    );
    (t, clock)
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn the_tenth_failure_is_answered_and_the_next_attempt_refused_until_the_window_ends() {
    let (t, clock) = throttle(10, 100);
    let alice = Subject::User("alice");
    for i in 1..=10 {
        assert!(t.check(alice, ip("192.0.2.1")).is_ok(), "attempt {i}");
        assert_eq!(t.failed(alice, ip("192.0.2.1")), i == 10, "failure {i}");
    }
    let refused = t.check(alice, ip("192.0.2.1")).unwrap_err();
    assert_eq!(refused.retry_after_s, 900);
    clock.advance_s(600);
    assert_eq!(
        t.check(alice, ip("192.0.2.1")).unwrap_err().retry_after_s,
        300
    );
    clock.advance_s(300);
    assert!(t.check(alice, ip("192.0.2.1")).is_ok(), "a new window");
}

#[test]
fn another_address_and_another_username_are_not_refused() {
    let (t, _) = throttle(3, 100);
    for _ in 0..3 {
        t.failed(Subject::User("alice"), ip("192.0.2.1"));
    }
    assert!(t.check(Subject::User("alice"), ip("192.0.2.1")).is_err());
    // The owner, from home: never locked out by someone else's failures.
    assert!(t.check(Subject::User("alice"), ip("198.51.100.7")).is_ok());
    assert!(t.check(Subject::User("bob"), ip("192.0.2.1")).is_ok());
    // One account, however it is spelled.
    assert!(t.check(Subject::User("ALICE"), ip("192.0.2.1")).is_err());
    // A client id is not a username.
    assert!(t.check(Subject::Client("alice"), ip("192.0.2.1")).is_ok());
}

#[test]
fn an_address_spraying_many_usernames_is_refused_for_all_of_them() {
    let (t, _) = throttle(10, 5);
    for i in 0..5 {
        t.failed(Subject::User(&format!("user{i}")), ip("192.0.2.9"));
    }
    assert!(
        t.check(Subject::User("someone-else"), ip("192.0.2.9"))
            .is_err()
    );
    assert!(t.check(Subject::Client("svc"), ip("192.0.2.9")).is_err());
    assert!(
        t.check(Subject::User("someone-else"), ip("192.0.2.10"))
            .is_ok()
    );
}

#[test]
fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
    let (t, _) = throttle(2, 100);
    t.failed(Subject::User("alice"), ip("2001:db8:1:2::1"));
    t.failed(Subject::User("alice"), ip("2001:db8:1:2::ffff"));
    assert!(
        t.check(Subject::User("alice"), ip("2001:db8:1:2:abcd::9"))
            .is_err()
    );
    assert!(
        t.check(Subject::User("alice"), ip("2001:db8:1:3::1"))
            .is_ok()
    );
    t.failed(Subject::User("bob"), ip("192.0.2.1"));
    t.failed(Subject::User("bob"), ip("::ffff:192.0.2.1"));
    assert!(t.check(Subject::User("bob"), ip("192.0.2.1")).is_err());
}

#[test]
fn without_an_address_or_with_a_limit_of_zero_nothing_is_throttled() {
    let (t, _) = throttle(0, 0);
    for _ in 0..50 {
        assert!(!t.failed(Subject::User("alice"), ip("192.0.2.1")));
    }
    assert!(t.check(Subject::User("alice"), ip("192.0.2.1")).is_ok());
    let (t, _) = throttle(1, 100);
    t.failed(Subject::User("alice"), None);
    assert!(t.check(Subject::User("alice"), None).is_ok());
}

#[test]
fn registrations_count_per_address_per_hour() {
    let (t, clock) = throttle(10, 100);
    for _ in 0..3 {
        assert!(t.check_registration(ip("192.0.2.1")).is_ok());
        t.registered(ip("192.0.2.1"));
    }
    assert_eq!(
        t.check_registration(ip("192.0.2.1"))
            .unwrap_err()
            .retry_after_s,
        3600
    );
    assert!(t.check_registration(ip("192.0.2.2")).is_ok());
    // Registrations are not failures.
    assert!(t.check(Subject::User("x"), ip("192.0.2.1")).is_ok());
    clock.advance_s(3600);
    assert!(t.check_registration(ip("192.0.2.1")).is_ok());
}

#[test]
fn keys_hold_no_username_or_address() {
    let (t, _) = throttle(10, 100);
    let [(user_key, _, _), (addr_key, _, _)] =
        t.keys(Subject::User("alice"), "192.0.2.1".parse().unwrap());
    for k in [&user_key, &addr_key] {
        assert!(!k.contains("alice") && !k.contains("192.0.2.1"), "{k}");
        assert!(k.len() <= 26, "{k}");
    }
    assert_ne!(user_key, addr_key);
}
