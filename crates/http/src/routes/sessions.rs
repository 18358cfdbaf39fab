//! Cookie sessions: `POST /auth/login` sets `bouncer_session` (HttpOnly, SameSite=Lax, Path=/,
//! Secure per `sessions.secure_cookie`) and answers the CSRF token; `POST /auth/logout` ends it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bouncer_core::service::Bouncer;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, SESSION_COOKIE};
use crate::views::{ProblemDoc, UserView};
use crate::{AppState, SecureCookie};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginView {
    /// Send it back as `X-CSRF-Token` on every unsafe request made with the session.
    pub csrf_token: String,
    pub user: UserView,
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("bouncer_session=; Max-Age=0"))
}

fn secure(st: &AppState, ctx: &bouncer_core::context::RequestContext) -> bool {
    match st.secure_cookie {
        SecureCookie::Always => true,
        SecureCookie::Never => false,
        SecureCookie::Auto => ctx.https,
    }
}

/// Logs in with a username and password: a new session (a new id at every login), its cookie,
/// and its CSRF token. Wrong credentials: 401 `invalid_credentials`.
#[utoipa::path(post, path = "/auth/login", tag = "sessions", request_body = LoginBody,
    responses((status = 200, body = LoginView), (status = 401, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
pub async fn login(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<LoginBody>,
) -> ApiResult<Response> {
    let b: &Arc<Bouncer> = &st.bouncer;
    let login = match b.login(&body.username, &body.password, &ctx).await {
        Ok(l) => l,
        Err(bouncer_core::Error::InvalidCredentials(_)) => {
            return Err(ApiError::InvalidLogin);
        }
        Err(e) => return Err(e.into()),
    };
    let mut res = Json(LoginView {
        csrf_token: login.csrf_token,
        user: UserView::from(&login.user),
    })
    .into_response();
    let h = res.headers_mut();
    h.insert(
        header::SET_COOKIE,
        cookie(&login.session_id, login.max_age_s, secure(&st, &ctx)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Ends the caller's session on every instance and clears the cookie (needs `X-CSRF-Token`).
/// Another credential is not a session: 422 (revoke tokens with `/oauth2/revoke` instead).
#[utoipa::path(post, path = "/auth/logout", tag = "sessions", security(("session" = [])),
    responses((status = 204), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn logout(
    State(st): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<Response> {
    st.bouncer.logout(&p).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, secure(&st, &ctx)));
    Ok(res)
}
