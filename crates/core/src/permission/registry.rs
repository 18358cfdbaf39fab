//! The permissions Bouncer itself knows: the one list that route requirements, services, the
//! OpenAPI spec's OAuth2 scopes and the metadata's `scopes_supported` are all built from, so they
//! cannot disagree. Operators may invent more (`reports:read`) for their own APIs; these are the
//! ones Bouncer's own routes need.

/// `GET /items`, `GET /items/{id}`.
pub const ITEMS_READ: &str = "items:read";
/// Creating items; updating and deleting one's own.
pub const ITEMS_WRITE: &str = "items:write";
/// Deleting anyone's items.
pub const ITEMS_DELETE: &str = "items:delete";
/// Everything on items (updating anyone's).
pub const ITEMS_ALL: &str = "items:*";
pub const USERS_READ: &str = "users:read";
pub const USERS_WRITE: &str = "users:write";
pub const ROLES_READ: &str = "roles:read";
pub const ROLES_WRITE: &str = "roles:write";
pub const CLIENTS_WRITE: &str = "clients:write";
pub const POLICIES_READ: &str = "policies:read";
pub const POLICIES_WRITE: &str = "policies:write";
pub const AUDIT_READ: &str = "audit:read";
/// `GET /metrics` on the API's address (`metrics.enabled` without `metrics.listen`).
pub const METRICS_READ: &str = "metrics:read";
/// Clients calling `POST /oauth2/introspect`.
pub const TOKENS_INTROSPECT: &str = "tokens:introspect";
/// Everything.
pub const ALL: &str = "*";

/// Every scope a client may request of Bouncer's own, with what it grants: the OAuth2 flows'
/// scopes in the spec and `scopes_supported` in the metadata (`role:NAME` scopes are left out:
/// they depend on the roles that exist).
pub const SCOPES: &[(&str, &str)] = &[
    (ALL, "everything the user holds"),
    (ITEMS_READ, "read items"),
    (ITEMS_WRITE, "create items and change or delete one's own"),
    (ITEMS_DELETE, "delete any item"),
    (
        ITEMS_ALL,
        "everything on items, including changing anyone's",
    ),
    (USERS_READ, "list and read users"),
    (USERS_WRITE, "manage users"),
    (ROLES_READ, "read roles"),
    (ROLES_WRITE, "manage roles"),
    (CLIENTS_WRITE, "manage machine clients"),
    (POLICIES_READ, "read policies and explain decisions"),
    (POLICIES_WRITE, "manage policies"),
    (AUDIT_READ, "read the audit trail"),
    (METRICS_READ, "read the metrics (GET /metrics)"),
    (TOKENS_INTROSPECT, "introspect tokens (machine clients)"),
];

/// The names of [`SCOPES`].
pub fn scope_names() -> impl Iterator<Item = &'static str> {
    SCOPES.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_registered_scope_is_a_valid_permission() {
        for name in super::scope_names() {
            assert!(super::super::Permission::parse(name).is_some(), "{name}");
        }
    }
}
