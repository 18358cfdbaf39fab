//! Policies (conditional rules on permissions) and explain. A caller puts or deletes only policies
//! on permissions it holds itself (403 `cannot_grant`), like roles. Every change is recorded in
//! the change feed, so every instance swaps in the recompiled set, and in the audit trail, in the
//! same transaction.

use std::net::IpAddr;

use uuid::Uuid;

use super::Bouncer;
use crate::authz::{Actor, Decision, Requirement, Resource, may_grant};
use crate::error::{Error, Result};
use crate::model::{Outcome, PolicyRecord};
use crate::permission::{Permission, PermissionRef, PermissionSet};
use crate::policy::{CompiledPolicy, Effect, MAX_POLICIES, Policy, PolicyDocument, PolicySet};
use crate::principal::{CredentialId, CredentialKind, Principal, Subject};

/// What `POST /authz/explain` (and `bouncer authz explain`) asks.
#[derive(Debug, Clone, Default)]
pub struct ExplainRequest {
    /// A user (by id or username); `None`: the caller's own credential.
    pub subject: Option<String>,
    pub permission: String,
    pub resource_owner: Option<Uuid>,
    /// Default: now.
    pub at: Option<crate::clock::Millis>,
    /// Default: the caller's address.
    pub client_ip: Option<IpAddr>,
}

fn parse_document(r: &PolicyRecord) -> Result<PolicyDocument> {
    serde_json::from_str(&r.document)
        .map_err(|e| Error::internal(format!("stored policy {:?} is corrupt: {e}", r.name)))
}

/// A stored policy that no longer compiles (a time zone dropped from the database, a document
/// from a newer version): it refuses what it names (read leniently from the raw document; `*`
/// if even that fails), so a broken rule fails closed.
fn refuse_all(name: &str, raw: &str) -> Option<CompiledPolicy> {
    let loose: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    let permissions: Vec<String> = loose
        .get("permissions")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .filter(|p| Permission::parse(p).is_some())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| vec!["*".to_owned()]);
    let fallback = PolicyDocument {
        description: None,
        effect: Effect::Deny,
        permissions,
        roles: None,
        credential_kinds: None,
        conditions: None,
    };
    CompiledPolicy::compile(name, &fallback, |_| true).ok()
}

