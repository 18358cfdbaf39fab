//! `kill -9` in the middle of a burst of writes, twenty times on SQLite and five on PostgreSQL:
//! after a restart every acknowledged registration, token grant and revocation is there, and the
//! SQLite file passes `PRAGMA integrity_check`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use serde_json::Value;

use super::{password_of, refresh, register, skip};
use crate::durability::{BinServer, server_env, token_status};
use crate::support::http::call;
use crate::support::postgres::postgres;
use crate::support::{ADMIN, ADMIN_PASSWORD};

/// What the clients of a burst were told, and how much went unanswered.
#[derive(Default)]
struct Ledger {
    /// Registrations answered 201: (username, round).
    users: Vec<(String, usize)>,
    /// Password grants answered 200.
    grants: usize,
    /// Refresh tokens of those grants never sent for revocation: they must still work.
    kept: Vec<String>,
    /// Refresh tokens whose revocation was answered 200: they must be refused.
    revoked: Vec<String>,
    /// Requests in flight at a kill: no (complete) answer.
    unanswered: usize,
    /// Answers other than 2xx, by status.
    other: BTreeMap<u16, usize>,
}

impl Ledger {
    fn acknowledged(&self) -> usize {
        self.users.len() + self.grants + self.revoked.len()
    }
}

type Shared = Arc<Mutex<Ledger>>;

/// Sends `rb`: the status and JSON body, or `None` (counted as unanswered) when the server died
/// before the whole answer arrived. Answers other than 2xx are counted by status.
async fn ask(rb: RequestBuilder, ledger: &Shared) -> Option<(u16, Value)> {
    let answer = match rb.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            r.bytes().await.ok().map(|body| (status, body))
        }
        Err(_) => None,
    };
    let mut l = ledger.lock().unwrap();
    let Some((status, body)) = answer else {
        l.unanswered += 1;
        return None;
    };
    if !(200..300).contains(&status) {
        *l.other.entry(status).or_default() += 1;
    }
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// One client of the burst: register, take tokens, revoke every other refresh token, again and
/// again, until the server dies under it (`None`: a request went unanswered).
async fn burst_client(
    client: Client,
    url: String,
    tag: String,
    round: usize,
    ledger: Shared,
) -> Option<()> {
    for i in 0u64.. {
        let name = format!("{tag}i{i}");
        let password = password_of(&name);
        let (status, _) = ask(register(&client, &url, &name), &ledger).await?;
        if status != 201 {
            continue;
        }
        ledger.lock().unwrap().users.push((name.clone(), round));
        let form = [
            ("grant_type", "password"),
            ("username", &name),
            ("password", &password),
        ];
        let token = client.post(format!("{url}/oauth2/token")).form(&form);
        let (status, tokens) = ask(token, &ledger).await?;
        if status != 200 {
            continue;
        }
        let refresh = tokens["refresh_token"].as_str().expect("refresh_token");
        let access = tokens["access_token"].as_str().expect("access_token");
        {
            // Every other grant keeps its refresh token; the rest are revoked.
            let mut l = ledger.lock().unwrap();
            l.grants += 1;
            if l.grants.is_multiple_of(2) {
                l.kept.push(refresh.to_owned());
                continue;
            }
        }
        let revoke = client
            .post(format!("{url}/oauth2/revoke"))
            .bearer_auth(access)
            .form(&[("token", refresh)]);
        if ask(revoke, &ledger).await?.0 == 200 {
            ledger.lock().unwrap().revoked.push(refresh.to_owned());
        }
    }
    None
}

const BURST_CLIENTS: usize = 6;

