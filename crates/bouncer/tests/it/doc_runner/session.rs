//! Running a document: the tools it needs, the server it starts (stopped with SIGTERM), and the
//! shell session its commands run in, one by one, each checked against what its comment expects.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::parse::{Block, Launch, Step, defines};
use super::{DOC_ADDR, LOCAL};

/// Whether `tool --version` runs here. Missing tools skip the test, saying why, except under
/// `CI=true`, where they fail it.
pub(crate) fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is needed to run the documentation's commands"
        );
        eprintln!("skipping the documentation's commands: {tool} is not installed");
    }
    ok
}

/// The server a document starts, stopped (SIGTERM) by [`Server::stop`], killed if the test fails.
pub(crate) struct Server {
    pub(crate) child: Option<Child>,
    pub(crate) log: PathBuf,
}

impl Server {
    pub(crate) fn start(launch: &Launch, dir: &Path, addr: &str) -> Server {
        let log = dir.join("server.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bouncer"));
        cmd.args(&launch.args)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env("BOUNCER_LISTEN", addr)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (name, value) in &launch.env {
            cmd.env(name, value);
        }
        let child = cmd.spawn().expect("start the server");
        let server = Server {
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server of line {} did not start:\n{}",
                launch.line,
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status: a graceful stop exits 0.
    pub(crate) fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "the server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "the server exited {status}:\n{}",
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What one command did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) ok: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The status of every request curl made, in order (`000`: none).
    pub(crate) statuses: Vec<u16>,
    /// The variables the command set, with their values.
    pub(crate) vars: Vec<(String, String)>,
}

/// Runs a document's commands one by one, carrying the shell's state from one to the next.
pub(crate) struct Session {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) addr: String,
    pub(crate) doc: String,
    /// Every variable and function the document defines (carried over after each command).
    pub(crate) vars: Vec<String>,
    pub(crate) funcs: Vec<String>,
}

impl Session {
    pub(crate) fn new(doc: &str, steps: &[Step]) -> Session {
        let port = crate::support::free_port();
        let (mut vars, mut funcs) = (Vec::new(), Vec::new());
        for s in steps {
            match defines(&s.flat) {
                Some((true, f)) if !funcs.iter().any(|x| x == f) => funcs.push(f.to_owned()),
                Some((false, v)) if !vars.iter().any(|x| x == v) => vars.push(v.to_owned()),
                _ => {}
            }
        }
        Session {
            dir: tempfile::tempdir().expect("temp dir"),
            addr: format!("127.0.0.1:{port}"),
            doc: doc.to_owned(),
            vars,
            funcs,
        }
    }

    pub(crate) fn localize(&self, text: &str) -> String {
        text.replace(DOC_ADDR, &self.addr)
    }

    pub(crate) fn run(&self, step: &Step) -> Outcome {
        let state = self.dir.path().join(".doc-state");
        let set_vars = self.dir.path().join(".doc-vars");
        let assigned: Vec<&str> = match defines(&step.flat) {
            Some((false, v)) => vec![v],
            _ => vec![],
        };
        let mut script = String::from("set -euo pipefail\n");
        script += &format!("if [ -f '{0}' ]; then source '{0}'; fi\n", state.display());
        // Every request's status goes to stderr, after whatever the command prints.
        script += "curl() { command curl -q --max-time 30 --write-out '%{stderr}\\n@@status %{http_code}\\n' \"$@\"; }\n";
        script += &self.localize(&step.text);
        script += "\n";
        script += &format!(
            "{{ declare -p {} 2>/dev/null; declare -f {} 2>/dev/null; }} > '{st}.new' || true; mv '{st}.new' '{st}'\n",
            if self.vars.is_empty() {
                "_none_".to_owned()
            } else {
                self.vars.join(" ")
            },
            if self.funcs.is_empty() {
                "_none_".to_owned()
            } else {
                self.funcs.join(" ")
            },
            st = state.display(),
        );
        script += &format!(": > '{}'\n", set_vars.display());
        for v in &assigned {
            script += &format!(
                "printf '%s=%s\\n' {v} \"${{{v}-}}\" >> '{}'\n",
                set_vars.display()
            );
        }
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(self.dir.path())
            .envs(LOCAL)
            .stdin(Stdio::null())
            .output()
            .expect("bash");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let statuses = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("@@status "))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let vars = if out.status.success() {
            std::fs::read_to_string(&set_vars)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        } else {
            Vec::new()
        };
        Outcome {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: stderr
                .lines()
                .filter(|l| !l.starts_with("@@status ") && !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
            statuses,
            vars,
        }
    }

