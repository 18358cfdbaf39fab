//! Users: registration, own profile, administration, and the first admin.

use std::collections::HashMap;

use uuid::Uuid;

use super::Bouncer;
use crate::authz::{Actor, may_grant};
use crate::error::{Error, Result};
use crate::model::{Page, PageRequest, User};
use crate::permission::PermissionSet;
use crate::principal::Principal;
use crate::validate;

/// `POST /auth/register`: what anyone may say about themselves.
#[derive(Debug, Clone)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
    pub full_name: Option<String>,
}

/// An operator creating a user (CLI, first admin).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub full_name: Option<String>,
    pub roles: Vec<String>,
}

/// `PATCH /users/me`: a password change needs the current password.
#[derive(Debug, Clone, Default)]
pub struct OwnUserPatch {
    pub email: Option<String>,
    pub full_name: Option<Option<String>>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

/// `PATCH /users/{id}`: `roles` and `permissions` are full replacement lists. `current_password`
/// is needed when a caller changes their own password this way.
#[derive(Debug, Clone, Default)]
pub struct AdminUserPatch {
    pub email: Option<String>,
    pub full_name: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub roles: Option<Vec<String>>,
    pub permissions: Option<Vec<String>>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

/// Every role's permissions, read from the store (not the cache) for decisions that grant.
type RoleTable = HashMap<String, PermissionSet>;

impl Bouncer {
    fn check_full_name(full_name: Option<&str>) -> Result<()> {
        full_name.map(validate::full_name).transpose().map(drop)
    }

    pub(super) async fn role_table(&self) -> Result<RoleTable> {
        Ok(self
            .store
            .list_roles()
            .await?
            .into_iter()
            .map(|r| {
                let perms = PermissionSet::parse(r.permissions.iter().map(String::as_str))
                    .unwrap_or_default();
                (r.name, perms)
            })
            .collect())
    }

    /// Sorted, deduplicated, and every name a role that exists (422 naming the first that does not).
    fn check_roles(roles: &[String], table: &RoleTable) -> Result<Vec<String>> {
        let mut out = roles.to_vec();
        out.sort();
        out.dedup();
        if let Some(r) = out.iter().find(|r| !table.contains_key(*r)) {
            return Err(Error::validation("roles", format!("no role named {r:?}")));
        }
        Ok(out)
    }

    /// Everything `user` holds: direct permissions and those of its roles.
    pub(super) fn held_by(user: &User, table: &RoleTable) -> PermissionSet {
        let mut held =
            PermissionSet::parse(user.permissions.iter().map(String::as_str)).unwrap_or_default();
        for r in &user.roles {
            if let Some(p) = table.get(r) {
                held.extend(p);
            }
        }
        held
    }

    /// The password rules for this user (their username and email are zxcvbn user inputs), as a
    /// check for [`crate::password::PasswordHasher::hash_checked`]: the strength estimate is CPU
    /// work that runs on the bounded password pool, never on the runtime's threads.
    fn password_rules(
        &self,
        username: &str,
        email: &str,
    ) -> impl FnOnce(&str) -> Result<()> + Send + 'static {
        let rules = self.settings.passwords.clone();
        let inputs = [username.to_owned(), email.to_owned()];
        move |pw| validate::password("password", pw, &rules, &[&inputs[0], &inputs[1]])
    }

    /// `current_password` must be the user's password (a caller changing their own password). It
    /// is a password check like a login: throttled per username and address, and a wrong one
    /// counts.
    async fn check_current_password(
        &self,
        user: &User,
        current: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<()> {
        let Some(current) = current else {
            return Err(Error::validation(
                "current_password",
                "is required to change your own password",
            ));
        };
        self.auth.throttle_check(&user.username, client)?;
        if !self
            .hasher
            .verify(current, Some(&user.password_hash))
            .await?
            .ok
        {
            self.auth
                .throttle_failed(crate::throttle::Subject::User(&user.username), client);
            return Err(Error::validation(
                "current_password",
                "is not the current password",
            ));
        }
        Ok(())
    }

    /// Permissions to store on a user or role. `role:...` is refused: it is a scope that names
    /// roles, never a permission anyone holds.
    pub(super) fn parse_permissions(perms: &[String]) -> Result<PermissionSet> {
        let set = PermissionSet::parse(perms.iter().map(String::as_str)).map_err(|bad| {
            Error::validation(
                "permissions",
                format!("{bad:?} is not resource:action, resource:* or *"),
            )
        })?;
        if let Some(p) = set.iter().find(|p| p.names_role()) {
            return Err(Error::validation(
                "permissions",
                format!("{p} names a role: roles are given with \"roles\", role:NAME is a scope"),
            ));
        }
        Ok(set)
    }

    /// Creates a user with the given roles (the operator at the CLI). Uniqueness is decided by
    /// the database (409).
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        self.create_user_as(new, "operator", crate::audit::Origin::default())
            .await
    }

