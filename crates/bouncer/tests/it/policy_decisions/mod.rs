//! What policies decide, over real requests and explain: time windows in time zones (DST, across
//! midnight), weekdays, IPv4 and IPv6 ranges, trusted and untrusted proxy headers, deny wins,
//! every allow must hold, login age per credential kind, wildcard and role requirements, and the
//! README's four examples on both databases.
//!
//! Here: the conditions of when and where (time windows, weekdays, client ranges, proxies). How
//! policies combine, login age and wildcard and role requirements are in `combining`; the
//! README's examples in `readme_examples`.

mod combining;
mod readme_examples;

use serde_json::json;

use crate::policies::{allowed, put_ok};
use crate::support::TestApp;
use crate::support::http::{assert_problem, call};

#[tokio::test]
async fn time_windows_follow_the_zone_through_daylight_saving_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, _, _) = app.user_with_roles("dst", &["user"]).await;
    put_ok(&app, &admin, "office-hours", json!({
        "effect": "allow", "permissions": ["items:read"],
        "conditions": {"time_zone": "Europe/Berlin", "time_windows": [{"start": "09:00", "end": "17:00"}]}
    }))
    .await;
    // The same UTC times of day, before (CET, UTC+1) and after (CEST, UTC+2) the switch on
    // 2026-03-29: the answer moves with the local clock.
    for (at, expect) in [
        ("2026-03-27T07:30:00Z", false), // 08:30 CET
        ("2026-03-30T07:30:00Z", true),  // 09:30 CEST
        ("2026-03-27T15:30:00Z", true),  // 16:30 CET
        ("2026-03-30T15:30:00Z", false), // 17:30 CEST
        ("2026-03-27T08:00:00Z", true),  // 09:00 CET: the start is inclusive
        ("2026-03-27T16:00:00Z", false), // 17:00 CET: the end is exclusive
        ("2026-10-26T15:59:59Z", true),  // 16:59:59 CET, after the switch back
    ] {
        assert_eq!(
            allowed(&app, &admin, &user, "items:read", at, None).await,
            expect,
            "{at}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn windows_across_midnight_and_weekdays_use_local_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, _, _) = app.user_with_roles("night", &["user"]).await;
    put_ok(&app, &admin, "night-shift", json!({
        "effect": "allow", "permissions": ["items:write"],
        "conditions": {"time_zone": "America/New_York", "time_windows": [{"start": "22:00", "end": "06:00"}],
                       "weekdays": ["mon", "tue", "wed", "thu", "fri"]}
    }))
    .await;
    // New York is UTC-5 in November.
    for (at, expect) in [
        ("2026-11-24T03:00:00Z", true),  // Mon 22:00 local
        ("2026-11-24T10:59:00Z", true),  // Tue 05:59
        ("2026-11-24T11:00:00Z", false), // Tue 06:00: end exclusive
        ("2026-11-24T17:00:00Z", false), // Tue 12:00
        ("2026-11-29T04:00:00Z", false), // Sat 23:00: not a weekday
    ] {
        assert_eq!(
            allowed(&app, &admin, &user, "items:write", at, None).await,
            expect,
            "{at}"
        );
    }
    // items:read is not governed.
    assert!(
        allowed(
            &app,
            &admin,
            &user,
            "items:read",
            "2026-11-24T17:00:00Z",
            None
        )
        .await
    );
    app.stop().await;
}

#[tokio::test]
async fn client_ranges_match_ipv4_ipv6_and_mapped_addresses() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, _, _) = app.user_with_roles("netty", &["user"]).await;
    put_ok(&app, &admin, "office-net", json!({
        "effect": "allow", "permissions": ["items:*"],
        "conditions": {"client_ips": ["10.0.0.0/8", "2001:db8::/32"], "not_client_ips": ["10.66.0.0/16"]}
    }))
    .await;
    let now = "2026-11-30T12:00:00Z";
    for (ip, expect) in [
        ("10.1.2.3", true),
        ("::ffff:10.1.2.3", true),
        ("10.66.1.1", false),
        ("2001:db8::1", true),
        ("2001:db8:ffff::1", true),
        ("2001:db9::1", false),
        ("192.168.1.1", false),
        ("::1", false),
    ] {
        assert_eq!(
            allowed(&app, &admin, &user, "items:read", now, Some(ip)).await,
            expect,
            "{ip}"
        );
    }
    let bad = call(
        app.client
            .post(app.at("/authz/explain"))
            .bearer_auth(&admin)
            .json(&json!({"subject": user, "permission": "items:read", "client_ip": "10.0.0.0/8"})),
    )
    .await;
    assert_problem(
        "client_ip",
        &bad,
        422,
        "validation_error",
        Some("client_ip"),
    );
    app.stop().await;
}

/// A request through a proxy: the policy sees the forwarded address only when the proxy is
/// trusted; otherwise the socket's (127.0.0.1).
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    for trusted in [true, false] {
        let app = TestApp::spawn_with(crate::support::Db::Sqlite, |c| {
            if trusted {
                c.server.trusted_proxies = vec!["127.0.0.1".into()];
            }
        })
        .await
        .expect("sqlite");
        let admin = app.admin_token().await;
        let (user, pw, _) = app.user_with_roles("proxied", &["user"]).await;
        put_ok(&app, &admin, "office-net", json!({
            "effect": "allow", "permissions": ["items:read"], "conditions": {"client_ips": ["10.0.0.0/8"]}
        }))
        .await;
        let t = app.token(&user, &pw).await;
        let get = |xff: &'static str| {
            app.client
                .get(app.at("/items"))
                .bearer_auth(&t)
                .header("x-forwarded-for", xff)
        };
        let (s, _, body) = call(get("10.9.8.7")).await;
        if trusted {
            assert_eq!(s, 200, "trusted proxy: {body}");
            let (s, _, body) = call(get("192.168.0.1")).await;
            assert_eq!((s, body["policy"].as_str()), (403, Some("office-net")));
        } else {
            assert_eq!(s, 403, "untrusted proxy header ignored: {body}");
            assert_eq!(body["code"], "policy_denied");
            assert_eq!(body["policy"], "office-net");
        }
        app.stop().await;
    }
}
