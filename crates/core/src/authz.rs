//! The one authorization check. Every route and every core service asks the [`Authorizer`];
//! nothing else decides. It holds the compiled policies (swapped as a whole when they change) and
//! returns a [`Decision`] that carries its reason, the deciding policy and, for explain, every
//! [`Step`] that led to it. Explain runs the very same code with the trace on.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::permission::{Permission, PermissionRef, PermissionSet};
use crate::policy::{ConditionResult, Effect, Facts, PolicySet};
use crate::principal::Principal;

/// The scope resource naming roles: `role:NAME` in a scope lets a narrowed token use role `NAME`.
pub const ROLE_SCOPE: &str = "role";

/// What an operation needs.
#[derive(Debug, Clone, Copy)]
pub enum Requirement<'a> {
    /// Any authenticated caller.
    Authenticated,
    /// A permission such as `items:write`; scopes narrow it, policies govern it.
    Permission(&'a str),
    /// `any` for every caller, or `own` for the owner of the [`Resource`] (`items:delete`, or
    /// `items:write` on one's own item). Policies governing `any` apply either way: they govern
    /// the operation.
    OwnOrAny { own: &'a str, any: &'a str },
    /// At least one of these roles.
    AnyRole(&'a [&'a str]),
}

/// The resource being touched, when the rule depends on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resource {
    pub owner: Option<Uuid>,
}

/// Why a request was refused, as the stable `code` of the 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyCode {
    MissingRole,
    MissingPermission,
    InsufficientScope,
    /// The operation acts on the caller's own user account, and the caller is a client or an
    /// outside issuer's subject.
    NotAUser,
    /// An API key used from outside its client-IP allowlist.
    IpNotAllowed,
    /// The caller tried to give (or touch someone holding) a permission it does not hold itself.
    CannotGrant,
    /// A policy's conditions refused the permission.
    PolicyDenied,
}

impl DenyCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyCode::MissingRole => "missing_role",
            DenyCode::MissingPermission => "missing_permission",
            DenyCode::InsufficientScope => "insufficient_scope",
            DenyCode::CannotGrant => "cannot_grant",
            DenyCode::NotAUser => "not_a_user",
            DenyCode::IpNotAllowed => "ip_not_allowed",
            DenyCode::PolicyDenied => "policy_denied",
        }
    }
}

/// What a policy did to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// The policy does not apply to this caller: the field (`roles`, `credential_kinds`) that
    /// excludes it.
    NotApplicable(&'static str),
    /// It lets the request through (an allow whose conditions hold, a deny whose do not).
    Passed,
    /// It refuses the request.
    Refused,
}

/// One step of a decision, as explain reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A role of the subject, and whether it grants the permission asked about (for a role
    /// requirement: whether the credential may use it).
    Role { name: String, grants: bool },
    /// Whether the subject holds the permission, and through what.
    Permission {
        name: String,
        held: bool,
        via: Option<String>,
    },
    /// Whether a narrowed credential's scope covers the permission (or `role:NAME`).
    Scope { name: String, covers: bool },
    /// Whether the resource is the caller's own (`own` may stand in for `any`).
    Owner { own: String, is_owner: bool },
    /// A policy governing the permission.
    Policy {
        name: Arc<str>,
        effect: Effect,
        outcome: PolicyOutcome,
    },
    /// One condition of a policy, named by its field.
    Condition {
        policy: Arc<str>,
        result: ConditionResult,
    },
}

