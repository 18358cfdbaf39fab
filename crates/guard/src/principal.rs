//! The one answer to "who is calling", whatever the credential, and the checks Bouncer would make
//! on it.

use crate::problem::Refusal;
use crate::rules::{self, Perm, ROLE_SCOPE};

/// How the caller proved who they are, named as Bouncer names credential kinds in its policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A user's JWT access token.
    Jwt,
    /// A user's opaque access token (`bno_...`), checked by introspection.
    Opaque,
    /// A machine client's own token (client-credentials grant: `sub` is its `client_id`).
    Client,
    /// A user's API key (`bnc_...`), checked by introspection.
    ApiKey,
}

impl CredentialKind {
    /// `jwt`, `opaque`, `client` or `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::Opaque => "opaque",
            CredentialKind::Client => "client",
            CredentialKind::ApiKey => "api_key",
        }
    }
}

const UNKNOWN_RIGHTS: &str = " (Bouncer's introspection does not say which permissions and roles \
     this credential holds; use JWT access tokens or a narrowed scope)";

/// An authenticated caller, put into the request's extensions by the [`GuardLayer`](crate::GuardLayer).
///
/// `permissions` is what the credential may do: its rights, already narrowed by its scope (the
/// token's `permissions` claim); `roles` the roles it may use (a narrowed token only those whose
/// `role:NAME` its scope holds); `scopes` the credential's scope (`*` when not narrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub`: the user's id, or a client's `client_id`.
    pub subject: String,
    /// The username (a client's name for a client token).
    pub username: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub permissions: Vec<String>,
    pub credential_kind: CredentialKind,
    /// The OAuth client the token was issued to, if any.
    pub client_id: Option<String>,
    /// When the credential expires (seconds since the epoch), if it does.
    pub expires_at: Option<i64>,
    /// False when Bouncer did not say what this credential may do (an introspected opaque token
    /// with the scope `*`): every permission requirement is then refused.
    pub permissions_known: bool,
    /// False when Bouncer did not say which roles this credential may use (an introspected API
    /// key or opaque token without `role:` scopes): every role requirement is then refused.
    pub roles_known: bool,
}

