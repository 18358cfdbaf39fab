//! `bouncer policy` and `bouncer authz explain`, run as the real binary against a SQLite file in a
//! tempdir, and the harness the policy-command tests share. `bouncer apply` is in `apply`; what a
//! running server on the same database makes of an apply, in `in_force`.

mod apply;
mod in_force;

use serde_json::{Value, json};

use crate::cli::{Cli, Out, assert_bad_input};

/// The CLI harness (a tempdir with a SQLite database, the binary pointed at it), with the
/// policy and apply commands these tests use.
pub(crate) struct Ops(Cli);

impl std::ops::Deref for Ops {
    type Target = Cli;
    fn deref(&self) -> &Cli {
        &self.0
    }
}

impl Ops {
    pub(crate) fn new() -> Self {
        Ops(Cli::new())
    }

    /// `bouncer policy set NAME -` with `doc` on stdin.
    pub(crate) fn set(&self, name: &str, doc: &str) -> Out {
        self.run_with(&["policy", "set", name, "-"], Some(doc), &[])
    }

    /// What `bouncer KIND list` prints.
    pub(crate) fn list(&self, kind: &str) -> String {
        self.run(&[kind, "list"]).ok().stdout
    }

    /// `user add NAME`, with one password for every user of these tests.
    pub(crate) fn add_user(&self, name: &str) {
        self.0.add_user(name, "Pw-for-the-cli-42", &[]).ok();
    }

    /// `bouncer apply ARGS FILE` with `text` as the file.
    pub(crate) fn apply(&self, flags: &[&str], text: &str) -> Out {
        let file = self.write("bouncer-apply.toml", text);
        let mut args = vec!["apply"];
        args.extend_from_slice(flags);
        args.push(&file);
        self.run(&args)
    }

    /// What `role list`, `policy list` and `client list` print: the state an apply may change.
    pub(crate) fn state(&self) -> String {
        ["role", "policy", "client"]
            .map(|k| self.list(k))
            .join("--\n")
    }
}

/// Asserts that stdout holds `text`.
fn shows(out: &Out, text: &str) {
    assert!(out.stdout.contains(text), "{text:?} not in {out:#?}");
}

/// The lines of stdout.
pub(crate) fn lines(out: &Out) -> Vec<&str> {
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

/// `bouncer authz explain` for alice and `permission`, with `extra` arguments.
fn explain(ops: &Ops, permission: &str, extra: &[&str]) -> Out {
    let mut args = vec!["authz", "explain", "--user", "alice"];
    args.extend_from_slice(&["--permission", permission]);
    args.extend_from_slice(extra);
    ops.run(&args)
}

/// `bouncer policy set NAME -` with `doc`, which must succeed.
pub(crate) fn set_policy(ops: &Ops, name: &str, doc: Value) {
    ops.set(name, &doc.to_string()).ok();
}

/// `explain`'s exit status and its first three lines (allowed, code, policy).
fn verdict(out: &Out) -> (Option<i32>, Vec<&str>) {
    (out.code(), out.stdout.lines().take(3).collect())
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
    assert_eq!(explain(&ops, "items:write", &[]).code(), Some(0));
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
    assert_eq!(inside.code(), Some(0), "{inside:#?}");
    shows(
        &inside,
        "office-hours.time_windows: true (local time 10:00 (Europe/Berlin)",
    );
    let evening = explain(&ops, "items:write", &["--at", "2026-03-02T20:00:00+01:00"]);
    assert_eq!(evening.code(), Some(1), "{evening:#?}");
    assert_eq!(lines(&evening)[2], "policy: office-hours");
    shows(&evening, "office-hours.time_windows: false");
    // Saturday, in the window's hours.
    let saturday = explain(&ops, "items:write", &["--at", "2026-03-07T10:00:00+01:00"]);
    assert_eq!(saturday.code(), Some(1), "{saturday:#?}");
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
        assert_eq!(out.code(), Some(0), "{out:#?}");
    }
    let outside = explain(&ops, "items:read", &["--client-ip", "192.0.2.7"]);
    assert_eq!(outside.code(), Some(1), "{outside:#?}");
    assert_eq!(lines(&outside)[2], "policy: office-net");
    shows(
        &outside,
        "client address 192.0.2.7 does not satisfy the ranges",
    );
    assert_eq!(explain(&ops, "items:read", &[]).code(), Some(1));

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
        assert_eq!(explain(&ops, "items:read", &bad).code(), Some(2));
    }
}

#[test]
fn help_works_for_the_policy_commands() {
    let ops = Ops::new();
    for cmd in [&["policy", "set"][..], &["authz", "explain"], &["apply"]] {
        let out = ops.run(&[cmd, &["--help"]].concat()).ok();
        assert!(out.stdout.contains("Usage"), "{out:#?}");
    }
}
