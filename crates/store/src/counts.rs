//! Row counts kept in `row_counts`, written in the transaction that adds or removes the rows, so a
//! total is a read of a few slots instead of a scan of the table.

use sqlx::AnyConnection;

/// The users table's count.
pub(crate) const USERS: &str = "users";

/// Slots a count is spread over: each write picks one at random, so concurrent writers rarely
/// meet on a row lock (PostgreSQL), and a read sums at most this many rows.
const SLOTS: u8 = 16;

/// Adds `delta` to `name`'s count, inside the caller's transaction.
pub(crate) async fn add(conn: &mut AnyConnection, name: &str, delta: i64) -> sqlx::Result<()> {
    if delta == 0 {
        return Ok(());
    }
    let slot = i64::from(uuid::Uuid::new_v4().as_bytes()[0] % SLOTS);
    sqlx::query(
        "INSERT INTO row_counts (name, slot, n) VALUES ($1, $2, $3) \
         ON CONFLICT (name, slot) DO UPDATE SET n = row_counts.n + excluded.n",
    )
    .bind(name.to_owned())
    .bind(slot)
    .bind(delta)
    .execute(conn)
    .await?;
    Ok(())
}

/// `name`'s count: the sum of its slots.
pub(crate) async fn read(conn: &mut AnyConnection, name: &str) -> sqlx::Result<i64> {
    // PostgreSQL sums BIGINTs as NUMERIC: the cast keeps one integer type on both backends.
    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM row_counts WHERE name = $1")
        .bind(name.to_owned())
        .fetch_one(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqlStore, insert_rows, users};
    use bouncer_core::model::User;
    use bouncer_core::store::Store;
    use sqlx::AssertSqlSafe;

    /// A database that had users before counts were kept starts with the right total.
    #[tokio::test]
    async fn the_migration_counts_the_users_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        crate::migrate::migrator_through(11)
            .run(&store.pool)
            .await
            .unwrap();
        for i in 0..3 {
            let now = 1_000 + i;
            let u = User {
                id: uuid::Uuid::now_v7(),
                username: format!("old{i}"),
                email: format!("old{i}@example.com"),
                full_name: None,
                disabled: false,
                roles: Vec::new(),
                permissions: Vec::new(),
                password_hash: "$argon2id$x".into(),
                password_changed_at: now,
                credential_gen: 1,
                created_at: now,
                updated_at: now,
            };
            let sql = insert_rows("users", users::NEW_COLUMNS, 1);
            users::bind_new(sqlx::query(AssertSqlSafe(sql)), &u)
                .execute(&store.pool)
                .await
                .unwrap();
        }
        store.migrate().await.unwrap();
        assert_eq!(store.count_users().await.unwrap(), 3);
        let mut conn = store.pool.acquire().await.unwrap();
        add(&mut conn, USERS, 2).await.unwrap();
        add(&mut conn, USERS, -1).await.unwrap();
        assert_eq!(read(&mut conn, USERS).await.unwrap(), 4);
    }
}
