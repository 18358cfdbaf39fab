//! PostgreSQL stopped and started again under a load of registrations: `/readyz` follows it, the
//! requests that need the database are 503 (answered, never hung, never 500) while it is down,
//! and Bouncer recovers by itself once it is back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bouncer_core::clock::ManualClock;
use reqwest::Client;
use serde_json::Value;

use super::{register, status};
use crate::support::postgres::private_postgres;
use crate::support::{ADMIN, ADMIN_PASSWORD, TestApp, test_config};

/// One request of the load: when it was sent and answered, and the status (`None`: no answer).
struct Sample {
    sent: Instant,
    answered: Instant,
    status: Option<u16>,
}

/// Registers users one after another until `stop`, recording every request.
async fn load(client: Client, url: String, tag: String, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut samples = Vec::new();
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let sent = Instant::now();
        let r = register(&client, &url, &format!("{tag}i{i}")).send().await;
        samples.push(Sample {
            sent,
            answered: Instant::now(),
            status: r.ok().map(|r| r.status().as_u16()),
        });
    }
    samples
}

/// Polls `path` until it answers `want` (bounded); returns how long that took.
async fn until_status(app: &TestApp, path: &str, want: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if status(app.client.get(app.at(path))).await == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{path} not {want} in {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL (a cluster of this test's own) stopped under a load of registrations and started
/// again: while it is down `/readyz` is 503 and `/healthz` 200, requests that need the database
/// are 503 `unavailable` (answered within about the acquire timeout, never hung, never 500), and
/// once it is back everything works again without restarting Bouncer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_under_load() {
    let Some(mut pg) = private_postgres() else {
        return;
    };
    const ACQUIRE_S: u64 = 1;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(crate::support::Db::Sqlite, &dir).unwrap();
    config.database.url = pg.fresh_database();
    config.database.acquire_timeout_s = ACQUIRE_S;
    let app = TestApp::spawn_from(config, ManualClock::default(), dir).await;
    // Each client from an address of its own (127.0.0.0/8 is all loopback): no one waits for
    // another's password slot, so a request's time is its own.
    let client_from = |last: u8| {
        Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    };
    let client = client_from(2);

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, stop) = (client_from(10 + w), app.url.clone(), stop.clone());
            tokio::spawn(load(client, url, format!("pgload{w}"), stop))
        })
        .collect();
    until_status(&app, "/readyz", 200, Duration::from_secs(10)).await;
    assert_eq!(status(register(&client, &app.url, "beforestop")).await, 201);

    // Stop: fast shutdown, sessions terminated.
    let stopping = Instant::now();
    let mut pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    let stopped = Instant::now();
    let to_not_ready = until_status(&app, "/readyz", 503, Duration::from_secs(15)).await;
    let r = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "liveness is not readiness");
    // A request that needs the database, on its own: 503 unavailable with Retry-After.
    let sent = Instant::now();
    let r = register(&client, &app.url, "whiledown")
        .send()
        .await
        .unwrap();
    let alone = sent.elapsed();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "unavailable");
    let r = app.token_response(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(r.status(), 503, "the password grant reads the user");
    // Let the load meet the stopped server a few times over.
    let down_for = Duration::from_secs(3 * ACQUIRE_S);
    tokio::time::sleep(down_for.saturating_sub(stopped.elapsed())).await;

    // Start again; Bouncer recovers by itself.
    let starting = Instant::now();
    let pg = tokio::task::spawn_blocking(move || {
        pg.start();
        pg
    })
    .await
    .unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let mut attempts = 0;
    while status(register(&client, &app.url, &format!("after{attempts}"))).await != 201 {
        attempts += 1;
        assert!(
            Instant::now() < deadline,
            "no registration 30 s after the start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_first_write = started.elapsed();
    until_status(&app, "/readyz", 200, Duration::from_secs(10)).await;
    assert_eq!(
        app.token_response(ADMIN, ADMIN_PASSWORD, None)
            .await
            .status(),
        200
    );
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.unwrap());
    }
    app.stop().await;
    drop(pg);

    // Every request was answered, 201 or 503, never a 500 or a hang.
    let mut statuses = BTreeMap::new();
    for s in &samples {
        *statuses.entry(s.status).or_insert(0) += 1;
    }
    assert!(
        statuses.keys().all(|s| matches!(s, Some(201 | 503))),
        "answers under load: {statuses:?}"
    );
    // Sent after the stop and answered before the start: all 503, none slower than the acquire
    // timeout plus slack for a loaded machine.
    let down: Vec<_> = samples
        .iter()
        .filter(|s| s.sent >= stopped && s.answered <= starting)
        .collect();
    assert!(!down.is_empty(), "no load while PostgreSQL was down");
    assert!(down.iter().all(|s| s.status == Some(503)));
    let slowest = down.iter().map(|s| s.answered - s.sent).max().unwrap();
    assert!(
        slowest < Duration::from_secs(ACQUIRE_S + 4),
        "a request took {slowest:?} with PostgreSQL down (acquire timeout {ACQUIRE_S} s)"
    );
    let (stop_took, start_took, n) = (stopped - stopping, started - starting, down.len());
    println!(
        "PostgreSQL stopped under load (acquire_timeout_s = {ACQUIRE_S}): the stop took \
         {stop_took:?}; /readyz 503 {to_not_ready:?} after it; a lone registration answered 503 \
         in {alone:?}; {n} requests while down, all 503, slowest {slowest:?}; after the start \
         ({start_took:?}), the first registration 201 {to_first_write:?} later ({attempts} \
         refused before); all answers {statuses:?}"
    );
}