impl Bouncer {
    /// Compiles stored policies. Role names are not checked again: a role deleted since leaves
    /// a policy that applies to nobody holding it.
    pub(crate) fn compile_stored(records: &[PolicyRecord]) -> PolicySet {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let doc = parse_document(r);
            let compiled = doc.as_ref().map_err(|e| e.to_string()).and_then(|d| {
                CompiledPolicy::compile(&r.name, d, |_| true).map_err(|e| e.to_string())
            });
            match compiled {
                Ok(c) => out.push(c),
                Err(e) => {
                    tracing::error!(policy = %r.name, error = %e, "a stored policy does not compile; it refuses every permission it names until fixed");
                    out.extend(refuse_all(&r.name, &r.document));
                }
            }
        }
        PolicySet::new(out)
    }

    /// Re-reads every policy and swaps the compiled set in. One at a time; a failure leaves the
    /// set marked stale, so the next poll of the change feed tries again.
    pub async fn reload_policies(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        let _one = self.policy_reload.lock().await;
        self.auth.policies_stale.store(false, Ordering::SeqCst);
        match self.store.list_policies().await {
            Ok(records) => {
                self.authz.set_policies(Self::compile_stored(&records));
                Ok(())
            }
            Err(e) => {
                self.auth.policies_stale.store(true, Ordering::SeqCst);
                Err(e.into())
            }
        }
    }

    /// Every policy that parses. A stored document that does not (written by a newer version)
    /// is left out here and logged; it refuses what it names until it is replaced or deleted.
    pub async fn list_policies(&self) -> Result<Vec<Policy>> {
        let mut out = Vec::new();
        for r in self.store.list_policies().await? {
            match parse_document(&r) {
                Ok(document) => out.push(Policy {
                    name: r.name,
                    document,
                }),
                Err(e) => {
                    tracing::error!(policy = %r.name, error = %e, "skipped a stored policy that does not parse")
                }
            }
        }
        Ok(out)
    }

    /// Whom a policy binds must be someone the caller may touch: holding every permission of each
    /// role it names or, naming none, everything (it binds admins too). Only an admin restricts
    /// (or frees) an admin.
    async fn may_target(&self, actor: Actor<'_>, roles: Option<&[String]>) -> Result<()> {
        if let Actor::Operator = actor {
            return Ok(());
        }
        match roles {
            None => may_grant(actor, [&Permission::All]),
            Some(roles) => {
                for r in roles {
                    may_grant(actor, self.role_grants(r).await?.iter())?;
                }
                Ok(())
            }
        }
    }

    pub async fn policy(&self, name: &str) -> Result<Policy> {
        self.list_policies()
            .await?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or(Error::NotFound("policy"))
    }

    fn policy_permissions(doc: &PolicyDocument) -> PermissionSet {
        PermissionSet::parse(doc.permissions.iter().map(String::as_str)).unwrap_or_default()
    }

    /// Checks and stores a policy; returns it and whether it was created. Bad documents are 422
    /// naming the field; nothing is stored.
    pub async fn put_policy(
        &self,
        actor: Actor<'_>,
        name: &str,
        doc: PolicyDocument,
    ) -> Result<(Policy, bool)> {
        let roles = self.store.list_roles().await?;
        CompiledPolicy::compile(name, &doc, |r| roles.iter().any(|x| x.name == r))?;
        let existing = self.list_policies().await?;
        let old = existing.iter().find(|p| p.name == name);
        if old.is_none() && existing.len() >= MAX_POLICIES {
            return Err(Error::validation(
                "name",
                format!("at most {MAX_POLICIES} policies"),
            ));
        }
        if let Actor::Caller(_) = actor {
            if let Some(old) = old {
                may_grant(actor, Self::policy_permissions(&old.document).iter())?;
                self.may_target(actor, old.document.roles.as_deref())
                    .await?;
            }
            may_grant(actor, Self::policy_permissions(&doc).iter())?;
            self.may_target(actor, doc.roles.as_deref()).await?;
        }
        if old.is_some_and(|o| o.document == doc) {
            return Ok((
                Policy {
                    name: name.to_owned(),
                    document: doc,
                },
                false,
            ));
        }
        let record = PolicyRecord {
            name: name.to_owned(),
            document: serde_json::to_string(&doc).map_err(Error::internal)?,
        };
        let event = self.change_event(actor, "policy.put", name, None);
        let created = self
            .store
            .audited(event.clone())
            .put_policy(&record, self.clock.now_ms())
            .await?;
        self.audit.log(&event);
        self.reload_policies().await?;
        Ok((
            Policy {
                name: name.to_owned(),
                document: doc,
            },
            created,
        ))
    }

    /// Deletes a policy. Read leniently (only its `permissions` and `roles`), so even a stored
    /// document that no longer parses can be deleted.
    pub async fn delete_policy(&self, actor: Actor<'_>, name: &str) -> Result<()> {
        let record = self
            .store
            .list_policies()
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or(Error::NotFound("policy"))?;
        let loose: serde_json::Value = serde_json::from_str(&record.document).unwrap_or_default();
        let strings = |key: &str| -> Option<Vec<String>> {
            loose.get(key)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        };
        if let Actor::Caller(_) = actor {
            let perms = strings("permissions").unwrap_or_else(|| vec!["*".to_owned()]);
            let set = PermissionSet::parse(perms.iter().map(String::as_str))
                .unwrap_or_else(|_| PermissionSet::new(vec![Permission::All]));
            may_grant(actor, set.iter())?;
            self.may_target(actor, strings("roles").as_deref()).await?;
        }
        let event = self.change_event(actor, "policy.delete", name, None);
        if !self
            .store
            .audited(event.clone())
            .delete_policy(name)
            .await?
        {
            return Err(Error::NotFound("policy"));
        }
        self.audit.log(&event);
        self.reload_policies().await
    }

    /// An administrative change's audit event (success: it commits only with the change).
    pub(crate) fn change_event(
        &self,
        actor: Actor<'_>,
        action: &str,
        subject: &str,
        reason: Option<&str>,
    ) -> crate::model::AuditEvent {
        self.audit.event(
            crate::audit::Origin::of_actor(actor),
            actor.name(),
            action,
            Outcome::Success,
            Some(subject),
            reason,
        )
    }

    /// Explains what [`crate::authz::Authorizer::authorize`] decides (the same code, traced). For a
    /// `subject`, it assumes a JWT with an unnarrowed scope whose login (`auth_time`) is `at`;
    /// without one, the caller's own credential at `at` from `client_ip`.
    pub async fn explain(
        &self,
        caller: Option<&Principal>,
        req: ExplainRequest,
    ) -> Result<Decision> {
        if PermissionRef::parse(&req.permission).is_none() {
            return Err(Error::validation(
                "permission",
                format!(
                    "{:?} is not a permission (resource:action, resource:* or *)",
                    req.permission
                ),
            ));
        }
        let at = req.at.unwrap_or_else(|| self.clock.now_ms());
        let mut principal = match (&req.subject, caller) {
            (Some(s), _) => {
                // A subject that names nobody: the user is not found (404), as on /users/{id}.
                let unknown = || Error::NotFound("user");
                // Explaining someone else shows their roles and permissions: that is reading a
                // user (checked before any lookup, so it is no username oracle either).
                if let Some(c) = caller
                    && c.user().is_none_or(|u| {
                        u.user.id.to_string() != *s && !u.user.username.eq_ignore_ascii_case(s)
                    })
                {
                    self.authz
                        .authorize(
                            c,
                            Requirement::Permission(crate::permission::registry::USERS_READ),
                            Resource::default(),
                        )
                        .into_result()?;
                }
                // By id, the authenticator's cached state (what a request would see); by
                // username, one lookup for the id first.
                let id = match Uuid::parse_str(s) {
                    Ok(id) => id,
                    Err(_) => match self.user_by_username(s).await {
                        Ok(u) => u.id,
                        Err(Error::NotFound(_)) => return Err(unknown()),
                        Err(e) => return Err(e),
                    },
                };
                let state = self.auth.user_state(id).await?.ok_or_else(unknown)?;
                Principal {
                    subject: Subject::User(state),
                    credential: CredentialKind::Jwt,
                    credential_id: CredentialId::None,
                    scopes: None,
                    auth_time: Some(at),
                    context: caller.map(|c| c.context.clone()).unwrap_or_default(),
                }
            }
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(Error::validation("subject", "name a user to explain"));
            }
        };
        principal.context.now_ms = at;
        if let Some(ip) = req.client_ip {
            principal.context.client_ip = Some(ip);
        }
        let need = match req.resource_owner {
            None => Requirement::Permission(&req.permission),
            Some(_) => Requirement::OwnOrAny {
                own: super::items::owner_alternative(&req.permission).unwrap_or(&req.permission),
                any: &req.permission,
            },
        };
        let resource = Resource {
            owner: req.resource_owner,
        };
        Ok(self
            .authz
            .explain(&principal, need, resource, self.auth.role_table()))
    }
}