    /// [`Bouncer::create_user`], audited as done by `actor` from `origin`.
    async fn create_user_as(
        &self,
        new: NewUser,
        actor: &str,
        origin: crate::audit::Origin,
    ) -> Result<User> {
        validate::username(&new.username)?;
        validate::email(&new.email)?;
        Self::check_full_name(new.full_name.as_deref())?;
        let roles = Self::check_roles(&new.roles, &self.role_table().await?)?;
        let rules = self.password_rules(&new.username, &new.email);
        let hash = self.hasher.hash_checked(&new.password, rules).await?;
        let now = self.clock.now_ms();
        let user = User {
            id: Uuid::now_v7(),
            username: new.username,
            email: new.email,
            full_name: new.full_name.filter(|s| !s.is_empty()),
            disabled: false,
            roles,
            permissions: Vec::new(),
            password_hash: hash,
            password_changed_at: now,
            credential_gen: 1,
            created_at: now,
            updated_at: now,
        };
        let event = self.audit.event(
            origin,
            actor,
            "user.create",
            crate::model::Outcome::Success,
            Some(&user.username),
            Some(&format!("roles={}", user.roles.join(","))),
        );
        self.store.audited(event.clone()).insert_user(&user).await?;
        self.audit.log(&event);
        Ok(user)
    }

    /// Self-service registration: always the default role (`auth.default_role`), nothing else.
    /// Hashing waits for one of the client's slots, like a login.
    pub async fn register(
        &self,
        r: Registration,
        ctx: &crate::context::RequestContext,
    ) -> Result<User> {
        if !self.settings.auth.registration_enabled {
            return Err(Error::NotFound("registration"));
        }
        self.auth
            .throttle
            .check_registration(ctx.client_ip)
            .map_err(|l| Error::TooManyRequests {
                code: "rate_limited",
                retry_after_s: l.retry_after_s,
            })?;
        let _slot = self.auth.client_slot(ctx.client_ip).await;
        let actor = r.username.clone();
        let created = self
            .create_user_as(
                NewUser {
                    username: r.username,
                    email: r.email,
                    password: r.password,
                    full_name: r.full_name,
                    roles: vec![self.settings.auth.default_role.clone()],
                },
                &actor,
                crate::audit::Origin::of(ctx),
            )
            .await;
        // Attempts that reached the store count (created, or refused as taken: probing which
        // usernames exist costs the same).
        if matches!(&created, Ok(_) | Err(Error::Conflict { .. })) {
            self.auth.throttle.registered(ctx.client_ip);
        }
        created
    }

