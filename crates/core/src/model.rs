//! The records Bouncer keeps. These are domain values, not HTTP bodies: the HTTP layer has its own
//! views, so a field added here (like a password hash) never leaks into a response by accident.

use uuid::Uuid;

use crate::clock::Millis;

/// Names of the built-in roles, created by the first migration.
pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_MODERATOR: &str = "moderator";
pub const ROLE_USER: &str = "user";
pub const ROLE_GUEST: &str = "guest";

#[derive(Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub disabled: bool,
    /// Role names, sorted.
    pub roles: Vec<String>,
    /// Permissions granted directly, not through a role; sorted strings.
    pub permissions: Vec<String>,
    /// PHC string. Never serialized, never logged (see the Debug impl).
    pub password_hash: String,
    /// Bumped on every password change: verified-credential caches compare it.
    pub password_changed_at: Millis,
    /// The credential generation: disabling the user and changing the password bump it, and an
    /// access token is valid only while its `gen` claim equals it. Only grows.
    pub credential_gen: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("disabled", &self.disabled)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl User {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// Sorted permission strings.
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A signing key as stored. `private_pem` never leaves the server.
#[derive(Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
    /// The public JWK as JSON text (empty object for HS256).
    pub public_jwk: String,
    pub created_at: Millis,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// A validated `limit`/`offset` pair.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
}

impl PageRequest {
    pub const MAX_LIMIT: i64 = 100;
    pub const DEFAULT_LIMIT: i64 = 50;

    pub fn new(limit: Option<i64>, offset: Option<i64>) -> crate::Result<Self> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(crate::Error::validation(
                "limit",
                "must be between 1 and 100",
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(crate::Error::validation("offset", "must not be negative"));
        }
        Ok(Self { limit, offset })
    }
}
