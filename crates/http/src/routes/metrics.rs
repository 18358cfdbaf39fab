//! `GET /metrics`: Prometheus text on the API's address, for callers holding `metrics:read`. The
//! route exists (and is in the spec) only with `metrics.enabled` and no `metrics.listen`; with a
//! listen address the binary serves it there instead, and here it is 404 like any unknown path.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{MetricsRead, Require};
use crate::observe::CONTENT_TYPE;

/// Metrics in Prometheus text format.
///
/// Requests by route and status, latencies, logins, cache lookups, the password-hash queue, the
/// change feed and the database pool. Served on the API only with `metrics.enabled` and an empty
/// `metrics.listen`.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = ["metrics:read"]), ("basic" = [])),
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn scrape(_: Require<MetricsRead>, State(st): State<AppState>) -> ApiResult<Response> {
    let Some(scrape) = st.metrics else {
        return Err(ApiError::RouteNotFound);
    };
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], scrape().await).into_response())
}