impl Step {
    /// `role`, `permission`, `scope`, `policy` or `condition`.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Role { .. } => "role",
            Step::Permission { .. } | Step::Owner { .. } => "permission",
            Step::Scope { .. } => "scope",
            Step::Policy { .. } => "policy",
            Step::Condition { .. } => "condition",
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Step::Role { name, .. } | Step::Permission { name, .. } | Step::Scope { name, .. } => {
                name
            }
            Step::Owner { own, .. } => own,
            Step::Policy { name, .. } => name,
            Step::Condition { result, .. } => result.field,
        }
    }
    /// Whether the step went the request's way.
    pub fn result(&self) -> bool {
        match self {
            Step::Role { grants, .. } => *grants,
            Step::Permission { held, .. } => *held,
            Step::Scope { covers, .. } => *covers,
            Step::Owner { is_owner, .. } => *is_owner,
            Step::Policy { outcome, .. } => *outcome != PolicyOutcome::Refused,
            Step::Condition { result, .. } => result.holds,
        }
    }
    /// The step in words, without its kind and name (which are fields of their own).
    pub fn detail(&self) -> String {
        match self {
            Step::Condition { result, .. } => result.detail.clone(),
            other => other.to_string(),
        }
    }
    /// The policy a condition belongs to.
    pub fn policy(&self) -> Option<&str> {
        match self {
            Step::Condition { policy, .. } => Some(policy),
            _ => None,
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Role { name, grants } => write!(
                f,
                "role {name}: {}",
                if *grants {
                    "grants it"
                } else {
                    "does not grant it"
                }
            ),
            Step::Permission { name, held, via } => match (held, via) {
                (true, Some(v)) => write!(f, "permission {name}: held ({v})"),
                (true, None) => write!(f, "permission {name}: held"),
                (false, _) => write!(f, "permission {name}: not held"),
            },
            Step::Scope { name, covers } => write!(
                f,
                "scope: {} {name}",
                if *covers {
                    "includes"
                } else {
                    "does not include"
                }
            ),
            Step::Owner { own, is_owner } => write!(
                f,
                "owner: {}",
                if *is_owner {
                    format!("the caller owns the resource, so {own} suffices")
                } else {
                    "the caller does not own the resource".to_owned()
                }
            ),
            Step::Policy {
                name,
                effect,
                outcome,
            } => match outcome {
                PolicyOutcome::NotApplicable(field) => {
                    write!(
                        f,
                        "policy {name} ({}): does not apply ({field})",
                        effect.as_str()
                    )
                }
                PolicyOutcome::Passed => write!(f, "policy {name} ({}): passes", effect.as_str()),
                PolicyOutcome::Refused => {
                    write!(f, "policy {name} ({}): refuses", effect.as_str())
                }
            },
            Step::Condition { policy, result } => write!(
                f,
                "  {policy}.{}: {} ({})",
                result.field, result.holds, result.detail
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Empty when allowed.
    pub code: &'static str,
    pub deny: Option<DenyCode>,
    /// What was missing: a permission, a scope, or the roles that would do (comma-separated).
    pub missing: Option<String>,
    /// The policy that refused, for `policy_denied`.
    pub policy: Option<Arc<str>>,
    /// Every step that led here; empty unless explained.
    pub steps: Vec<Step>,
}

impl Decision {
    fn allow(trace: Trace) -> Self {
        Decision {
            allowed: true,
            code: "",
            deny: None,
            missing: None,
            policy: None,
            steps: trace.into_steps(),
        }
    }
    fn deny(code: DenyCode, missing: String, trace: Trace) -> Self {
        Decision {
            allowed: false,
            code: code.as_str(),
            deny: Some(code),
            missing: Some(missing),
            policy: None,
            steps: trace.into_steps(),
        }
    }

    /// A refusal with `code` naming `missing`.
    pub fn deny_with(code: DenyCode, missing: &str) -> Self {
        Decision::deny(code, missing.to_owned(), Trace::off())
    }

    /// The refusal of a user-only operation to a client.
    pub fn not_a_user() -> Self {
        Decision::deny(DenyCode::NotAUser, "a user".into(), Trace::off())
    }

    pub fn into_error(self) -> crate::Error {
        crate::Error::Forbidden(Box::new(self))
    }

    /// `Ok(())` when allowed, the forbidden error otherwise.
    pub fn into_result(self) -> crate::Result<()> {
        if self.allowed {
            Ok(())
        } else {
            Err(crate::Error::Forbidden(Box::new(self)))
        }
    }
}

/// Who asks for an administrative change: an authenticated caller, or the operator at the CLI
/// (who has the database itself, so no rule can hold them back).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Operator,
    Caller(&'a Principal),
}

impl Actor<'_> {
    /// Who the audit trail names: the caller's username (a client's id), or `operator`.
    pub fn name(&self) -> &str {
        match self {
            Actor::Operator => "operator",
            Actor::Caller(p) => p.username(),
        }
    }
    /// The request context, when there is a request.
    pub fn context(&self) -> Option<&crate::context::RequestContext> {
        match self {
            Actor::Operator => None,
            Actor::Caller(p) => Some(&p.context),
        }
    }
}

/// Nobody grants what they do not hold. `Ok` when `actor` holds every one of `perms` (its user's
/// current permissions and, for a scoped credential, its scopes: what it could use itself);
/// otherwise 403 `cannot_grant` naming the first it lacks. Giving a role means giving its
/// permissions; touching a user (changing, disabling, deleting, setting a password) means holding
/// every permission that user holds, so only an admin touches an admin.
pub fn may_grant<'p>(
    actor: Actor<'_>,
    perms: impl IntoIterator<Item = &'p Permission>,
) -> crate::Result<()> {
    let Actor::Caller(p) = actor else {
        return Ok(());
    };
    match perms.into_iter().find(|perm| !p.holds(perm)) {
        None => Ok(()),
        Some(lacking) => {
            Decision::deny(DenyCode::CannotGrant, lacking.to_string(), Trace::off()).into_result()
        }
    }
}

