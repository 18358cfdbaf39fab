//! Registration, own profile, user administration.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bouncer_core::authz::Actor;
use bouncer_core::service::{AdminUserPatch, Bouncer, OwnUserPatch, Registration};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::context::Ctx;
use crate::error::ApiResult;
use crate::extract::{Auth, IdPath, JsonBody, QueryMap, Require, UsersRead, UsersWrite};
use crate::views::{ProblemDoc, UserView};

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Anything else in the body (roles, permissions, disabled, is_superuser...) is refused with 422.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// 3 to 64 letters, digits, `.`, `_` or `-`.
    #[schema(pattern = r"^[A-Za-z0-9._-]{3,64}$")]
    pub username: String,
    pub email: String,
    #[schema(min_length = 8, max_length = 1024, format = Password)]
    pub password: String,
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub full_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnPatchBody {
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub full_name: Option<Option<String>>,
    /// A new password; needs `current_password`.
    #[schema(min_length = 8, max_length = 1024, format = Password)]
    pub password: Option<String>,
    pub current_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminPatchBody {
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub full_name: Option<Option<String>>,
    pub disabled: Option<bool>,
    /// The full new list of roles.
    pub roles: Option<Vec<String>>,
    /// The full new list of direct permissions.
    pub permissions: Option<Vec<String>>,
    #[schema(min_length = 8, max_length = 1024, format = Password)]
    pub password: Option<String>,
    /// Needed when the caller changes their own password.
    pub current_password: Option<String>,
}

/// Self-service sign-up; the new user gets the role `user`.
#[utoipa::path(post, path = "/auth/register", tag = "users", request_body = RegisterBody,
    responses((status = 201, body = UserView), (status = 409, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn register(
    State(b): State<Arc<Bouncer>>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let registration = Registration {
        username: body.username,
        email: body.email,
        password: body.password,
        full_name: body.full_name,
    };
    let user = b.register(registration, &ctx).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/users/{}", user.id))],
        Json(UserView::from(&user)),
    ))
}

/// The subject of an outside issuer's token (`[[issuers]]`): never a local user.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutsideSubjectView {
    pub sub: String,
    pub username: String,
    /// The token's roles that Bouncer has.
    pub roles: Vec<String>,
    pub issuer: String,
}

/// What `GET /users/me` answers: a local user, or an outside issuer's subject.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum MeView {
    User(UserView),
    Outside(OutsideSubjectView),
}

/// The caller's own profile (an outside issuer's subject: who the token says it is).
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ProblemDoc)))]
pub async fn me(Auth(p): Auth) -> ApiResult<axum::response::Response> {
    if let bouncer_core::principal::Subject::Outside(o) = &p.subject {
        return Ok(Json(OutsideSubjectView {
            sub: o.sub.clone(),
            username: o.username.clone(),
            roles: o.roles.clone(),
            issuer: o.issuer.clone(),
        })
        .into_response());
    }
    let Some(user) = p.user() else {
        return Err(bouncer_core::authz::Decision::not_a_user()
            .into_error()
            .into());
    };
    // Rendered once per user state (the hot route of every deployment), then shared: the body
    // and its length are not serialized, formatted or copied per answer, and the headers are
    // sized for what the edge adds, so they are not grown and rehashed on the way out.
    let rendered = user.rendered.get_or_init(|| {
        bouncer_core::principal::Rendered::new(
            serde_json::to_vec(&UserView::from(&user.user)).unwrap_or_default(),
        )
    });
    let mut res = axum::response::Response::new(axum::body::Body::from(rendered.body.clone()));
    let headers = res.headers_mut();
    headers.reserve(crate::edge::HEADERS_ADDED + 2);
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Ok(length) = header::HeaderValue::from_maybe_shared(rendered.length.clone()) {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    Ok(res)
}

/// Changes the caller's own email, full name or password (which needs `current_password`).
#[utoipa::path(patch, path = "/users/me", tag = "users", request_body = OwnPatchBody, security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ProblemDoc), (status = 409, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn patch_me(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    JsonBody(body): JsonBody<OwnPatchBody>,
) -> ApiResult<Json<UserView>> {
    let patch = OwnUserPatch {
        email: body.email,
        full_name: body.full_name,
        password: body.password,
        current_password: body.current_password,
    };
    let user = b.update_own(&p, patch).await?;
    Ok(Json(UserView::from(&user)))
}