    /// Runs `step` and checks it did what the document says.
    pub(crate) fn check(&self, step: &Step, server: &Server) -> Outcome {
        let o = self.run(step);
        let at = format!(
            "{}:{}: `{}`\nstdout: {}\nstderr: {}\nstatuses: {:?}",
            self.doc, step.line, step.flat, o.stdout, o.stderr, o.statuses
        );
        let fail = |why: String| -> ! {
            panic!("{why}\n{at}\nserver log:\n{}", server.log());
        };
        if !o.ok {
            fail("the command failed".into());
        }
        match step.expect.status {
            Some(want) => {
                if o.statuses.last() != Some(&want) {
                    fail(format!("expected the last request to answer {want}"));
                }
            }
            None => {
                if let Some(s) = o.statuses.iter().find(|s| !(200..300).contains(*s)) {
                    fail(format!(
                        "a request answered {s}, and the comment expects no error"
                    ));
                }
            }
        }
        let squeezed = o.stdout.replace([' ', '\n'], "");
        for text in &step.expect.texts {
            if !squeezed.contains(text.as_str()) {
                fail(format!("the output does not contain {text}"));
            }
        }
        for (name, value) in &o.vars {
            if let Err(why) = plausible(name, value) {
                fail(format!("{name} = {value:?}: {why}"));
            }
        }
        o
    }

    /// Runs a Python example as a script; it must exit 0.
    pub(crate) fn python(&self, block: &Block, server: &Server) {
        let file = self.dir.path().join(format!("example-{}.py", block.line));
        std::fs::write(&file, self.localize(&block.lines.join("\n"))).expect("write the example");
        let out = Command::new("python3")
            .arg(&file)
            .current_dir(self.dir.path())
            .envs(LOCAL)
            .stdin(Stdio::null())
            .output()
            .expect("python3");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some(module) = stderr
            .lines()
            .find_map(|l| l.strip_prefix("ModuleNotFoundError: No module named "))
        {
            // A library the example names (PyJWT...) that is not installed here.
            eprintln!(
                "{}:{}: skipping the Python example: {module} is not installed",
                self.doc, block.line
            );
            return;
        }
        assert!(
            out.status.success(),
            "{}:{}: the Python example failed\nstdout: {}\nstderr: {}\nserver log:\n{}",
            self.doc,
            block.line,
            String::from_utf8_lossy(&out.stdout),
            stderr,
            server.log()
        );
    }
}

/// Whether a variable's value looks like what its name says.
pub(crate) fn plausible(name: &str, value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value == "None" || value == "null" {
        return Err("empty");
    }
    let prefixed = |p: &str| value.starts_with(p) && value.len() > p.len() + 20;
    let upper = name.to_ascii_uppercase();
    let ok = if upper.contains("REFRESH") {
        prefixed("bnr_")
    } else if upper.contains("CSRF") {
        value.len() >= 32
    } else if upper.contains("TOKEN") || upper == "READER" {
        let parts: Vec<&str> = value.split('.').collect();
        prefixed("bno_")
            || (parts.len() == 3
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                }))
    } else if upper.contains("CLIENT_ID") {
        value.starts_with("cl_")
    } else if upper.contains("SECRET") {
        prefixed("bns_")
    } else if upper.ends_with("KEY") {
        prefixed("bnc_")
    } else {
        true
    };
    if ok {
        Ok(())
    } else {
        Err("not what its name says it is")
    }
}
