//! The audit trail as read and kept: filters that combine, pages that walk the whole trail, no event
//! lost across a graceful restart, and retention.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bouncer_core::clock::{Clock, rfc3339};
use reqwest::Method;
use serde_json::Value;

use super::{FAILED_LOGINS, WRONG, all, page, password, req};
use crate::support::http::{assert_problem, call, s};
use crate::support::{ADMIN, BOTH, TestApp};

/// How many events match `query`.
async fn count(app: &TestApp, token: &str, query: &[(&str, &str)]) -> usize {
    all(app, token, query).await.len()
}

/// Filters combine with AND; `since` is the server's time; bad values and unknown parameters are
/// 422 naming them; pages of 50 walk the whole trail, newest first, without gap or repeat.
#[tokio::test]
async fn filters_combine_and_pages_walk_the_whole_trail() {
    let app = TestApp::spawn().await;
    let start = app.clock.now_ms();
    for i in 0..60 {
        let user = format!("pager-{i:02}");
        assert_eq!(password(&app, &user, WRONG, &format!("p{i}")).await.0, 400);
    }
    app.clock.advance_s(3600);
    let later = app.clock.now_ms();
    let admin = app.admin_token().await;
    password(&app, "pager-late", WRONG, "p-late").await;

    let failed = all(&app, &admin, &FAILED_LOGINS).await;
    let actors: Vec<String> = failed.iter().map(|e| s(e, "actor")).collect();
    let mut want: Vec<String> = (0..60).rev().map(|i| format!("pager-{i:02}")).collect();
    want.insert(0, "pager-late".into());
    assert_eq!(actors, want, "newest first, no gap, no repeat");
    let (st, first) = page(&app, &admin, &FAILED_LOGINS).await;
    assert_eq!((st, first["items"].as_array().unwrap().len()), (200, 50));
    let [login, fail] = FAILED_LOGINS;
    let (st, rest) = page(
        &app,
        &admin,
        &[login, fail, ("cursor", &s(&first, "next_cursor"))],
    )
    .await;
    assert_eq!((st, rest["items"].as_array().unwrap().len()), (200, 11));
    assert_eq!(rest["next_cursor"], Value::Null);
    // The whole trail: every id once.
    let everything = all(&app, &admin, &[]).await;
    let ids: HashSet<String> = everything.iter().map(|e| s(e, "id")).collect();
    assert_eq!(ids.len(), everything.len());
    assert!(everything.len() >= 63, "{}", everything.len());

    let (a, t) = (&app, admin.as_str());
    assert_eq!(count(a, t, &[("actor", "pager-07"), login, fail]).await, 1);
    assert_eq!(
        count(a, t, &[("actor", "pager-07"), ("outcome", "success")]).await,
        0
    );
    assert_eq!(
        count(a, t, &[("actor", "pager-07"), ("action", "token.issue")]).await,
        0
    );
    assert_eq!(
        count(a, t, &[("actor", ADMIN), login, ("outcome", "success")]).await,
        1
    );
    let bootstrap = [("actor", "operator"), ("action", "user.create")];
    assert_eq!(
        count(a, t, &bootstrap).await,
        1,
        "the first admin, made at start"
    );
    let future = rfc3339(app.clock.now_ms() + 86_400_000);
    assert_eq!(count(a, t, &[("since", &future)]).await, 0);
    assert_eq!(
        count(a, t, &[("since", &rfc3339(start - 1000)), login, fail]).await,
        61
    );
    let since = rfc3339(later);
    let newer = all(a, t, &[("since", &since), fail]).await;
    let newer: Vec<String> = newer.iter().map(|e| s(e, "actor")).collect();
    assert_eq!(newer, ["pager-late"]);
    // An offset survives URL encoding (`+`).
    let offset = since.replace('Z', "+00:00");
    assert_eq!(count(a, t, &[("since", &offset), fail]).await, 1);

    for (q, field) in [
        (vec![("outcome", "maybe")], "outcome"),
        (vec![("actor", "x"), ("colour", "red")], "colour"),
        (vec![("since", "yesterday")], "since"),
        (vec![("cursor", "not-a-cursor")], "cursor"),
    ] {
        let got = call(req(a, Method::GET, "/audit/events", t).query(&q)).await;
        assert_problem(
            &format!("{q:?}"),
            &got,
            422,
            "validation_error",
            Some(field),
        );
    }
    app.stop().await;
}

/// A server on the same database (and clock) as `app`, after a graceful stop.
async fn restart(app: TestApp) -> TestApp {
    let (config, clock, dir) = app.stop_and_keep().await;
    TestApp::spawn_from(config, clock, dir).await
}

/// 200 failed logins answered just before a graceful stop are all in the trail after a restart.
#[tokio::test]
async fn no_event_is_lost_across_a_graceful_restart() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let (client, url) = (app.client.clone(), app.at("/oauth2/token"));
            tasks.spawn(async move {
                let user = format!("burst-{i:03}");
                let form = [
                    ("grant_type", "password"),
                    ("username", &user),
                    ("password", WRONG),
                ];
                client
                    .post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
        }
        while let Some(st) = tasks.join_next().await {
            assert_eq!(st.unwrap(), 400, "{db:?}");
        }
        let app = restart(app).await;
        let admin = app.admin_token().await;
        let failed = all(&app, &admin, &FAILED_LOGINS).await;
        let actors: HashSet<String> = failed.iter().map(|e| s(e, "actor")).collect();
        let want: HashSet<String> = (0..200).map(|i| format!("burst-{i:03}")).collect();
        assert_eq!(failed.len(), 200, "{db:?}");
        assert_eq!(actors, want, "{db:?}");
        app.stop().await;
    }
}

/// Events older than `audit.retention_days` are pruned at start, by the server's clock; newer
/// ones stay.
#[tokio::test]
async fn retention_prunes_old_events_at_start() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        assert_eq!(app.config.audit.retention_days, 90, "the default");
        for i in 0..3 {
            password(&app, &format!("old-{i}"), WRONG, "r-old").await;
        }
        // 89 days on, nothing is old enough yet: a restart keeps them.
        app.clock.advance_s(89 * 86_400);
        let app = restart(app).await;
        let admin = app.admin_token().await;
        assert_eq!(count(&app, &admin, &FAILED_LOGINS).await, 3, "{db:?}");
        // 91 days after them: gone at the next start; what happens after it stays. The tokens
        // issued before the jump have expired: a fresh one.
        app.clock.advance_s(2 * 86_400);
        let app = restart(app).await;
        password(&app, "new-0", WRONG, "r-new").await;
        let admin = app.admin_token().await;
        let deadline = Instant::now() + Duration::from_secs(3);
        let left = loop {
            let left = all(&app, &admin, &FAILED_LOGINS).await;
            if left.len() == 1 || Instant::now() > deadline {
                break left;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let actors: Vec<String> = left.iter().map(|e| s(e, "actor")).collect();
        assert_eq!(actors, ["new-0"], "{db:?}");
        // The first admin's creation went with them; the login 89 days on stays.
        assert_eq!(
            count(&app, &admin, &[("action", "user.create")]).await,
            0,
            "{db:?}"
        );
        let logins = all(&app, &admin, &[("actor", ADMIN), ("action", "login")]).await;
        assert_eq!(logins.len(), 2, "{db:?}: {logins:?}");
        app.stop().await;
    }
}
