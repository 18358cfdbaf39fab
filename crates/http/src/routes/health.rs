use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use bouncer_core::service::Bouncer;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "database unreachable", body = crate::views::ProblemDoc)))]
pub async fn readyz(State(b): State<Arc<Bouncer>>) -> ApiResult<Json<Value>> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), b.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({"status": "ready"}))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::NotReady)
        }
        Err(_) => Err(ApiError::NotReady),
    }
}