impl Principal {
    /// Whether this credential may use `permission` (its scope and its rights both cover it).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.check_permission(permission, "bouncer").is_ok()
    }

    /// Whether this credential may use the role `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.check_roles(&[role], "bouncer").is_ok()
    }

    /// `Ok` when this credential may use `permission`, otherwise the refusal Bouncer would give.
    ///
    /// As on the server, a permission the scope does not cover is `insufficient_scope` and one the
    /// scope covers but the rights do not is `missing_permission`. Bouncer, knowing the user's
    /// full rights, says `missing_permission` when both are missing; a token carries only its
    /// narrowed rights, so that case reads as `insufficient_scope` here. A client token's scope
    /// is its rights: what it lacks is `missing_permission`. An invalid `permission` (not in
    /// Bouncer's grammar) is refused as missing.
    pub fn check_permission(&self, permission: &str, realm: &str) -> Result<(), Refusal> {
        let Some(required) = Perm::parse(permission) else {
            tracing::error!(permission, "bouncer-guard: not a Bouncer permission");
            return Err(Refusal::missing_permission(permission, ""));
        };
        let scoped = rules::set_covers(&self.scopes, required);
        if !scoped && self.credential_kind != CredentialKind::Client {
            return Err(Refusal::insufficient_scope(realm, permission));
        }
        if !scoped || !rules::set_covers(&self.permissions, required) {
            let note = if self.permissions_known {
                ""
            } else {
                UNKNOWN_RIGHTS
            };
            return Err(Refusal::missing_permission(permission, note));
        }
        Ok(())
    }

    /// `Ok` when this credential may use one of `roles`, otherwise the refusal.
    ///
    /// A role is usable when the credential has it and its scope covers `role:NAME` (or is not
    /// narrowed). A user's narrowed scope that names none of the roles is `insufficient_scope`
    /// (`role:FIRST`); otherwise it is `missing_role` (`missing`: the roles, comma-separated).
    pub fn check_roles(&self, roles: &[&str], realm: &str) -> Result<(), Refusal> {
        let missing = || roles.join(",");
        if !self.roles_known {
            return Err(Refusal::missing_role(&missing(), UNKNOWN_RIGHTS));
        }
        let usable = |r: &&str| {
            self.roles.iter().any(|h| h == r) && rules::scope_covers_role(&self.scopes, r)
        };
        if roles.iter().any(usable) {
            return Ok(());
        }
        if self.credential_kind != CredentialKind::Client
            && let Some(first) = roles.first()
            && !roles
                .iter()
                .any(|r| rules::scope_covers_role(&self.scopes, r))
        {
            return Err(Refusal::insufficient_scope(
                realm,
                &format!("{ROLE_SCOPE}:{first}"),
            ));
        }
        Err(Refusal::missing_role(&missing(), ""))
    }

    /// A user (not a machine client acting for itself).
    pub fn is_user(&self) -> bool {
        self.credential_kind != CredentialKind::Client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(scope: &str, roles: &[&str], perms: &[&str]) -> Principal {
        Principal {
            subject: "u1".into(),
            username: "alice".into(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            scopes: scope.split(' ').map(str::to_owned).collect(),
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            credential_kind: CredentialKind::Jwt,
            client_id: Some("swagger".into()),
            expires_at: None,
            permissions_known: true,
            roles_known: true,
        }
    }

    fn code(r: Result<(), Refusal>) -> (&'static str, Option<String>) {
        let e = r.unwrap_err();
        (e.code, e.missing)
    }

    #[test]
    fn permissions_follow_bouncers_rules() {
        let admin = user("*", &["admin"], &["*"]);
        assert!(admin.has_permission("items:write") && admin.has_permission("users:read"));
        let alice = user("*", &["user"], &["items:read", "items:write"]);
        assert!(alice.has_permission("items:write"));
        assert_eq!(
            code(alice.check_permission("users:read", "b")),
            ("missing_permission", Some("users:read".into()))
        );
        assert_eq!(
            code(alice.check_permission("items:*", "b")).0,
            "missing_permission"
        );
        let reader = user("items:read", &[], &["items:read"]);
        assert!(reader.has_permission("items:read"));
        let e = reader.check_permission("items:write", "api").unwrap_err();
        assert_eq!(e.code, "insufficient_scope");
        assert_eq!(
            e.challenge.as_deref(),
            Some(r#"Bearer realm="api", error="insufficient_scope", scope="items:write""#)
        );
        assert_eq!(
            code(reader.check_permission("not valid", "b")).0,
            "missing_permission"
        );
        let mut client = user("items:read", &[], &["items:read"]);
        client.credential_kind = CredentialKind::Client;
        assert_eq!(
            code(client.check_permission("items:write", "b")).0,
            "missing_permission"
        );
    }

    #[test]
    fn roles_need_the_role_and_the_scope() {
        assert!(user("*", &["admin"], &["*"]).has_role("admin"));
        let alice = user("*", &["user"], &["items:read"]);
        assert_eq!(
            code(alice.check_roles(&["admin", "moderator"], "b")),
            ("missing_role", Some("admin,moderator".into()))
        );
        let narrowed = user("items:read role:admin", &["admin"], &["items:read"]);
        assert!(narrowed.has_role("admin"));
        let narrowed = user("items:read", &[], &["items:read"]);
        assert_eq!(
            code(narrowed.check_roles(&["admin"], "b")),
            ("insufficient_scope", Some("role:admin".into()))
        );
        let mut unknown = user("*", &[], &[]);
        unknown.roles_known = false;
        assert_eq!(code(unknown.check_roles(&["user"], "b")).0, "missing_role");
    }
}
