//! Roles: named sets of permissions. `admin` always keeps `*` and cannot be deleted, so the server
//! cannot lock itself out.

use super::Bouncer;
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

    /// Creates or replaces a role; returns it and whether it was created.
    pub async fn put_role(&self, name: &str, permissions: &[String]) -> Result<(Role, bool)> {
        validate::role_name(name)?;
        let set = PermissionSet::parse(permissions.iter().map(String::as_str)).map_err(|bad| {
            Error::validation(
                "permissions",
                format!("{bad:?} is not resource:action, resource:* or *"),
            )
        })?;
        let permissions = set.to_strings();
        if name == ROLE_ADMIN && !permissions.iter().any(|p| p == "*") {
            return Err(Error::validation(
                "permissions",
                "the admin role must keep \"*\"",
            ));
        }
        let role = Role {
            name: name.to_owned(),
            permissions,
        };
        let created = self.store.put_role(&role).await?;
        self.auth.invalidate_all().await?;
        Ok((role, created))
    }

    pub async fn delete_role(&self, name: &str, force: bool) -> Result<()> {
        if name == ROLE_ADMIN {
            return Err(Error::Conflict {
                code: "builtin_role",
                message: "the admin role cannot be deleted".into(),
            });
        }
        let outcome = self.store.delete_role(name, force).await;
        self.auth.invalidate_all().await?;
        match outcome? {
            RoleDeletion::Deleted => Ok(()),
            RoleDeletion::NotFound => Err(Error::NotFound("role")),
        }
    }

    /// Adds (`grant`) or removes a role from a user by name (CLI `role grant|revoke`).
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
            user.id,
            super::AdminUserPatch {
                roles: Some(roles),
                ..Default::default()
            },
        )
        .await
    }
}
