//! Response bodies. Separate from the domain records on purpose: a field is public only if it is
//! written here, so a password hash cannot leak by being added to `User`.

use bouncer_core::clock::rfc3339;
use bouncer_core::model::{Item, Page, Role, User};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub disabled: bool,
    pub roles: Vec<String>,
    /// Permissions granted directly (roles grant more).
    pub permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            disabled: u.disabled,
            roles: u.roles.clone(),
            permissions: u.permissions.clone(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub permissions: Vec<String>,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        RoleView {
            name: r.name,
            permissions: r.permissions,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Item> for ItemView {
    fn from(i: &Item) -> Self {
        ItemView {
            id: i.id,
            owner_id: i.owner_id,
            name: i.name.clone(),
            description: i.description.clone(),
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
        }
    }
}

/// One page of a listing: `items`, the `total` count, and the `limit`/`offset` that produced it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

impl<T> PageView<T> {
    pub fn from_page<R>(p: &Page<R>, f: impl Fn(&R) -> T) -> Self {
        PageView {
            items: p.items.iter().map(f).collect(),
            total: p.total,
            limit: p.limit,
            offset: p.offset,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// RFC 9457 problem document, as every error outside `/oauth2/*` is sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDoc {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, snake_case: what clients switch on.
    pub code: String,
    /// The offending field (422).
    pub field: Option<String>,
    /// The missing role, permission or scope (403).
    pub missing: Option<String>,
}

/// A client as the API shows it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub created_at: String,
}

impl From<&bouncer_core::model::Client> for ClientView {
    fn from(c: &bouncer_core::model::Client) -> Self {
        ClientView {
            client_id: c.id.clone(),
            name: c.name.clone(),
            scopes: c.scopes.clone(),
            first_party: c.first_party,
            created_at: bouncer_core::clock::rfc3339(c.created_at),
        }
    }
}
