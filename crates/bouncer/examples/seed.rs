//! A large database for the scale benchmark (`scripts/bench-scale.sh`), written directly through
//! the store's bulk inserts (`bouncer_store::seed`), and the credentials to load it with.
//!
//! The database and the token settings come from the same configuration as `bouncer serve`
//! (`BOUNCER_DATABASE_URL`, `BOUNCER_LISTEN`, `--config FILE`...).
//!
//!   seed populate --users 1000000 --keys 100000   users user0000000... (role `user`), one
//!                                                  `bench-admin` (role `admin`), and key i owned
//!                                                  by user i
//!   seed keys --from 0 --count 1000               the plaintext keys again, one per line
//!   seed tokens --from 0 --count 1000             access tokens for users from..from+count
//!
//! Every user has the same password (`--password`, default [`PASSWORD`]) behind one Argon2id hash
//! computed once with the configured parameters: a login costs a full Argon2id verification, but
//! seeding does not hash a million times (that would take days on two cores and measure nothing
//! about the database). Names, ids and keys are derived from the index, so the benchmark makes
//! them again instead of storing them.
//!
//! `tokens` signs with the server's own signing key (read from the database, opened with the
//! configured key-encryption key) through the same `TokenService::issue` as the password grant,
//! with the claims that grant gives when no scope is asked: `scope` `*`, the user's roles and
//! permissions, `gen` 1, client `swagger`. It leaves out `sid` (no refresh-token family is
//! created; the server checks a `sid` only against its in-memory revoked set) and costs no
//! Argon2id per token: how a benchmark gets bearer tokens for thousands of distinct users. The
//! server must have started once on the database (it creates the key).

use std::path::PathBuf;
use std::time::Instant;

use bouncer::config::Config;
use bouncer_core::keys::KeyVault;
use bouncer_core::model::{ApiKey, ROLE_ADMIN, User};
use bouncer_core::password::PasswordHasher;
use bouncer_core::permission::PermissionSet;
use bouncer_core::secret::digest;
use bouncer_core::store::Store;
use bouncer_core::token::{Claims, TokenService};
use bouncer_store::SqlStore;
use bouncer_store::seed::derived_api_key;
use clap::{Parser, Subcommand};
use uuid::Uuid;

/// The seeded users' password.
const PASSWORD: &str = "bench-Quokka-Lantern-42";
/// Seeded rows are created at `BASE_MS + index` (2025-01-01T00:00:00Z onwards): ids are UUIDv7
/// of that time, so they follow the index.
const BASE_MS: i64 = 1_735_689_600_000;
/// Users per transaction.
const BATCH: u64 = 20_000;

#[derive(Parser)]
struct Cli {
    /// Configuration file, as for `bouncer --config`.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed an empty database (it is migrated first).
    Populate {
        #[arg(long)]
        users: u64,
        #[arg(long, default_value_t = 0)]
        keys: u64,
        #[arg(long, default_value = "bench")]
        key_seed: String,
        #[arg(long, default_value = PASSWORD)]
        password: String,
    },
    /// Print the plaintext API keys `from..from+count`.
    Keys {
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value = "bench")]
        key_seed: String,
    },
    /// Print `count` `GET /users` cursors spread evenly over the first `users` seeded users (the
    /// position after user `i`: its creation time and id), for paging at every depth.
    Cursors {
        #[arg(long)]
        users: u64,
        #[arg(long)]
        count: u64,
    },
    /// Print access tokens for the users `from..from+count`.
    Tokens {
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        count: u64,
    },
}

fn username(i: u64) -> String {
    format!("user{i:07}")
}

/// A UUIDv7 at `ms` whose random part is `tag` and `i`: the same every time.
fn id_at(ms: i64, tag: u8, i: u64) -> Uuid {
    let mut bytes = [0u8; 10];
    bytes[3] = tag;
    bytes[4..].copy_from_slice(&i.to_be_bytes()[2..]);
    uuid::Builder::from_unix_timestamp_millis(ms as u64, &bytes).into_uuid()
}

fn user_id(i: u64) -> Uuid {
    id_at(BASE_MS + i as i64, 0, i)
}

fn seeded_user(i: u64, hash: &str, role: &str) -> User {
    let at = BASE_MS + i as i64;
    User {
        id: user_id(i),
        username: username(i),
        email: format!("{}@bench.example", username(i)),
        full_name: Some(format!("Bench User {i}")),
        disabled: false,
        roles: vec![role.to_owned()],
        permissions: Vec::new(),
        password_hash: hash.to_owned(),
        password_changed_at: at,
        credential_gen: 1,
        created_at: at,
        updated_at: at,
    }
}

