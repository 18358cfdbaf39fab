//! `bouncer policy`, `bouncer authz explain` and `bouncer apply`, run as the real binary against a
//! SQLite file in a tempdir, and what a running server on the same database makes of an apply.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{Cli, Out};
use crate::support::{Db, TestApp};

/// The CLI harness (a tempdir with a SQLite database, the binary pointed at it), with the
/// policy and apply commands these tests use.
struct Ops(Cli);

impl std::ops::Deref for Ops {
    type Target = Cli;
    fn deref(&self) -> &Cli {
        &self.0
    }
}

impl Ops {
    fn new() -> Self {
        Ops(Cli::new())
    }

    /// `bouncer policy set NAME -` with `doc` on stdin.
    fn set(&self, name: &str, doc: &str) -> Out {
        self.run_with(&["policy", "set", name, "-"], Some(doc), &[])
    }

    /// What `bouncer KIND list` prints.
    fn list(&self, kind: &str) -> String {
        self.run(&[kind, "list"]).ok().stdout
    }

    fn add_user(&self, name: &str) {
        let email = format!("{name}@example.com");
        self.run_with(
            &["user", "add", name, "--email", &email, "--password-stdin"],
            Some("Pw-for-the-cli-42\n"),
            &[],
        )
        .ok();
    }

    /// `bouncer apply ARGS FILE` with `text` as the file.
    fn apply(&self, flags: &[&str], text: &str) -> Out {
        let file = self.write("bouncer-apply.toml", text);
        let mut args = vec!["apply"];
        args.extend_from_slice(flags);
        args.push(&file);
        self.run(&args)
    }

    /// What `role list`, `policy list` and `client list` print: the state an apply may change.
    fn state(&self) -> String {
        ["role", "policy", "client"]
            .map(|k| self.list(k))
            .join("--\n")
    }
}

fn code(out: &Out) -> Option<i32> {
    out.status.code()
}

/// Exit status 2 and one line on stderr holding every string in `names`.
fn assert_bad_input(out: &Out, names: &[&str]) {
    assert_eq!(code(out), Some(2), "{out:#?}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {out:#?}");
    for n in names {
        assert!(
            lines[0].contains(n),
            "stderr should name {n:?}: {}",
            lines[0]
        );
    }
}

/// Asserts that stdout holds `text`.
fn shows(out: &Out, text: &str) {
    assert!(out.stdout.contains(text), "{text:?} not in {out:#?}");
}

fn lines(out: &Out) -> Vec<&str> {
    out.stdout.lines().collect()
}

#[test]
fn policy_set_show_list_delete_and_bad_documents() {
    let ops = Ops::new();
    assert_eq!(ops.list("policy"), "");
    let doc = json!({
        "description": "writes in office hours",
        "effect": "allow",
        "permissions": ["items:write"],
        "conditions": {
            "time_zone": "Europe/Berlin",
            "time_windows": [{"start": "09:00", "end": "17:30"}],
            "weekdays": ["mon", "tue", "wed", "thu", "fri"]
        }
    });
    let file = ops.write("office.json", &doc.to_string());
    let set = ops.run(&["policy", "set", "office-hours", &file]).ok();
    assert_eq!(set.stdout, "created policy office-hours\n");
    let shown: Value =
        serde_json::from_str(&ops.run(&["policy", "show", "office-hours"]).ok().stdout)
            .expect("show prints JSON");
    assert_eq!(shown, doc);
    assert_eq!(ops.list("policy"), "office-hours\tallow\titems:write\n");

    // From standard input, replacing it.
    let deny = json!({"effect": "deny", "permissions": ["items:delete", "items:write"]});
    let set = ops.set("office-hours", &deny.to_string()).ok();
    assert_eq!(set.stdout, "updated policy office-hours\n");
    let stored = ops.list("policy");
    assert_eq!(stored, "office-hours\tdeny\titems:delete items:write\n");

    // Bad documents: one line naming the field, exit 2, nothing stored.
    let bad = |doc: Value| ops.set("bad", &doc.to_string());
    assert_bad_input(
        &bad(json!({"effect": "allow", "permissions": ["items:write"],
                    "conditions": {"time_windows": [{"start": "25:00", "end": "17:00"}]}})),
        &["conditions.time_windows[0].start", "\"25:00\""],
    );
    assert_bad_input(
        &bad(json!({"effect": "allow", "permissions": ["items:write"],
                    "conditions": {"tz": "Europe/Berlin"}})),
        &["conditions.tz", "unknown field"],
    );
    assert_bad_input(
        &bad(json!({"effect": "allow", "permissions": ["items:write"],
                    "conditions": {"max_auth_age_s": "soon"}})),
        &["conditions.max_auth_age_s", "invalid type"],
    );
    assert_bad_input(
        &bad(json!({"effect": "perhaps", "permissions": ["a:b"]})),
        &["effect"],
    );
    assert_bad_input(
        &bad(json!({"effect": "deny", "permissions": ["items:read"], "roles": ["nobody"]})),
        &["roles[0]", "nobody"],
    );
    assert_bad_input(&ops.set("bad", "{not json"), &["line 1"]);
    assert_eq!(ops.list("policy"), stored);

    assert_eq!(
        ops.run(&["policy", "delete", "office-hours"]).ok().stdout,
        "deleted policy office-hours\n"
    );
    assert_eq!(ops.list("policy"), "");
    ops.run(&["policy", "show", "office-hours"]).failed();
    ops.run(&["policy", "delete", "office-hours"]).failed();
}

