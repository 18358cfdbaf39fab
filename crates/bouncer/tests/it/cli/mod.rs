//! The operator's command line, run as the real binary against a SQLite file in a tempdir (no
//! server): the harness (`Cli`, `Out`; `cli_policy`, `cli_tokens` and others use it too) and help
//! for every command. `config` and `migrate` are in `config`; the user and role commands, and what
//! a server on the same database makes of their changes, in `users`.

mod config;
mod users;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }
    /// The non-empty lines of stderr.
    pub(crate) fn stderr_lines(&self) -> Vec<&str> {
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

    pub(crate) fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
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
    pub(crate) fn add_user(&self, name: &str, password: &str, extra: &[&str]) -> Out {
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

/// Exit 2 (bad input) and exactly one line on stderr, naming every string in `names`.
pub(crate) fn assert_bad_input(out: &Out, names: &[&str]) {
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
