//! The operator's command line, users and roles: the user and role commands, and what a server on
//! the same database makes of their changes (at start, and at a running server's next read of the
//! change feed).

use serde_json::Value;

use super::Cli;

/// The line `user list` prints for `name`: id, username, email, enabled|disabled, roles.
fn user_line(list: &str, name: &str) -> Vec<String> {
    list.lines()
        .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.get(1).map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("{name} not in:\n{list}"))
}

const ALICE_PW: &str = "Alice-password-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_and_a_server_on_the_same_database() {
    let cli = Cli::new();
    cli.run(&["migrate"]).ok();

    let added = cli
        .run_stdin(
            &[
                "user",
                "add",
                "alice",
                "--email",
                "a@example.com",
                "--password-stdin",
            ],
            &format!("{ALICE_PW}\n"),
        )
        .ok();
    assert!(added.stdout.contains("alice"), "{added:#?}");

    let list = cli.run(&["user", "list"]).ok();
    let line = user_line(&list.stdout, "alice");
    assert_eq!(line[2], "a@example.com");
    assert_eq!(line[3], "enabled");
    assert_eq!(line[4], "user");

    // Duplicates: same name (any case) or same email (any case).
    for (name, email) in [
        ("alice", "other@example.com"),
        ("ALICE", "other@example.com"),
        ("alice2", "A@Example.com"),
    ] {
        let dup = cli
            .run_stdin(
                &["user", "add", name, "--email", email, "--password-stdin"],
                "Another-password-1\n",
            )
            .failed();
        let err = dup.stderr.to_lowercase();
        assert!(
            err.contains("already") || err.contains("taken") || err.contains("exists"),
            "duplicate {name} / {email}: {dup:#?}"
        );
    }
    // A bad password or username is refused with a message, not a crash.
    cli.run_stdin(
        &[
            "user",
            "add",
            "shorty",
            "--email",
            "s@example.com",
            "--password-stdin",
        ],
        "short\n",
    )
    .failed();
    cli.run_stdin(
        &[
            "user",
            "add",
            "no spaces",
            "--email",
            "n@example.com",
            "--password-stdin",
        ],
        "Long-enough-password-1\n",
    )
    .failed();
    let list = cli.run(&["user", "list"]).ok();
    assert_eq!(list.stdout.lines().count(), 1, "{list:#?}");

    // Disabled: a server on the same database refuses alice.
    let out = cli.run(&["user", "disable", "alice"]).ok();
    assert!(out.stdout.contains("disabled"), "{out:#?}");
    assert_eq!(
        user_line(&cli.run(&["user", "list"]).ok().stdout, "alice")[3],
        "disabled"
    );
    let app = cli.server().await;
    let r = app.token_response("alice", ALICE_PW, None).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    app.stop().await;

    // Enabled again: alice gets a token.
    cli.run(&["user", "enable", "alice"]).ok();
    let app = cli.server().await;
    let token = app.token("alice", ALICE_PW).await;
    assert_eq!(app.get_bearer("/users/me", &token).await.status(), 200);
    app.stop().await;

    // New password: the new one works, the old one does not.
    let new_pw = "Alice-new-password-2";
    let out = cli
        .run_stdin(
            &["user", "set-password", "alice", "--password-stdin"],
            &format!("{new_pw}\n"),
        )
        .ok();
    assert!(out.stdout.contains("alice"), "{out:#?}");
    let app = cli.server().await;
    assert_eq!(
        app.token_response("alice", ALICE_PW, None).await.status(),
        400
    );
    let token = app.token("alice", new_pw).await;
    let me = app.get_bearer("/users/me", &token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "alice");
    app.stop().await;

    // A too-short new password is refused; the current one stays.
    cli.run_stdin(
        &["user", "set-password", "alice", "--password-stdin"],
        "short\n",
    )
    .failed();
    // Commands naming a user that does not exist fail cleanly.
    for args in [
        &["user", "disable", "nobody"][..],
        &["user", "enable", "nobody"],
        &["role", "grant", "moderator", "nobody"],
    ] {
        cli.run(args).failed();
    }
    cli.run_stdin(
        &["user", "set-password", "nobody", "--password-stdin"],
        "Whatever-password-1\n",
    )
    .failed();

    // Deleted: gone from the list, refused by a server, and a second delete fails cleanly.
    let out = cli.run(&["user", "delete", "alice"]).ok();
    assert!(out.stdout.contains("deleted alice"), "{out:#?}");
    assert!(!cli.run(&["user", "list"]).ok().stdout.contains("alice"));
    let app = cli.server().await;
    assert_eq!(
        app.token_response("alice", new_pw, None).await.status(),
        400
    );
    app.stop().await;
    cli.run(&["user", "delete", "alice"]).failed();
}