fn explain(ops: &Ops, permission: &str, extra: &[&str]) -> Out {
    let mut args = vec!["authz", "explain", "--user", "alice"];
    args.extend_from_slice(&["--permission", permission]);
    args.extend_from_slice(extra);
    ops.run(&args)
}

fn set_policy(ops: &Ops, name: &str, doc: Value) {
    ops.set(name, &doc.to_string()).ok();
}

/// `explain`'s exit status and its first three lines (allowed, code, policy).
fn verdict(out: &Out) -> (Option<i32>, Vec<&str>) {
    (code(out), out.stdout.lines().take(3).collect())
}

#[test]
fn explain_answers_allowed_or_denied_with_the_steps() {
    let ops = Ops::new();
    ops.add_user("alice");

    let out = explain(&ops, "items:read", &[]);
    let head = ["allowed: true", "code: -", "policy: -"];
    assert_eq!(verdict(&out), (Some(0), head.to_vec()), "{out:#?}");
    shows(&out, "permission items:read: held (role user)");

    // A deny policy for role user: exit 1, the policy named.
    set_policy(
        &ops,
        "no-read",
        json!({"effect": "deny", "permissions": ["items:read"], "roles": ["user"]}),
    );
    let out = explain(&ops, "items:read", &[]);
    let head = ["allowed: false", "code: policy_denied", "policy: no-read"];
    assert_eq!(verdict(&out), (Some(1), head.to_vec()), "{out:#?}");
    shows(&out, "\npolicy no-read (deny): refuses\n");
    // Permissions it does not govern are untouched; missing ones are refused without a policy.
    assert_eq!(code(&explain(&ops, "items:write", &[])), Some(0));
    let out = explain(&ops, "users:delete", &[]);
    let head = ["allowed: false", "code: missing_permission", "policy: -"];
    assert_eq!(verdict(&out), (Some(1), head.to_vec()), "{out:#?}");
    ops.run(&["policy", "delete", "no-read"]).ok();

    // A time window (Berlin office hours, weekdays): --at decides.
    set_policy(
        &ops,
        "office-hours",
        json!({"effect": "allow", "permissions": ["items:write"], "conditions": {
            "time_zone": "Europe/Berlin",
            "time_windows": [{"start": "09:00", "end": "17:30"}],
            "weekdays": ["mon", "tue", "wed", "thu", "fri"]}}),
    );
    // Monday 2 March 2026, 10:00 in Berlin (09:00 UTC).
    let inside = explain(&ops, "items:write", &["--at", "2026-03-02T09:00:00Z"]);
    assert_eq!(code(&inside), Some(0), "{inside:#?}");
    shows(
        &inside,
        "office-hours.time_windows: true (local time 10:00 (Europe/Berlin)",
    );
    let evening = explain(&ops, "items:write", &["--at", "2026-03-02T20:00:00+01:00"]);
    assert_eq!(code(&evening), Some(1), "{evening:#?}");
    assert_eq!(lines(&evening)[2], "policy: office-hours");
    shows(&evening, "office-hours.time_windows: false");
    // Saturday, in the window's hours.
    let saturday = explain(&ops, "items:write", &["--at", "2026-03-07T10:00:00+01:00"]);
    assert_eq!(code(&saturday), Some(1), "{saturday:#?}");
    shows(&saturday, "office-hours.weekdays: false");

    // A client-address policy: --client-ip decides; no address proves nothing.
    set_policy(
        &ops,
        "office-net",
        json!({"effect": "allow", "permissions": ["items:read"],
               "conditions": {"client_ips": ["10.0.0.0/8", "2001:db8::/32"]}}),
    );
    for ip in ["10.1.2.3", "2001:db8::1"] {
        let out = explain(&ops, "items:read", &["--client-ip", ip]);
        assert_eq!(code(&out), Some(0), "{out:#?}");
    }
    let outside = explain(&ops, "items:read", &["--client-ip", "192.0.2.7"]);
    assert_eq!(code(&outside), Some(1), "{outside:#?}");
    assert_eq!(lines(&outside)[2], "policy: office-net");
    shows(
        &outside,
        "client address 192.0.2.7 does not satisfy the ranges",
    );
    assert_eq!(code(&explain(&ops, "items:read", &[])), Some(1));

    // Bad input is exit 2, never a verdict.
    let bob: Vec<&str> = "authz explain --user bob --permission items:read"
        .split(' ')
        .collect();
    let bob = ops.run(&bob);
    assert_bad_input(&bob, &["--user", "bob"]);
    assert_bad_input(
        &explain(&ops, "items:Read", &[]),
        &["--permission", "items:Read"],
    );
    assert_bad_input(
        &explain(&ops, "items:read", &["--at", "tomorrow"]),
        &["--at", "tomorrow"],
    );
    for bad in [["--client-ip", "nope"], ["--resource-owner", "x"]] {
        assert_eq!(code(&explain(&ops, "items:read", &bad)), Some(2));
    }
}

