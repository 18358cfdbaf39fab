//! The example resource. Which caller may touch which item is decided in the core service.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bouncer_core::service::{Bouncer, ItemInput, ItemPatch};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::extract::{Auth, IdPath, JsonBody, QueryMap};
use crate::views::{ItemView, PageView, ProblemDoc};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
}

#[utoipa::path(get, path = "/items", tag = "items", security(("bearer" = ["items:read"]), ("basic" = [])),
    params(("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = PageView<ItemView>), (status = 403, body = ProblemDoc)))]
pub async fn list(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    q: QueryMap,
) -> ApiResult<Json<PageView<ItemView>>> {
    let page = q.page()?;
    let items = b.list_items(&p, page).await?;
    Ok(Json(PageView::from_page(&items, |i| ItemView::from(i))))
}

/// Creates an item owned by the caller (`items:write`).
#[utoipa::path(post, path = "/items", tag = "items", request_body = ItemBody, security(("bearer" = ["items:write"]), ("basic" = [])),
    responses((status = 201, body = ItemView), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn create(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    JsonBody(body): JsonBody<ItemBody>,
) -> ApiResult<impl IntoResponse> {
    let item = b
        .create_item(
            &p,
            ItemInput {
                name: body.name,
                description: body.description,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/items/{}", item.id))],
        Json(ItemView::from(&item)),
    ))
}

#[utoipa::path(get, path = "/items/{id}", tag = "items", security(("bearer" = ["items:read"]), ("basic" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = ItemView), (status = 404, body = ProblemDoc)))]
pub async fn get(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<ItemView>> {
    Ok(Json(ItemView::from(&b.item(&p, id).await?)))
}

/// Replaces name and description: the owner with `items:write`, or anyone with `items:*`.
#[utoipa::path(put, path = "/items/{id}", tag = "items", request_body = ItemBody, security(("bearer" = ["items:write"]), ("basic" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ItemView), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
pub async fn put(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<ItemBody>,
) -> ApiResult<Json<ItemView>> {
    let patch = ItemPatch {
        name: Some(body.name),
        description: Some(body.description),
    };
    Ok(Json(ItemView::from(&b.update_item(&p, id, patch).await?)))
}

/// Deletes: the owner with `items:write`, or anyone with `items:delete`.
#[utoipa::path(delete, path = "/items/{id}", tag = "items", security(("bearer" = ["items:write"]), ("basic" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
pub async fn delete(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    b.delete_item(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
