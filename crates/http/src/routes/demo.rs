//! The seed tutorials' routes, kept as living examples of the three kinds of check.

use axum::Json;

use crate::extract::{Admin, Auth, Require, UserOrAdmin};
use crate::views::Message;

/// Any authenticated caller.
#[utoipa::path(get, path = "/protected", tag = "examples", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Message), (status = 401, body = crate::views::ProblemDoc)))]
pub async fn protected(Auth(p): Auth) -> Json<Message> {
    Json(Message {
        message: format!("Hello, {}!", p.username()),
    })
}

/// Role `admin`.
#[utoipa::path(get, path = "/admin-only", tag = "examples", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Message), (status = 401, body = crate::views::ProblemDoc), (status = 403, body = crate::views::ProblemDoc)))]
pub async fn admin_only(_: Require<Admin>) -> Json<Message> {
    Json(Message {
        message: "Hello, Admin!".into(),
    })
}

/// Role `user` or `admin`.
#[utoipa::path(get, path = "/user-only", tag = "examples", security(("bearer" = []), ("basic" = [])),
    responses((status = 200, body = Message), (status = 401, body = crate::views::ProblemDoc), (status = 403, body = crate::views::ProblemDoc)))]
pub async fn user_only(_: Require<UserOrAdmin>) -> Json<Message> {
    Json(Message {
        message: "Hello, User!".into(),
    })
}