const CREATED: [&str; 3] = [
    "+ role support",
    "+ policy office-hours",
    "+ client reporting",
];
const CHANGED: [&str; 3] = [
    "~ role support",
    "~ policy office-hours",
    "~ client reporting",
];

const FILE: &str = r#"
[roles.support]
permissions = ["items:read", "users:read"]

[policies.office-hours]
effect = "allow"
permissions = ["items:write"]
roles = ["support"]
[policies.office-hours.conditions]
time_zone = "Europe/Berlin"
time_windows = [{ start = "09:00", end = "17:30" }]

[clients.reporting]
scopes = ["items:read"]
first_party = false
"#;

/// The `client list` line of the client named `name`: id, name, first-party, scopes.
fn client_line(ops: &Ops, name: &str) -> Vec<String> {
    let list = ops.list("client");
    let found: Vec<Vec<String>> = list
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
        .filter(|f| f[1] == name)
        .collect();
    assert_eq!(found.len(), 1, "one client {name} in:\n{list}");
    found.into_iter().next().unwrap()
}

#[test]
fn apply_creates_then_has_nothing_to_do_and_plan_changes_nothing() {
    let ops = Ops::new();
    let before = ops.state();
    let plan = ops.apply(&["--plan"], FILE).ok();
    assert_eq!(lines(&plan), CREATED);
    assert_eq!(ops.state(), before, "--plan changed something");

    let applied = ops.apply(&[], FILE).ok();
    let out = lines(&applied);
    assert_eq!(out[..3], CREATED);
    let id = out[3]
        .strip_prefix("  client_id:     ")
        .expect("client id line");
    let secret = out[4]
        .strip_prefix("  client_secret: ")
        .expect("client secret line");
    assert!(
        id.starts_with("cl_") && secret.starts_with("bns_"),
        "{applied:#?}"
    );
    assert_eq!(out.len(), 5);
    assert!(applied.stderr.contains("shown only this once"));
    assert!(
        ops.list("role")
            .contains("support\titems:read users:read\n")
    );
    assert_eq!(ops.list("policy"), "office-hours\tallow\titems:write\n");
    let shown: Value =
        serde_json::from_str(&ops.run(&["policy", "show", "office-hours"]).ok().stdout).unwrap();
    assert_eq!(shown["conditions"]["time_windows"][0]["end"], "17:30");
    assert_eq!(
        client_line(&ops, "reporting"),
        [id, "reporting", "-", "items:read"]
    );

    // Again: nothing to do, no secret.
    let state = ops.state();
    assert_eq!(ops.apply(&[], FILE).ok().stdout, "No changes.\n");
    assert_eq!(ops.apply(&["--plan"], FILE).ok().stdout, "No changes.\n");
    assert_eq!(ops.state(), state);

    // Changed: `~` lines; the client keeps its id (and so its secret).
    let changed = FILE
        .replace(
            "\"items:read\", \"users:read\"",
            "\"users:read\", \"items:read\", \"items:delete\"",
        )
        .replace("17:30", "18:00")
        .replace("first_party = false", "first_party = true");
    assert_eq!(lines(&ops.apply(&["--plan"], &changed).ok()), CHANGED);
    assert_eq!(ops.state(), state, "--plan changed something");
    let out = ops.apply(&[], &changed).ok();
    assert_eq!(lines(&out), CHANGED);
    assert!(!out.stdout.contains("bns_"));
    assert_eq!(
        client_line(&ops, "reporting"),
        [id, "reporting", "first-party", "items:read"]
    );
    let roles = ops.list("role");
    assert!(roles.contains("support\titems:delete items:read users:read\n"));
    assert_eq!(ops.apply(&[], &changed).ok().stdout, "No changes.\n");
}

