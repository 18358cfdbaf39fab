//! sqlx errors as [`StoreError`]s. The one decision here: an error that says the database cannot
//! serve right now (a wait that ran out, a lost or refused connection, a server shutting down, a
//! file that cannot be written) is [`StoreError::Unavailable`] (503 with `Retry-After`, logged
//! with the reason given here), never a 500: the request was fine, and trying again later may work.

use bouncer_core::store::StoreError;
use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteError;

pub(crate) fn backend_err(e: sqlx::Error) -> StoreError {
    // Waits that ran out and connections that failed: the database, not the request, is the
    // problem, and trying again shortly may work.
    if matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    ) {
        return StoreError::Unavailable(e.to_string());
    }
    let sqlx::Error::Database(db) = &e else {
        return StoreError::Backend(e.to_string());
    };
    if let Some(why) = unavailable(db.as_ref()) {
        return StoreError::Unavailable(format!("{why}: {e}"));
    }
    if !(db.is_unique_violation() || db.is_foreign_key_violation()) {
        return StoreError::Backend(e.to_string());
    }
    // PostgreSQL names the constraint; SQLite names the column in its message (and names nothing
    // for a foreign key, which the domain prevents by checking role names first).
    let what = db
        .constraint()
        .map(str::to_owned)
        .unwrap_or_else(|| db.message().to_owned());
    let field = if what.contains("email") {
        "email"
    } else if what.contains("username") {
        "username"
    } else if what.contains("role") {
        "roles"
    } else if what.contains("generation") {
        "generation"
    } else {
        "id"
    };
    StoreError::Conflict { field }
}

/// SQLite's primary result code of `e` (its extended code's low byte), if `e` is SQLite's.
pub(crate) fn sqlite_code(e: &dyn DatabaseError) -> Option<i32> {
    let code: i32 = e.try_downcast_ref::<SqliteError>()?.code()?.parse().ok()?;
    Some(code & 0xff)
}

/// Why `e` means the database cannot serve now, if it does: for the operator's log.
fn unavailable(e: &dyn DatabaseError) -> Option<&'static str> {
    if let Some(code) = sqlite_code(e) {
        return match code {
            // SQLITE_BUSY and SQLITE_LOCKED, after the busy timeout (any extended code: a stale
            // WAL snapshot, a recovery in progress).
            5 | 6 => Some("the database is locked"),
            // SQLITE_READONLY: the connection opened the file read-only (it could not open it
            // for writing), or the file cannot be written now.
            8 => Some(
                "the database is read-only: its file, its -wal and -shm files and their \
                 directory must be writable by the server",
            ),
            // SQLITE_IOERR: a write or read of the files failed (an immutable file, a read-only,
            // full or failing filesystem).
            10 => Some("I/O error on the database's files (read-only, full or failing disk?)"),
            13 => Some("the disk holding the database is full"),
            14 => Some("the database's files cannot be opened"),
            _ => None,
        };
    }
    // PostgreSQL's SQLSTATE: lock-not-available; admin or crash shutdown, cannot connect now;
    // a read-only transaction (a standby after a failover); connection exceptions; insufficient
    // resources (too many connections, disk full, out of memory).
    let code = e.code()?;
    match code.as_ref() {
        "55P03" => Some("a lock wait on the database ran out"),
        "57P01" | "57P02" | "57P03" => Some("the database server is shutting down or starting"),
        "25006" => Some("the database is read-only (a standby?)"),
        c if c.starts_with("08") => Some("the connection to the database failed"),
        c if c.starts_with("53") => Some("the database server is out of resources"),
        _ => None,
    }
}
