//! The operator's command line, run as the real binary against a SQLite file in a tempdir (no
//! server), and what a server on the same database makes of its changes.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Db, TestApp};

/// The real binary, run in `cwd`, with none of the caller's `BOUNCER_*` variables.
pub(crate) fn bouncer_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bouncer"));
    cmd.current_dir(cwd);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("BOUNCER_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_LOG");
    // A panic would print a backtrace: the checks below look for it.
    cmd.env("RUST_BACKTRACE", "1");
    cmd
}

/// Cheap Argon2 for commands and servers whose hashing speed is not under test.
pub(crate) const FAST_ARGON2: [(&str, &str); 2] = [
    ("BOUNCER_PASSWORDS__ARGON2_MEMORY_KIB", "1024"),
    ("BOUNCER_PASSWORDS__ARGON2_ITERATIONS", "1"),
];

/// What a finished command left behind.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Out {
    pub(crate) fn ok(self) -> Self {
        assert!(self.status.success(), "expected success: {self:#?}");
        self
    }
    pub(crate) fn failed(self) -> Self {
        assert!(!self.status.success(), "expected a failure: {self:#?}");
        self
    }
    fn code(&self) -> Option<i32> {
        self.status.code()
    }
    /// The non-empty lines of stderr.
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// A tempdir holding a SQLite database, and the binary pointed at it.
pub(crate) struct Cli {
    dir: tempfile::TempDir,
    pub(crate) url: String,
    runs: std::cell::Cell<u32>,
}

impl Cli {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/cli.db", dir.path().display());
        Cli {
            dir,
            url,
            runs: std::cell::Cell::new(0),
        }
    }

    pub(crate) fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, None, &[])
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        self.run_with(args, Some(stdin), &[])
    }

    /// Runs `bouncer ARGS` with the database URL and cheap Argon2 in the environment (plus `env`),
    /// stdout and stderr to files (no pipe to fill up), bounded at 60 s.
    pub(crate) fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
        let n = self.runs.get();
        self.runs.set(n + 1);
        let out_path = self.dir.path().join(format!("run{n}.stdout"));
        let err_path = self.dir.path().join(format!("run{n}.stderr"));
        let mut cmd = bouncer_command(self.dir.path());
        cmd.args(args)
            .env("BOUNCER_DATABASE_URL", &self.url)
            .envs(FAST_ARGON2)
            .envs(env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(File::create(&out_path).unwrap())
            .stderr(File::create(&err_path).unwrap());
        let mut child = cmd.spawn().expect("spawn bouncer");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`bouncer {}` still running after 60 s", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = Out {
            status,
            stdout: std::fs::read_to_string(&out_path).unwrap(),
            stderr: std::fs::read_to_string(&err_path).unwrap(),
        };
        let lower = out.stderr.to_lowercase();
        assert!(
            !lower.contains("panicked") && !lower.contains("backtrace"),
            "`bouncer {}` panicked: {out:#?}",
            args.join(" ")
        );
        out
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// `user add NAME` with the password on stdin.
    fn add_user(&self, name: &str, password: &str, extra: &[&str]) -> Out {
        let email = format!("{name}@example.com");
        let mut args = vec!["user", "add", name, "--email", &email, "--password-stdin"];
        args.extend_from_slice(extra);
        self.run_stdin(&args, &format!("{password}\n"))
    }

    /// A server (in-process) on this database.
    pub(crate) async fn server(&self) -> TestApp {
        let url = self.url.clone();
        TestApp::spawn_with(Db::Sqlite, move |c| c.database.url = url)
            .await
            .expect("SQLite is always available")
    }
}

/// The line `user list` prints for `name`: id, username, email, enabled|disabled, roles.
fn user_line(list: &str, name: &str) -> Vec<String> {
    list.lines()
        .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.get(1).map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("{name} not in:\n{list}"))
}

const ALICE_PW: &str = "Alice-password-1";

