//! The real binary serving: `kill -HUP` re-reads the certificate, a missing certificate file is a
//! configuration error (exit 2), and the process runs without core dumps.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;

use super::{self_signed, trusting, write_pair};
use crate::cli::bouncer_command;
use crate::durability::server_env;
use crate::support::free_port;

/// `bouncer serve` as a child process, its stderr in a file; killed when dropped. (Unlike the
/// suite's `BinServer` it can wait for readiness over HTTPS and give its process id.)
struct Bin {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl Bin {
    /// Starts the binary in `dir` with `env` and waits until `client` gets 200 from `/healthz`
    /// at `scheme`.
    async fn start(dir: &Path, env: &[(&str, String)], scheme: &str, client: &Client) -> Bin {
        let port = free_port();
        let stderr = dir.join("serve.stderr");
        let db = format!("sqlite://{}/b.db", dir.display());
        let child = bouncer_command(dir)
            .arg("serve")
            .envs(server_env(&db))
            .env("BOUNCER_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn bouncer serve");
        let mut bin = Bin {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = bin.child.try_wait().unwrap() {
                panic!("bouncer serve exited ({status}):\n{}", bin.stderr());
            }
            let last = match client.get(bin.at("/healthz")).send().await {
                Ok(r) if r.status() == 200 => return bin,
                Ok(r) => format!("{}", r.status()),
                Err(e) => format!("{e:?}"),
            };
            assert!(
                Instant::now() < deadline,
                "not ready ({last}):\n{}",
                bin.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// SIGTERM; the exit must be 0. Returns the log.
    fn stop(mut self) -> String {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit {status}:\n{}", self.stderr());
        self.stderr()
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits (bounded) until `check` holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `kill -HUP` makes the real binary re-read its pair: new connections see the new certificate;
/// a bad pair then is logged and the one in service stays.
#[tokio::test]
async fn sighup_makes_the_binary_re_read_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (self_signed(), self_signed());
    write_pair(dir.path(), &a);
    let env = [
        (
            "BOUNCER_SERVER__TLS_CERT_FILE",
            dir.path().join("cert.pem").display().to_string(),
        ),
        (
            "BOUNCER_SERVER__TLS_KEY_FILE",
            dir.path().join("key.pem").display().to_string(),
        ),
    ];
    let (old, new) = (trusting(&a.0), trusting(&b.0));
    let bin = Bin::start(dir.path(), &env, "https", &old).await;
    let r = old.get(bin.at("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");

    write_pair(dir.path(), &b);
    bin.signal("HUP");
    eventually("the new certificate in service", async || {
        new.get(bin.at("/healthz")).send().await.is_ok()
    })
    .await;
    assert!(old.get(bin.at("/healthz")).send().await.is_err());

    write_pair(dir.path(), &(b.0.clone(), a.1.clone()));
    bin.signal("HUP");
    eventually("the refusal logged", async || {
        bin.stderr().contains("still serving the previous ones")
    })
    .await;
    let r = new.get(bin.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the pair in service changed");
    let log = bin.stop();
    assert!(log.contains("server.tls_key_file"), "{log}");
}

/// A certificate file that is not there stops start-up as a configuration error: exit 2, one
/// line naming the key.
#[test]
fn a_missing_certificate_file_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = self_signed();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let db = format!("sqlite://{}/b.db", dir.path().display());
    let out = bouncer_command(dir.path())
        .arg("serve")
        .envs(server_env(&db))
        .env("BOUNCER_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("BOUNCER_SERVER__TLS_CERT_FILE", dir.path().join("nope.pem"))
        .env("BOUNCER_SERVER__TLS_KEY_FILE", dir.path().join("key.pem"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let named: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("server.tls_cert_file"))
        .collect();
    assert_eq!(named.len(), 1, "{err}");
    assert!(
        named[0].starts_with("bouncer: config: ") && named[0].contains("nope.pem"),
        "{err}"
    );
}

/// `bouncer serve` runs with core dumps off (soft and hard limit 0): its memory holds passwords
/// (the Basic-credential cache) and keys.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_server_runs_without_core_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Bin::start(dir.path(), &[], "http", &Client::new()).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", bin.child.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core file size line");
    let values: Vec<&str> = core["Max core file size".len()..]
        .split_whitespace()
        .collect();
    assert_eq!(values[..2], ["0", "0"], "{core}");
    bin.stop();
}
