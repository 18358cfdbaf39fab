//! What policies decide, over real requests and explain: time windows in time zones (DST, across
//! midnight), weekdays, IPv4 and IPv6 ranges, trusted and untrusted proxy headers, deny wins,
//! every allow must hold, login age per credential kind, wildcard and role requirements, and the
//! README's four examples on both databases.

use serde_json::json;

use crate::policies::{allowed, ms, put_ok};
use crate::support::http::{assert_problem, call};
use crate::support::{BOTH, TestApp, basic};

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

#[tokio::test]
async fn deny_wins_and_every_allow_must_hold() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, pw, _) = app.user_with_roles("dee", &["user"]).await;
    let t = app.token(&user, &pw).await;
    let ok = |t: &str| app.client.get(app.at("/items")).bearer_auth(t.to_owned());
    put_ok(
        &app,
        &admin,
        "a-always",
        json!({"effect": "allow", "permissions": ["items:read"]}),
    )
    .await;
    assert_eq!(
        call(ok(&t)).await.0,
        200,
        "an allow without conditions holds"
    );
    put_ok(&app, &admin, "b-never", json!({
        "effect": "allow", "permissions": ["items:*"], "conditions": {"valid_until": "2000-01-01T00:00:00Z"}
    }))
    .await;
    let (s, _, body) = call(ok(&t)).await;
    assert_eq!(
        (s, &body["code"], &body["policy"]),
        (403, &json!("policy_denied"), &json!("b-never")),
        "every allow must hold"
    );
    put_ok(
        &app,
        &admin,
        "b-never",
        json!({"effect": "allow", "permissions": ["items:*"]}),
    )
    .await;
    assert_eq!(call(ok(&t)).await.0, 200);
    put_ok(
        &app,
        &admin,
        "z-deny-users",
        json!({"effect": "deny", "permissions": ["items:read"], "roles": ["user"]}),
    )
    .await;
    let (s, _, body) = call(ok(&t)).await;
    assert_eq!(
        (s, &body["policy"]),
        (403, &json!("z-deny-users")),
        "deny wins over allows that hold"
    );
    assert_eq!(body["missing"], "items:read");
    // The admin does not hold `user`: the deny does not apply.
    assert_eq!(call(ok(&admin)).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn login_age_counts_from_the_real_auth_time_and_api_keys_have_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, pw, _) = app.user_with_roles("ager", &["user"]).await;
    let (s, _, key) = call(
        app.client
            .post(app.at("/users/me/api-keys"))
            .header("authorization", basic(&user, &pw))
            .json(&json!({"name": "k"})),
    )
    .await;
    assert_eq!(s, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    put_ok(
        &app,
        &admin,
        "recent-login",
        json!({
            "effect": "allow", "permissions": ["items:write"], "conditions": {"max_auth_age_s": 600}
        }),
    )
    .await;
    let create = |rb: reqwest::RequestBuilder| rb.json(&json!({"name": "thing"}));
    let t = app.token(&user, &pw).await;
    assert_eq!(
        call(create(app.client.post(app.at("/items")).bearer_auth(&t)))
            .await
            .0,
        201
    );
    let (s, _, body) = call(create(
        app.client.post(app.at("/items")).header("x-api-key", &key),
    ))
    .await;
    assert_eq!(
        (s, &body["policy"]),
        (403, &json!("recent-login")),
        "an API key has no login: {body}"
    );
    app.clock.advance_s(601);
    let (s, _, body) = call(create(app.client.post(app.at("/items")).bearer_auth(&t))).await;
    assert_eq!(
        (s, &body["code"]),
        (403, &json!("policy_denied")),
        "the login is too old: {body}"
    );
    // A refreshed or new token from a new login is fine; Basic is a login at each request.
    let fresh = app.token(&user, &pw).await;
    assert_eq!(
        call(create(
            app.client.post(app.at("/items")).bearer_auth(&fresh)
        ))
        .await
        .0,
        201
    );
    let b = create(
        app.client
            .post(app.at("/items"))
            .header("authorization", basic(&user, &pw)),
    );
    assert_eq!(call(b).await.0, 201);
    app.stop().await;
}

