//! The documentation's commands, run as written against the real binary: the README's quick start
//! and every shell and Python example of `docs/api-guide.md`. The documents are parsed when the test
//! runs, so the test follows them: a command that stops working fails here, naming its line.
//!
//! How a document is run:
//! - the server is started the way the document's `... serve &` line says (its environment
//!   variables and arguments; `cargo run --release --` is this test's own binary), in a fresh
//!   directory and on a free port, and stopped with SIGTERM at the end (it must exit 0);
//! - `127.0.0.1:8080` in every command becomes the test server's address;
//! - each command (a line, with its `\` continuations) runs in its own `bash -c` with
//!   `set -euo pipefail`, in that directory; the variables and functions the document defines
//!   carry over from one command to the next, as in a terminal;
//! - a trailing comment says what to expect: a leading status (`# 403 missing_role`) is the status
//!   of the command's last request, otherwise every request must succeed (2xx); a `snake_case`
//!   word in the comment (an error code) and a `"field": value` fragment must appear in the output;
//! - a variable a command sets must be set, and look like what its name says (`TOKEN`: a JWT,
//!   `REFRESH`: `bnr_...`, `CLIENT_ID`: `cl_...`, `SECRET`: `bns_...`, `KEY`: `bnc_...`);
//! - a Python example runs as a script (when `requests` is installed) and must exit 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::doc_runner::*;

/// The README's quick start, command by command.
#[test]
fn readme_quick_start_runs_as_written() {
    if !have("curl") || !have("python3") {
        return;
    }
    let (_, readme) = repo_file("README.md");
    let (from, to) = section(&readme, "Quick start");
    let blocks = blocks(&readme, from, to);
    let ran = run_document("README.md", &blocks, false);
    assert!(ran >= 10, "only {ran} commands in the quick start");
}

/// Without `BOUNCER_ADMIN_PASSWORD` (as the quick start's comment says), the first start generates
/// the admin's password and prints it once; it works, and a second start prints none.
#[test]
fn readme_generated_admin_password_is_printed_once() {
    if !have("curl") {
        return;
    }
    let (_, readme) = repo_file("README.md");
    let (from, to) = section(&readme, "Quick start");
    let blocks = blocks(&readme, from, to);
    let mut launch = blocks
        .iter()
        .filter(|b| is_shell(&b.lang))
        .flat_map(steps)
        .find_map(|s| launch(&s))
        .expect("the quick start starts the server");
    launch.env.retain(|(k, _)| k != "BOUNCER_ADMIN_PASSWORD");
    let session = Session::new("README.md", &[]);
    let server = Server::start(&launch, session.dir.path(), &session.addr);
    let printed = || {
        let log = server.log();
        let at = log.find("with password:")?;
        log[at..].split_whitespace().nth(2).map(str::to_owned)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let password = loop {
        if let Some(p) = printed() {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no password printed:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let basic = Step {
        line: 0,
        text: format!("curl -s -u 'admin:{password}' http://{DOC_ADDR}/users/me"),
        flat: String::new(),
        expect: Expect::parse("200"),
    };
    let o = session.check(&basic, &server);
    assert!(o.stdout.contains("\"username\":\"admin\""), "{}", o.stdout);
    server.stop();
    let again = Server::start(&launch, session.dir.path(), &session.addr);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !again.log().contains(&password),
        "printed again:\n{}",
        again.log()
    );
    again.stop();
}

/// Every shell command of the API guide (and, when `requests` is installed, every Python example),
/// in order, against one server.
#[test]
fn api_guide_commands_run_as_written() {
    if !have("curl") || !have("python3") {
        return;
    }
    let (_, guide) = repo_file("docs/api-guide.md");
    let lines = guide.lines().count();
    let blocks = blocks(&guide, 0, lines);
    let python = Command::new("python3")
        .args(["-c", "import requests"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !python {
        eprintln!("skipping the API guide's Python examples: the requests module is not installed");
    }
    let ran = run_document("docs/api-guide.md", &blocks, python);
    assert!(ran >= 20, "only {ran} commands in the API guide");
}

/// The parsing this test relies on.
#[test]
fn documentation_commands_are_parsed_as_the_shell_reads_them() {
    let e = Expect::parse("403 missing_role");
    assert_eq!(e.status, Some(403));
    assert_eq!(e.texts, ["missing_role"]);
    let e = Expect::parse("401: the login is gone (invalid_token)");
    assert_eq!(e.status, Some(401));
    assert_eq!(e.texts, ["invalid_token"]);
    let e = Expect::parse("HTTP Basic, items:write");
    assert_eq!(e.status, None);
    assert!(e.texts.is_empty());
    let e = Expect::parse(r#"it says "active": true"#);
    assert_eq!(e.texts, [r#""active":true"#]);
    assert_eq!(comment_start("curl 'a # b' # c"), Some(13));
    assert_eq!(comment_start("curl a#b"), None);
    let block = Block {
        lang: "sh".into(),
        line: 10,
        lines: vec![
            "# a note".into(),
            "".into(),
            "X='a b' cargo run --release -- serve &   # start".into(),
            "curl -d 'x' \\".into(),
            "     http://h/   # 201".into(),
        ],
    };
    let s = steps(&block);
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].line, 13);
    assert_eq!(s[1].flat, "curl -d 'x' http://h/");
    assert_eq!(s[1].expect.status, Some(201));
    let l = launch(&s[0]).expect("a launch");
    assert_eq!(l.env, [("X".to_owned(), "a b".to_owned())]);
    assert_eq!(l.args, ["serve"]);
    assert_eq!(defines("TOKEN=$(curl x)"), Some((false, "TOKEN")));
    assert_eq!(defines("json() { x; }"), Some((true, "json")));
    assert_eq!(defines("curl x"), None);
    assert!(plausible("REFRESH", "bnr_PQTBaeCITKXoOsb4enzXHZAislMKb6rSOeawYM5Cd9A").is_ok());
    assert!(plausible("TOKEN", "{\"error\":1}").is_err());
}
