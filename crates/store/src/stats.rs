//! The connection pool's state, read when metrics are scraped (nothing on the request path).

use crate::SqlStore;

/// Connections of the pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or in use.
    pub open: u32,
    /// Open and idle.
    pub idle: u32,
    /// The most the pool opens (`database.pool_size`).
    pub max: u32,
}

impl PoolStats {
    /// Connections held by a query or transaction now.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

impl SqlStore {
    /// The pool's connections now.
    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }
}
