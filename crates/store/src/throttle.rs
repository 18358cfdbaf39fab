//! Throttling counters shared by instances: one row per key, its window and count.

use bouncer_core::store::StoreResult;
use bouncer_core::throttle::ThrottleCount;
use sqlx::Row;

use crate::{SqlStore, backend_err};

/// Adds each count in one write transaction. Every right-hand side of the update sees the row as
/// it was, so the window test is the same in both assignments.
pub(crate) async fn add(store: &SqlStore, counts: &[ThrottleCount], now: i64) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    for c in counts {
        sqlx::query(
            "INSERT INTO throttle_counts (key, count, window_start, window_ms, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN throttle_counts.window_start + throttle_counts.window_ms <= $5 \
                 THEN excluded.count ELSE throttle_counts.count + excluded.count END, \
               window_start = CASE WHEN throttle_counts.window_start + throttle_counts.window_ms <= $5 \
                 THEN excluded.window_start ELSE throttle_counts.window_start END, \
               window_ms = excluded.window_ms, \
               updated_at = excluded.updated_at",
        )
        .bind(c.key.clone())
        .bind(c.count)
        .bind(c.window_start)
        .bind(c.window_ms)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    }
    tx.commit().await.map_err(backend_err)
}

pub(crate) async fn since(store: &SqlStore, since: i64) -> StoreResult<Vec<ThrottleCount>> {
    let rows = sqlx::query(
        "SELECT key, count, window_start, window_ms FROM throttle_counts WHERE updated_at >= $1",
    )
    .bind(since)
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    rows.iter()
        .map(|r| {
            Ok(ThrottleCount {
                key: r.try_get("key")?,
                count: r.try_get("count")?,
                window_start: r.try_get("window_start")?,
                window_ms: r.try_get("window_ms")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(backend_err)
}

pub(crate) async fn prune(store: &SqlStore, before: i64) -> StoreResult<()> {
    let mut tx = store.begin_write().await.map_err(backend_err)?;
    sqlx::query("DELETE FROM throttle_counts WHERE window_start + window_ms < $1")
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
    tx.commit().await.map_err(backend_err)
}
