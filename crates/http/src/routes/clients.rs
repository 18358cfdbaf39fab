//! Machine clients: `POST /clients` (the secret is shown once), `GET /clients`,
//! `DELETE /clients/{id}`, all needing `clients:write`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bouncer_core::authz::Actor;
use bouncer_core::service::{Bouncer, NewClient};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::extract::{ClientsWrite, JsonBody, NamePath, Require};
use crate::views::{ClientView, ProblemDoc};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// What the client may hold: permissions, each one the caller holds itself.
    pub scopes: Vec<String>,
    /// May use the password grant; only an admin sets it.
    #[serde(default)]
    pub first_party: bool,
}

/// The creation answer: the client and, this once, its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    pub client_secret: String,
}

/// Registers a client; the answer carries `client_secret`, shown only this once.
#[utoipa::path(post, path = "/clients", tag = "clients", request_body = ClientBody,
    security(("bearer" = ["clients:write"]), ("basic" = [])),
    responses((status = 201, body = CreatedClient), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn create(
    State(b): State<Arc<Bouncer>>,
    caller: Require<ClientsWrite>,
    JsonBody(body): JsonBody<ClientBody>,
) -> ApiResult<impl IntoResponse> {
    let (client, secret) = b
        .create_client(
            Actor::Caller(&caller.0),
            NewClient {
                name: body.name,
                scopes: body.scopes,
                first_party: body.first_party,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/clients/{}", client.id)),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(CreatedClient {
            client: ClientView::from(&client),
            client_secret: secret,
        }),
    ))
}

/// Every registered client (never a secret).
#[utoipa::path(get, path = "/clients", tag = "clients",
    security(("bearer" = ["clients:write"]), ("basic" = [])),
    responses((status = 200, body = Vec<ClientView>), (status = 403, body = ProblemDoc)))]
pub async fn list(
    State(b): State<Arc<Bouncer>>,
    _: Require<ClientsWrite>,
) -> ApiResult<Json<Vec<ClientView>>> {
    Ok(Json(
        b.list_clients()
            .await?
            .iter()
            .map(ClientView::from)
            .collect(),
    ))
}

/// Deletes a client; its tokens stop working at once.
#[utoipa::path(delete, path = "/clients/{id}", tag = "clients",
    security(("bearer" = ["clients:write"]), ("basic" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
pub async fn delete(
    State(b): State<Arc<Bouncer>>,
    caller: Require<ClientsWrite>,
    NamePath(id): NamePath,
) -> ApiResult<StatusCode> {
    b.delete_client(Actor::Caller(&caller.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
