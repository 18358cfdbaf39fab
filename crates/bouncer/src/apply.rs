//! `bouncer apply FILE`: roles, policies and clients as code, in one TOML file.
//!
//! The whole file is checked before anything changes (every role's permissions, every policy
//! compiled against the roles as they will be afterwards, every client's scopes); then the
//! changes are made in order: roles (so policies may name them), policies, clients, and with
//! `--prune` the deletions: policies, clients, roles. A client's secret is never in the file: a
//! new client's is printed once, an existing client (matched by name) keeps its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use bouncer_core::authz::Actor;
use bouncer_core::model::{
    Client, PageRequest, ROLE_ADMIN, ROLE_GUEST, ROLE_MODERATOR, ROLE_USER, Role,
};
use bouncer_core::policy::{CompiledPolicy, MAX_POLICIES, Policy, PolicyDocument};
use bouncer_core::service::client_update::ClientPatch;
use bouncer_core::service::{Bouncer, NewClient, SWAGGER_CLIENT};
use clap::Args;
use serde::Deserialize;

use crate::app::AppError;
use crate::cli_policy::BAD_INPUT;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Print what would change, and change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Also delete the roles, policies and clients the file does not name (never the built-in
    /// roles, auth.default_role, or the swagger client).
    #[arg(long)]
    pub prune: bool,
    /// The TOML file: [roles.NAME], [policies.NAME], [clients.NAME] tables.
    pub file: PathBuf,
}

/// What the file says should exist.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Desired {
    #[serde(default)]
    pub roles: BTreeMap<String, RoleSpec>,
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyDocument>,
    #[serde(default)]
    pub clients: BTreeMap<String, ClientSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub first_party: bool,
}

/// What is stored now.
#[derive(Debug, Default)]
pub struct Current {
    pub roles: Vec<Role>,
    pub policies: Vec<Policy>,
    pub clients: Vec<Client>,
    /// How many users hold each role (read only when pruning could delete a role).
    pub role_holders: HashMap<String, usize>,
}

/// What one change does.
#[derive(Debug, Clone)]
pub enum Action {
    PutRole(Vec<String>),
    PutPolicy(Box<PolicyDocument>),
    CreateClient {
        scopes: Vec<String>,
        first_party: bool,
    },
    UpdateClient {
        id: String,
        scopes: Vec<String>,
        first_party: bool,
    },
    DeletePolicy,
    DeleteClient {
        id: String,
    },
    DeleteRole,
}

/// One line of the plan: `+ role NAME`, `~ policy NAME`, `- client NAME`.
#[derive(Debug, Clone)]
pub struct Change {
    pub sign: char,
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.sign, self.kind, self.name)
    }
}

/// Roles `--prune` never deletes, besides the default role.
const BUILTIN_ROLES: [&str; 4] = [ROLE_ADMIN, ROLE_MODERATOR, ROLE_USER, ROLE_GUEST];

/// The file, parsed; an error names the file and the path of the bad key or value (or, for bad
/// TOML, the line).
pub fn parse_file(file: &str, text: &str) -> Result<Desired, String> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let message = inner.message().trim().replace('\n', "; ");
        if path != "." {
            return format!("{file}: {path}: {message}");
        }
        match inner.span().and_then(|s| text.get(..s.start)) {
            Some(before) => format!("{file}:{}: {message}", before.matches('\n').count() + 1),
            None => format!("{file}: {message}"),
        }
    })
}

