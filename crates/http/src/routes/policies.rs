//! Policies: conditional rules on permissions (time windows in a time zone, weekdays, validity,
//! client networks, login age), evaluated by the authorizer on every request that uses them; and
//! explain, which runs the same decision with every step reported.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bouncer_core::authz::{Actor, Decision, DenyCode};
use bouncer_core::policy::PolicyDocument;
use bouncer_core::service::{Bouncer, ExplainRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::extract::{JsonBody, NamePath, PoliciesRead, PoliciesWrite, Require};
use crate::views::ProblemDoc;

/// A policy in a listing: its name and its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    pub name: String,
    #[serde(flatten)]
    pub document: PolicyDocument,
}

#[utoipa::path(get, path = "/policies", tag = "policies", security(("bearer" = ["policies:read"]), ("basic" = [])),
    responses((status = 200, body = Vec<PolicyView>), (status = 403, body = ProblemDoc)))]
pub async fn list(
    State(b): State<Arc<Bouncer>>,
    _: Require<PoliciesRead>,
) -> ApiResult<Json<Vec<PolicyView>>> {
    Ok(Json(
        b.list_policies()
            .await?
            .into_iter()
            .map(|p| PolicyView {
                name: p.name,
                document: p.document,
            })
            .collect(),
    ))
}

/// The policy document as it was put.
#[utoipa::path(get, path = "/policies/{name}", tag = "policies", security(("bearer" = ["policies:read"]), ("basic" = [])),
    params(("name" = String, Path)), responses((status = 200, body = PolicyDocument), (status = 404, body = ProblemDoc)))]
pub async fn get(
    State(b): State<Arc<Bouncer>>,
    _: Require<PoliciesRead>,
    NamePath(name): NamePath,
) -> ApiResult<Json<PolicyDocument>> {
    Ok(Json(b.policy(&name).await?.document))
}

/// Creates (201) or replaces (200) a policy. Every bad value is 422 naming its field
/// (`conditions.time_windows[0].start`); a caller puts policies only on permissions it holds
/// (403 `cannot_grant`). In force on every instance within a poll of the change feed.
#[utoipa::path(put, path = "/policies/{name}", tag = "policies", request_body = PolicyDocument, security(("bearer" = ["policies:write"]), ("basic" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = PolicyDocument), (status = 201, body = PolicyDocument), (status = 403, body = ProblemDoc), (status = 422, body = ProblemDoc)))]
pub async fn put(
    State(b): State<Arc<Bouncer>>,
    caller: Require<PoliciesWrite>,
    NamePath(name): NamePath,
    JsonBody(doc): JsonBody<PolicyDocument>,
) -> ApiResult<(StatusCode, Json<PolicyDocument>)> {
    let (policy, created) = b.put_policy(Actor::Caller(&caller.0), &name, doc).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(policy.document)))
}

#[utoipa::path(delete, path = "/policies/{name}", tag = "policies", security(("bearer" = ["policies:write"]), ("basic" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
pub async fn delete(
    State(b): State<Arc<Bouncer>>,
    caller: Require<PoliciesWrite>,
    NamePath(name): NamePath,
) -> ApiResult<StatusCode> {
    b.delete_policy(Actor::Caller(&caller.0), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainBody {
    /// A user's id or username; absent: the caller's own credential.
    #[serde(default)]
    pub subject: Option<String>,
    /// The permission asked about, such as `items:delete`.
    pub permission: String,
    /// The owner of the resource (the owner may use `items:write` for its own items).
    #[serde(default)]
    pub resource_owner: Option<Uuid>,
    /// RFC 3339; default now.
    #[serde(default)]
    pub at: Option<String>,
    /// Default: the caller's address.
    #[serde(default)]
    pub client_ip: Option<String>,
}

/// One step of a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// `role`, `permission`, `scope`, `policy` or `condition`.
    pub kind: &'static str,
    /// The role, permission, policy, or the condition's field.
    pub name: String,
    /// Whether the step went the request's way.
    pub result: bool,
    /// The step in words.
    pub detail: String,
    /// For a condition: its policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainView {
    pub allowed: bool,
    /// Null when allowed; `forbidden` when the permission is not held, else the refusal's code
    /// (`insufficient_scope`, `policy_denied`).
    pub code: Option<&'static str>,
    /// The policy that refused, if one did.
    pub policy: Option<String>,
    pub steps: Vec<StepView>,
}

impl From<Decision> for ExplainView {
    fn from(d: Decision) -> Self {
        ExplainView {
            allowed: d.allowed,
            code: (!d.allowed).then_some(match d.deny {
                Some(DenyCode::MissingPermission) => "forbidden",
                _ => d.code,
            }),
            policy: d.policy.as_deref().map(str::to_owned),
            steps: d
                .steps
                .iter()
                .map(|s| StepView {
                    kind: s.kind(),
                    name: s.name().to_owned(),
                    result: s.result(),
                    detail: s.detail(),
                    policy: s.policy().map(str::to_owned),
                })
                .collect(),
        }
    }
}

/// Why would this be allowed or refused? The authorizer's own decision for a subject (by default
/// the caller), a permission, an optional resource owner, a time and a client address, with
/// every step: the roles considered, the permission, the scope, each policy and each of its
/// conditions. A `subject` is assumed to hold a JWT whose login (`auth_time`) is `at`.
#[utoipa::path(post, path = "/authz/explain", tag = "policies", request_body = ExplainBody, security(("bearer" = ["policies:read"]), ("basic" = [])),
    responses((status = 200, body = ExplainView), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc, description = "The subject names no user"), (status = 422, body = ProblemDoc)))]
pub async fn explain(
    State(b): State<Arc<Bouncer>>,
    caller: Require<PoliciesRead>,
    JsonBody(body): JsonBody<ExplainBody>,
) -> ApiResult<Json<ExplainView>> {
    let at = body
        .at
        .as_deref()
        .map(|s| {
            bouncer_core::clock::parse_rfc3339(s).ok_or_else(|| {
                bouncer_core::Error::validation("at", format!("{s:?} is not an RFC 3339 time"))
            })
        })
        .transpose()?;
    let client_ip = body
        .client_ip
        .as_deref()
        .map(|s| {
            s.parse::<IpAddr>().map_err(|_| {
                bouncer_core::Error::validation(
                    "client_ip",
                    format!("{s:?} is not an IPv4 or IPv6 address"),
                )
            })
        })
        .transpose()?;
    let decision = b
        .explain(
            Some(&caller.0),
            ExplainRequest {
                subject: body.subject,
                permission: body.permission,
                resource_owner: body.resource_owner,
                at,
                client_ip,
            },
        )
        .await?;
    Ok(Json(decision.into()))
}
