//! The example resource's table.

use bouncer_core::model::{Item, Page, PageRequest};
use bouncer_core::store::StoreResult;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::{SqlStore, backend_err};

fn from_row(row: &AnyRow) -> Result<Item, sqlx::Error> {
    let uuid = |col: &str| -> Result<Uuid, sqlx::Error> {
        Uuid::parse_str(&row.try_get::<String, _>(col)?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(Item {
        id: uuid("id")?,
        owner_id: uuid("owner_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) async fn insert(store: &SqlStore, item: &Item) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO items (id, owner_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(item.id.to_string())
    .bind(item.owner_id.to_string())
    .bind(item.name.clone())
    .bind(item.description.clone())
    .bind(item.created_at)
    .bind(item.updated_at)
    .execute(store.pool())
    .await
    .map(drop)
    .map_err(backend_err)
}

pub(crate) async fn get(store: &SqlStore, id: Uuid) -> StoreResult<Option<Item>> {
    let row = sqlx::query(
        "SELECT id, owner_id, name, description, created_at, updated_at FROM items WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(store.pool())
    .await
    .map_err(backend_err)?;
    row.as_ref().map(from_row).transpose().map_err(backend_err)
}

pub(crate) async fn list(store: &SqlStore, page: PageRequest) -> StoreResult<Page<Item>> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(store.pool())
        .await
        .map_err(backend_err)?;
    let rows = sqlx::query(
        "SELECT id, owner_id, name, description, created_at, updated_at FROM items \
         ORDER BY created_at, id LIMIT $1 OFFSET $2",
    )
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(store.pool())
    .await
    .map_err(backend_err)?;
    let items = rows
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend_err)?;
    Ok(Page {
        more: page.offset + (items.len() as i64) < total,
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

pub(crate) async fn update(store: &SqlStore, item: &Item) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE items SET name = $1, description = $2, updated_at = $3 WHERE id = $4")
            .bind(item.name.clone())
            .bind(item.description.clone())
            .bind(item.updated_at)
            .bind(item.id.to_string())
            .execute(store.pool())
            .await
            .map_err(backend_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn delete(store: &SqlStore, id: Uuid) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM items WHERE id = $1")
        .bind(id.to_string())
        .execute(store.pool())
        .await
        .map_err(backend_err)?;
    Ok(done.rows_affected() > 0)
}