/// A domain validation error as `PREFIX.FIELD: message` (`PREFIX: message` for the name).
fn at(prefix: &str, e: bouncer_core::Error) -> String {
    match e {
        bouncer_core::Error::Validation { field, message } if field == "name" => {
            format!("{prefix}: {message}")
        }
        bouncer_core::Error::Validation { field, message } => {
            format!("{prefix}.{field}: {message}")
        }
        other => format!("{prefix}: {other}"),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Checks everything in `desired` and returns the changes that make the store match it, in the
/// order they are made. Nothing here writes.
pub fn plan(
    desired: &Desired,
    current: &Current,
    default_role: &str,
    prune: bool,
) -> Result<Vec<Change>, String> {
    let mut changes = Vec::new();
    let protected_role = |name: &str| BUILTIN_ROLES.contains(&name) || name == default_role;

    // Roles.
    for (name, spec) in &desired.roles {
        let prefix = format!("roles.{name}");
        bouncer_core::validate::role_name(name).map_err(|e| at(&prefix, e))?;
        let permissions = Bouncer::normalized_permissions("permissions", &spec.permissions)
            .map_err(|e| at(&prefix, e))?;
        if name == ROLE_ADMIN && !permissions.iter().any(|p| p == "*") {
            return Err(format!(
                "{prefix}.permissions: the admin role must keep \"*\""
            ));
        }
        let sign = match current.roles.iter().find(|r| &r.name == name) {
            None => '+',
            Some(r) if sorted(r.permissions.clone()) != sorted(permissions.clone()) => '~',
            Some(_) => continue,
        };
        changes.push(Change {
            sign,
            kind: "role",
            name: name.clone(),
            action: Action::PutRole(permissions),
        });
    }
    let removed_roles: Vec<&Role> = if prune {
        current
            .roles
            .iter()
            .filter(|r| !desired.roles.contains_key(&r.name) && !protected_role(&r.name))
            .collect()
    } else {
        Vec::new()
    };
    let roles_after: BTreeSet<&str> = current
        .roles
        .iter()
        .map(|r| r.name.as_str())
        .filter(|r| !removed_roles.iter().any(|x| x.name == *r))
        .chain(desired.roles.keys().map(String::as_str))
        .collect();
    for r in &removed_roles {
        if let Some(n) = current.role_holders.get(&r.name).filter(|n| **n > 0) {
            return Err(format!(
                "--prune would delete role {} held by {n} user(s): name it in the file, or take it from them first (bouncer role revoke {} USER)",
                r.name, r.name
            ));
        }
    }

    // Policies, compiled against the roles as they will be.
    for (name, doc) in &desired.policies {
        CompiledPolicy::compile(name, doc, |r| roles_after.contains(r))
            .map_err(|e| at(&format!("policies.{name}"), e))?;
        let sign = match current.policies.iter().find(|p| &p.name == name) {
            None => '+',
            Some(p) if p.document != *doc => '~',
            Some(_) => continue,
        };
        changes.push(Change {
            sign,
            kind: "policy",
            name: name.clone(),
            action: Action::PutPolicy(Box::new(doc.clone())),
        });
    }
    let kept_policies = current
        .policies
        .iter()
        .filter(|p| !prune && !desired.policies.contains_key(&p.name))
        .count();
    if kept_policies + desired.policies.len() > MAX_POLICIES {
        return Err(format!(
            "policies: at most {MAX_POLICIES} policies ({} in the file, {kept_policies} others stored)",
            desired.policies.len()
        ));
    }

    // Clients, matched by name (their ids are random).
    for (name, spec) in &desired.clients {
        let prefix = format!("clients.{name}");
        if name.trim() != name
            || name.is_empty()
            || name.chars().count() > 100
            || name.chars().any(char::is_control)
        {
            return Err(format!(
                "{prefix}: a client name is 1 to 100 characters, without control characters or surrounding spaces"
            ));
        }
        let scopes =
            Bouncer::normalized_permissions("scopes", &spec.scopes).map_err(|e| at(&prefix, e))?;
        let same_name: Vec<&Client> = current.clients.iter().filter(|c| &c.name == name).collect();
        let action = match same_name.as_slice() {
            [] => Action::CreateClient {
                scopes,
                first_party: spec.first_party,
            },
            [c] if sorted(c.scopes.clone()) == sorted(scopes.clone())
                && c.first_party == spec.first_party =>
            {
                continue;
            }
            [c] => Action::UpdateClient {
                id: c.id.clone(),
                scopes,
                first_party: spec.first_party,
            },
            many => {
                return Err(format!(
                    "{prefix}: {} clients are named {name:?}; keep one (bouncer client list, bouncer client remove CLIENT_ID)",
                    many.len()
                ));
            }
        };
        changes.push(Change {
            sign: if matches!(action, Action::CreateClient { .. }) {
                '+'
            } else {
                '~'
            },
            kind: "client",
            name: name.clone(),
            action,
        });
    }

    // Deletions: policies, then clients, then roles.
    if prune {
        for p in &current.policies {
            if !desired.policies.contains_key(&p.name) {
                changes.push(Change {
                    sign: '-',
                    kind: "policy",
                    name: p.name.clone(),
                    action: Action::DeletePolicy,
                });
            }
        }
        for c in &current.clients {
            let protected = c.name == SWAGGER_CLIENT || c.id == SWAGGER_CLIENT;
            if !protected && !desired.clients.contains_key(&c.name) {
                changes.push(Change {
                    sign: '-',
                    kind: "client",
                    name: c.name.clone(),
                    action: Action::DeleteClient { id: c.id.clone() },
                });
            }
        }
        for r in removed_roles {
            changes.push(Change {
                sign: '-',
                kind: "role",
                name: r.name.clone(),
                action: Action::DeleteRole,
            });
        }
    }
    Ok(changes)
}

/// How many users hold each role.
async fn role_holders(b: &Bouncer) -> Result<HashMap<String, usize>, AppError> {
    let mut out = HashMap::new();
    let mut offset = 0;
    loop {
        let page = b
            .list_users(PageRequest::new(
                Some(PageRequest::MAX_LIMIT),
                Some(offset),
            )?)
            .await?;
        for u in &page.items {
            for r in &u.roles {
                *out.entry(r.clone()).or_insert(0) += 1;
            }
        }
        offset += PageRequest::MAX_LIMIT;
        if page.items.is_empty() || offset >= page.total {
            return Ok(out);
        }
    }
}

async fn make(b: &Bouncer, c: &Change) -> Result<(), AppError> {
    let op = Actor::Operator;
    match &c.action {
        Action::PutRole(permissions) => {
            b.put_role(op, &c.name, permissions).await?;
        }
        Action::PutPolicy(doc) => {
            b.put_policy(op, &c.name, (**doc).clone()).await?;
        }
        Action::CreateClient {
            scopes,
            first_party,
        } => {
            let (client, secret) = b
                .create_client(
                    op,
                    NewClient {
                        name: c.name.clone(),
                        scopes: scopes.clone(),
                        first_party: *first_party,
                    },
                )
                .await?;
            println!("{c}");
            println!("  client_id:     {}", client.id);
            println!("  client_secret: {secret}");
            eprintln!("The secret of client {} is shown only this once.", c.name);
            return Ok(());
        }
        Action::UpdateClient {
            id,
            scopes,
            first_party,
        } => {
            let patch = ClientPatch {
                scopes: Some(scopes.clone()),
                first_party: Some(*first_party),
            };
            b.update_client(op, id, patch).await?;
        }
        Action::DeletePolicy => b.delete_policy(op, &c.name).await?,
        Action::DeleteClient { id } => b.delete_client(op, id).await?,
        Action::DeleteRole => b.delete_role(op, &c.name, false).await?,
    }
    println!("{c}");
    Ok(())
}

pub async fn run(b: &Bouncer, args: ApplyArgs) -> Result<(), AppError> {
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| AppError::Io(format!("cannot read {name}: {e}")))?;
    let desired = parse_file(&name, &text).map_err(|m| AppError::Exit(BAD_INPUT, m))?;
    let mut current = Current {
        roles: b.list_roles().await?,
        policies: b.list_policies().await?,
        clients: b.list_clients().await?,
        role_holders: HashMap::new(),
    };
    if args.prune {
        current.role_holders = role_holders(b).await?;
    }
    let changes = plan(
        &desired,
        &current,
        &b.settings.auth.default_role,
        args.prune,
    )
    .map_err(|m| AppError::Exit(BAD_INPUT, format!("{name}: {m}")))?;
    if changes.is_empty() {
        println!("No changes.");
        return Ok(());
    }
    for c in &changes {
        if args.plan {
            println!("{c}");
        } else {
            make(b, c).await.map_err(|e| {
                AppError::Io(format!("{c}: {e} (the changes printed above were made)"))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(changes: &[Change]) -> Vec<String> {
        changes.iter().map(ToString::to_string).collect()
    }

    fn role(name: &str, perms: &[&str]) -> Role {
        Role {
            name: name.into(),
            permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    const FILE: &str = r#"
[roles.support]
permissions = ["users:read", "items:read"]

[policies.office-hours]
effect = "allow"
permissions = ["items:write"]
roles = ["support"]
[policies.office-hours.conditions]
time_zone = "Europe/Berlin"
time_windows = [{ start = "09:00", end = "17:30" }]
weekdays = ["mon", "fri"]

[clients.reporting]
scopes = ["items:read"]
"#;

    #[test]
    fn a_file_plans_roles_then_policies_then_clients() {
        let desired = parse_file("f.toml", FILE).unwrap();
        let current = Current {
            roles: vec![role("user", &["items:read"])],
            ..Current::default()
        };
        let changes = plan(&desired, &current, "user", false).unwrap();
        assert_eq!(
            lines(&changes),
            [
                "+ role support",
                "+ policy office-hours",
                "+ client reporting"
            ]
        );
    }

    #[test]
    fn a_policy_may_name_a_role_only_the_file_creates() {
        let mut desired = parse_file("f.toml", FILE).unwrap();
        desired.roles.clear();
        let e = plan(&desired, &Current::default(), "user", false).unwrap_err();
        assert_eq!(
            e,
            r#"policies.office-hours.roles[0]: no role named "support""#
        );
    }

    #[test]
    fn errors_name_the_entry_the_field_and_the_value() {
        let bad_zone = FILE.replace("Europe/Berlin", "Mars/Olympus");
        let e = plan(
            &parse_file("f.toml", &bad_zone).unwrap(),
            &Current::default(),
            "user",
            false,
        )
        .unwrap_err();
        assert!(
            e.starts_with(
                r#"policies.office-hours.conditions.time_zone: "Mars/Olympus" is not an IANA time zone"#
            ),
            "{e}"
        );
        let bad_perm = FILE.replace("\"users:read\"", "\"users:Read\"");
        let e = plan(
            &parse_file("f.toml", &bad_perm).unwrap(),
            &Current::default(),
            "user",
            false,
        )
        .unwrap_err();
        assert!(
            e.starts_with("roles.support.permissions: ") && e.contains("users:Read"),
            "{e}"
        );
        let unknown = FILE.replace("time_zone", "timezone");
        let e = parse_file("f.toml", &unknown).unwrap_err();
        assert!(
            e.starts_with("f.toml: policies.office-hours.conditions.timezone: unknown field")
                && e.contains("timezone"),
            "{e}"
        );
        let e = parse_file("f.toml", "[roles.x]\npermissions = [\"a:b\"]\n[oops]\n").unwrap_err();
        assert!(e.contains("oops"), "{e}");
        let e = parse_file("f.toml", "[roles.x\n").unwrap_err();
        assert!(e.starts_with("f.toml:1: "), "{e}");
    }

    #[test]
    fn prune_spares_builtin_and_default_roles_and_refuses_held_ones() {
        let current = Current {
            roles: ["admin", "moderator", "user", "guest", "staff", "old"]
                .iter()
                .map(|r| role(r, &["items:read"]))
                .collect(),
            ..Current::default()
        };
        let changes = plan(&Desired::default(), &current, "staff", true).unwrap();
        assert_eq!(lines(&changes), ["- role old"]);
        let held = Current {
            role_holders: HashMap::from([("old".to_owned(), 2)]),
            ..current
        };
        let e = plan(&Desired::default(), &held, "staff", true).unwrap_err();
        assert!(e.contains("role old held by 2 user(s)"), "{e}");
    }

    #[test]
    fn the_admin_role_keeps_everything() {
        let desired =
            parse_file("f.toml", "[roles.admin]\npermissions = [\"items:read\"]\n").unwrap();
        let e = plan(&desired, &Current::default(), "user", false).unwrap_err();
        assert_eq!(
            e,
            r#"roles.admin.permissions: the admin role must keep "*""#
        );
    }
}