/// The steps of a decision, written only when someone asked for them (explain), so the check on
/// every request allocates nothing. When on, it has the role table, to say which role grants what.
struct Trace {
    steps: Option<Vec<Step>>,
    roles: Option<Arc<HashMap<String, PermissionSet>>>,
}

impl Trace {
    fn off() -> Self {
        Trace {
            steps: None,
            roles: None,
        }
    }
    fn on(&self) -> bool {
        self.steps.is_some()
    }
    fn step(&mut self, step: impl FnOnce() -> Step) {
        if let Some(steps) = &mut self.steps {
            steps.push(step());
        }
    }
    fn into_steps(self) -> Vec<Step> {
        self.steps.unwrap_or_default()
    }
    /// For explain: one step per role of the subject, saying whether it grants `required`, and
    /// where the permission comes from.
    fn roles_for(&mut self, p: &Principal, required: PermissionRef<'_>) -> Option<String> {
        let (Some(steps), Some(table)) = (&mut self.steps, &self.roles) else {
            return None;
        };
        let mut via = None;
        for r in p.roles() {
            let grants = table.get(r).is_some_and(|set| set.covers_ref(required));
            if grants && via.is_none() {
                via = Some(format!("role {r}"));
            }
            steps.push(Step::Role {
                name: r.clone(),
                grants,
            });
        }
        via.or_else(|| {
            p.permissions()
                .covers_ref(required)
                .then(|| match &p.subject {
                    crate::principal::Subject::Client(_) => "the client's scopes".to_owned(),
                    crate::principal::Subject::User(_) => "a direct grant".to_owned(),
                    crate::principal::Subject::Outside(_) => "the issuer's roles".to_owned(),
                })
        })
    }
}

/// The permission checks of one requirement, in order: the subject holds it, the scope covers it.
fn check_permission(p: &Principal, name: &str, t: &mut Trace) -> Option<(DenyCode, String)> {
    let Some(required) = PermissionRef::parse(name) else {
        // A programming error: routes only name valid permissions. Refuse, loudly.
        tracing::error!(
            permission = name,
            "authorize called with an invalid permission"
        );
        return Some((DenyCode::MissingPermission, name.to_owned()));
    };
    let via = if t.on() {
        t.roles_for(p, required)
    } else {
        None
    };
    let held = p.permissions().covers_ref(required);
    t.step(|| Step::Permission {
        name: name.to_owned(),
        held,
        via,
    });
    if !held {
        return Some((DenyCode::MissingPermission, name.to_owned()));
    }
    if let Some(scopes) = &p.scopes {
        let covers = scopes.covers_ref(required);
        t.step(|| Step::Scope {
            name: name.to_owned(),
            covers,
        });
        if !covers {
            return Some((DenyCode::InsufficientScope, name.to_owned()));
        }
    }
    None
}

