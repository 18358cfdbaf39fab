//! The zero-config first start: `./bouncer-data` created (mode 0700) with the database, an admin
//! password generated and printed once, nothing else written to the working directory.

use std::os::unix::fs::PermissionsExt;

use reqwest::Client;
use serde_json::{Value, json};

use super::BinServer;
use crate::cli::FAST_ARGON2;
use crate::support::ADMIN;

/// The indented line after "with password:" in the first-start banner.
fn generated_password(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().skip_while(|l| !l.contains("with password:"));
    lines.next()?;
    let line = lines.find(|l| !l.trim().is_empty())?;
    line.starts_with(char::is_whitespace)
        .then(|| line.trim().to_owned())
}

#[tokio::test]
async fn zero_config_first_start_creates_the_data_dir_and_prints_an_admin_password_once() {
    let dir = tempfile::tempdir().unwrap();
    // No database URL, no admin password, no config file: only a port (and cheap Argon2).
    let env: Vec<(String, String)> = FAST_ARGON2
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let server = BinServer::start(dir.path(), &env, "first").await;

    let data = dir.path().join("bouncer-data");
    let meta = std::fs::metadata(&data).expect("./bouncer-data created");
    assert!(meta.is_dir());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o700,
        "bouncer-data holds secrets"
    );
    assert!(data.join("bouncer.db").is_file(), "bouncer-data/bouncer.db");

    let stderr = server.stderr();
    let password = generated_password(&stderr)
        .unwrap_or_else(|| panic!("no generated password on stderr:\n{stderr}"));
    assert!(password.len() >= 16, "{password:?}");
    assert!(!password.contains(char::is_whitespace));

    let client = Client::new();
    let me = client
        .get(server.at("/users/me"))
        .basic_auth(ADMIN, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], ADMIN);
    assert_eq!(me["roles"], json!(["admin"]));
    let wrong = client
        .get(server.at("/users/me"))
        .basic_auth(ADMIN, Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    server.kill9();

    // Second start on the same directory: no new password, the first one still works.
    let server = BinServer::start(dir.path(), &env, "second").await;
    let stderr = server.stderr();
    assert!(
        !stderr.contains("with password") && !stderr.contains(&password),
        "second start printed a password:\n{stderr}"
    );
    let me = client
        .get(server.at("/users/me"))
        .basic_auth(ADMIN, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".stdout") && !n.ends_with(".stderr"))
        .collect();
    assert_eq!(entries, ["bouncer-data"], "nothing else written to the cwd");
}
