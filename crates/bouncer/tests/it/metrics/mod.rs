//! `[metrics]`: `GET /metrics` is off by default (404, not in the spec); on the API's address it
//! needs `metrics:read`; with `metrics.listen` it is served there only, without a credential. The
//! series count requests by route template (never the raw path), logins by outcome and cache
//! lookups, and the gauges read at scrape time are there. And the request log: every JSON line of
//! a request carries its `X-Request-Id`.
//!
//! The recorder is one per process and the tests of this binary run side by side, so counters
//! are compared before and after (they only grow), never to absolute values.
//!
//! Here: reading a scrape, and where `/metrics` is served and to whom. What the series count is
//! in `series`; the request log in `request_log`.

mod request_log;
mod series;

use serde_json::json;

use crate::support::http::call;
use crate::support::{Db, TestApp, basic, free_port};

/// One sample of the Prometheus text: a name, its labels in order, its value.
type Sample = (String, Vec<(String, String)>, f64);

/// The samples of a scrape (comments skipped). Label values may hold braces (`/users/{id}`).
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("not a sample: {line}"),
        };
        let mut labels = Vec::new();
        let mut rest = rest;
        if let Some(mut r) = rest.strip_prefix('{') {
            while !r.starts_with('}') {
                let eq = r.find("=\"").expect("label=\"value\"");
                let key = r[..eq].to_owned();
                let mut value = String::new();
                let mut chars = r[eq + 2..].char_indices();
                let end = loop {
                    match chars.next().expect("closing quote") {
                        (i, '"') => break eq + 2 + i,
                        (_, '\\') => value.push(chars.next().expect("escaped").1),
                        (_, c) => value.push(c),
                    }
                };
                labels.push((key, value));
                r = r[end + 1..].trim_start_matches(',');
            }
            rest = &r[1..];
        }
        let value = rest
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("value of {line}"));
        out.push((name.to_owned(), labels, value));
    }
    out
}

/// The value of `name` with exactly `labels` (any order), if the scrape has it.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text).into_iter().find_map(|(n, l, v)| {
        let same = n == name
            && l.len() == labels.len()
            && labels
                .iter()
                .all(|(k, want)| l.iter().any(|(lk, lv)| lk == k && lv == want));
        same.then_some(v)
    })
}

/// `GET /metrics` on the API as `auth` (an `Authorization` value); status and body.
async fn scrape(app: &TestApp, auth: Option<&str>) -> (u16, String, String) {
    let mut rb = app.client.get(app.at("/metrics"));
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

async fn spawn_enabled(listen: &str) -> TestApp {
    let listen = listen.to_owned();
    TestApp::spawn_with(Db::Sqlite, move |c| {
        c.metrics.enabled = true;
        c.metrics.listen = listen;
    })
    .await
    .expect("SQLite")
}

#[tokio::test]
async fn off_by_default_metrics_is_404_and_not_in_the_spec() {
    let app = TestApp::spawn().await;
    let admin = format!("Bearer {}", app.admin_token().await);
    for auth in [None, Some(admin.as_str())] {
        let (status, _, _) = scrape(&app, auth).await;
        assert_eq!(status, 404, "{auth:?}");
    }
    let (_, _, spec) = call(app.client.get(app.at("/openapi.json"))).await;
    assert!(spec["paths"].get("/metrics").is_none());
    app.stop().await;
}

#[tokio::test]
async fn on_the_api_address_metrics_need_metrics_read() {
    let app = spawn_enabled("").await;
    let admin = app.admin_token().await;
    let (status, _, _) = scrape(&app, None).await;
    assert_eq!(status, 401);
    let (user, pw, _) = app.user_with_roles("m-user", &["user"]).await;
    let (status, _, body) = scrape(&app, Some(&basic(&user, &pw))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("missing_permission"), "{body}");
    // Anyone holding metrics:read, not only the admin (whose `*` holds it).
    let (s, _, _) = call(
        app.client
            .put(app.at("/roles/monitor"))
            .bearer_auth(&admin)
            .json(&json!({"permissions": ["metrics:read"]})),
    )
    .await;
    assert!(s == 200 || s == 201, "{s}");
    let (mon, mon_pw, _) = app.user_with_roles("m-monitor", &["monitor"]).await;
    // A machine client (Prometheus' oauth2 block: client credentials, scope metrics:read).
    let (s, _, client) = call(
        app.client
            .post(app.at("/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "prometheus", "scopes": ["metrics:read"]})),
    )
    .await;
    assert_eq!(s, 201, "{client}");
    let (id, secret) = (&client["client_id"], &client["client_secret"]);
    let (s, _, grant) = call(
        app.client
            .post(app.at("/oauth2/token"))
            .header(
                "authorization",
                basic(id.as_str().unwrap(), secret.as_str().unwrap()),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "metrics:read"),
            ]),
    )
    .await;
    assert_eq!(s, 200, "{grant}");
    let machine = format!("Bearer {}", grant["access_token"].as_str().unwrap());
    for auth in [format!("Bearer {admin}"), basic(&mon, &mon_pw), machine] {
        let (status, ct, text) = scrape(&app, Some(&auth)).await;
        assert_eq!(status, 200, "{text}");
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        assert!(
            text.contains("# TYPE bouncer_password_hash_queue_depth gauge"),
            "{text}"
        );
    }
    // In the spec, with its text body and the security every protected route has.
    let (_, _, spec) = call(app.client.get(app.at("/openapi.json"))).await;
    let op = &spec["paths"]["/metrics"]["get"];
    assert!(
        op["responses"]["200"]["content"]
            .get("text/plain; version=0.0.4")
            .is_some(),
        "{op}"
    );
    let security = op["security"].as_array().expect("security");
    assert!(
        security
            .iter()
            .any(|s| s["oauth2"] == json!(["metrics:read"])),
        "{security:?}"
    );
    assert!(security.iter().any(|s| s.get("basic").is_some()));
    assert!(op["responses"].get("401").is_some() && op["responses"].get("403").is_some());
    app.stop().await;
}

#[tokio::test]
async fn a_listen_address_serves_metrics_there_only_without_a_credential() {
    let addr = format!("127.0.0.1:{}", free_port());
    let app = spawn_enabled(&addr).await;
    let admin = app.admin_token().await;
    // Not on the API's address, whoever asks, and not in its spec.
    let (status, _, _) = scrape(&app, Some(&format!("Bearer {admin}"))).await;
    assert_eq!(status, 404);
    let (_, _, spec) = call(app.client.get(app.at("/openapi.json"))).await;
    assert!(spec["paths"].get("/metrics").is_none());
    // On its own address, without a credential: the API's requests are counted there.
    let r = app.get_bearer("/users/me", &admin).await;
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    let me = [("route", "/users/me"), ("method", "GET"), ("status", "200")];
    assert!(
        value(&text, "bouncer_http_requests_total", &me).unwrap() >= 1.0,
        "{text}"
    );
    // Only GET /metrics there.
    let r = app
        .client
        .get(format!("http://{addr}/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .client
        .post(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // Stopping the server stops the listener (the abort lands at the task's next poll).
    app.stop().await;
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(closed, "the metrics listener outlived the server");
}
