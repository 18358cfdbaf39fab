//! API keys: a user's own (`/users/me/api-keys`, any credential) and an admin's view of someone
//! else's (`/users/{id}/api-keys`, `users:write`). The key itself is in the creation and roll
//! answers only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bouncer_core::authz::Actor;
use bouncer_core::model::ApiKey;
use bouncer_core::service::{Bouncer, NewApiKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, IdPath, JsonBody, Require, UsersWrite};
use crate::views::ProblemDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyBody {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// Permissions the key may use (∩ the owner's at every request); absent: `*`.
    pub scopes: Option<Vec<String>>,
    /// RFC 3339; absent: never.
    pub expires_at: Option<String>,
    /// CIDRs or addresses the key may be used from; absent or empty: anywhere.
    #[serde(default)]
    pub client_ips: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollBody {
    /// How long the old key keeps working, in seconds (0: it ends now; never past its expiry).
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 0, maximum = 2_592_000)]
    pub overlap_s: u64,
}

/// A whole number of seconds: JSON Schema counts `30.0` as an integer, so it is one here too.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9.0e15)
                .map(|f| f as u64)
        })
        .ok_or_else(|| serde::de::Error::custom("must be a whole number of seconds, at least 0"))
}

/// A key as listed: never the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first 8 characters.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub client_ips: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        let t = bouncer_core::clock::rfc3339;
        ApiKeyView {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone(),
            client_ips: k.client_ips.clone(),
            created_at: t(k.created_at),
            last_used_at: k.last_used_at.map(t),
            expires_at: k.expires_at.map(t),
        }
    }
}

/// A new (or rolled) key: the listing fields and, this once, `key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    pub key: String,
}

fn created(status: StatusCode, key: &ApiKey, secret: String) -> impl IntoResponse + use<> {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(CreatedApiKey {
            view: ApiKeyView::from(key),
            key: secret,
        }),
    )
}

fn new_key(body: ApiKeyBody) -> Result<NewApiKey, ApiError> {
    let expires_at = body
        .expires_at
        .map(|t| {
            bouncer_core::clock::parse_rfc3339(&t).ok_or_else(|| {
                bouncer_core::Error::validation("expires_at", "must be an RFC 3339 time")
            })
        })
        .transpose()?;
    Ok(NewApiKey {
        name: body.name,
        scopes: body.scopes,
        expires_at,
        client_ips: body.client_ips,
    })
}

/// The caller's keys.
#[utoipa::path(get, path = "/users/me/api-keys", tag = "api-keys", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, body = ProblemDoc)))]
pub async fn my_list(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    let keys = b.list_api_keys(Actor::Caller(&p), p.user_id()?).await?;
    Ok(Json(keys.iter().map(ApiKeyView::from).collect()))
}

/// Creates a key for the caller; the answer carries it this once.
#[utoipa::path(post, path = "/users/me/api-keys", tag = "api-keys", request_body = ApiKeyBody,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn my_create(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    JsonBody(body): JsonBody<ApiKeyBody>,
) -> ApiResult<impl IntoResponse> {
    let (key, secret) = b
        .create_api_key(Actor::Caller(&p), p.user_id()?, new_key(body)?)
        .await?;
    Ok(created(StatusCode::CREATED, &key, secret))
}

/// Revokes one of the caller's keys, at once.
#[utoipa::path(delete, path = "/users/me/api-keys/{id}", tag = "api-keys", security(("bearer" = []), ("basic" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ProblemDoc)))]
pub async fn my_delete(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    b.revoke_api_key(Actor::Caller(&p), p.user_id()?, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rolls one of the caller's keys: a new key; the old one works `overlap_s` longer.
#[utoipa::path(post, path = "/users/me/api-keys/{id}/roll", tag = "api-keys", request_body = RollBody,
    security(("bearer" = []), ("basic" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = CreatedApiKey), (status = 404, body = ProblemDoc)))]
pub async fn my_roll(
    State(b): State<Arc<Bouncer>>,
    Auth(p): Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<RollBody>,
) -> ApiResult<impl IntoResponse> {
    let (key, secret) = b
        .roll_api_key(Actor::Caller(&p), p.user_id()?, id, body.overlap_s)
        .await?;
    Ok(created(StatusCode::OK, &key, secret))
}

/// A user's keys (an admin holding everything that user holds).
#[utoipa::path(get, path = "/users/{id}/api-keys", tag = "api-keys", security(("bearer" = ["users:write"]), ("basic" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<ApiKeyView>), (status = 403, body = ProblemDoc)))]
pub async fn user_list(
    State(b): State<Arc<Bouncer>>,
    caller: Require<UsersWrite>,
    IdPath(owner): IdPath,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    let keys = b.list_api_keys(Actor::Caller(&caller.0), owner).await?;
    Ok(Json(keys.iter().map(ApiKeyView::from).collect()))
}

/// Creates a key for a user; scopes beyond the caller's rights are 403, beyond the owner's 422.
#[utoipa::path(post, path = "/users/{id}/api-keys", tag = "api-keys", request_body = ApiKeyBody,
    security(("bearer" = ["users:write"]), ("basic" = [])), params(("id" = Uuid, Path)),
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn user_create(
    State(b): State<Arc<Bouncer>>,
    caller: Require<UsersWrite>,
    IdPath(owner): IdPath,
    JsonBody(body): JsonBody<ApiKeyBody>,
) -> ApiResult<impl IntoResponse> {
    let (key, secret) = b
        .create_api_key(Actor::Caller(&caller.0), owner, new_key(body)?)
        .await?;
    Ok(created(StatusCode::CREATED, &key, secret))
}

/// Revokes a user's key.
#[utoipa::path(delete, path = "/users/{id}/api-keys/{key_id}", tag = "api-keys",
    security(("bearer" = ["users:write"]), ("basic" = [])),
    params(("id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
pub async fn user_delete(
    State(b): State<Arc<Bouncer>>,
    caller: Require<UsersWrite>,
    Path((owner, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let parse = |s: &str| {
        Uuid::parse_str(s).map_err(|_| ApiError::from(bouncer_core::Error::NotFound("api key")))
    };
    b.revoke_api_key(Actor::Caller(&caller.0), parse(&owner)?, parse(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
