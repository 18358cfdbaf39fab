//! A throwaway PostgreSQL server for integration tests (std only, synchronous).
//!
//! One cluster per test process, started lazily on first use and shared by all tests; each test
//! takes its own database with [`PgCluster::fresh_database`]. A test that stops and starts the
//! server takes a cluster of its own instead ([`private_postgres`]).
//!
//! * `initdb` and `postgres` refuse to run as root, so when we are root they run as the
//!   `postgres` OS user via `runuser -u postgres --` (as the current user otherwise).
//! * A static is never dropped, so nothing in this process can stop the server. Instead a detached
//!   watchdog shell polls the test process and, ~1 s after it exits, sends the postmaster SIGINT
//!   (fast shutdown) and deletes the cluster directory: orphaned servers do not pile up.

use std::error::Error;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A PostgreSQL cluster started for this test process, shared by all its tests.
pub struct PgCluster {
    /// `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication).
    pub admin_url: String,
    node: Node,
}

impl PgCluster {
    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        self.node.fresh_database()
    }
}

/// `Some(cluster)` if PostgreSQL is installed; otherwise prints `skipping: <reason>` to stderr and
/// returns `None` — except when `CI=true`, where a missing PostgreSQL must fail the build. A server
/// that is installed but fails to start always panics.
pub fn postgres() -> Option<&'static PgCluster> {
    static CLUSTER: OnceLock<Result<PgCluster, (bool, String)>> = OnceLock::new();
    let init = || match find_bin() {
        None => Err((false, "no PostgreSQL in /usr/lib/postgresql/*/bin".into())),
        Some(bin) => Node::create(bin)
            .and_then(|node| {
                node.launch()?;
                Ok(PgCluster {
                    admin_url: node.admin_url(),
                    node,
                })
            })
            .map_err(|e| (true, e.to_string())),
    };
    match CLUSTER.get_or_init(init) {
        Ok(cluster) => Some(cluster),
        Err((false, reason)) => skip_or_fail(reason),
        Err((_, reason)) => panic!("PostgreSQL test cluster unavailable: {reason}"),
    }
}

/// A PostgreSQL cluster of one test's own, which the test may stop and start again (on the same
/// port) without disturbing the others. Stopped and deleted when dropped.
pub struct PrivateCluster {
    node: Node,
    /// The running server (or `runuser` in front of it), `None` while stopped.
    child: Option<Child>,
}

/// Like [`postgres`] (same skip rule), but a new cluster for the caller alone.
pub fn private_postgres() -> Option<PrivateCluster> {
    let Some(bin) = find_bin() else {
        return skip_or_fail("no PostgreSQL in /usr/lib/postgresql/*/bin");
    };
    let start = || -> Result<PrivateCluster, Box<dyn Error>> {
        let node = Node::create(bin)?;
        let child = node.launch()?;
        Ok(PrivateCluster {
            node,
            child: Some(child),
        })
    };
    Some(start().unwrap_or_else(|e| panic!("private PostgreSQL cluster: {e}")))
}

impl PrivateCluster {
    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        self.node.fresh_database()
    }

    /// Fast shutdown (SIGINT: sessions terminated, no new connections), waiting for the exit.
    pub fn stop(&mut self) {
        let child = self.child.take().expect("the cluster is running");
        if let Err(e) = self.node.fast_stop(child) {
            panic!("stop PostgreSQL: {e}");
        }
    }

    /// Starts the stopped server again on the same port and data, waiting until it accepts
    /// connections.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the cluster is already running");
        let child = self
            .node
            .launch()
            .unwrap_or_else(|e| panic!("restart PostgreSQL: {e}"));
        self.child = Some(child);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = self.node.fast_stop(child);
        }
        let _ = std::fs::remove_dir_all(&self.node.dir);
    }
}

/// `None` with `skipping: <reason>` on stderr; a panic under `CI=true`.
fn skip_or_fail<T>(reason: &str) -> Option<T> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "PostgreSQL test cluster unavailable: {reason}"
    );
    eprintln!("skipping: {reason}");
    None
}

/// A random hex string from std only: a randomly seeded hasher over time, pid and a counter.
fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    h.write_u128(now.unwrap_or_default().as_nanos());
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", h.finish())
}