fn seeded_key(i: u64, key_seed: &str) -> ApiKey {
    let key = derived_api_key(key_seed, i);
    ApiKey {
        id: id_at(BASE_MS + i as i64, 1, i),
        user_id: user_id(i),
        name: format!("bench key {i}"),
        key_hash: digest(&key),
        prefix: key[..8].to_owned(),
        scopes: vec!["*".into()],
        client_ips: Vec::new(),
        created_at: BASE_MS + i as i64,
        last_used_at: None,
        expires_at: None,
    }
}

type Failure = Box<dyn std::error::Error>;

async fn populate(
    config: &Config,
    users: u64,
    keys: u64,
    key_seed: &str,
    password: &str,
) -> Result<(), Failure> {
    if keys > users {
        return Err("--keys must not exceed --users (key i belongs to user i)".into());
    }
    let settings = config.settings();
    let store = bouncer::app::open_store(config).await?;
    if store.count_users().await? > 0 {
        return Err("the database already has users; seed an empty one".into());
    }
    let started = Instant::now();
    let hasher = PasswordHasher::new(&settings.passwords)?;
    let hash = hasher.hash(password).await?;
    eprintln!(
        "one Argon2id hash (m={} KiB, t={}, p={}) for every user: {:.2} s",
        settings.passwords.argon2_m_kib,
        settings.passwords.argon2_t,
        settings.passwords.argon2_p,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut admin = seeded_user(0, &hash, ROLE_ADMIN);
    admin.id = id_at(BASE_MS - 1, 2, 0);
    admin.username = "bench-admin".into();
    admin.email = "bench-admin@bench.example".into();
    admin.full_name = Some("Bench Admin".into());
    admin.created_at = BASE_MS - 1;
    admin.updated_at = BASE_MS - 1;
    admin.password_changed_at = BASE_MS - 1;
    store.insert_users_bulk(&[admin]).await?;
    let role = &settings.auth.default_role;
    let mut done = 0;
    while done < users {
        let end = (done + BATCH).min(users);
        let batch: Vec<User> = (done..end).map(|i| seeded_user(i, &hash, role)).collect();
        store.insert_users_bulk(&batch).await?;
        done = end;
        if done.is_multiple_of(100_000) || done == users {
            eprintln!("users: {done} in {:.1} s", started.elapsed().as_secs_f64());
        }
    }
    let users_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut done = 0;
    while done < keys {
        let end = (done + BATCH).min(keys);
        let batch: Vec<ApiKey> = (done..end).map(|i| seeded_key(i, key_seed)).collect();
        store.insert_api_keys_bulk(&batch).await?;
        done = end;
    }
    let keys_s = started.elapsed().as_secs_f64();
    store.close().await;
    println!(
        "seeded {users} users in {users_s:.1} s ({:.0}/s), {keys} API keys in {keys_s:.1} s",
        users as f64 / users_s.max(1e-9)
    );
    Ok(())
}

async fn tokens(config: &Config, from: u64, count: u64) -> Result<(), Failure> {
    let settings = config.settings();
    let store = SqlStore::connect_with(&config.database.url, config.pool_settings()).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let keys = store.signing_keys(now).await?;
    if keys.is_empty() {
        return Err("no signing key yet: start the server once on this database".into());
    }
    let vault = KeyVault::new(settings.keys.encryption_key);
    let service = TokenService::new(settings.tokens.clone(), &vault.open_all(&keys)?)?;
    // What the password grant puts in an unnarrowed token of a user holding only the default role.
    let role = &settings.auth.default_role;
    let permissions = store
        .role(role)
        .await?
        .ok_or("the default role does not exist")?
        .permissions;
    let permissions = PermissionSet::parse(permissions.iter().map(String::as_str))?.to_strings();
    store.close().await;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in from..from + count {
        let claims = Claims {
            sub: user_id(i).to_string(),
            auth_time: now.div_euclid(1000),
            client_id: bouncer_core::service::SWAGGER_CLIENT.into(),
            username: username(i),
            scope: "*".into(),
            roles: vec![role.clone()],
            permissions: permissions.clone(),
            r#gen: 1,
            ..Default::default()
        };
        let (token, _) = service.issue(claims, now)?;
        std::io::Write::write_all(&mut out, format!("{token}\n").as_bytes())?;
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Populate {
            users,
            keys,
            key_seed,
            password,
        } => populate(&config, users, keys, &key_seed, &password).await,
        Command::Keys {
            from,
            count,
            key_seed,
        } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for i in from..from + count {
                std::io::Write::write_all(
                    &mut out,
                    format!("{}\n", derived_api_key(&key_seed, i)).as_bytes(),
                )?;
            }
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::Cursors { users, count } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for k in 0..count {
                let i = k * users / count.max(1);
                let line = format!("{}_{}\n", BASE_MS + i as i64, user_id(i));
                std::io::Write::write_all(&mut out, line.as_bytes())?;
            }
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::Tokens { from, count } => tokens(&config, from, count).await,
    }
}
