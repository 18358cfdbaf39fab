//! The storage interface. One implementation (crate `bouncer-store`) serves SQLite and PostgreSQL
//! with the same SQL. Implementations must make each method atomic and must enforce, inside the same
//! transaction as the write, the invariants documented on the method: checking them beforehand from
//! the outside would race.

use async_trait::async_trait;
use uuid::Uuid;

use crate::clock::Millis;
use crate::model::{
    ApiKey, AuditEvent, AuditQuery, ChangeBatch, Client, Item, Page, PageRequest, PolicyRecord,
    RefreshToken, Revocations, Role, Session, SigningKeyRecord, TokenFamily, User,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `field` names the column the caller supplied.
    #[error("{field} already exists")]
    Conflict { field: &'static str },
    /// The write would leave no enabled user holding the `admin` role.
    #[error("last enabled admin")]
    LastAdmin,
    /// The row changed since the caller read it (compare-and-set failed): read again and retry.
    #[error("changed concurrently")]
    Stale,
    /// The role is held by this many users and `force` was not given.
    #[error("role in use by {0} users")]
    RoleInUse(i64),
    /// The database could not be reached, or stayed locked, within the wait: try again shortly
    /// (503 + `Retry-After`, never 500). The text is for logs only.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed; the text is for logs only.
    #[error("database: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What deleting a role did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleDeletion {
    Deleted,
    NotFound,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;

    /// The unit of work of an administrative change: this same store, whose writes also commit
    /// `event` inside their own transaction, so the change and its audit record land together or
    /// not at all. The event is recorded once however many writes (or retries) use the view.
    fn audited(&self, event: AuditEvent) -> Box<dyn Store>;
    /// Appends request-path events (logins, tokens, denials), batched by the caller.
    async fn insert_audit_events(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// A page of the audit trail, newest first.
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Forgets events older than `before`; returns how many.
    async fn prune_audit_events(&self, before: Millis) -> StoreResult<u64>;

    /// Every policy, by name.
    async fn list_policies(&self) -> StoreResult<Vec<PolicyRecord>>;
    /// Creates or replaces a policy (recorded in the change feed); returns true if created.
    async fn put_policy(&self, policy: &PolicyRecord, now: Millis) -> StoreResult<bool>;
    /// Deletes a policy (recorded in the change feed); false if there was none.
    async fn delete_policy(&self, name: &str) -> StoreResult<bool>;

    /// The change feed's high-water mark: bumped by every write that can change what an existing
    /// credential may do (user updates and deletions, role changes, revocations).
    async fn revision(&self) -> StoreResult<i64>;
    /// The feed's entries after `seq`, oldest first (at most a few thousand; call again).
    async fn changes_since(&self, seq: i64) -> StoreResult<ChangeBatch>;
    /// Forgets feed entries written before `before`.
    async fn prune_changes(&self, before: Millis) -> StoreResult<()>;

    /// Throttling counters shared by instances: adds each count to its key's stored count, or
    /// starts the key's window anew (with this count and window) when the stored one is over at
    /// `now`. One transaction.
    async fn add_throttle_counts(
        &self,
        counts: &[crate::throttle::ThrottleCount],
        now: Millis,
    ) -> StoreResult<()>;
    /// Counters written at or after `since` (any instance).
    async fn throttle_counts_since(
        &self,
        since: Millis,
    ) -> StoreResult<Vec<crate::throttle::ThrottleCount>>;
    /// Forgets counters whose window ended before `before`.
    async fn prune_throttle_counts(&self, before: Millis) -> StoreResult<()>;

    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// Looks up by the normalized (lowercase) username.
    async fn user_by_username(&self, username_norm: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, page: PageRequest) -> StoreResult<Page<User>>;
    async fn count_users(&self) -> StoreResult<i64>;
    /// Whether any user exists: one index entry read, whatever the table's size (start-up asks).
    async fn has_users(&self) -> StoreResult<bool>;
    /// Writes every mutable field, roles and direct permissions of `user`, only if the stored row's
    /// `updated_at` is still `read_at` (the value the caller read): a read-modify-write never
    /// overwrites a change made in between (`Stale`). Returns false if it does not exist. Fails with
    /// `LastAdmin` if no enabled admin would remain.
    async fn update_user(&self, user: &User, read_at: crate::clock::Millis) -> StoreResult<bool>;
    /// Replaces the password hash (re-hash on login) if it is still `expected`, so a password
    /// changed meanwhile is never overwritten. Does not bump the revision.
    async fn set_password_hash(&self, id: Uuid, hash: &str, expected: &str) -> StoreResult<()>;
    /// Returns false if it did not exist. With `read_at`, deletes only if the row's `updated_at` is
    /// still that (else `Stale`). Fails with `LastAdmin` if no enabled admin would remain.
    async fn delete_user(
        &self,
        id: Uuid,
        read_at: Option<crate::clock::Millis>,
    ) -> StoreResult<bool>;

    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    async fn role(&self, name: &str) -> StoreResult<Option<Role>>;
    /// Creates or replaces; returns true if created.
    async fn put_role(&self, role: &Role) -> StoreResult<bool>;
    /// Without `force`, fails with `RoleInUse` while users hold it; with it, removes it from them
    /// (and fails with `LastAdmin` if that would leave no enabled admin).
    async fn delete_role(&self, name: &str, force: bool) -> StoreResult<RoleDeletion>;

    async fn insert_item(&self, item: &Item) -> StoreResult<()>;
    async fn item(&self, id: Uuid) -> StoreResult<Option<Item>>;
    async fn list_items(&self, page: PageRequest) -> StoreResult<Page<Item>>;
    async fn update_item(&self, item: &Item) -> StoreResult<bool>;
    async fn delete_item(&self, id: Uuid) -> StoreResult<bool>;

    /// Starts a refresh-token family with its first token.
    async fn insert_family(&self, family: &TokenFamily, first: &RefreshToken) -> StoreResult<()>;
    /// The refresh token with this digest, and its family.
    async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(RefreshToken, TokenFamily)>>;
    /// Rotation, as one compare-and-set: marks `old` used (keeping `successor_claims`, the claims
    /// of the access token issued with `new`) and stores `new`, only if `old` was still unused and
    /// its family unrevoked. `false`: another request used it first (a reuse).
    async fn rotate_refresh_token(
        &self,
        old: Uuid,
        new: &RefreshToken,
        successor_claims: &str,
        now: Millis,
    ) -> StoreResult<bool>;
    /// A server-wide secret named `name`: the stored one, or `fresh` if there was none (the first
    /// of several instances starting at once wins).
    async fn server_secret(&self, name: &str, fresh: &str) -> StoreResult<String>;
    /// Revokes a family (and so its refresh and access tokens); recorded in the change feed.
    async fn revoke_family(&self, id: Uuid, now: Millis) -> StoreResult<()>;
    /// Revokes one access token until `expires_at`; recorded in the change feed.
    async fn revoke_access_token(&self, jti: &str, expires_at: Millis) -> StoreResult<()>;
    /// Revoked access tokens not expired at `now` (callers pass now minus the leeway), and
    /// families revoked after `since`. Also forgets revocations and opaque tokens expired at `now`.
    async fn revocations(&self, since: Millis, now: Millis) -> StoreResult<Revocations>;
    /// Stores an opaque access token: its digest and the claims it stands for (JSON).
    async fn insert_access_token(
        &self,
        token_hash: &str,
        jti: &str,
        claims_json: &str,
        expires_at: Millis,
    ) -> StoreResult<()>;
    /// The claims (JSON) of the opaque access token with this digest.
    async fn access_token(&self, token_hash: &str) -> StoreResult<Option<String>>;

    /// Registers a client (a taken id is `Conflict`).
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Replaces a client's scopes and `first_party` (never its id, name or secret), recorded in
    /// the change feed. Returns false if there was none.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    /// Deletes a client and revokes every refresh-token family issued to it, in one transaction
    /// recorded in the change feed. Returns false if there was none.
    async fn delete_client(&self, id: &str, now: Millis) -> StoreResult<bool>;

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>>;
    /// Deletes a key (recorded in the change feed). Returns false if there was none.
    async fn delete_api_key(&self, id: Uuid) -> StoreResult<bool>;
    /// A roll, in one transaction recorded in the change feed: `new` is stored and the old key
    /// `old` expires at `old_expires_at` (deleted when that is not in the future).
    async fn roll_api_key(
        &self,
        old: Uuid,
        old_expires_at: Millis,
        new: &ApiKey,
        now: Millis,
    ) -> StoreResult<()>;
    /// Records when keys were last used (batched by the caller).
    async fn touch_api_keys(&self, uses: &[(Uuid, Millis)]) -> StoreResult<()>;

    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn session_by_hash(&self, id_hash: &str) -> StoreResult<Option<Session>>;
    /// Ends a session (recorded in the change feed).
    async fn delete_session(&self, id: Uuid) -> StoreResult<()>;
    /// Records sessions' last use (batched by the caller), and forgets sessions ended before
    /// `expired_before`.
    async fn touch_sessions(
        &self,
        uses: &[(Uuid, Millis)],
        expired_before: Millis,
    ) -> StoreResult<()>;

    /// Every key not yet retired at `now` (all algorithms), oldest generation first.
    async fn signing_keys(&self, now: Millis) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Inserts a first key; a concurrent insert of the same algorithm by another instance is not
    /// an error (callers re-read `signing_keys` afterwards).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// A rotation, in one transaction recorded in the change feed: every unretired key of
    /// `next`'s algorithm retires at `retire_at`, and `next` is added (next generation).
    async fn rotate_signing_key(
        &self,
        next: &SigningKeyRecord,
        retire_at: Millis,
    ) -> StoreResult<()>;
    /// Replaces a key's stored private part (sealing it under a key-encryption key).
    async fn set_signing_key_private(&self, kid: &str, private_pem: &str) -> StoreResult<()>;
}