/// The `bin` directory of the highest PostgreSQL version under `/usr/lib/postgresql`.
fn find_bin() -> Option<PathBuf> {
    let version = |p: &PathBuf| -> Vec<u32> {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.split('.').map(|v| v.parse().unwrap_or(0)).collect()
    };
    let tools = ["initdb", "postgres", "pg_isready", "psql"];
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| tools.iter().all(|t| p.join("bin").join(t).is_file()))
        .max_by_key(version)
        .map(|p| p.join("bin"))
}

/// Runs `cmd` to completion; on failure the error holds its stdout and stderr.
fn run(cmd: &mut Command) -> Result<(), Box<dyn Error>> {
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    out.status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{cmd:?}: {}\n{text}", out.status).into())
}

/// A cluster's directory (data and log) and port: what starting its server needs, again if need be.
struct Node {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Node {
    /// Watchdog and initdb in a fresh `/tmp` directory, and a free port. Errors are real failures.
    fn create(bin: PathBuf) -> Result<Node, Box<dyn Error>> {
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let dir = PathBuf::from(format!("/tmp/bouncer-pg-{}", random_hex()));
        std::fs::create_dir(&dir)?;
        spawn_watchdog(&dir)?;
        if as_root {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir))?;
        }
        // A free port: bind port 0 and release it at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let node = Node {
            bin,
            dir,
            port,
            as_root,
        };
        run(node
            .pg_cmd("initdb")
            .args("-A trust -U postgres --no-sync -E UTF8 -D".split(' '))
            .arg(node.dir.join("data")))?;
        Ok(node)
    }

    /// A PostgreSQL binary, run as the `postgres` OS user when we are root.
    fn pg_cmd(&self, prog: &str) -> Command {
        match self.as_root {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(self.bin.join(prog));
                c
            }
            false => Command::new(self.bin.join(prog)),
        }
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn fresh_database(&self) -> String {
        let name = format!("t_{}", random_hex());
        let mut psql = Command::new(self.bin.join("psql"));
        psql.args([&self.admin_url(), "-qAt", "-v", "ON_ERROR_STOP=1", "-c"]);
        run(psql.arg(format!("CREATE DATABASE {name}"))).expect("CREATE DATABASE failed");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Sends the postmaster SIGINT (fast shutdown; its pid is line 1 of postmaster.pid: under
    /// runuser, `child` is runuser) and waits (bounded) for `child` to exit.
    fn fast_stop(&self, mut child: Child) -> Result<(), Box<dyn Error>> {
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))?;
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        run(Command::new("kill").args(["-INT", &pid]))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("postgres still running 30 s after SIGINT".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts `postgres` on the cluster and waits until it accepts connections.
    fn launch(&self) -> Result<Child, Box<dyn Error>> {
        let log_path = self.dir.join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let log2 = log.try_clone()?;
        let mut child = self
            .pg_cmd("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-k")
            .arg(&self.dir)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args("-c fsync=off -c full_page_writes=off -c synchronous_commit=off".split(' '))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0) // keep terminal Ctrl-C away: the watchdog does the stopping
            .spawn()?;

        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut isready = Command::new(self.bin.join("pg_isready"));
        isready.args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()]);
        while !isready.status().is_ok_and(|s| s.success()) {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("postgres exited early ({status}); log:\n{}", log()).into());
            }
            if Instant::now() > deadline {
                return Err(format!("postgres not ready after 30 s; log:\n{}", log()).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(child)
    }
}

/// Spawns a detached watchdog (own process group, so it outlives us and ignores Ctrl-C): once
/// the test process is gone, it fast-stops the postmaster (its pid is line 1 of postmaster.pid;
/// under runuser our child is runuser, not postgres), waits up to ~30 s for the clean exit that
/// removes that file, then deletes the whole cluster directory.
fn spawn_watchdog(dir: &std::path::Path) -> std::io::Result<()> {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; f='{dir}/data/postmaster.pid'; \
         pid=$(head -n1 \"$f\" 2>/dev/null) && kill -INT \"$pid\"; i=0; \
         while [ -e \"$f\" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; rm -rf '{dir}'",
        me = std::process::id(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
}
