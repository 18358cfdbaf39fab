//! The limit Bouncer's request path is measured against (`scripts/bench-hot.sh`): axum answering
//! `GET /healthz` with a constant, served by `axum::serve`, nothing else; and `GET /headers`, the
//! same with the headers every Bouncer response carries (security headers, `Vary`, a request id),
//! constant too, to tell what those bytes cost from what Bouncer's work costs. Not part of Bouncer.
//!
//!     cargo run --release -p bouncer --example bare_axum -- 127.0.0.1:9200

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9200".into());
    let app = Router::new()
        .route("/healthz", get(|| async { "{\"status\":\"ok\"}" }))
        .route(
            "/headers",
            get(|| async {
                (
                    [
                        ("content-type", "application/json"),
                        ("x-content-type-options", "nosniff"),
                        ("referrer-policy", "no-referrer"),
                        ("x-frame-options", "DENY"),
                        ("content-security-policy", "frame-ancestors 'none'"),
                        ("vary", "origin"),
                        ("x-request-id", "62e42be1-8859-4a5c-9a9a-95ec09e96db0"),
                    ],
                    "{\"status\":\"ok\"}",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
