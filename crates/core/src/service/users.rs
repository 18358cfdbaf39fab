//! Users: registration, own profile, administration, and the first admin.

use uuid::Uuid;

use super::Bouncer;
use crate::error::{Error, Result};
use crate::model::{Page, PageRequest, ROLE_USER, User};
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

/// `PATCH /users/{id}`: `roles` and `permissions` are full replacement lists.
#[derive(Debug, Clone, Default)]
pub struct AdminUserPatch {
    pub email: Option<String>,
    pub full_name: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub roles: Option<Vec<String>>,
    pub permissions: Option<Vec<String>>,
    pub password: Option<String>,
}

impl Bouncer {
    fn check_full_name(full_name: Option<&str>) -> Result<()> {
        full_name.map(validate::full_name).transpose().map(drop)
    }

    async fn check_roles(&self, roles: &[String]) -> Result<Vec<String>> {
        let mut out = roles.to_vec();
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Ok(out);
        }
        let known = self.store.list_roles().await?;
        if let Some(r) = out.iter().find(|r| !known.iter().any(|k| &k.name == *r)) {
            return Err(Error::validation("roles", format!("no role named {r:?}")));
        }
        Ok(out)
    }

    fn check_permissions(perms: &[String]) -> Result<Vec<String>> {
        let set = PermissionSet::parse(perms.iter().map(String::as_str)).map_err(|bad| {
            Error::validation(
                "permissions",
                format!("{bad:?} is not resource:action, resource:* or *"),
            )
        })?;
        Ok(set.to_strings())
    }

    /// Creates a user with the given roles. Uniqueness is decided by the database (409).
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        validate::username(&new.username)?;
        validate::email(&new.email)?;
        Self::check_full_name(new.full_name.as_deref())?;
        validate::password(
            "password",
            &new.password,
            self.settings.passwords.min_length,
        )?;
        let roles = self.check_roles(&new.roles).await?;
        let hash = self.hasher.hash(&new.password).await?;
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
            created_at: now,
            updated_at: now,
        };
        self.store.insert_user(&user).await?;
        Ok(user)
    }

    /// Self-service registration: always the default role `user`, nothing else.
    /// Hashing waits for one of the client's slots, like a login.
    pub async fn register(
        &self,
        r: Registration,
        client: Option<std::net::IpAddr>,
    ) -> Result<User> {
        if !self.settings.auth.registration_enabled {
            return Err(Error::NotFound("registration"));
        }
        let _slot = self.auth.client_slot(client).await;
        self.create_user(NewUser {
            username: r.username,
            email: r.email,
            password: r.password,
            full_name: r.full_name,
            roles: vec![ROLE_USER.to_owned()],
        })
        .await
    }

    /// Creates the first admin if there are no users at all. Returns the generated password when
    /// none was given. Two instances starting at once: the loser gets a conflict and does nothing.
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        password: Option<&str>,
    ) -> Result<Option<(User, Option<String>)>> {
        if self.store.count_users().await? > 0 {
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

    async fn save(&self, mut user: User, new_password: Option<&str>) -> Result<User> {
        if let Some(pw) = new_password {
            user.password_hash = self.hasher.hash(pw).await?;
            user.password_changed_at = self.clock.now_ms().max(user.password_changed_at + 1);
        }
        let read_at = user.updated_at;
        // Strictly increasing, so every write is visible to the next compare-and-set.
        user.updated_at = self.clock.now_ms().max(read_at + 1);
        let found = self.store.update_user(&user, read_at).await;
        self.auth.invalidate_user(user.id);
        if !found? {
            return Err(Error::NotFound("user"));
        }
        Ok(user)
    }

    /// `PATCH /users/me`.
    pub async fn update_own(&self, who: &Principal, patch: OwnUserPatch) -> Result<User> {
        let mut user = self.user(who.user_id()).await?;
        if let Some(email) = patch.email {
            validate::email(&email)?;
            user.email = email;
        }
        if let Some(full_name) = patch.full_name {
            Self::check_full_name(full_name.as_deref())?;
            user.full_name = full_name.filter(|s| !s.is_empty());
        }
        if let Some(pw) = &patch.password {
            validate::password("password", pw, self.settings.passwords.min_length)?;
            let Some(current) = patch.current_password.as_deref() else {
                return Err(Error::validation(
                    "current_password",
                    "is required to change the password",
                ));
            };
            if !self
                .hasher
                .verify(current, Some(&user.password_hash))
                .await?
                .ok
            {
                return Err(Error::validation(
                    "current_password",
                    "is not the current password",
                ));
            }
        }
        self.save(user, patch.password.as_deref()).await
    }

    /// `PATCH /users/{id}` (and the CLI).
    pub async fn update_user(&self, id: Uuid, patch: AdminUserPatch) -> Result<User> {
        let mut user = self.user(id).await?;
        if let Some(email) = patch.email {
            validate::email(&email)?;
            user.email = email;
        }
        if let Some(full_name) = patch.full_name {
            Self::check_full_name(full_name.as_deref())?;
            user.full_name = full_name.filter(|s| !s.is_empty());
        }
        if let Some(d) = patch.disabled {
            user.disabled = d;
        }
        if let Some(roles) = &patch.roles {
            user.roles = self.check_roles(roles).await?;
        }
        if let Some(perms) = &patch.permissions {
            user.permissions = Self::check_permissions(perms)?;
        }
        if let Some(pw) = &patch.password {
            validate::password("password", pw, self.settings.passwords.min_length)?;
        }
        self.save(user, patch.password.as_deref()).await
    }

    pub async fn delete_user(&self, id: Uuid) -> Result<()> {
        let deleted = self.store.delete_user(id).await;
        self.auth.invalidate_user(id);
        if deleted? {
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