#[test]
fn prune_deletes_only_what_it_may() {
    let ops = Ops::new();
    ops.apply(&[], FILE).ok();
    ops.apply(
        &[],
        "[roles.staff]\npermissions = [\"items:read\"]\n[roles.extra]\npermissions = []\n",
    )
    .ok();
    set_policy(
        &ops,
        "extra-policy",
        json!({"effect": "deny", "permissions": ["items:delete"]}),
    );
    ops.run(&["client", "add", "extra-client", "--scope", "items:read"])
        .ok();
    ops.add_user("alice");
    ops.run(&["role", "grant", "extra", "alice"]).ok();

    // A role a user holds is not deleted behind their back: nothing changes.
    let state = ops.state();
    let out = ops.apply(&["--prune"], FILE);
    assert_bad_input(&out, &["extra", "1 user(s)"]);
    assert_eq!(ops.state(), state);
    ops.run(&["role", "revoke", "extra", "alice"]).ok();

    // With staff as the default role, it stays too; so do admin, moderator, user and guest.
    let staff_default = [("BOUNCER_AUTH__DEFAULT_ROLE", "staff")];
    let file = ops.write("prune.toml", FILE);
    let plan = ops
        .run_with(&["apply", "--plan", "--prune", &file], None, &staff_default)
        .ok();
    let expected = [
        "- policy extra-policy",
        "- client extra-client",
        "- role extra",
    ];
    assert_eq!(lines(&plan), expected);
    assert_eq!(ops.state(), state, "--plan changed something");
    let out = ops
        .run_with(&["apply", "--prune", &file], None, &staff_default)
        .ok();
    assert_eq!(lines(&out), expected);
    let roles: Vec<String> = ops
        .run(&["role", "list"])
        .ok()
        .stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        roles,
        ["admin", "guest", "moderator", "staff", "support", "user"]
    );
    assert_eq!(ops.list("policy"), "office-hours\tallow\titems:write\n");
    client_line(&ops, "reporting");
    assert!(!ops.list("client").contains("extra-client"));
    let again = ops.run_with(&["apply", "--prune", &file], None, &staff_default);
    assert_eq!(again.ok().stdout, "No changes.\n");

    // Without staff as the default role, a prune would take it; an empty file keeps the rest.
    assert_eq!(
        lines(&ops.apply(&["--plan", "--prune"], "").ok()),
        [
            "- policy office-hours",
            "- client reporting",
            "- role staff",
            "- role support"
        ]
    );
}

