//! A tiny items API protected by Bouncer: GET /items needs `items:read`, POST /items
//! `items:write`, GET /admin the role `admin`. JWTs are verified here against Bouncer's keys.
//!
//! ```sh
//! BOUNCER_URL=http://127.0.0.1:8080 cargo run -p bouncer-guard --example items_api
//! TOKEN=$(curl -s http://127.0.0.1:8080/oauth2/token -d grant_type=password \
//!      -d username=alice -d 'password=correct horse' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
//! curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/items
//! ```

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bouncer_guard::{Guard, Require, RequireRole, permission, role};
use serde::{Deserialize, Serialize};

permission!(pub ItemsRead, "items:read");
permission!(pub ItemsWrite, "items:write");
role!(pub Admin, "admin");

/// The API: every route behind the guard.
pub fn app(guard: &Guard) -> Router {
    Router::new()
        .route("/items", get(list).post(create))
        .route("/admin", get(admin))
        .with_state(Items::seeded())
        .layer(guard.layer())
}

async fn list(_: Require<ItemsRead>, State(items): State<Items>) -> Json<Vec<Item>> {
    items.all()
}

async fn create(
    caller: Require<ItemsWrite>,
    State(items): State<Items>,
    Json(new): Json<NewItem>,
) -> (StatusCode, Json<Item>) {
    (
        StatusCode::CREATED,
        Json(items.add(new.name, &caller.username)),
    )
}

async fn admin(caller: RequireRole<Admin>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"admin": caller.username, "subject": caller.subject}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bouncer = std::env::var("BOUNCER_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let guard = Guard::discover(bouncer).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app(&guard)).await?;
    Ok(())
}

// The items themselves: an in-memory list.

#[derive(Clone, Serialize)]
pub struct Item {
    pub id: u64,
    pub name: String,
    pub owner: String,
}

#[derive(Deserialize)]
pub struct NewItem {
    pub name: String,
}

#[derive(Clone, Default)]
pub struct Items(Arc<Mutex<Vec<Item>>>);

impl Items {
    pub fn seeded() -> Self {
        let items = Items::default();
        items.add("first".into(), "admin");
        items.add("second".into(), "admin");
        items
    }

    pub fn all(&self) -> Json<Vec<Item>> {
        Json(self.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    pub fn add(&self, name: String, owner: &str) -> Item {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let item = Item {
            id: list.len() as u64 + 1,
            name,
            owner: owner.to_owned(),
        };
        list.push(item.clone());
        item
    }
}
