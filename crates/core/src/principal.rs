//! The one answer to "who is calling": every credential scheme ends in a [`Principal`].

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::Millis;
use crate::model::User;
use crate::permission::PermissionSet;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A JWT access token issued to a user.
    Jwt,
    /// An opaque access token issued to a user (`tokens.format = "opaque"`).
    Opaque,
    Basic,
    /// A token issued to a client by the client-credentials grant.
    Client,
    /// A user's API key.
    ApiKey,
    /// A cookie session (`/auth/login`).
    Session,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::Opaque => "opaque",
            CredentialKind::Basic => "basic",
            CredentialKind::Client => "client",
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Session => "session",
        }
    }
}

/// A client as authorization sees it: the stored client and the scopes it may hold, parsed.
#[derive(Debug)]
pub struct ClientState {
    pub client: crate::model::Client,
    pub permissions: PermissionSet,
}

/// Who a principal is: a user, a machine client acting for itself, or the subject of a token from
/// an outside issuer (`[[issuers]]`), which is never a local user.
#[derive(Debug, Clone)]
pub enum Subject {
    User(Arc<UserState>),
    Client(Arc<ClientState>),
    Outside(Arc<OutsideSubject>),
}

/// The subject of an outside issuer's token, mapped onto Bouncer's roles.
#[derive(Debug)]
pub struct OutsideSubject {
    pub issuer: String,
    pub sub: String,
    pub username: String,
    /// The token's roles that Bouncer has (others are ignored).
    pub roles: Vec<String>,
    /// What those roles grant now.
    pub permissions: PermissionSet,
    /// `issuer#sub`: the subject's id wherever Bouncer names one (forward-auth, audit).
    pub id: String,
}

/// Which credential a principal presented, typed (for revocation, audit and explain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialId {
    /// An access token's `jti`, with its refresh-token family when it has one.
    Token { jti: String, family: Option<Uuid> },
    /// An API key's id.
    ApiKey(Uuid),
    /// A session's id (the record's, not the cookie's value).
    Session(Uuid),
    /// No identifier: Basic credentials are checked at each request.
    None,
}

/// A user's current state as authorization sees it: the stored user plus the permissions its
/// roles grant right now. Cached; every write that changes it invalidates the cache.
#[derive(Debug)]
pub struct UserState {
    pub user: User,
    /// Direct permissions and those of every role, resolved.
    pub permissions: PermissionSet,
    /// The HTTP layer's rendering of this user (the `/users/me` body), made on first use. A state
    /// never changes (a write makes a new one), so the rendering cannot go stale. Shared, not
    /// copied, by every answer that sends it.
    pub rendered: std::sync::OnceLock<Rendered>,
}

/// A response body rendered once and shared by every answer that sends it, with its length as
/// the decimal text of a `Content-Length` (so no answer formats or allocates either).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: bytes::Bytes,
    pub length: bytes::Bytes,
}

impl Rendered {
    pub fn new(body: impl Into<bytes::Bytes>) -> Self {
        let body = body.into();
        let length = body.len().to_string().into();
        Rendered { body, length }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: Subject,
    pub credential: CredentialKind,
    pub credential_id: CredentialId,
    /// The token's granted scopes; `None` means not narrowed (Basic). Effective rights are the
    /// intersection of these and the user's current permissions.
    pub scopes: Option<Arc<PermissionSet>>,
    /// When the user last proved who they are: the login that started a token's chain (its
    /// `auth_time`), or now for Basic, which is a login at every request. `None` for API keys:
    /// no login stands behind them.
    pub auth_time: Option<Millis>,
    /// The request this principal came with (client address, time, id): what services and
    /// `authorize()` see of it.
    pub context: crate::context::RequestContext,
}

impl Principal {
    /// The user, when the subject is one.
    pub fn user(&self) -> Option<&Arc<UserState>> {
        match &self.subject {
            Subject::User(u) => Some(u),
            Subject::Client(_) | Subject::Outside(_) => None,
        }
    }
    /// The user's id, or `Forbidden(not_a_user)` for a client: for operations that act on a
    /// user's own account or record a user as owner.
    pub fn user_id(&self) -> crate::Result<Uuid> {
        self.user()
            .map(|u| u.user.id)
            .ok_or_else(|| crate::authz::Decision::not_a_user().into_error())
    }
    /// The subject's stable id: a user's UUID, a client's `client_id`, an outside subject's
    /// `issuer#sub`.
    pub fn subject_id(&self) -> String {
        match &self.subject {
            Subject::User(u) => u.user.id.to_string(),
            Subject::Client(c) => c.client.id.clone(),
            Subject::Outside(o) => o.id.clone(),
        }
    }
    /// A user's username, a client's `client_id`, an outside subject's username claim.
    pub fn username(&self) -> &str {
        match &self.subject {
            Subject::User(u) => &u.user.username,
            Subject::Client(c) => &c.client.id,
            Subject::Outside(o) => &o.username,
        }
    }
    pub fn roles(&self) -> &[String] {
        match &self.subject {
            Subject::User(u) => &u.user.roles,
            Subject::Client(_) => &[],
            Subject::Outside(o) => &o.roles,
        }
    }
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().iter().any(|r| r == role)
    }
    /// Whether this credential may use `role`: the subject has it and, for a scoped credential,
    /// the scope covers `role:NAME`.
    pub fn may_use_role(&self, role: &str) -> bool {
        self.has_role(role) && self.scopes.as_ref().is_none_or(|s| s.covers_role(role))
    }
    /// The roles this credential may use (see [`Principal::may_use_role`]).
    pub fn usable_roles(&self) -> impl Iterator<Item = &str> {
        self.roles()
            .iter()
            .map(String::as_str)
            .filter(|r| self.scopes.as_ref().is_none_or(|s| s.covers_role(r)))
    }
    /// What the subject holds now: a user's permissions (roles and direct grants), a client's
    /// scopes.
    pub fn permissions(&self) -> &PermissionSet {
        match &self.subject {
            Subject::User(u) => &u.permissions,
            Subject::Client(c) => &c.permissions,
            Subject::Outside(o) => &o.permissions,
        }
    }
    /// Whether this credential could use `p` itself: the subject holds it now and, for a scoped
    /// credential, the scope covers it.
    pub fn holds(&self, p: &crate::permission::Permission) -> bool {
        self.permissions().covers(p) && self.scopes.as_ref().is_none_or(|s| s.covers(p))
    }
}
