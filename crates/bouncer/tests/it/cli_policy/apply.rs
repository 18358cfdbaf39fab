//! `bouncer apply`: roles, policies and clients as code; a plan that changes nothing, nothing to do
//! the second time, changes in place, what `--prune` may delete, and a bad file changing nothing.

use serde_json::{Value, json};

use super::{Ops, lines, set_policy};
use crate::cli::assert_bad_input;

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
