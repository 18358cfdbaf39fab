//! How the binary starts and what it writes: configuration errors named once with exit status 2,
//! and logs without colour codes when they do not go to a terminal.

/// A log written to a file (not a terminal) holds no ANSI colour codes.
#[tokio::test]
async fn a_redirected_log_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/b.db", dir.path().display());
    let mut env = crate::durability::server_env(&db);
    env.push(("RUST_LOG".to_owned(), "info".to_owned()));
    // stderr goes to a file: not a terminal.
    let server = crate::durability::BinServer::start(dir.path(), &env, "colour").await;
    let text = server.stop();
    assert!(text.contains("listening"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in a redirected log: {text:?}"
    );
}

/// An unknown key is named once (`server.bogus`, not `server.bogus.bogus`), and a first admin's
/// password that the password rules refuse stops start-up as the configuration error it is (2).
#[test]
fn unknown_keys_are_named_once_and_a_weak_admin_password_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nbogus = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("server.bogus: unknown key") && !err.contains("bogus.bogus"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .arg("serve")
        .current_dir(dir.path())
        .env(
            "BOUNCER_LISTEN",
            format!("127.0.0.1:{}", crate::support::free_port()),
        )
        .env("BOUNCER_ADMIN_PASSWORD", "aaaaaaaaaaaa")
        .env("BOUNCER_PASSWORDS__ARGON2_MEMORY_KIB", "1024")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("admin.password") && !err.contains("aaaaaaaaaaaa"),
        "{err}"
    );
}
