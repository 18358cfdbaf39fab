//! PostgreSQL only: a `LISTEN` on the change feed's channel, so every instance reads the feed the
//! moment another commits a change instead of at its next poll. The one piece of backend-specific
//! code beyond connection set-up; polling stays the safety net (and is all SQLite has).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::changes::CHANNEL;
use crate::{Backend, SqlStore};

/// Starts the listener when the store is PostgreSQL: every notification wakes `wake`. Returns
/// `None` on SQLite. The task reconnects on its own; after a lost connection it wakes the reader
/// once, since notifications sent meanwhile are gone.
pub fn spawn(store: &SqlStore, wake: Arc<Notify>) -> Option<tokio::task::JoinHandle<()>> {
    if store.backend() != Backend::Postgres {
        return None;
    }
    let url = store.url.clone();
    Some(tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(CHANNEL).await {
                        tracing::warn!(error = %e, "cannot LISTEN for changes; polling only");
                    } else {
                        wake.notify_one();
                        loop {
                            // `try_recv` says when the connection was lost (`None`; it reconnects
                            // on the next call): notifications sent meanwhile are gone, so read.
                            match listener.try_recv().await {
                                Ok(Some(_)) => wake.notify_one(),
                                Ok(None) => {
                                    tracing::debug!("change listener reconnecting");
                                    wake.notify_one();
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "change listener failed");
                                    wake.notify_one();
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect the change listener"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }))
}
