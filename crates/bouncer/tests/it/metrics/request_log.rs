//! The request log in JSON: every line of a request carries its `X-Request-Id` (given or
//! generated), and the request's own line its method, path, status and latency, never the query.

use serde_json::Value;

use crate::durability::{BinServer, server_env};
use crate::support::basic;

/// In JSON, each request's `info` line has its method, path, status, latency and request id, and
/// a line logged while handling it (here the refused credentials, at debug) carries the same id;
/// a request without an id gets the generated one it is answered with.
#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/b.db", dir.path().display());
    let mut env = server_env(&db);
    env.push(("BOUNCER_LOG__FORMAT".to_owned(), "json".to_owned()));
    env.push(("RUST_LOG".to_owned(), "info,bouncer_http=debug".to_owned()));
    let server = BinServer::start(dir.path(), &env, "request-id").await;
    let client = reqwest::Client::new();
    let r = client
        .get(server.at("/users/me?secret=query-value"))
        .header("x-request-id", "abc-123")
        .header("authorization", basic("nobody-here", "Wrong-password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = client.get(server.at("/healthz")).send().await.unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let text = server.stop();
    assert!(!text.contains("query-value"), "a query string in the log");
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |id: &str| -> Vec<&Value> { lines.iter().filter(|l| l["request_id"] == id).collect() };
    let ours = of("abc-123");
    let request = ours
        .iter()
        .find(|l| l["target"] == "bouncer::request")
        .unwrap_or_else(|| panic!("no request line in:\n{text}"));
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["path"], "/users/me");
    assert_eq!(request["status"], 401);
    assert!(
        request["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{request}"
    );
    assert!(
        ours.iter()
            .any(|l| l["message"] == "credentials refused" && l["level"] == "DEBUG"),
        "the handler's line lacks the id:\n{text}"
    );
    // No line of that request names another id.
    for l in lines
        .iter()
        .filter(|l| l["span"]["request_id"] == "abc-123")
    {
        assert_eq!(l["request_id"], "abc-123", "{l}");
    }
    let health = of(&generated);
    assert!(
        health
            .iter()
            .any(|l| l["target"] == "bouncer::request" && l["path"] == "/healthz"),
        "{text}"
    );
}