/// Holds the policies in force and decides. One per process; the policy set is replaced as a whole
/// ([`Authorizer::set_policies`]) when the change feed says policies changed.
#[derive(Debug, Default)]
pub struct Authorizer {
    policies: RwLock<Arc<PolicySet>>,
}

impl Authorizer {
    pub fn new(policies: PolicySet) -> Self {
        Authorizer {
            policies: RwLock::new(Arc::new(policies)),
        }
    }

    /// Swaps in a new compiled policy set; requests in flight finish with the old one.
    pub fn set_policies(&self, policies: PolicySet) {
        *self.policies.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policies);
    }

    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Decides whether `principal` meets `need` on `resource`, in the principal's request context
    /// (its time, client address and login time).
    ///
    /// A permission is granted when the user's current permissions (roles and direct grants) cover
    /// it, for a token with scopes the scopes cover it too, and every policy governing it passes
    /// (deny wins; every governing allow must hold). A permission the user holds but the token was
    /// not granted is `insufficient_scope`; one the user lacks is `missing_permission`; a policy's
    /// refusal is `policy_denied` naming the policy.
    pub fn authorize(
        &self,
        principal: &Principal,
        need: Requirement<'_>,
        resource: Resource,
    ) -> Decision {
        self.decide(principal, need, resource, Trace::off())
    }

    /// [`Authorizer::authorize`], with every step that led to the decision in `steps`. `roles`
    /// is the role table, to say which role grants what.
    pub fn explain(
        &self,
        principal: &Principal,
        need: Requirement<'_>,
        resource: Resource,
        roles: Arc<HashMap<String, PermissionSet>>,
    ) -> Decision {
        let trace = Trace {
            steps: Some(Vec::new()),
            roles: Some(roles),
        };
        self.decide(principal, need, resource, trace)
    }

    fn decide(
        &self,
        principal: &Principal,
        need: Requirement<'_>,
        resource: Resource,
        mut t: Trace,
    ) -> Decision {
        match need {
            Requirement::Authenticated => Decision::allow(t),
            Requirement::AnyRole(roles) => {
                for r in principal.roles() {
                    let grants = roles.contains(&r.as_str());
                    t.step(|| Step::Role {
                        name: r.clone(),
                        grants,
                    });
                }
                let Some(r) = roles.iter().find(|r| principal.has_role(r)) else {
                    return Decision::deny(DenyCode::MissingRole, roles.join(","), t);
                };
                // Scopes narrow roles too: a narrowed token passes only with `role:NAME` in its scope.
                let mut used = *r;
                if principal.scopes.is_some() {
                    let usable = roles.iter().find(|r| principal.may_use_role(r));
                    t.step(|| Step::Scope {
                        name: format!("{ROLE_SCOPE}:{}", usable.unwrap_or(r)),
                        covers: usable.is_some(),
                    });
                    match usable {
                        Some(u) => used = u,
                        None => {
                            return Decision::deny(
                                DenyCode::InsufficientScope,
                                format!("{ROLE_SCOPE}:{r}"),
                                t,
                            );
                        }
                    }
                }
                // Policies on `role:NAME` (or `role:*`, `*`) govern what a role requirement allows.
                self.with_policies(
                    principal,
                    PermissionRef::Exact(ROLE_SCOPE, used),
                    None,
                    || format!("{ROLE_SCOPE}:{used}"),
                    t,
                )
            }
            Requirement::Permission(p) => {
                if let Some((code, missing)) = check_permission(principal, p, &mut t) {
                    return Decision::deny(code, missing, t);
                }
                self.with_permission_policies(principal, p, None, t)
            }
            Requirement::OwnOrAny { own, any } => {
                let mut any_trace = Trace {
                    steps: t.steps.as_ref().map(|_| Vec::new()),
                    roles: t.roles.clone(),
                };
                let any_refusal = check_permission(principal, any, &mut any_trace);
                if let (Some(steps), Some(more)) = (&mut t.steps, any_trace.steps) {
                    steps.extend(more);
                }
                let Some((code, missing)) = any_refusal else {
                    return self.with_permission_policies(principal, any, None, t);
                };
                let is_owner = resource
                    .owner
                    .is_some_and(|o| principal.user().is_some_and(|u| u.user.id == o));
                t.step(|| Step::Owner {
                    own: own.to_owned(),
                    is_owner,
                });
                if !is_owner || own == any {
                    return Decision::deny(code, missing, t);
                }
                if let Some((code, missing)) = check_permission(principal, own, &mut t) {
                    return Decision::deny(code, missing, t);
                }
                self.with_permission_policies(principal, own, Some(any), t)
            }
        }
    }

    /// [`Authorizer::with_policies`] for permissions named by string (already checked valid).
    fn with_permission_policies(
        &self,
        principal: &Principal,
        used: &str,
        also: Option<&str>,
        t: Trace,
    ) -> Decision {
        let Some(used_ref) = PermissionRef::parse(used) else {
            return Decision::deny(DenyCode::MissingPermission, used.to_owned(), t);
        };
        let also_ref = also.and_then(PermissionRef::parse);
        self.with_policies(
            principal,
            used_ref,
            also_ref,
            || also.unwrap_or(used).to_owned(),
            t,
        )
    }

    /// The policies governing `used` (and `also`, the operation's own permission when `used`
    /// stood in for it): deny wins, every governing allow must hold. `shown` names the refused
    /// permission (only built for a refusal).
    fn with_policies(
        &self,
        principal: &Principal,
        used_ref: PermissionRef<'_>,
        also_ref: Option<PermissionRef<'_>>,
        shown: impl FnOnce() -> String,
        mut t: Trace,
    ) -> Decision {
        // No policies (the common case): one uncontended read, no reference count touched.
        let set = {
            let guard = self.policies.read().unwrap_or_else(|e| e.into_inner());
            if guard.is_empty() {
                return Decision::allow(t);
            }
            guard.clone()
        };
        let facts = Facts::of(principal);
        let mut refused_by: Option<(Effect, Arc<str>)> = None;
        for pol in set.policies() {
            if !(pol.governs(used_ref) || also_ref.is_some_and(|a| pol.governs(a))) {
                continue;
            }
            if let Err(field) = pol.applies_to(principal) {
                t.step(|| Step::Policy {
                    name: pol.name.clone(),
                    effect: pol.effect,
                    outcome: PolicyOutcome::NotApplicable(field),
                });
                continue;
            }
            let mut conditions = t.on().then(Vec::new);
            let holds = pol.conditions_hold(&facts, conditions.as_mut());
            let refuses = match pol.effect {
                Effect::Allow => !holds,
                Effect::Deny => holds,
            };
            t.step(|| Step::Policy {
                name: pol.name.clone(),
                effect: pol.effect,
                outcome: if refuses {
                    PolicyOutcome::Refused
                } else {
                    PolicyOutcome::Passed
                },
            });
            for result in conditions.into_iter().flatten() {
                t.step(|| Step::Condition {
                    policy: pol.name.clone(),
                    result,
                });
            }
            if refuses {
                // Deny wins: a refusing deny replaces a refusing allow as the reason.
                if refused_by
                    .as_ref()
                    .is_none_or(|(e, _)| *e == Effect::Allow && pol.effect == Effect::Deny)
                {
                    refused_by = Some((pol.effect, pol.name.clone()));
                }
                if pol.effect == Effect::Deny && !t.on() {
                    break;
                }
            }
        }
        match refused_by {
            None => Decision::allow(t),
            Some((_, name)) => {
                let mut d = Decision::deny(DenyCode::PolicyDenied, shown(), t);
                d.policy = Some(name);
                d
            }
        }
    }
}