/// The four README examples, end to end over real requests, on both databases.
#[tokio::test]
async fn the_readme_examples_work_end_to_end() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        // Friday 2027-03-26 15:30 UTC is 16:30 in Berlin.
        app.clock.set_ms(ms("2027-03-26T15:30:00Z"));
        let admin = app.admin_token().await;
        let (user, pw, _) = app.user_with_roles("reader", &["user"]).await;
        put_ok(&app, &admin, "office-hours", json!({
            "effect": "allow", "permissions": ["items:write"],
            "conditions": {"time_zone": "Europe/Berlin", "time_windows": [{"start": "09:00", "end": "18:00"}],
                           "weekdays": ["mon", "tue", "wed", "thu", "fri"]}
        }))
        .await;
        put_ok(&app, &admin, "office-deletes", json!({
            "effect": "allow", "permissions": ["items:delete"], "conditions": {"client_ips": ["10.0.0.0/8", "127.0.0.0/8"]}
        }))
        .await;
        put_ok(&app, &admin, "keys-read-only", json!({
            "effect": "deny", "permissions": ["items:write", "items:delete"], "credential_kinds": ["api_key"]
        }))
        .await;
        put_ok(&app, &admin, "admin-recent-login", json!({
            "effect": "allow", "permissions": ["users:*", "roles:*", "policies:write", "clients:*"],
            "roles": ["admin"], "conditions": {"max_auth_age_s": 600}
        }))
        .await;
        let t = app.token(&user, &pw).await;
        let new_item = |t: &str| {
            app.client
                .post(app.at("/items"))
                .bearer_auth(t.to_owned())
                .json(&json!({"name": "n"}))
        };
        let (s, _, item) = call(new_item(&t)).await;
        assert_eq!(s, 201, "{db:?}: office hours: {item}");
        let id = item["id"].as_str().unwrap().to_owned();
        // Deleting one's own item (items:write stands in) from 127.0.0.1 is in the office range.
        let del = call(
            app.client
                .delete(app.at(&format!("/items/{id}")))
                .bearer_auth(&t),
        )
        .await;
        assert_eq!(del.0, 204, "{db:?}: {}", del.2);
        // An API key cannot write.
        let (_, _, key) = call(
            app.client
                .post(app.at("/users/me/api-keys"))
                .bearer_auth(&t)
                .json(&json!({"name": "k"})),
        )
        .await;
        let key = key["key"].as_str().unwrap().to_owned();
        let (s, _, body) = call(
            app.client
                .post(app.at("/items"))
                .header("x-api-key", &key)
                .json(&json!({"name": "n"})),
        )
        .await;
        assert_eq!(
            (s, &body["policy"]),
            (403, &json!("keys-read-only")),
            "{db:?}: {body}"
        );
        assert_eq!(
            call(app.client.get(app.at("/items")).header("x-api-key", &key))
                .await
                .0,
            200
        );
        // Admin actions need a recent login.
        let users = || {
            app.client
                .patch(app.at("/users/me"))
                .bearer_auth(admin.clone())
                .json(&json!({"full_name": "A"}))
        };
        assert_eq!(
            call(app.client.get(app.at("/users")).bearer_auth(&admin))
                .await
                .0,
            200
        );
        app.clock.advance_s(601);
        let (s, _, body) = call(app.client.get(app.at("/users")).bearer_auth(&admin)).await;
        assert_eq!(
            (s, &body["policy"]),
            (403, &json!("admin-recent-login")),
            "{db:?}: {body}"
        );
        assert_eq!(
            call(users()).await.0,
            200,
            "own profile needs no permission"
        );
        // Saturday: outside office hours.
        app.clock.set_ms(ms("2027-03-27T10:00:00Z"));
        let t = app.token(&user, &pw).await;
        let (s, _, body) = call(new_item(&t)).await;
        assert_eq!(
            (s, &body["policy"]),
            (403, &json!("office-hours")),
            "{db:?}: {body}"
        );
        app.stop().await;
    }
}

/// A wider requirement never slips past a policy on one of its parts: a moderator's API key
/// (holding `items:*`) updating someone else's item is refused by a deny on `items:write` for
/// API keys; and policies on `role:NAME` govern role requirements.
#[tokio::test]
async fn wildcard_and_role_requirements_are_governed_too() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (owner, opw, _) = app.user_with_roles("owner", &["user"]).await;
    let ot = app.token(&owner, &opw).await;
    let (_, _, item) = call(
        app.client
            .post(app.at("/items"))
            .bearer_auth(&ot)
            .json(&json!({"name": "x"})),
    )
    .await;
    let id = item["id"].as_str().unwrap().to_owned();
    let (m, mpw, _) = app.user_with_roles("mod", &["moderator"]).await;
    let mt = app.token(&m, &mpw).await;
    let (_, _, key) = call(
        app.client
            .post(app.at("/users/me/api-keys"))
            .bearer_auth(&mt)
            .json(&json!({"name": "k"})),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_owned();
    put_ok(&app, &admin, "keys-read-only", json!({
        "effect": "deny", "permissions": ["items:write", "items:delete"], "credential_kinds": ["api_key"]
    }))
    .await;
    let update = |rb: reqwest::RequestBuilder| rb.json(&json!({"name": "changed"}));
    let (s, _, body) = call(update(
        app.client
            .put(app.at(&format!("/items/{id}")))
            .header("x-api-key", &key),
    ))
    .await;
    assert_eq!(
        (s, &body["policy"]),
        (403, &json!("keys-read-only")),
        "items:* with a key: {body}"
    );
    let (s, _, body) = call(update(
        app.client
            .put(app.at(&format!("/items/{id}")))
            .bearer_auth(&mt),
    ))
    .await;
    assert_eq!(s, 200, "the moderator's token is no key: {body}");
    // role:admin from outside the office network.
    assert_eq!(
        call(app.client.get(app.at("/admin-only")).bearer_auth(&admin))
            .await
            .0,
        200
    );
    put_ok(&app, &admin, "admin-from-office", json!({
        "effect": "allow", "permissions": ["role:admin"], "conditions": {"client_ips": ["10.0.0.0/8"]}
    }))
    .await;
    let (s, _, body) = call(app.client.get(app.at("/admin-only")).bearer_auth(&admin)).await;
    assert_eq!(
        (s, &body["policy"], &body["missing"]),
        (403, &json!("admin-from-office"), &json!("role:admin")),
        "{body}"
    );
    assert_eq!(
        call(app.client.get(app.at("/user-only")).bearer_auth(&ot))
            .await
            .0,
        200,
        "role:user is not governed"
    );
    app.stop().await;
}