/// A page of users in creation order.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Pass as `cursor` for the next page (the same cost however deep); null on the last page.
    pub next_cursor: Option<String>,
}

/// A `cursor`: the creation time (ms) and id of the last user of the page before.
fn parse_cursor(v: &str) -> Option<bouncer_core::model::PageKey> {
    let (at, id) = v.split_once('_')?;
    if at.is_empty() || at.len() > 18 || !at.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(bouncer_core::model::PageKey {
        created_at: at.parse().ok()?,
        id: uuid::Uuid::try_parse(id).ok()?,
    })
}

/// All users in creation order (`limit` 1-100, default 50), from the start or from `cursor` (the
/// previous page's `next_cursor`: every page costs the same however deep), skipping `offset` users.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = ["users:read"]), ("basic" = [])),
    params(("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = UserPage), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn list(
    State(b): State<Arc<Bouncer>>,
    _: Require<UsersRead>,
    q: QueryMap,
) -> ApiResult<Json<UserPage>> {
    let mut request = q.page()?;
    if let Some(v) = q.0.get("cursor") {
        request.after = Some(parse_cursor(v).ok_or_else(|| {
            bouncer_core::Error::validation("cursor", "not a cursor this server gave")
        })?);
    }
    let page = b.list_users(request).await?;
    let next_cursor = page
        .more
        .then(|| page.items.last())
        .flatten()
        .map(|u| format!("{}_{}", u.created_at, u.id));
    Ok(Json(UserPage {
        items: page.items.iter().map(UserView::from).collect(),
        total: page.total,
        limit: page.limit,
        offset: page.offset,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = ["users:read"]), ("basic" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = UserView), (status = 404, body = ProblemDoc)))]
pub async fn get(
    State(b): State<Arc<Bouncer>>,
    _: Require<UsersRead>,
    IdPath(id): IdPath,
) -> ApiResult<Json<UserView>> {
    Ok(Json(UserView::from(&b.user(id).await?)))
}

/// Changes any of `email`, `full_name`, `disabled`, `roles`, `permissions`, `password` (with
/// `current_password` when it is your own). Nobody grants what they do not hold: a caller touches
/// only users whose every permission it holds and gives only what it holds (403 `cannot_grant`).
/// The last enabled admin cannot be disabled or demoted (409).
#[utoipa::path(patch, path = "/users/{id}", tag = "users", request_body = AdminPatchBody, security(("bearer" = ["users:write"]), ("basic" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = UserView), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc), (status = 409, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn patch(
    State(b): State<Arc<Bouncer>>,
    caller: Require<UsersWrite>,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<AdminPatchBody>,
) -> ApiResult<Json<UserView>> {
    let patch = AdminUserPatch {
        email: body.email,
        full_name: body.full_name,
        disabled: body.disabled,
        roles: body.roles,
        permissions: body.permissions,
        password: body.password,
        current_password: body.current_password,
    };
    Ok(Json(UserView::from(
        &b.update_user(Actor::Caller(&caller.0), id, patch).await?,
    )))
}

/// Deletes a user; the last enabled admin cannot be deleted (409).
#[utoipa::path(delete, path = "/users/{id}", tag = "users", security(("bearer" = ["users:write"]), ("basic" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 204), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc), (status = 409, body = ProblemDoc)))]
pub async fn delete(
    State(b): State<Arc<Bouncer>>,
    caller: Require<UsersWrite>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    b.delete_user(Actor::Caller(&caller.0), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
