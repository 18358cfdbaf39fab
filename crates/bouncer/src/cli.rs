//! The operator's command line. Every command works on the database directly, with or without a
//! running server, through the same domain code the HTTP API uses.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use bouncer_core::authz::Actor;
use bouncer_core::clock::SystemClock;
use bouncer_core::model::PageRequest;
use bouncer_core::service::{AdminUserPatch, Bouncer, NewUser};
use clap::{Args, Parser, Subcommand};

use crate::app::{self, AppError};
use crate::config::{Config, DEFAULT_TOML};

#[derive(Debug, Parser)]
#[command(
    name = "bouncer",
    version,
    about = "Identity and access for HTTP APIs: one binary, secure by default."
)]
pub struct Cli {
    /// TOML configuration file (see `bouncer config default`).
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document the server serves at /openapi.json with this configuration.
    Openapi,
    /// Write a consistent copy of the SQLite database to FILE while the server runs.
    ///
    /// FILE must not exist; it is created readable by its owner only. Restore by stopping the
    /// server and putting the copy in place of the database file (removing its -wal and -shm
    /// files). On PostgreSQL, use pg_dump.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
    },
    /// Print or check configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage roles and who holds them.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage machine clients (client credentials, introspection).
    #[command(subcommand)]
    Client(ClientCommand),
    /// List or rotate the token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users' API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Manage conditional policies on permissions.
    #[command(subcommand)]
    Policy(crate::cli_policy::PolicyCommand),
    /// Ask what the authorizer decides, and why.
    #[command(subcommand)]
    Authz(crate::cli_policy::AuthzCommand),
    /// Make roles, policies and clients match a TOML file (config as code).
    Apply(crate::apply::ApplyArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete, commented configuration file with every default.
    Default,
    /// Validate the configuration (file from --config or FILE, plus environment) and exit.
    Check {
        /// The file to check (same as --config).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password from standard input (one line) instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is prompted for, or read from stdin with --password-stdin.
    Add {
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: Option<String>,
        /// A role to grant (repeatable; default: auth.default_role, normally user).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users.
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Disable a user: every credential stops working at once.
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
    /// Delete a user (and the items they own). The last enabled admin cannot be deleted.
    Delete { username: String },
    /// Set a user's password (prompted, or from stdin with --password-stdin).
    SetPassword {
        username: String,
        #[command(flatten)]
        password: PasswordSource,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List roles and their permissions.
    List,
    /// Give USERNAME the role ROLE.
    Grant { role: String, username: String },
    /// Take the role ROLE from USERNAME.
    Revoke { role: String, username: String },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create an API key for USERNAME; the key is printed once.
    Create {
        username: String,
        #[arg(long)]
        name: String,
        /// A permission the key may use (repeatable; default: everything the user holds).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// When it stops working (RFC 3339); default: never.
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// A network the key may be used from (repeatable; default: anywhere).
        #[arg(long = "client-ip", value_name = "CIDR")]
        client_ips: Vec<String>,
    },
    /// List USERNAME's keys (never the keys themselves).
    List { username: String },
    /// Revoke a key of USERNAME at once.
    Revoke { username: String, key_id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The keys in force: signing, next (published, signing after keys.publish_delay_s), and
    /// verifying (replaced; until their last token expires).
    List,
    /// Add a new signing key: published at once, signing after keys.publish_delay_s; every running
    /// instance picks it up.
    Rotate {
        /// Sign with the new key at once (emergencies: a leaked key). Verifiers that cached the
        /// JWKS may refuse the first tokens until they refetch it.
        #[arg(long)]
        now: bool,
        /// With --now: the replaced keys stop verifying at once, so every token they signed is
        /// refused (a leaked key). Clients holding a refresh token get new access tokens with it;
        /// others sign in again.
        #[arg(long, requires = "now")]
        retire_old: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; its secret is printed once.
    Add {
        name: String,
        /// A scope the client may hold (repeatable), e.g. items:read or tokens:introspect.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Allow the password grant (trust this client with users' passwords).
        #[arg(long)]
        first_party: bool,
    },
    /// List clients (never their secrets).
    List,
    /// Delete a client; its tokens stop working at once.
    Remove { client_id: String },
}

fn read_password(src: &PasswordSource) -> Result<String, AppError> {
    let io = |e: std::io::Error| AppError::Io(format!("cannot read the password: {e}"));
    if src.password_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(io)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ").map_err(io)?;
    let again = rpassword::prompt_password("Repeat password: ").map_err(io)?;
    if first != again {
        return Err(AppError::Io("the passwords do not match".into()));
    }
    Ok(first)
}

async fn domain(config: &Config) -> Result<Arc<Bouncer>, AppError> {
    app::build(config, Arc::new(SystemClock)).await
}

fn print_user(u: &bouncer_core::model::User) {
    println!(
        "{}\t{}\t{}\t{}\t{}",
        u.id,
        u.username,
        u.email,
        if u.disabled { "disabled" } else { "enabled" },
        u.roles.join(",")
    );
}

/// Runs one command. Returns the process exit status.
pub async fn run(cli: Cli, config: Config) -> Result<(), AppError> {
    match cli.command {
        Command::Serve => app::serve(config).await,
        Command::Migrate => {
            app::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            // No database needed: the document depends only on the configuration.
            let opts = bouncer_http::spec::SpecOptions {
                metrics: crate::metrics::on_api(&config),
                ..bouncer_http::spec::SpecOptions::from_settings(&config.settings().auth)
            };
            let spec = bouncer_http::openapi(&opts);
            println!(
                "{}",
                serde_json::to_string_pretty(&spec).map_err(|e| AppError::Io(e.to_string()))?
            );
            Ok(())
        }
        Command::Backup { file } => {
            if let Some(db) = bouncer_store::sqlite_file(&config.database.url)
                && !db.is_file()
            {
                return Err(AppError::Io(format!(
                    "no database at {}: check database.url",
                    db.display()
                )));
            }
            let store =
                bouncer_store::SqlStore::connect_with(&config.database.url, config.pool_settings())
                    .await?;
            store.backup(&file).await?;
            store.close().await;
            println!("backup written to {}", file.display());
            Ok(())
        }
        Command::Policy(cmd) => crate::cli_policy::policy(&*domain(&config).await?, cmd).await,
        Command::Authz(cmd) => {
            let b = domain(&config)
                .await
                .map_err(|e| AppError::Exit(crate::cli_policy::BAD_INPUT, e.to_string()))?;
            crate::cli_policy::authz(&b, cmd).await
        }
        Command::Apply(args) => crate::apply::run(&*domain(&config).await?, args).await,
        Command::Config(ConfigCommand::Default) => {
            print!("{DEFAULT_TOML}");
            Ok(())
        }
        Command::Config(ConfigCommand::Check { .. }) => {
            println!("configuration is valid");
            Ok(())
        }
        Command::User(cmd) => {
            let b = domain(&config).await?;
            match cmd {
                UserCommand::Add {
                    username,
                    email,
                    full_name,
                    roles,
                    password,
                } => {
                    let password = read_password(&password)?;
                    let roles = if roles.is_empty() {
                        vec![b.settings.auth.default_role.clone()]
                    } else {
                        roles
                    };
                    let u = b
                        .create_user(NewUser {
                            username,
                            email,
                            password,
                            full_name,
                            roles,
                        })
                        .await?;
                    print_user(&u);
                }
                UserCommand::List { limit, offset } => {
                    let page = b
                        .list_users(PageRequest::new(Some(limit), Some(offset))?)
                        .await?;
                    for u in &page.items {
                        print_user(u);
                    }
                    eprintln!("{} of {} users", page.items.len(), page.total);
                }
                UserCommand::Disable { username } => set_disabled(&b, &username, true).await?,
                UserCommand::Enable { username } => set_disabled(&b, &username, false).await?,
                UserCommand::Delete { username } => {
                    let u = b.user_by_username(&username).await?;
                    b.delete_user(Actor::Operator, u.id).await?;
                    println!("deleted {}", u.username);
                }
                UserCommand::SetPassword { username, password } => {
                    let u = b.user_by_username(&username).await?;
                    let password = read_password(&password)?;
                    b.update_user(
                        Actor::Operator,
                        u.id,
                        AdminUserPatch {
                            password: Some(password),
                            ..Default::default()
                        },
                    )
                    .await?;
                    println!("password changed for {}", u.username);
                }
            }
            Ok(())
        }
        Command::Apikey(cmd) => {
            let b = domain(&config).await?;
            match cmd {
                ApikeyCommand::Create {
                    username,
                    name,
                    scopes,
                    expires_at,
                    client_ips,
                } => {
                    let u = b.user_by_username(&username).await?;
                    let expires_at = expires_at
                        .map(|t| {
                            bouncer_core::clock::parse_rfc3339(&t).ok_or_else(|| {
                                bouncer_core::Error::validation(
                                    "expires_at",
                                    "must be an RFC 3339 time",
                                )
                            })
                        })
                        .transpose()?;
                    let (k, key) = b
                        .create_api_key(
                            Actor::Operator,
                            u.id,
                            bouncer_core::service::NewApiKey {
                                name,
                                scopes: (!scopes.is_empty()).then_some(scopes),
                                expires_at,
                                client_ips,
                            },
                        )
                        .await?;
                    println!("id:  {}", k.id);
                    println!("key: {key}");
                    eprintln!("The key is shown only this once.");
                }
                ApikeyCommand::List { username } => {
                    let u = b.user_by_username(&username).await?;
                    for k in b.list_api_keys(Actor::Operator, u.id).await? {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            k.id,
                            k.prefix,
                            k.name,
                            k.scopes.join(" "),
                            k.expires_at
                                .map_or(String::from("never"), bouncer_core::clock::rfc3339)
                        );
                    }
                }
                ApikeyCommand::Revoke { username, key_id } => {
                    let u = b.user_by_username(&username).await?;
                    let id = uuid::Uuid::parse_str(&key_id)
                        .map_err(|_| bouncer_core::Error::NotFound("api key"))?;
                    b.revoke_api_key(Actor::Operator, u.id, id).await?;
                    println!("revoked {key_id}");
                }
            }
            Ok(())
        }
        Command::Keys(cmd) => {
            let b = domain(&config).await?;
            match cmd {
                KeysCommand::List => {
                    for k in b.list_keys().await? {
                        println!(
                            "{}\t{}\t{}\t{}\tsigns from {}\t{}",
                            k.kid,
                            k.alg,
                            k.generation,
                            k.state,
                            bouncer_core::clock::rfc3339(k.activates_at),
                            k.retires_at.map_or(String::from("-"), |r| format!(
                                "retires {}",
                                bouncer_core::clock::rfc3339(r)
                            )),
                        );
                    }
                }
                KeysCommand::Rotate { now, retire_old } => {
                    let kid = b.rotate_keys_with(now, retire_old).await?;
                    println!("new signing key {kid}");
                    if !now {
                        eprintln!(
                            "Published now; it signs after {} s (keys.publish_delay_s).",
                            config.keys.publish_delay_s
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Client(cmd) => {
            let b = domain(&config).await?;
            match cmd {
                ClientCommand::Add {
                    name,
                    scopes,
                    first_party,
                } => {
                    let (c, secret) = b
                        .create_client(
                            Actor::Operator,
                            bouncer_core::service::NewClient {
                                name,
                                scopes,
                                first_party,
                            },
                        )
                        .await?;
                    println!("client_id:     {}", c.id);
                    println!("client_secret: {secret}");
                    eprintln!("The secret is shown only this once.");
                }
                ClientCommand::List => {
                    for c in b.list_clients().await? {
                        println!(
                            "{}\t{}\t{}\t{}",
                            c.id,
                            c.name,
                            if c.first_party { "first-party" } else { "-" },
                            c.scopes.join(" ")
                        );
                    }
                }
                ClientCommand::Remove { client_id } => {
                    b.delete_client(Actor::Operator, &client_id).await?;
                    println!("removed {client_id}");
                }
            }
            Ok(())
        }
        Command::Role(cmd) => {
            let b = domain(&config).await?;
            match cmd {
                RoleCommand::List => {
                    for r in b.list_roles().await? {
                        println!("{}\t{}", r.name, r.permissions.join(" "));
                    }
                }
                RoleCommand::Grant { role, username } => {
                    let u = b.set_user_role(&username, &role, true).await?;
                    print_user(&u);
                }
                RoleCommand::Revoke { role, username } => {
                    let u = b.set_user_role(&username, &role, false).await?;
                    print_user(&u);
                }
            }
            Ok(())
        }
    }
}

async fn set_disabled(b: &Bouncer, username: &str, disabled: bool) -> Result<(), AppError> {
    let u = b.user_by_username(username).await?;
    let u = b
        .update_user(
            Actor::Operator,
            u.id,
            AdminUserPatch {
                disabled: Some(disabled),
                ..Default::default()
            },
        )
        .await?;
    print_user(&u);
    Ok(())
}
