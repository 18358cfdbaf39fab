//! What the series count: requests by route template (never the raw path, everything unrouted as
//! one label) with a latency histogram, logins by outcome, cache lookups, and the gauges read at
//! scrape time; every series documented.

use super::{scrape, spawn_enabled, value};
use crate::support::{ADMIN, ADMIN_PASSWORD, basic};

#[tokio::test]
async fn series_count_routes_by_template_logins_caches_and_gauges() {
    let app = spawn_enabled("").await;
    let admin = app.admin_token().await;
    let auth = format!("Bearer {admin}");
    let before = scrape(&app, Some(&auth)).await.2;
    let login = |outcome: &'static str, reason: Option<&'static str>| {
        let mut l = vec![("via", "password_grant"), ("outcome", outcome)];
        l.extend(reason.map(|r| ("reason", r)));
        l
    };
    let logins = |text: &str, l: &[(&str, &str)]| value(text, "bouncer_logins_total", l);
    let ok_before = logins(&before, &login("success", None)).unwrap_or(0.0);
    let bad_before = logins(&before, &login("failure", Some("wrong_password"))).unwrap_or(0.0);

    let (_, _, id) = app.user_with_roles("m-series", &["user"]).await;
    assert_eq!(
        app.token_response(ADMIN, "not-the-password", None)
            .await
            .status(),
        400
    );
    let again = app.admin_token().await;
    let r = app.get_bearer(&format!("/users/{id}"), &again).await;
    assert_eq!(r.status(), 200);
    let r = app.get_bearer(&format!("/users/{id}"), &again).await;
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.at("/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    for _ in 0..2 {
        let r = app
            .client
            .get(app.at("/users/me"))
            .header("authorization", basic(ADMIN, ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    let (_, _, text) = scrape(&app, Some(&auth)).await;
    assert!(
        logins(&text, &login("success", None)).unwrap() >= ok_before + 1.0,
        "{text}"
    );
    let bad = logins(&text, &login("failure", Some("wrong_password"))).unwrap();
    assert!(bad >= bad_before + 1.0, "{text}");
    // Requests by route template, never the raw path; everything unrouted as one label.
    let users_id = [
        ("route", "/users/{id}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert!(value(&text, "bouncer_http_requests_total", &users_id).unwrap() >= 2.0);
    assert!(!text.contains(&id), "a raw path in the labels: {text}");
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert!(value(&text, "bouncer_http_requests_total", &unmatched).unwrap() >= 1.0);
    assert!(!text.contains("/no/such/path"));
    // A latency histogram per route and method, with buckets.
    let hist = [("route", "/users/{id}"), ("method", "GET")];
    assert!(value(&text, "bouncer_http_request_duration_seconds_count", &hist).unwrap() >= 2.0);
    let bucket = [("route", "/users/{id}"), ("method", "GET"), ("le", "+Inf")];
    assert!(
        value(
            &text,
            "bouncer_http_request_duration_seconds_bucket",
            &bucket
        )
        .is_some()
    );
    // The second use of the same token and of the same Basic credentials were cache hits.
    for cache in ["token", "basic", "user_state"] {
        let hits = [("cache", cache), ("result", "hit")];
        assert!(
            value(&text, "bouncer_cache_lookups_total", &hits).unwrap_or(0.0) >= 1.0,
            "{cache}: {text}"
        );
    }
    // The gauges read at scrape time, from this server.
    assert_eq!(
        value(&text, "bouncer_password_hash_queue_depth", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "bouncer_password_hash_queue_capacity", &[]),
        Some(app.config.passwords.hash_queue as f64)
    );
    assert_eq!(
        value(&text, "bouncer_db_pool_max_connections", &[]),
        Some(f64::from(app.config.database.pool_size))
    );
    let idle = value(&text, "bouncer_db_pool_connections", &[("state", "idle")]).unwrap();
    let in_use = value(&text, "bouncer_db_pool_connections", &[("state", "in_use")]).unwrap();
    assert!(idle + in_use >= 1.0 && idle + in_use <= f64::from(app.config.database.pool_size));
    assert!(value(&text, "bouncer_change_feed_lag_seconds", &[]).unwrap() >= 0.0);
    assert!(value(&text, "bouncer_change_feed_revisions_behind", &[]).unwrap() >= 0.0);
    // Every series is documented.
    for name in [
        "bouncer_http_requests_total",
        "bouncer_http_request_duration_seconds",
        "bouncer_logins_total",
        "bouncer_cache_lookups_total",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
    app.stop().await;
}