/// `kills` rounds on `db_url`: start the real server, let six clients write, SIGKILL it once a few
/// more writes were acknowledged (with requests in flight), restart on the same database.
async fn burst_with_kills(dir: &Path, db_url: &str, label: &str, kills: usize) -> Ledger {
    let env = server_env(db_url);
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ledger = Shared::default();
    for round in 0..kills {
        let server = BinServer::start(dir, &env, &format!("{label}-{round}")).await;
        let target = ledger.lock().unwrap().acknowledged() + 6 + (round * 5) % 11;
        let clients: Vec<_> = (0..BURST_CLIENTS)
            .map(|c| {
                let (client, url, ledger) = (client.clone(), server.url.clone(), ledger.clone());
                tokio::spawn(burst_client(
                    client,
                    url,
                    format!("r{round}c{c}"),
                    round,
                    ledger,
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while ledger.lock().unwrap().acknowledged() < target {
            assert!(
                Instant::now() < deadline,
                "{label}: round {round} acknowledged nothing for 60 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill9();
        for c in clients {
            tokio::time::timeout(Duration::from_secs(60), c)
                .await
                .expect("a client still waiting 60 s after the kill")
                .expect("client task");
        }
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    let errors = ledger.other.keys().any(|s| *s >= 500);
    assert!(
        !errors,
        "{label}: server errors in the burst: {:?}",
        ledger.other
    );
    ledger
}

/// On a server restarted after the kills: every acknowledged write is there. Returns the report.
async fn check_acknowledged(server: &BinServer, ledger: &Ledger) -> String {
    let client = Client::new();
    let (_, body) = token_status(&client, &server.url, ADMIN, ADMIN_PASSWORD).await;
    let admin = body["access_token"]
        .as_str()
        .expect("admin token")
        .to_owned();
    let mut names = HashSet::new();
    for offset in (0..).step_by(100) {
        let page = client.get(server.at(&format!("/users?limit=100&offset={offset}")));
        let (_, _, page) = call(page.bearer_auth(&admin)).await;
        let items = page["items"].as_array().expect("items").clone();
        names.extend(
            items
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        if items.len() < 100 {
            break;
        }
    }
    let lost: Vec<_> = ledger
        .users
        .iter()
        .filter(|(n, _)| !names.contains(n))
        .collect();
    assert!(lost.is_empty(), "acknowledged registrations lost: {lost:?}");
    // The last user acknowledged before each kill logs in.
    let mut last_of_round = BTreeMap::new();
    for (name, round) in &ledger.users {
        last_of_round.insert(round, name);
    }
    for name in last_of_round.values() {
        let (status, body) = token_status(&client, &server.url, name, &password_of(name)).await;
        assert_eq!(
            status, 200,
            "{name}, acknowledged just before a kill: {body}"
        );
    }
    for token in &ledger.revoked {
        let (status, body) = refresh(&client, &server.url, token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "an acknowledged revocation was lost: {body}"
        );
    }
    for token in &ledger.kept {
        let (status, body) = refresh(&client, &server.url, token).await;
        assert_eq!(status, 200, "an acknowledged grant was lost: {body}");
    }
    let (l, listed) = (ledger, names.len());
    let (users, grants, revoked, kept) = (l.users.len(), l.grants, l.revoked.len(), l.kept.len());
    format!(
        "acknowledged {} writes ({users} registrations, {grants} token grants, {revoked} \
         revocations), all present: the {users} users among the {listed} listed (the admin and \
         users committed without an answer included), the {revoked} revoked refresh tokens \
         refused with invalid_grant, the {kept} never sent for revocation refreshing; {} \
         requests unanswered at the kills; other answers {:?}",
        l.acknowledged(),
        l.unanswered,
        l.other,
    )
}

/// The `sqlite3` CLI on PATH, if any.
fn sqlite3() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("sqlite3"))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn kill_9_twenty_times_during_a_burst_loses_nothing_on_sqlite() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bouncer.db");
    let url = format!("sqlite://{}", db.display());
    let ledger = burst_with_kills(dir.path(), &url, "sqlite", 20).await;

    // Sound after the last kill, before anything reopens it.
    let integrity = match sqlite3() {
        Some(bin) => {
            let out = std::process::Command::new(bin)
                .arg(&db)
                .arg("PRAGMA integrity_check")
                .output()
                .expect("run sqlite3");
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                out.status.success() && text == "ok",
                "integrity_check: {text} {out:?}"
            );
            text
        }
        None => {
            skip("the sqlite3 CLI is not installed (apt-get install sqlite3)");
            "not run (no sqlite3 CLI)".to_owned()
        }
    };
    let server = BinServer::start(dir.path(), &server_env(&url), "sqlite-final").await;
    let report = check_acknowledged(&server, &ledger).await;
    println!(
        "kill -9 x20 on SQLite: {report}; integrity_check: {integrity}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn kill_9_five_times_during_a_burst_loses_nothing_on_postgres() {
    let Some(pg) = postgres() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.fresh_database();
    let ledger = burst_with_kills(dir.path(), &url, "postgres", 5).await;
    let server = BinServer::start(dir.path(), &server_env(&url), "postgres-final").await;
    let report = check_acknowledged(&server, &ledger).await;
    println!(
        "kill -9 x5 on PostgreSQL: {report}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
