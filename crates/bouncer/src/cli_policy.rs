//! `bouncer policy` and `bouncer authz explain`: conditional policies and what the authorizer
//! decides, from the command line, as the operator.

use std::io::Read as _;
use std::net::IpAddr;
use std::path::Path;

use bouncer_core::authz::{Actor, Decision};
use bouncer_core::policy::PolicyDocument;
use bouncer_core::service::{Bouncer, ExplainRequest};
use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::app::AppError;

/// Exit status for input the command cannot use (a bad document, an unknown user, a bad time).
pub const BAD_INPUT: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List policies: name, effect, permissions.
    List,
    /// Print a policy's document as JSON.
    Show { name: String },
    /// Create or replace a policy from a JSON document (a file, or `-` for standard input).
    ///
    /// A bad document exits with status 2 and one line naming the field.
    Set {
        name: String,
        #[arg(value_name = "FILE_OR_-")]
        file: String,
    },
    /// Delete a policy.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum AuthzCommand {
    /// What the authorizer decides for a user and a permission, and every step of it.
    ///
    /// Exit status: 0 allowed, 1 denied, 2 bad input. The user is taken as holding an unnarrowed
    /// token whose login is at --at.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The user (username or id).
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// The permission asked about, e.g. items:read.
    #[arg(long, value_name = "PERMISSION")]
    pub permission: String,
    /// When (RFC 3339, e.g. 2026-03-02T10:00:00+01:00); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// The client address the request comes from; default: unknown.
    #[arg(long, value_name = "IP")]
    pub client_ip: Option<IpAddr>,
    /// The owner of the resource (a user id), for permissions an owner needs less for.
    #[arg(long, value_name = "UUID")]
    pub resource_owner: Option<Uuid>,
}

fn bad_input(message: impl Into<String>) -> AppError {
    AppError::Exit(BAD_INPUT, message.into())
}

/// Validation errors are bad input (status 2); anything else stays what it was.
fn input_error(e: bouncer_core::Error) -> AppError {
    match e {
        bouncer_core::Error::Validation { .. } => bad_input(e.to_string()),
        other => AppError::Core(other),
    }
}

/// The text of FILE, or of standard input for `-`.
pub fn read_input(file: &str) -> Result<String, AppError> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut text).map(drop)
    } else {
        std::fs::read_to_string(Path::new(file)).map(|t| text = t)
    };
    read.map_err(|e| AppError::Io(format!("cannot read {file}: {e}")))?;
    Ok(text)
}

/// A policy document from JSON; an error names the field path (`conditions.time_windows[0]`),
/// whether the value is unknown, of the wrong type or missing.
pub fn parse_document(text: &str) -> Result<PolicyDocument, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: PolicyDocument = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    de.end().map_err(|e| e.to_string())?;
    Ok(doc)
}

pub async fn policy(b: &Bouncer, cmd: PolicyCommand) -> Result<(), AppError> {
    match cmd {
        PolicyCommand::List => {
            for p in b.list_policies().await? {
                println!(
                    "{}\t{}\t{}",
                    p.name,
                    p.document.effect.as_str(),
                    p.document.permissions.join(" ")
                );
            }
        }
        PolicyCommand::Show { name } => {
            let p = b.policy(&name).await?;
            let json = serde_json::to_string_pretty(&p.document)
                .map_err(|e| AppError::Io(e.to_string()))?;
            println!("{json}");
        }
        PolicyCommand::Set { name, file } => {
            let text = read_input(&file)?;
            let doc = parse_document(&text).map_err(bad_input)?;
            let (p, created) = b
                .put_policy(Actor::Operator, &name, doc)
                .await
                .map_err(input_error)?;
            println!(
                "{} policy {}",
                if created { "created" } else { "updated" },
                p.name
            );
        }
        PolicyCommand::Delete { name } => {
            b.delete_policy(Actor::Operator, &name).await?;
            println!("deleted policy {name}");
        }
    }
    Ok(())
}

/// The decision as `authz explain` prints it.
pub fn render(d: &Decision) -> String {
    let mut out = format!(
        "allowed: {}\ncode: {}\npolicy: {}\n",
        d.allowed,
        if d.code.is_empty() { "-" } else { d.code },
        d.policy.as_deref().unwrap_or("-")
    );
    for step in &d.steps {
        out.push_str(&step.to_string());
        out.push('\n');
    }
    out
}

/// Every failure is status 2, so 1 means exactly "denied".
pub async fn authz(b: &Bouncer, cmd: AuthzCommand) -> Result<(), AppError> {
    let AuthzCommand::Explain(args) = cmd;
    let at = args
        .at
        .as_deref()
        .map(|t| {
            bouncer_core::clock::parse_rfc3339(t).ok_or_else(|| {
                bad_input(format!(
                    "--at: {t:?} is not an RFC 3339 time (such as 2026-03-02T10:00:00Z)"
                ))
            })
        })
        .transpose()?;
    let user = args.user.clone();
    let decision = b
        .explain(
            None,
            ExplainRequest {
                subject: Some(args.user),
                permission: args.permission,
                resource_owner: args.resource_owner,
                at,
                client_ip: args.client_ip,
            },
        )
        .await
        .map_err(|e| match e {
            bouncer_core::Error::Validation { field, message } => {
                let flag = if field == "subject" { "user" } else { &field };
                bad_input(format!("--{flag}: {message}"))
            }
            bouncer_core::Error::NotFound(_) => bad_input(format!(
                "--user: no user {user:?} (give an id or a username)"
            )),
            other => bad_input(other.to_string()),
        })?;
    print!("{}", render(&decision));
    if decision.allowed {
        Ok(())
    } else {
        Err(AppError::Exit(1, String::new()))
    }
}