#[test]
fn help_works_for_every_command() {
    let cli = Cli::new();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["migrate"],
        &["config"],
        &["config", "default"],
        &["config", "check"],
        &["user"],
        &["user", "add"],
        &["user", "list"],
        &["user", "disable"],
        &["user", "enable"],
        &["user", "delete"],
        &["user", "set-password"],
        &["role"],
        &["role", "list"],
        &["role", "grant"],
        &["role", "revoke"],
        &["client"],
        &["client", "add"],
        &["client", "list"],
        &["client", "remove"],
        &["keys"],
        &["keys", "list"],
        &["keys", "rotate"],
        &["apikey"],
        &["apikey", "create"],
        &["apikey", "list"],
        &["apikey", "revoke"],
        &["backup"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = cli.run(&args).ok();
        assert!(
            out.stdout.contains("Usage"),
            "`bouncer {}`: {out:#?}",
            args.join(" ")
        );
        // `bouncer help CMD...` is the same.
        let mut help = vec!["help"];
        help.extend_from_slice(cmd);
        cli.run(&help).ok();
    }
    let v = cli.run(&["--version"]).ok();
    assert!(v.stdout.starts_with("bouncer "), "{v:#?}");
    // No command at all is a usage error, not a crash.
    assert_eq!(cli.run(&[]).code(), Some(2));
}

#[test]
fn config_default_is_accepted_by_config_check() {
    let cli = Cli::new();
    let out = cli.run(&["config", "default"]).ok();
    for section in [
        "[server]",
        "[database]",
        "[log]",
        "[auth]",
        "[passwords]",
        "[tokens]",
        "[admin]",
    ] {
        assert!(out.stdout.contains(section), "missing {section}");
    }
    let path = cli.write("default.toml", &out.stdout);
    let checked = cli.run(&["config", "check", &path]).ok();
    assert!(checked.stdout.contains("valid"), "{checked:#?}");
    cli.run(&["--config", &path, "config", "check"]).ok();
    // No file at all: the defaults are valid too.
    cli.run(&["config", "check"]).ok();
}

/// Exit 2 and exactly one line on stderr, naming every string in `names`.
fn assert_config_error(out: &Out, names: &[&str]) {
    assert_eq!(out.code(), Some(2), "{out:#?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one line on stderr: {out:#?}");
    for n in names {
        assert!(
            lines[0].contains(n),
            "stderr should name {n:?}: {}",
            lines[0]
        );
    }
}

#[test]
fn config_errors_are_one_line_naming_the_key() {
    let cli = Cli::new();

    let typo = cli.write("typo.toml", "[server]\nlisten_typo = 1\n");
    assert_config_error(
        &cli.run(&["config", "check", &typo]),
        &["server.listen_typo"],
    );
    assert_config_error(
        &cli.run(&["--config", &typo, "config", "check"]),
        &["server.listen_typo"],
    );

    let bad_listen = cli.write("listen.toml", "[server]\nlisten = \"nope\"\n");
    assert_config_error(
        &cli.run(&["config", "check", &bad_listen]),
        &["server.listen", "nope"],
    );

    let none_alg = cli.write("alg.toml", "[tokens]\nalgorithm = \"none\"\n");
    assert_config_error(
        &cli.run(&["config", "check", &none_alg]),
        &["tokens.algorithm", "none"],
    );

    let wrong_type = cli.write("type.toml", "[server]\nmax_connections = \"many\"\n");
    assert_config_error(
        &cli.run(&["config", "check", &wrong_type]),
        &["server.max_connections"],
    );

    let unknown_section = cli.write("section.toml", "[sever]\nlisten = \"127.0.0.1:1\"\n");
    assert_config_error(&cli.run(&["config", "check", &unknown_section]), &["sever"]);

    let missing = cli.dir.path().join("missing.toml").display().to_string();
    assert_config_error(&cli.run(&["config", "check", &missing]), &["missing.toml"]);

    // The environment is checked the same way, long and short forms.
    assert_config_error(
        &cli.run_with(
            &["config", "check"],
            None,
            &[("BOUNCER_SERVER__LISTEN", "nope")],
        ),
        &["server.listen", "nope"],
    );
    assert_config_error(
        &cli.run_with(&["config", "check"], None, &[("BOUNCER_LISTEN", "nope")]),
        &["server.listen", "nope"],
    );
    assert_config_error(
        &cli.run_with(
            &["config", "check"],
            None,
            &[("BOUNCER_TOKENS__ALGORITHM", "none")],
        ),
        &["tokens.algorithm", "none"],
    );

    // A bad value stops `serve` before it starts, the same way.
    assert_config_error(
        &cli.run_with(&["serve"], None, &[("BOUNCER_SERVER__LISTEN", "nope")]),
        &["server.listen", "nope"],
    );
    assert_config_error(
        &cli.run(&["--config", &none_alg, "serve"]),
        &["tokens.algorithm"],
    );
}

#[test]
fn migrate_is_idempotent() {
    let cli = Cli::new();
    cli.run(&["migrate"]).ok();
    cli.run(&["migrate"]).ok();
    assert!(cli.dir.path().join("cli.db").is_file());
}

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
