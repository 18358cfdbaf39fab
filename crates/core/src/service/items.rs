//! The example resource. Every rule about who may touch which item is here, not in handlers:
//! reading needs `items:read`; creating `items:write`; updating needs `items:write` on one's own item
//! or `items:*`; deleting needs `items:write` on one's own item or `items:delete`. A missing item is
//! 404 only for callers allowed to read items.

use uuid::Uuid;

use super::Bouncer;
use crate::authz::{Decision, Requirement, Resource};
use crate::error::{Error, Result};
use crate::model::{Item, Page, PageRequest};
use crate::principal::Principal;

pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 2000;

#[derive(Debug, Clone)]
pub struct ItemInput {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ItemPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

fn check_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > NAME_MAX || name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            format!("must be 1 to {NAME_MAX} characters, no control characters"),
        ));
    }
    Ok(())
}

fn check_description(d: Option<&str>) -> Result<()> {
    if d.is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        return Err(Error::validation(
            "description",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
    }
    Ok(())
}

/// The permission that stands in for `any` on the caller's own item: `items:write` lets an owner
/// update (`items:*` for anyone) and delete (`items:delete` for anyone) their own items.
pub fn owner_alternative(any: &str) -> Option<&'static str> {
    match any {
        ANY_UPDATE | ANY_DELETE => Some(OWN),
        _ => None,
    }
}

use crate::permission::registry::{
    ITEMS_ALL as ANY_UPDATE, ITEMS_DELETE as ANY_DELETE, ITEMS_READ, ITEMS_WRITE as OWN,
};

impl Bouncer {
    fn need(&self, who: &Principal, permission: &str) -> Decision {
        self.authz.authorize(
            who,
            Requirement::Permission(permission),
            Resource::default(),
        )
    }

    /// Owner with `items:write`, or anyone with `any`: one requirement, decided (and explained)
    /// by the authorizer.
    fn need_own_or_any(&self, who: &Principal, item: &Item, any: &'static str) -> Result<()> {
        self.authz
            .authorize(
                who,
                Requirement::OwnOrAny { own: OWN, any },
                Resource {
                    owner: Some(item.owner_id),
                },
            )
            .into_result()
    }

    pub async fn create_item(&self, who: &Principal, input: ItemInput) -> Result<Item> {
        self.need(who, OWN).into_result()?;
        check_name(&input.name)?;
        check_description(input.description.as_deref())?;
        let now = self.clock.now_ms();
        let item = Item {
            id: Uuid::now_v7(),
            owner_id: who.user_id()?,
            name: input.name,
            description: input.description,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_item(&item).await?;
        Ok(item)
    }

    pub async fn list_items(&self, who: &Principal, page: PageRequest) -> Result<Page<Item>> {
        self.need(who, ITEMS_READ).into_result()?;
        Ok(self.store.list_items(page).await?)
    }

    pub async fn item(&self, who: &Principal, id: Uuid) -> Result<Item> {
        self.need(who, ITEMS_READ).into_result()?;
        self.store.item(id).await?.ok_or(Error::NotFound("item"))
    }

    pub async fn update_item(&self, who: &Principal, id: Uuid, patch: ItemPatch) -> Result<Item> {
        let mut item = self.item(who, id).await?;
        self.need_own_or_any(who, &item, ANY_UPDATE)?;
        if let Some(name) = patch.name {
            check_name(&name)?;
            item.name = name;
        }
        if let Some(d) = patch.description {
            check_description(d.as_deref())?;
            item.description = d;
        }
        item.updated_at = self.clock.now_ms();
        if !self.store.update_item(&item).await? {
            return Err(Error::NotFound("item"));
        }
        Ok(item)
    }

    pub async fn delete_item(&self, who: &Principal, id: Uuid) -> Result<()> {
        let item = self.item(who, id).await?;
        self.need_own_or_any(who, &item, ANY_DELETE)?;
        if self.store.delete_item(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("item"))
        }
    }
}
