//! Runs a document's commands against the real binary (see `readme` for what it checks).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The address the documents use.
pub(crate) const DOC_ADDR: &str = "127.0.0.1:8080";

/// The commands talk to the test's server directly, whatever proxy the environment names (curl
/// also ignores `~/.curlrc`: `-q`).
pub(crate) const LOCAL: [(&str, &str); 2] = [
    ("NO_PROXY", "127.0.0.1,localhost"),
    ("no_proxy", "127.0.0.1,localhost"),
];

pub(crate) fn repo_file(name: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    (path, text)
}

/// A fenced code block: its language and first line (1-based, in the document) and its lines.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) lang: String,
    pub(crate) line: usize,
    pub(crate) lines: Vec<String>,
}

/// The fenced code blocks of `markdown` (the part between `from` and `to`, 0-based line numbers).
pub(crate) fn blocks(markdown: &str, from: usize, to: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate().take(to).skip(from) {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    lang: info.split_whitespace().next().unwrap_or("").to_owned(),
                    line: i + 2,
                    lines: Vec::new(),
                });
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => b.lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unterminated code block");
    out
}

/// The 0-based line range of the section under the level-2 heading `title`.
pub(crate) fn section(markdown: &str, title: &str) -> (usize, usize) {
    let lines: Vec<&str> = markdown.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == format!("## {title}"))
        .unwrap_or_else(|| panic!("no \"## {title}\" section"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |n| start + 1 + n);
    (start + 1, end)
}

pub(crate) fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell")
}

/// What a comment says to expect.
#[derive(Debug, Default, Clone)]
pub(crate) struct Expect {
    pub(crate) status: Option<u16>,
    /// Error codes and `"field": value` fragments that must appear in the output.
    pub(crate) texts: Vec<String>,
}

impl Expect {
    pub(crate) fn parse(comment: &str) -> Expect {
        let mut e = Expect::default();
        let first = comment.split_whitespace().next().unwrap_or("");
        let digits: String = first.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() == 3 && first[3..].chars().all(|c| !c.is_alphanumeric()) {
            e.status = digits.parse().ok();
        }
        for word in comment.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let code = word.contains('_')
                && word.starts_with(|c: char| c.is_ascii_lowercase())
                && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !word.ends_with('_');
            if code {
                e.texts.push(word.to_owned());
            }
        }
        // `"field": value`, compared without spaces.
        let mut rest = comment;
        while let Some(at) = rest.find('"') {
            let tail = &rest[at..];
            let Some(colon) = tail.find("\": ") else {
                break;
            };
            let value_end = tail[colon + 3..]
                .find([' ', ',', ')', ';'])
                .map_or(tail.len(), |n| colon + 3 + n);
            e.texts.push(tail[..value_end].replace(' ', ""));
            rest = &tail[value_end..];
        }
        e
    }
}

/// One command of a document: the exact text (with its continuations) and what it expects.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) line: usize,
    pub(crate) text: String,
    /// On one line, continuations joined, comment removed.
    pub(crate) flat: String,
    pub(crate) expect: Expect,
}

/// Where the comment of a shell line starts (a `#` outside quotes, at a word's start).
pub(crate) fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        } else if c == '#' && !single && !double && prev_blank {
            return Some(i);
        }
        prev_blank = c.is_whitespace();
    }
    None
}

/// The commands of a shell block: blank and comment-only lines dropped, continuations joined.
pub(crate) fn steps(block: &Block) -> Vec<Step> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < block.lines.len() {
        let first = i;
        while block.lines[i].trim_end().ends_with('\\') && i + 1 < block.lines.len() {
            i += 1;
        }
        let lines = &block.lines[first..=i];
        i += 1;
        let last = lines.last().expect("one line at least");
        let (code_end, comment) = match comment_start(last) {
            Some(at) => (at, last[at + 1..].trim()),
            None => (last.len(), ""),
        };
        let mut flat: Vec<&str> = lines[..lines.len() - 1]
            .iter()
            .map(|l| l.trim_end().trim_end_matches('\\').trim())
            .collect();
        flat.push(last[..code_end].trim());
        let flat = flat.join(" ").trim().to_owned();
        if flat.is_empty() {
            continue;
        }
        out.push(Step {
            line: block.line + first,
            text: lines.join("\n"),
            flat,
            expect: Expect::parse(comment),
        });
    }
    out
}

/// Splits a shell command into words (quotes and backslashes as the shell reads them; enough for
/// the documents' server lines).
pub(crate) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => cur.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() => out.extend(cur.take()),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

/// How a document starts the server: `NAME=value ... cargo run --release -- serve &` or
/// `NAME=value ... bouncer serve &`.
#[derive(Debug)]
pub(crate) struct Launch {
    pub(crate) line: usize,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) args: Vec<String>,
}

pub(crate) fn launch(step: &Step) -> Option<Launch> {
    let cmd = step.flat.strip_suffix('&')?.trim();
    let words = words(cmd);
    let mut env = Vec::new();
    let mut rest = words.as_slice();
    while let Some((w, tail)) = rest.split_first() {
        let Some((name, value)) = w.split_once('=') else {
            break;
        };
        env.push((name.to_owned(), value.to_owned()));
        rest = tail;
    }
    let args = match rest {
        [cargo, run, tail @ ..] if cargo == "cargo" && run == "run" => {
            let dashes = tail.iter().position(|w| w == "--")?;
            tail[dashes + 1..].to_vec()
        }
        [bin, tail @ ..] if Path::new(bin).file_name()? == "bouncer" => tail.to_vec(),
        _ => return None,
    };
    args.iter().any(|a| a == "serve").then_some(Launch {
        line: step.line,
        env,
        args,
    })
}

/// The name a command assigns (`NAME=...`) or the function it defines (`name() {`).
pub(crate) fn defines(flat: &str) -> Option<(bool, &str)> {
    let end = flat
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(flat.len());
    let name = &flat[..end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = &flat[end..];
    if rest.starts_with('=') && !flat.contains(" serve") {
        Some((false, name))
    } else if rest.starts_with("()") {
        Some((true, name))
    } else {
        None
    }
}

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

/// Runs a document: its shell commands (and Python examples), with the server it starts.
pub(crate) fn run_document(doc: &str, blocks: &[Block], python: bool) -> usize {
    let all: Vec<Step> = blocks
        .iter()
        .filter(|b| is_shell(&b.lang))
        .flat_map(steps)
        .collect();
    let launches: Vec<Launch> = all.iter().filter_map(launch).collect();
    assert_eq!(
        launches.len(),
        1,
        "{doc}: expected one command starting the server (`... serve &`), found {launches:?}"
    );
    let session = Session::new(doc, &all);
    let server = Server::start(&launches[0], session.dir.path(), &session.addr);
    let mut ran = 0;
    for block in blocks {
        if is_shell(&block.lang) {
            for step in steps(block) {
                if launch(&step).is_none() {
                    session.check(&step, &server);
                    ran += 1;
                }
            }
        } else if block.lang == "python" && python {
            session.python(block, &server);
            ran += 1;
        }
    }
    server.stop();
    ran
}
