//! The one answer to "who is calling": every credential scheme ends in a [`Principal`].

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::Millis;
use crate::model::User;
use crate::permission::PermissionSet;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Jwt,
    Basic,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::Basic => "basic",
        }
    }
}

/// A user's current state as authorization sees it: the stored user plus the permissions its
/// roles grant right now. Cached; every write that changes it invalidates the cache.
#[derive(Debug)]
pub struct UserState {
    pub user: User,
    /// Direct permissions and those of every role, resolved.
    pub permissions: PermissionSet,
    /// The HTTP layer's rendering of this user (the `/users/me` body), made on first use. A state
    /// never changes (a write makes a new one), so the rendering cannot go stale.
    pub rendered: std::sync::OnceLock<Vec<u8>>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Arc<UserState>,
    pub credential: CredentialKind,
    /// The token's `jti`, when the credential has one.
    pub credential_id: Option<String>,
    /// The token's granted scopes; `None` means not narrowed (Basic). Effective rights are the
    /// intersection of these and the user's current permissions.
    pub scopes: Option<Arc<PermissionSet>>,
    /// When the user last proved who they are: the login that started a token's chain (its
    /// `auth_time`), or now for Basic, which is a login at every request.
    pub auth_time: Millis,
}

impl Principal {
    pub fn user_id(&self) -> Uuid {
        self.user.user.id
    }
    pub fn username(&self) -> &str {
        &self.user.user.username
    }
    pub fn roles(&self) -> &[String] {
        &self.user.user.roles
    }
    pub fn has_role(&self, role: &str) -> bool {
        self.user.user.has_role(role)
    }
    /// Whether this credential could use `p` itself: the user holds it now and, for a scoped
    /// credential, the scope covers it.
    pub fn holds(&self, p: &crate::permission::Permission) -> bool {
        self.user.permissions.covers(p) && self.scopes.as_ref().is_none_or(|s| s.covers(p))
    }
}
