//! Roles: named sets of permissions.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bouncer_core::authz::Actor;
use bouncer_core::service::Bouncer;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::extract::{JsonBody, NamePath, QueryMap, Require, RolesRead, RolesWrite};
use crate::views::{ProblemDoc, RoleView};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `resource:action`, `resource:*` or `*`.
    pub permissions: Vec<String>,
}

#[utoipa::path(get, path = "/roles", tag = "roles", security(("bearer" = ["roles:read"]), ("basic" = [])),
    responses((status = 200, body = Vec<RoleView>), (status = 403, body = ProblemDoc)))]
pub async fn list(
    State(b): State<Arc<Bouncer>>,
    _: Require<RolesRead>,
) -> ApiResult<Json<Vec<RoleView>>> {
    Ok(Json(
        b.list_roles()
            .await?
            .into_iter()
            .map(RoleView::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/roles/{name}", tag = "roles", security(("bearer" = ["roles:read"]), ("basic" = [])),
    params(("name" = String, Path)), responses((status = 200, body = RoleView), (status = 404, body = ProblemDoc)))]
pub async fn get(
    State(b): State<Arc<Bouncer>>,
    _: Require<RolesRead>,
    NamePath(name): NamePath,
) -> ApiResult<Json<RoleView>> {
    Ok(Json(b.role(&name).await?.into()))
}

/// Creates (201) or replaces (200) a role. `admin` must keep `*`. A caller puts in only permissions
/// it holds and replaces only roles whose permissions it holds (403 `cannot_grant`).
#[utoipa::path(put, path = "/roles/{name}", tag = "roles", request_body = RoleBody, security(("bearer" = ["roles:write"]), ("basic" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = RoleView), (status = 201, body = RoleView), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn put(
    State(b): State<Arc<Bouncer>>,
    caller: Require<RolesWrite>,
    NamePath(name): NamePath,
    JsonBody(body): JsonBody<RoleBody>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    let (role, created) = b
        .put_role(Actor::Caller(&caller.0), &name, &body.permissions)
        .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(role.into()),
    ))
}

/// Deletes a role; one held by users needs `?force=true`, which removes it from them. `admin` and
/// the default role of new users cannot be deleted (409).
#[utoipa::path(delete, path = "/roles/{name}", tag = "roles", security(("bearer" = ["roles:write"]), ("basic" = [])),
    params(("name" = String, Path), ("force" = Option<bool>, Query)),
    responses((status = 204), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc), (status = 409, body = ProblemDoc)))]
pub async fn delete(
    State(b): State<Arc<Bouncer>>,
    caller: Require<RolesWrite>,
    NamePath(name): NamePath,
    q: QueryMap,
) -> ApiResult<StatusCode> {
    b.delete_role(Actor::Caller(&caller.0), &name, q.bool("force")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
