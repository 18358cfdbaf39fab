//! The items API's `GET /items` with no authentication at all: the baseline `bench.sh` measures
//! the guarded example against (the same state, the same JSON).

#[allow(dead_code)]
#[path = "items_api.rs"]
mod items_api;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use items_api::Items;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let app = Router::new()
        .route(
            "/items",
            get(|State(items): State<Items>| async move { items.all() }),
        )
        .with_state(Items::seeded());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
