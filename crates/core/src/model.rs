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
    /// Whether the user may hold the role scope `p` (`role:NAME` for a role they have, `role:*`).
    pub fn holds_role_scope(&self, p: &crate::permission::Permission) -> bool {
        use crate::permission::PermissionRef;
        match p.borrowed() {
            PermissionRef::Exact(crate::authz::ROLE_SCOPE, role) => self.has_role(role),
            PermissionRef::Resource(crate::authz::ROLE_SCOPE) => true,
            _ => false,
        }
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
    /// 1, 2, ... per algorithm, in rotation order (set by the store).
    pub generation: i64,
    /// The private key (PEM; base64 secret for HS256), or its sealed form when a key-encryption
    /// key is configured (see [`crate::keys`]).
    pub private_pem: String,
    /// The public JWK as JSON text (empty object for HS256).
    pub public_jwk: String,
    pub created_at: Millis,
    /// When it starts signing: published first, so every verifier has it before the first token.
    pub activates_at: Millis,
    /// When it stops verifying (set when a newer key replaces it): its last token has expired.
    pub retires_at: Option<Millis>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .finish_non_exhaustive()
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Whether rows follow this page.
    pub more: bool,
}

/// A position in a listing ordered by creation: the last row of the page before (its
/// `created_at`, then its id), for keyset paging that costs the same on every page, where an
/// `offset` walks every row before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageKey {
    pub created_at: Millis,
    pub id: Uuid,
}

/// A validated `limit`/`offset` pair, or a `limit` after a [`PageKey`].
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
    /// Rows after this one (`offset` then counts from it): only the listings that take it.
    pub after: Option<PageKey>,
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
        Ok(Self {
            limit,
            offset,
            after: None,
        })
    }
}

/// A refresh-token family: one login (password grant) and every token refreshed from it.
#[derive(Debug, Clone)]
pub struct TokenFamily {
    pub id: Uuid,
    pub user_id: Uuid,
    pub client_id: String,
    /// The scope granted at login; refreshes never widen it.
    pub scope: String,
    /// The login that started the chain.
    pub auth_time: Millis,
    pub created_at: Millis,
    /// Absolute end (`refresh_absolute_ttl_s` from the login), never extended.
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// One refresh token of a family, as stored: only its SHA-256 digest.
#[derive(Clone)]
pub struct RefreshToken {
    pub id: Uuid,
    pub family_id: Uuid,
    /// Hex SHA-256 of the token. Never logged.
    pub token_hash: String,
    /// The user's credential generation at issue: a password change or disable retires it.
    pub credential_gen: i64,
    pub created_at: Millis,
    /// Sliding end: `refresh_ttl_s` from issue, never past the family's end.
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
    /// Once rotated: the claims (JSON) of the access token the rotation issued, for the retry
    /// window.
    pub successor_claims: Option<String>,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("id", &self.id)
            .field("family_id", &self.family_id)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// What the change feed says changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A user (key: id): drop its cached state.
    User,
    /// A role (key: name): reload roles, drop every user state.
    Role,
    /// An access token revoked (key: jti).
    Token,
    /// A refresh-token family revoked (key: family id), and with it its access tokens.
    Family,
    /// Signing keys changed.
    Keys,
    /// A client changed or was deleted (key: client id).
    Client,
    /// An API key was revoked, rolled or changed (key: key id).
    ApiKey,
    /// A session ended (key: session id).
    Session,
    /// A policy was put or deleted (key: name): recompile the policy set.
    Policy,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::User => "user",
            ChangeKind::Role => "role",
            ChangeKind::Token => "token",
            ChangeKind::Family => "family",
            ChangeKind::Keys => "keys",
            ChangeKind::Client => "client",
            ChangeKind::ApiKey => "api_key",
            ChangeKind::Session => "session",
            ChangeKind::Policy => "policy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => ChangeKind::User,
            "role" => ChangeKind::Role,
            "token" => ChangeKind::Token,
            "family" => ChangeKind::Family,
            "keys" => ChangeKind::Keys,
            "client" => ChangeKind::Client,
            "api_key" => ChangeKind::ApiKey,
            "session" => ChangeKind::Session,
            "policy" => ChangeKind::Policy,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub seq: i64,
    /// `None`: a kind this version does not know (a newer instance wrote it): drop everything.
    pub kind: Option<ChangeKind>,
    pub key: String,
}

/// What the feed holds after a given sequence number.
#[derive(Debug, Clone, Default)]
pub struct ChangeBatch {
    /// The newest sequence number: read from here next time.
    pub latest: i64,
    pub changes: Vec<Change>,
    /// Entries between the caller's position and the first returned one are gone (pruned): the
    /// caller must drop every cache instead of trusting the list.
    pub gap: bool,
}

/// Revocations still in force, for the in-memory set every request checks.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    /// Access tokens revoked one by one, with their expiry (ms).
    pub tokens: Vec<(String, Millis)>,
    /// Families revoked recently enough that access tokens of theirs may still be alive.
    pub families: Vec<Uuid>,
}

/// A machine client (RFC 6749 §2): authenticates with its id and secret (stored as a SHA-256
/// digest), gets tokens for itself by the client-credentials grant, at most `scopes`. Only a
/// `first_party` client may use the password grant.
#[derive(Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret. Never logged, never returned.
    pub secret_hash: String,
    /// Sorted permission strings: what the client may hold.
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub created_at: Millis,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("first_party", &self.first_party)
            .finish_non_exhaustive()
    }
}

/// A user's API key as stored: its digest, never the key.
#[derive(Clone)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// Hex SHA-256 of the key. Never logged, never returned.
    pub key_hash: String,
    /// The key's first 8 characters, to recognise it.
    pub prefix: String,
    /// Sorted permission strings; `["*"]` when not narrowed (still ∩ the owner's permissions).
    pub scopes: Vec<String>,
    /// Networks the key may be used from (empty: anywhere).
    pub client_ips: Vec<String>,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub expires_at: Option<Millis>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("prefix", &self.prefix)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A cookie session as stored: the digest of its id.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub id_hash: String,
    pub user_id: Uuid,
    pub credential_gen: i64,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
}

/// A stored policy: its name and document (JSON text, as it was put).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub name: String,
    pub document: String,
}

/// Whether an audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

/// One entry of the audit trail. Never a secret: names, codes and addresses only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// UUIDv7: its order is time order.
    pub id: Uuid,
    pub at: Millis,
    /// Who acted: a username, a client's id, `operator` (the CLI), or the username a failed login
    /// tried.
    pub actor: String,
    /// What was acted on (a username, role, policy, client id, key id, permission).
    pub subject: Option<String>,
    /// `login`, `token.issue`, `user.update`, `authz.denied`, ...
    pub action: String,
    pub outcome: Outcome,
    /// Why it failed (the refusal's code), or what changed.
    pub reason: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

/// A page request for the audit trail: filters combine with AND, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// Events at or after this time.
    pub since: Option<Millis>,
    /// Events older than this one (the previous page's last id).
    pub before: Option<Uuid>,
    pub limit: u32,
}
