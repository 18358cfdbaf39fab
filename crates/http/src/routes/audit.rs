//! The audit trail: logins, token events, refusals and every administrative change, newest
//! first, keyset-paginated.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use bouncer_core::Error;
use bouncer_core::clock::{parse_rfc3339, rfc3339};
use bouncer_core::model::{AuditEvent, AuditQuery, Outcome};
use bouncer_core::service::{AUDIT_PAGE, Bouncer};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::extract::{AuditRead, QueryMap, Require};
use crate::views::ProblemDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    /// RFC 3339.
    pub time: String,
    /// A username, a client's id, `operator` (the CLI), or the username a failed login tried.
    pub actor: String,
    pub subject: Option<String>,
    pub action: String,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// A refusal's code, a failed login's reason, or what changed.
    pub reason: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        AuditEventView {
            id: e.id,
            time: rfc3339(e.at),
            actor: e.actor,
            subject: e.subject,
            action: e.action,
            outcome: e.outcome.as_str(),
            reason: e.reason,
            client_ip: e.client_ip,
            request_id: e.request_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

const FILTERS: &[&str] = &["actor", "action", "outcome", "since", "cursor"];

/// Events newest first, 50 a page; filters `actor`, `action`, `outcome` (`success`, `failure`)
/// and `since` (RFC 3339) combine with AND; `cursor` is the previous page's `next_cursor`.
#[utoipa::path(get, path = "/audit/events", tag = "audit", security(("bearer" = ["audit:read"]), ("basic" = [])),
    params(("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("outcome" = Option<String>, Query),
        ("since" = Option<String>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AuditPage), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn list(
    State(b): State<Arc<Bouncer>>,
    _: Require<AuditRead>,
    q: QueryMap,
) -> ApiResult<Json<AuditPage>> {
    if let Some(k) = q.0.keys().find(|k| !FILTERS.contains(&k.as_str())) {
        return Err(Error::validation(
            k.clone(),
            "unknown parameter (actor, action, outcome, since, cursor)",
        )
        .into());
    }
    if let Some((k, _)) =
        q.0.iter()
            .find(|(_, v)| v.chars().count() > 256 || v.chars().any(char::is_control))
    {
        return Err(
            Error::validation(k.clone(), "at most 256 characters, no control characters").into(),
        );
    }
    let text = |k: &str| q.0.get(k).filter(|v| !v.is_empty()).cloned();
    let outcome = match q.0.get("outcome").map(String::as_str) {
        None => None,
        Some(v) => Some(
            Outcome::parse(v)
                .ok_or_else(|| Error::validation("outcome", "must be success or failure"))?,
        ),
    };
    let since =
        match q.0.get("since").map(String::as_str) {
            None => None,
            Some(v) => Some(parse_rfc3339(v).ok_or_else(|| {
                Error::validation("since", format!("{v:?} is not an RFC 3339 time"))
            })?),
        };
    let before = match q.0.get("cursor").map(String::as_str) {
        None => None,
        Some(v) => Some(
            Uuid::parse_str(v)
                .map_err(|_| Error::validation("cursor", "not a cursor this server gave"))?,
        ),
    };
    let mut events = b
        .audit_events(AuditQuery {
            actor: text("actor"),
            action: text("action"),
            outcome,
            since,
            before,
            limit: AUDIT_PAGE + 1,
        })
        .await?;
    let more = events.len() > AUDIT_PAGE as usize;
    events.truncate(AUDIT_PAGE as usize);
    let next_cursor = if more {
        events.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: events.into_iter().map(AuditEventView::from).collect(),
        next_cursor,
    }))
}
