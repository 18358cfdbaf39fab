//! Roles: named sets of permissions. `admin` always keeps `*` and cannot be deleted, so the server
//! cannot lock itself out.

use super::Bouncer;
use crate::authz::{Actor, may_grant};
use crate::error::{Error, Result};
use crate::model::{ROLE_ADMIN, Role};
use crate::permission::PermissionSet;
use crate::store::RoleDeletion;
use crate::validate;

impl Bouncer {
    pub async fn list_roles(&self) -> Result<Vec<Role>> {
        Ok(self.store.list_roles().await?)
    }

    pub async fn role(&self, name: &str) -> Result<Role> {
        self.store.role(name).await?.ok_or(Error::NotFound("role"))
    }

    /// The permissions a stored role grants now (empty if it does not exist).
    pub(super) async fn role_grants(&self, name: &str) -> Result<PermissionSet> {
        Ok(match self.store.role(name).await? {
            Some(r) => {
                PermissionSet::parse(r.permissions.iter().map(String::as_str)).unwrap_or_default()
            }
            None => PermissionSet::default(),
        })
    }

    /// Creates or replaces a role; returns it and whether it was created. A caller puts into a role
    /// only permissions it holds, and replaces or deletes only roles whose permissions it holds (403
    /// `cannot_grant`): a role is a grant to everyone who has it.
    pub async fn put_role(
        &self,
        actor: Actor<'_>,
        name: &str,
        permissions: &[String],
    ) -> Result<(Role, bool)> {
        validate::role_name(name)?;
        let set = Self::parse_permissions(permissions)?;
        if let Actor::Caller(_) = actor {
            may_grant(actor, self.role_grants(name).await?.iter())?;
            may_grant(actor, set.iter())?;
        }
        let permissions = set.to_strings();
        if name == ROLE_ADMIN && !permissions.iter().any(|p| p == "*") {
            // A rule of this one role's state, not of the body's shape: 409, like deleting it.
            return Err(Error::Conflict {
                code: "builtin_role",
                message: "the admin role must keep \"*\"".into(),
            });
        }
        let role = Role {
            name: name.to_owned(),
            permissions,
        };
        let event = self.change_event(
            actor,
            "role.put",
            name,
            Some(&format!("permissions={}", role.permissions.join(","))),
        );
        let created = self.store.audited(event.clone()).put_role(&role).await?;
        self.audit.log(&event);
        self.auth.invalidate_all().await?;
        Ok((role, created))
    }

    /// Deletes a role. `admin` and the default role (`auth.default_role`) cannot be deleted (409,
    /// `force` or not).
    pub async fn delete_role(&self, actor: Actor<'_>, name: &str, force: bool) -> Result<()> {
        if let Actor::Caller(_) = actor {
            may_grant(actor, self.role_grants(name).await?.iter())?;
        }
        if name == ROLE_ADMIN {
            return Err(Error::Conflict {
                code: "builtin_role",
                message: "the admin role cannot be deleted".into(),
            });
        }
        if name == self.settings.auth.default_role {
            return Err(Error::Conflict {
                code: "default_role",
                message: format!(
                    "{name:?} is the role new users get (auth.default_role) and cannot be deleted"
                ),
            });
        }
        let event = self.change_event(actor, "role.delete", name, None);
        let outcome = self
            .store
            .audited(event.clone())
            .delete_role(name, force)
            .await;
        if matches!(outcome, Ok(RoleDeletion::Deleted)) {
            self.audit.log(&event);
        }
        self.auth.invalidate_all().await?;
        match outcome? {
            RoleDeletion::Deleted => Ok(()),
            RoleDeletion::NotFound => Err(Error::NotFound("role")),
        }
    }

    /// Adds (`grant`) or removes a role from a user by name (CLI `role grant|revoke`: the operator).
    pub async fn set_user_role(
        &self,
        username: &str,
        role: &str,
        grant: bool,
    ) -> Result<crate::model::User> {
        let user = self.user_by_username(username).await?;
        let mut roles = user.roles.clone();
        if grant {
            roles.push(role.to_owned());
        } else {
            roles.retain(|r| r != role);
        }
        self.update_user(
            Actor::Operator,
            user.id,
            super::AdminUserPatch {
                roles: Some(roles),
                ..Default::default()
            },
        )
        .await
    }
}