#[test]
fn role_commands() {
    let cli = Cli::new();
    let roles = cli.run(&["role", "list"]).ok();
    let lines: Vec<&str> = roles.stdout.lines().collect();
    for want in [
        "admin\t*",
        "moderator\titems:* users:read",
        "user\titems:read items:write",
        "guest\titems:read",
    ] {
        assert!(lines.contains(&want), "{want:?} in {lines:?}");
    }
    assert_eq!(lines.len(), 4, "{lines:?}");

    cli.add_user("alice", ALICE_PW, &[]).ok();
    let out = cli.run(&["role", "grant", "moderator", "alice"]).ok();
    assert!(out.stdout.contains("moderator,user"), "{out:#?}");
    assert_eq!(
        user_line(&cli.run(&["user", "list"]).ok().stdout, "alice")[4],
        "moderator,user"
    );
    let out = cli.run(&["role", "revoke", "moderator", "alice"]).ok();
    assert_eq!(user_line(&out.stdout, "alice")[4], "user");

    // A role that does not exist cannot be granted.
    cli.run(&["role", "grant", "no-such-role", "alice"])
        .failed();
    assert_eq!(
        user_line(&cli.run(&["user", "list"]).ok().stdout, "alice")[4],
        "user"
    );

    // The only admin keeps the admin role and stays enabled.
    cli.add_user("root", "Root-password-1", &["--role", "admin"])
        .ok();
    for args in [
        &["role", "revoke", "admin", "root"][..],
        &["user", "disable", "root"],
        &["user", "delete", "root"],
    ] {
        let out = cli.run(args).failed();
        assert!(
            out.stderr.to_lowercase().contains("last"),
            "`bouncer {}`: {out:#?}",
            args.join(" ")
        );
    }
    let root = user_line(&cli.run(&["user", "list"]).ok().stdout, "root");
    assert_eq!((root[3].as_str(), root[4].as_str()), ("enabled", "admin"));

    // With a second admin it can go.
    cli.run(&["role", "grant", "admin", "alice"]).ok();
    cli.run(&["role", "revoke", "admin", "root"]).ok();
    assert_eq!(
        user_line(&cli.run(&["user", "list"]).ok().stdout, "root")[4],
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_applies_cli_changes_at_its_next_read_of_the_change_feed() {
    let cli = Cli::new();
    cli.add_user("alice", ALICE_PW, &[]).ok();
    let app = cli.server().await;
    // What the server's poller does every `auth.revision_poll_ms` (1 s by default): one read of
    // the change feed. Each change below must be in force after exactly one such read, whatever
    // the wall clock says (the poller may of course have read it first).
    let next_read = || async { app.bouncer.apply_changes().await.expect("read the feed") };
    let token = app.token("alice", ALICE_PW).await;
    assert_eq!(app.get_bearer("/users/me", &token).await.status(), 200);
    // Basic too, so the verified-credential cache holds alice.
    let basic = |pw: &'static str| {
        app.client
            .get(app.at("/users/me"))
            .basic_auth("alice", Some(pw))
            .send()
    };
    assert_eq!(basic(ALICE_PW).await.unwrap().status(), 200);

    // Disabled by another process: the running server refuses the existing token.
    tokio::task::block_in_place(|| cli.run(&["user", "disable", "alice"]).ok());
    next_read().await;
    assert_eq!(app.get_bearer("/users/me", &token).await.status(), 401);
    assert_eq!(basic(ALICE_PW).await.unwrap().status(), 401);

    // Enabled again, then a new password set by the CLI: the cached Basic credential stops working.
    tokio::task::block_in_place(|| cli.run(&["user", "enable", "alice"]).ok());
    next_read().await;
    assert_eq!(basic(ALICE_PW).await.unwrap().status(), 200);
    let new_pw = "Alice-new-password-2";
    tokio::task::block_in_place(|| {
        cli.run_stdin(
            &["user", "set-password", "alice", "--password-stdin"],
            &format!("{new_pw}\n"),
        )
        .ok()
    });
    next_read().await;
    assert_eq!(basic(ALICE_PW).await.unwrap().status(), 401);
    assert_eq!(basic(new_pw).await.unwrap().status(), 200);
    // The CLI stamped the password change with the real clock, and tokens issued before a password
    // change are refused; this server's clock stands still at its start, so move it past the change.
    app.clock.advance_s(60);

    // A role granted by the CLI reaches the running server: a new token of alice's carries
    // users:read (moderator) and may list users.
    let token = app.token("alice", new_pw).await;
    assert_eq!(app.get_bearer("/users", &token).await.status(), 403);
    tokio::task::block_in_place(|| cli.run(&["role", "grant", "moderator", "alice"]).ok());
    next_read().await;
    let fresh = app.token("alice", new_pw).await;
    assert_eq!(app.get_bearer("/users", &fresh).await.status(), 200);
    // And revoked again: even that new token loses users:read (scope ∩ current permissions).
    tokio::task::block_in_place(|| cli.run(&["role", "revoke", "moderator", "alice"]).ok());
    next_read().await;
    assert_eq!(app.get_bearer("/users", &fresh).await.status(), 403);
    app.stop().await;
}