    /// Creates the first admin if there are no users at all. Returns the generated password when
    /// none was given. Two instances starting at once: the loser gets a conflict and does nothing.
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        password: Option<&str>,
    ) -> Result<Option<(User, Option<String>)>> {
        if self.store.has_users().await? {
            return Ok(None);
        }
        let generated = password.is_none().then(generate_password);
        let pw = password
            .map(str::to_owned)
            .or_else(|| generated.clone())
            .unwrap_or_default();
        let new = NewUser {
            username: username.to_owned(),
            email: format!("{}@localhost.localdomain", username.to_ascii_lowercase()),
            password: pw,
            full_name: Some("Administrator".into()),
            roles: vec![crate::model::ROLE_ADMIN.to_owned()],
        };
        match self.create_user(new).await {
            Ok(u) => Ok(Some((u, generated))),
            Err(Error::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn user(&self, id: Uuid) -> Result<User> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    pub async fn user_by_username(&self, username: &str) -> Result<User> {
        let norm = validate::username(username).map_err(|_| Error::NotFound("user"))?;
        self.store
            .user_by_username(&norm)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    pub async fn list_users(&self, page: PageRequest) -> Result<Page<User>> {
        Ok(self.store.list_users(page).await?)
    }

    /// Writes `user` (compare-and-set on the `updated_at` it was read with). A new password, or a
    /// disable, moves the credential generation: every token issued before is dead, for good.
    async fn save(
        &self,
        actor: Actor<'_>,
        mut user: User,
        was_disabled: bool,
        new_password: Option<&str>,
        changed: &str,
    ) -> Result<User> {
        if let Some(pw) = new_password {
            let rules = self.password_rules(&user.username, &user.email);
            user.password_hash = self.hasher.hash_checked(pw, rules).await?;
            user.password_changed_at = self.clock.now_ms().max(user.password_changed_at + 1);
        }
        if new_password.is_some() || (user.disabled && !was_disabled) {
            user.credential_gen += 1;
        }
        let read_at = user.updated_at;
        // Strictly increasing, so every write is visible to the next compare-and-set.
        user.updated_at = self.clock.now_ms().max(read_at + 1);
        let event = self.change_event(actor, "user.update", &user.username, Some(changed));
        let found = self
            .store
            .audited(event.clone())
            .update_user(&user, read_at)
            .await;
        self.auth.invalidate_user(user.id);
        if !found? {
            return Err(Error::NotFound("user"));
        }
        self.audit.log(&event);
        Ok(user)
    }

    /// `PATCH /users/me`: any credential may change its own profile (a password change needs the
    /// current password). Not `update_user`'s touch rule: that one binds even your own account
    /// when reached through `/users/{id}`, so a narrowed admin token cannot disable or delete the
    /// admin it belongs to.
    pub async fn update_own(&self, who: &Principal, patch: OwnUserPatch) -> Result<User> {
        self.apply_patch(
            Actor::Caller(who),
            who.user_id()?,
            true,
            AdminUserPatch {
                email: patch.email,
                full_name: patch.full_name,
                password: patch.password,
                current_password: patch.current_password,
                ..Default::default()
            },
        )
        .await
    }

    /// `PATCH /users/{id}`, `PATCH /users/me` and the CLI. A caller touches only users whose every
    /// permission it holds, and gives only roles and permissions it holds (403 `cannot_grant`,
    /// decided before any conflict); changing your own password needs `current_password`.
    pub async fn update_user(
        &self,
        actor: Actor<'_>,
        id: Uuid,
        patch: AdminUserPatch,
    ) -> Result<User> {
        self.apply_patch(actor, id, false, patch).await
    }

    async fn apply_patch(
        &self,
        actor: Actor<'_>,
        id: Uuid,
        self_service: bool,
        patch: AdminUserPatch,
    ) -> Result<User> {
        let mut user = self.user(id).await?;
        let table = self.role_table().await?;
        // What the audit trail says changed: field names, never values (a password).
        let changed: Vec<&str> = [
            ("email", patch.email.is_some()),
            ("full_name", patch.full_name.is_some()),
            ("disabled", patch.disabled.is_some()),
            ("roles", patch.roles.is_some()),
            ("permissions", patch.permissions.is_some()),
            ("password", patch.password.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect();
        let changed = format!("changed={}", changed.join(","));
        let own = matches!(actor, Actor::Caller(p) if p.user_id().is_ok_and(|me| me == id));
        if !self_service {
            may_grant(actor, Self::held_by(&user, &table).iter())?;
        }
        if let Some(roles) = &patch.roles {
            let roles = Self::check_roles(roles, &table)?;
            for r in &roles {
                may_grant(actor, table[r].iter())?;
            }
            user.roles = roles;
        }
        if let Some(perms) = &patch.permissions {
            let set = Self::parse_permissions(perms)?;
            may_grant(actor, set.iter())?;
            user.permissions = set.to_strings();
        }
        if let Some(email) = patch.email {
            validate::email(&email)?;
            user.email = email;
        }
        if let Some(full_name) = patch.full_name {
            Self::check_full_name(full_name.as_deref())?;
            user.full_name = full_name.filter(|s| !s.is_empty());
        }
        let was_disabled = user.disabled;
        if let Some(d) = patch.disabled {
            user.disabled = d;
        }
        if patch.password.is_some() && own {
            let client = match actor {
                Actor::Caller(p) => p.context.client_ip,
                _ => None,
            };
            self.check_current_password(&user, patch.current_password.as_deref(), client)
                .await?;
        }
        self.save(
            actor,
            user,
            was_disabled,
            patch.password.as_deref(),
            &changed,
        )
        .await
    }

    /// Deletes a user. A caller must hold everything the user holds; the delete is then a
    /// compare-and-set on the row it checked, so a promotion in between is a 409, not a deleted
    /// admin.
    pub async fn delete_user(&self, actor: Actor<'_>, id: Uuid) -> Result<()> {
        let user = self.user(id).await?;
        let read_at = match actor {
            Actor::Caller(_) => {
                let table = self.role_table().await?;
                may_grant(actor, Self::held_by(&user, &table).iter())?;
                Some(user.updated_at)
            }
            Actor::Operator => None,
        };
        let event = self.change_event(actor, "user.delete", &user.username, None);
        let deleted = self
            .store
            .audited(event.clone())
            .delete_user(id, read_at)
            .await;
        self.auth.invalidate_user(id);
        if deleted? {
            self.audit.log(&event);
            Ok(())
        } else {
            Err(Error::NotFound("user"))
        }
    }
}

/// 24 random characters from an unambiguous alphabet (~140 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