#[test]
fn a_bad_file_changes_nothing_and_names_what_is_wrong() {
    let ops = Ops::new();
    ops.apply(&[], "[roles.keep]\npermissions = [\"items:read\"]\n")
        .ok();
    let state = ops.state();
    // Everything before the bad entry is good; nothing of it may be applied.
    // (what to replace in FILE, with what, what the one line names (`|`-separated)); an empty
    // first part appends to FILE instead.
    #[rustfmt::skip]
    let cases = [
        ("Europe/Berlin", "Mars/Olympus", "conditions.time_zone|\"Mars/Olympus\" is not an IANA"),
        ("time_zone", "timezone", "policies.office-hours.conditions.timezone|unknown field"),
        ("\"users:read\"", "\"users:Read\"", "roles.support.permissions|users:Read"),
        ("[\"support\"]", "[\"supprot\"]", "policies.office-hours.roles[0]|supprot"),
        ("[\"items:read\"]\nfirst", "[\"items read\"]\nfirst", "clients.reporting.scopes|items read"),
        ("first_party = false", "first_party = 0", "clients.reporting.first_party|invalid type"),
        ("", "[groups.x]", "groups|unknown field"),
        ("permissions = [\"items:read\", \"users:read\"]", "perms = []", "roles.support.perms"),
        ("[clients.reporting]", "[clients.reporting", "bouncer-apply.toml:13:"),
        ("", "[roles.admin]\npermissions = []", "roles.admin.permissions|\"*\""),
    ];
    for (from, to, names) in cases {
        let text = match from {
            "" => format!("{FILE}\n{to}\n"),
            _ => FILE.replace(from, to),
        };
        let names: Vec<&str> = names.split('|').collect();
        assert_bad_input(&ops.apply(&[], &text), &names);
        assert_bad_input(&ops.apply(&["--plan"], &text), &names);
        assert_eq!(ops.state(), state, "a bad file changed something:\n{text}");
    }
    ops.run(&["apply", "/nonexistent/bouncer.toml"]).failed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_is_in_force_on_a_running_server_within_1_5_s() {
    let ops = Ops::new();
    let url = ops.url.clone();
    let app = TestApp::spawn_with(Db::Sqlite, move |c| c.database.url = url)
        .await
        .expect("SQLite is always available");
    let (alice, password, _) = app.user_with_roles("alice", &["user"]).await;
    let token = app.token(&alice, &password).await;
    assert_eq!(app.get_bearer("/items", &token).await.status(), 200);

    let file = r#"
[policies.no-reading]
effect = "deny"
permissions = ["items:read"]
roles = ["user"]

[clients.reporting]
scopes = ["items:read"]
"#;
    let out = tokio::task::block_in_place(|| ops.apply(&[], file).ok());
    let applied = Instant::now();
    let stdout = out.stdout.clone();
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
            .expect("printed")
            .to_owned()
    };
    let (id, secret) = (field("client_id:"), field("client_secret:"));

    let mut denied = None;
    let mut client_works = None;
    while applied.elapsed() < Duration::from_secs(5) && (denied.is_none() || client_works.is_none())
    {
        if denied.is_none() {
            let r = app.get_bearer("/items", &token).await;
            if r.status() == 403 {
                let body: Value = r.json().await.unwrap();
                assert!(body.to_string().contains("policy_denied"), "{body}");
                denied = Some(applied.elapsed());
            }
        }
        if client_works.is_none() {
            let r = app
                .client
                .post(app.at("/oauth2/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                client_works = Some(applied.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let denied = denied.expect("the server still lets alice read 5 s after the apply");
    let client_works = client_works.expect("the new client still refused 5 s after the apply");
    eprintln!("policy in force after {denied:?}, client after {client_works:?}");
    let limit = Duration::from_millis(1500);
    assert!(denied < limit && client_works < limit, "too slow");
    app.stop().await;
}

#[test]
fn help_works_for_the_policy_commands() {
    let ops = Ops::new();
    for cmd in [&["policy", "set"][..], &["authz", "explain"], &["apply"]] {
        let out = ops.run(&[cmd, &["--help"]].concat()).ok();
        assert!(out.stdout.contains("Usage"), "{out:#?}");
    }
}

/// What apply does to an existing client (`Bouncer::update_client`), on both databases: scopes
/// and first_party change in place, the secret stays, a token issued before loses what the client
/// lost at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_changes_in_place_on_both_databases() {
    use bouncer_core::authz::Actor::Operator;
    use bouncer_core::service::{NewClient, client_update::ClientPatch};
    for db in crate::support::BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let scopes = vec!["items:read".to_owned(), "items:write".to_owned()];
        let new = NewClient {
            name: "reporting".into(),
            scopes,
            first_party: false,
        };
        let (c, secret) = app.bouncer.create_client(Operator, new).await.unwrap();
        let grant = |form: &[(&str, &str)]| {
            let req = app.client.post(app.at("/oauth2/token"));
            req.basic_auth(&c.id, Some(&secret)).form(form).send()
        };
        let password = [
            ("grant_type", "password"),
            ("username", crate::support::ADMIN),
            ("password", crate::support::ADMIN_PASSWORD),
        ];
        assert_eq!(grant(&password).await.unwrap().status(), 400, "{db:?}");
        let r = grant(&[("grant_type", "client_credentials")])
            .await
            .unwrap();
        let token: Value = r.json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.get_bearer("/items", &token).await.status(), 200);

        let patch = ClientPatch {
            scopes: Some(vec!["items:write".into()]),
            first_party: Some(true),
        };
        let updated = app.bouncer.update_client(Operator, &c.id, patch).await;
        let updated = updated.unwrap();
        assert_eq!(
            (updated.scopes, updated.first_party),
            (vec!["items:write".to_owned()], true)
        );
        let stored = app.bouncer.list_clients().await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (&stored[0].id, &stored[0].secret_hash),
            (&c.id, &c.secret_hash)
        );
        assert_eq!(stored[0].scopes, ["items:write"], "{db:?}");
        assert_eq!(
            app.get_bearer("/items", &token).await.status(),
            403,
            "{db:?}"
        );
        assert_eq!(grant(&password).await.unwrap().status(), 200, "{db:?}");
        let missing = app
            .bouncer
            .update_client(Operator, "cl_nope", ClientPatch::default());
        assert!(matches!(
            missing.await,
            Err(bouncer_core::Error::NotFound("client"))
        ));
        app.stop().await;
    }
}
