//! The one authorization check. Every route and every core service asks [`authorize`]; nothing
//! else decides. A [`Decision`] carries its reason so a 403 can say what was missing.

use uuid::Uuid;

use crate::permission::{Permission, PermissionRef};
use crate::principal::Principal;

/// The scope resource naming roles: `role:NAME` in a scope lets a narrowed token use role `NAME`.
pub const ROLE_SCOPE: &str = "role";

/// What an operation needs.
#[derive(Debug, Clone, Copy)]
pub enum Requirement<'a> {
    /// Any authenticated caller.
    Authenticated,
    /// A permission such as `items:write`; scopes narrow it.
    Permission(&'a str),
    /// At least one of these roles.
    AnyRole(&'a [&'a str]),
}

/// The resource being touched, when the rule depends on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resource {
    pub owner: Option<Uuid>,
}

/// Facts about the request beyond the principal (time, address), for conditional rules.
pub type Context = crate::context::RequestContext;

/// Why a request was refused, as the stable `code` of the 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyCode {
    MissingRole,
    MissingPermission,
    InsufficientScope,
    /// The operation acts on the caller's own user account, and the caller is a client.
    NotAUser,
    /// An API key used from outside its client-IP allowlist.
    IpNotAllowed,
    /// The caller tried to give (or touch someone holding) a permission it does not hold itself.
    CannotGrant,
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
    /// Each step that led here, for people (later: `/authz/explain`).
    pub steps: Vec<String>,
}

impl Decision {
    fn allow(trace: Trace) -> Self {
        Decision {
            allowed: true,
            code: "",
            deny: None,
            missing: None,
            steps: trace.into_steps(),
        }
    }
    fn deny(code: DenyCode, missing: String, trace: Trace) -> Self {
        Decision {
            allowed: false,
            code: code.as_str(),
            deny: Some(code),
            missing: Some(missing),
            steps: trace.into_steps(),
        }
    }

    /// A refusal with `code` naming `missing`.
    pub fn deny_with(code: DenyCode, missing: &str) -> Self {
        Decision::deny(code, missing.to_owned(), Trace(None))
    }

    /// The refusal of a user-only operation to a client.
    pub fn not_a_user() -> Self {
        Decision::deny(DenyCode::NotAUser, "a user".into(), Trace(None))
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
            Decision::deny(DenyCode::CannotGrant, lacking.to_string(), Trace(None)).into_result()
        }
    }
}

/// The steps of a decision, written only when someone asked for them (explain), so the check on
/// every request allocates nothing.
struct Trace(Option<Vec<String>>);

impl Trace {
    fn step(&mut self, text: impl FnOnce() -> String) {
        if let Some(steps) = &mut self.0 {
            steps.push(text());
        }
    }
    fn into_steps(self) -> Vec<String> {
        self.0.unwrap_or_default()
    }
}

/// Decides whether `principal` meets `need` on `resource`.
///
/// A permission is granted when the user's current permissions (roles and direct grants) cover it
/// and, for a token with scopes, the scopes cover it too. A permission the user holds but the token
/// was not granted is `insufficient_scope`; one the user lacks is `missing_permission`.
pub fn authorize(
    principal: &Principal,
    need: Requirement<'_>,
    resource: Resource,
    ctx: &Context,
) -> Decision {
    decide(principal, need, resource, ctx, Trace(None))
}

/// [`authorize`], with every step that led to the decision in `steps`.
pub fn explain(
    principal: &Principal,
    need: Requirement<'_>,
    resource: Resource,
    ctx: &Context,
) -> Decision {
    decide(principal, need, resource, ctx, Trace(Some(Vec::new())))
}

fn decide(
    principal: &Principal,
    need: Requirement<'_>,
    _resource: Resource,
    _ctx: &Context,
    mut t: Trace,
) -> Decision {
    t.step(|| {
        format!(
            "subject {} via {}",
            principal.username(),
            principal.credential.as_str()
        )
    });
    match need {
        Requirement::Authenticated => {
            t.step(|| "authenticated".into());
            Decision::allow(t)
        }
        Requirement::AnyRole(roles) => {
            let Some(r) = roles.iter().find(|r| principal.has_role(r)) else {
                t.step(|| format!("holds none of the roles {}", roles.join(", ")));
                return Decision::deny(DenyCode::MissingRole, roles.join(","), t);
            };
            t.step(|| format!("holds role {r}"));
            // Scopes narrow roles too: a narrowed token passes only with `role:NAME` in its scope.
            if principal.scopes.is_some() {
                match roles.iter().find(|r| principal.may_use_role(r)) {
                    Some(g) => t.step(|| format!("token scope includes role:{g}")),
                    None => {
                        t.step(|| format!("token scope does not include role:{r}"));
                        return Decision::deny(DenyCode::InsufficientScope, format!("role:{r}"), t);
                    }
                }
            }
            Decision::allow(t)
        }
        Requirement::Permission(p) => {
            let Some(required) = PermissionRef::parse(p) else {
                // A programming error: routes only name valid permissions. Refuse, loudly.
                tracing::error!(
                    permission = p,
                    "authorize called with an invalid permission"
                );
                return Decision::deny(DenyCode::MissingPermission, p.to_owned(), t);
            };
            if !principal.permissions().covers_ref(required) {
                t.step(|| format!("user lacks permission {p}"));
                return Decision::deny(DenyCode::MissingPermission, p.to_owned(), t);
            }
            t.step(|| format!("user holds permission {p}"));
            if let Some(scopes) = &principal.scopes {
                if !scopes.covers_ref(required) {
                    t.step(|| format!("token scope does not include {p}"));
                    return Decision::deny(DenyCode::InsufficientScope, p.to_owned(), t);
                }
                t.step(|| format!("token scope includes {p}"));
            }
            Decision::allow(t)
        }
    }
}
