//! `GET /auth/verify`: forward-auth for nginx `auth_request` and Traefik `forwardAuth`. It answers
//! only 200 (with `X-Auth-User`, `X-Auth-User-Id`, `X-Auth-Roles`, `X-Auth-Scopes`), 401 or 403:
//! nginx turns anything else into a 500. Decision order: a matching `public` rule → 200; no valid
//! credential → 401; the matching rule decides (403 when it fails); no rule matches → 403 once
//! rules exist, 200 when none are configured. The original method and URI are read only from
//! trusted proxies (`X-Original-Method`/`X-Original-URI`, or `X-Forwarded-Method`/
//! `X-Forwarded-Uri`); from anyone else, or when absent, the request matches no rule.

use std::sync::Arc;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bouncer_core::authz::{Requirement, Resource};
use bouncer_core::forward::{RuleNeed, first_match, normalize_path};
use bouncer_core::service::Bouncer;

use crate::error::ApiError;
use crate::extract::{authenticate_for, unauthorized};
use crate::views::ProblemDoc;

/// One header's value (absent, repeated or not text: `None`).
fn single<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut all = h.get_all(name).iter();
    let first = all.next()?;
    all.next().is_none().then(|| first.to_str().ok()).flatten()
}

/// One of two header names' value: `Ok(None)` when neither is present, `Err` when both are and
/// they differ (or one is repeated or not text).
fn either<'a>(h: &'a HeaderMap, a: &str, b: &str) -> Result<Option<&'a str>, ()> {
    match (h.contains_key(a), h.contains_key(b)) {
        (false, false) => Ok(None),
        (true, false) => single(h, a).map(Some).ok_or(()),
        (false, true) => single(h, b).map(Some).ok_or(()),
        (true, true) => match (single(h, a), single(h, b)) {
            (Some(x), Some(y)) if x == y => Ok(Some(x)),
            _ => Err(()),
        },
    }
}

/// The original method and normalized path, from nginx's `X-Original-*` or Traefik's
/// `X-Forwarded-Method`/`-Uri`. A proxy sets its own family and passes the client's headers on,
/// so a client can add the other family: when both are present they must agree, or the request
/// names no path (and matches no rule). No method, or no URI, is no path either: fail closed.
fn original(h: &HeaderMap) -> (Method, Option<String>) {
    let method = either(h, "x-original-method", "x-forwarded-method");
    let uri = either(h, "x-original-uri", "x-forwarded-uri");
    match (method, uri) {
        (Ok(Some(m)), Ok(Some(u))) => match Method::from_bytes(m.trim().as_bytes()) {
            Ok(m) => (m, normalize_path(u)),
            Err(_) => (Method::GET, None),
        },
        _ => (Method::GET, None),
    }
}

/// Keeps 401 and 403 as they are; turns every other refusal into a 401 that keeps its `code`
/// (and `Retry-After`), so a proxy never sees another status.
fn only_401_or_403(res: Response) -> Response {
    let status = res.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || status.is_success()
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    parts.status = StatusCode::UNAUTHORIZED;
    Response::from_parts(parts, body)
}

/// Forward-auth (see the module documentation for the rules).
#[utoipa::path(get, path = "/auth/verify", tag = "forward-auth",
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "allowed; X-Auth-User, X-Auth-User-Id, X-Auth-Roles, X-Auth-Scopes"),
              (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub async fn verify(State(b): State<Arc<Bouncer>>, req: axum::extract::Request) -> Response {
    // The request's parts as they are (the `Parts` extractor would clone every header).
    let (parts, _) = req.into_parts();
    // Answered within 10 s, before the server-wide timeout's 408 (which nginx would turn into
    // a 500): a hung database is a 401 here.
    match tokio::time::timeout(std::time::Duration::from_secs(10), decide(&b, &parts)).await {
        Ok(r) => only_401_or_403(r.unwrap_or_else(IntoResponse::into_response)),
        Err(_) => only_401_or_403(ApiError::NotReady.into_response()),
    }
}

async fn decide(b: &Bouncer, parts: &Parts) -> Result<Response, ApiError> {
    let ctx = crate::context::of(parts);
    let rules = &b.settings.forward_rules;
    let (method, path) = if ctx.via_trusted_proxy {
        original(&parts.headers)
    } else {
        (Method::GET, None)
    };
    let rule = first_match(rules, method.as_str(), path.as_deref());
    if rule.is_some_and(|r| r.need == RuleNeed::Public) {
        return Ok(StatusCode::OK.into_response());
    }
    let Some(p) = authenticate_for(b, parts, &method).await? else {
        return Err(unauthorized(b, false, "authentication required"));
    };
    match rule.map(|r| &r.need) {
        None if !rules.is_empty() => {
            return Err(ApiError::Forbidden {
                code: "no_rule",
                detail: "no forward-auth rule covers this request",
            });
        }
        None | Some(RuleNeed::Authenticated | RuleNeed::Public) => {}
        Some(RuleNeed::Role(role)) => {
            let roles = [role.as_str()];
            b.authz
                .authorize(&p, Requirement::AnyRole(&roles), Resource::default())
                .into_result()?;
        }
        Some(RuleNeed::Permission(perm)) => {
            b.authz
                .authorize(&p, Requirement::Permission(perm), Resource::default())
                .into_result()?;
        }
    }
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    let scopes = p
        .scopes
        .as_ref()
        .map_or_else(|| "*".to_owned(), |s| s.to_strings().join(","));
    // Roles as the credential may use them: a narrowed scope passes on only its `role:NAME`s.
    let roles: Vec<&str> = p.usable_roles().collect();
    for (name, value) in [
        ("x-auth-user", p.username().to_owned()),
        ("x-auth-user-id", p.subject_id()),
        ("x-auth-roles", roles.join(",")),
        ("x-auth-scopes", scopes),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    Ok(res)
}
