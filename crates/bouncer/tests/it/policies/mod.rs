//! Policies over HTTP: the document round trip, every bad input named by its field, who may put
//! and delete them, the explain answer, and a change reaching another instance. What policies
//! decide is in `policy_decisions`.
//!
//! Here: the helpers (also used by `policy_decisions`), the round trip, the bad inputs and a
//! change reaching another instance. Who may put, delete and explain is in `who_may`; what
//! explain answers in `explain`.

mod explain;
mod who_may;

use serde_json::{Value, json};

use crate::support::http::{assert_problem, call};
use crate::support::{BOTH, TestApp};

/// Milliseconds of an RFC 3339 time.
pub(crate) fn ms(t: &str) -> i64 {
    bouncer_core::clock::parse_rfc3339(t).expect("RFC 3339")
}

pub(crate) async fn put(
    app: &TestApp,
    token: &str,
    name: &str,
    doc: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    call(
        app.client
            .put(app.at(&format!("/policies/{name}")))
            .bearer_auth(token)
            .json(doc),
    )
    .await
}

pub(crate) async fn put_ok(app: &TestApp, token: &str, name: &str, doc: Value) {
    let r = put(app, token, name, &doc).await;
    assert!(r.0 == 201 || r.0 == 200, "put {name}: {}", r.2);
}

pub(crate) async fn explain(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, _, v) = call(
        app.client
            .post(app.at("/authz/explain"))
            .bearer_auth(token)
            .json(&body),
    )
    .await;
    assert_eq!(s, 200, "explain {body}: {v}");
    v
}

/// Whether explain allows `permission` for `subject` at `at` (from `ip`, when given).
pub(crate) async fn allowed(
    app: &TestApp,
    admin: &str,
    subject: &str,
    permission: &str,
    at: &str,
    ip: Option<&str>,
) -> bool {
    let mut body = json!({"subject": subject, "permission": permission, "at": at});
    if let Some(ip) = ip {
        body["client_ip"] = json!(ip);
    }
    let v = explain(app, admin, body).await;
    v["allowed"].as_bool().expect("allowed")
}

#[tokio::test]
async fn a_policy_reads_back_as_it_was_put_and_is_listed_and_deleted() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let doc = json!({
            "description": "Deletes only from the office network, in office hours",
            "effect": "allow",
            "permissions": ["items:delete"],
            "roles": ["user"],
            "credential_kinds": ["jwt", "opaque", "basic", "api_key", "session", "client"],
            "conditions": {
                "time_zone": "Europe/Berlin",
                "time_windows": [{"start": "09:00", "end": "17:30"}],
                "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z",
                "client_ips": ["10.0.0.0/8", "2001:db8::/32"], "not_client_ips": [],
                "max_auth_age_s": 600
            }
        });
        let created = put(&app, &admin, "office-deletes", &doc).await;
        assert_eq!(created.0, 201, "{db:?}: {}", created.2);
        assert_eq!(created.2, doc, "{db:?}");
        let replaced = put(&app, &admin, "office-deletes", &doc).await;
        assert_eq!(replaced.0, 200, "{db:?}");
        let (s, _, got) = call(
            app.client
                .get(app.at("/policies/office-deletes"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!((s, &got), (200, &doc), "{db:?}");
        let (s, _, list) = call(app.client.get(app.at("/policies")).bearer_auth(&admin)).await;
        assert_eq!(s, 200);
        assert_eq!(list[0]["name"], "office-deletes", "{db:?}: {list}");
        assert_eq!(list[0]["effect"], "allow");
        let (s, _, _) = call(
            app.client
                .delete(app.at("/policies/office-deletes"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(s, 204);
        let gone = call(
            app.client
                .get(app.at("/policies/office-deletes"))
                .bearer_auth(&admin),
        )
        .await;
        assert_problem("deleted", &gone, 404, "not_found", None);
        let again = call(
            app.client
                .delete(app.at("/policies/office-deletes"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(again.0, 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_policies_are_422_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let base = json!({"effect": "allow", "permissions": ["items:read"]});
    let with = |path: &[&str], v: Value| {
        let mut d = base.clone();
        let mut at = &mut d;
        for (i, k) in path.iter().enumerate() {
            if i + 1 == path.len() {
                at[*k] = v.clone();
            } else {
                if at.get(*k).is_none() {
                    at[*k] = json!({});
                }
                at = &mut at[*k];
            }
        }
        d
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&["conditions", "time_zone"], json!("Mars/Olympus_Mons")),
            "conditions.time_zone",
        ),
        (
            with(
                &["conditions", "time_windows"],
                json!([{"start": "25:00", "end": "26:00"}]),
            ),
            "conditions.time_windows[0].start",
        ),
        (
            with(
                &["conditions", "time_windows"],
                json!([{"start": "09:00", "end": "9:30"}]),
            ),
            "conditions.time_windows[0].end",
        ),
        (
            with(
                &["conditions", "time_windows"],
                json!([{"start": "09:60", "end": "10:00"}]),
            ),
            "conditions.time_windows[0].start",
        ),
        (
            with(
                &["conditions", "time_windows"],
                json!([{"start": "10:00", "end": "10:00"}]),
            ),
            "conditions.time_windows[0]",
        ),
        (
            with(&["conditions", "time_windows"], json!([])),
            "conditions.time_windows",
        ),
        (
            with(
                &["conditions", "time_windows"],
                json!([{"start": "09:00", "end": "10:00", "tz": "UTC"}]),
            ),
            "conditions.time_windows[0].tz",
        ),
        (
            with(&["conditions", "client_ips"], json!(["10.0.0.0/33"])),
            "conditions.client_ips[0]",
        ),
        (
            with(&["conditions", "not_client_ips"], json!(["2001:db8::/129"])),
            "conditions.not_client_ips[0]",
        ),
        (
            with(&["conditions", "client_ips"], json!(["not-an-ip"])),
            "conditions.client_ips[0]",
        ),
        (
            with(&["conditions", "weekdays"], json!(["funday"])),
            "conditions.weekdays[0]",
        ),
        (
            with(&["conditions", "weekdays"], json!([])),
            "conditions.weekdays",
        ),
        (
            with(&["conditions", "valid_from"], json!("yesterday")),
            "conditions.valid_from",
        ),
        (
            with(&["conditions", "valid_from"], json!("2027-01-01T00:00:00Z")),
            "conditions.valid_until",
        ),
        (
            with(&["conditions", "max_auth_age_s"], json!(-5)),
            "conditions.max_auth_age_s",
        ),
        (
            with(&["conditions", "max_auth_age_s"], json!(0)),
            "conditions.max_auth_age_s",
        ),
        (
            with(&["conditions", "office"], json!(true)),
            "conditions.office",
        ),
        (with(&["priority"], json!(1)), "priority"),
        (with(&["effect"], json!("maybe")), "effect"),
        (with(&["permissions"], json!([])), "permissions"),
        (with(&["permissions"], json!(["items"])), "permissions[0]"),
        (with(&["roles"], json!(["no-such-role"])), "roles[0]"),
        (with(&["roles"], json!([])), "roles"),
        (
            with(&["credential_kinds"], json!(["carrier_pigeon"])),
            "credential_kinds[0]",
        ),
    ];
    let mut with_until = with(&["conditions", "valid_from"], json!("2027-01-01T00:00:00Z"));
    with_until["conditions"]["valid_until"] = json!("2026-01-01T00:00:00Z");
    let mut cases = cases;
    cases[13].0 = with_until;
    for (doc, field) in &cases {
        let r = put(&app, &admin, "bad", doc).await;
        assert_problem(&format!("{doc}"), &r, 422, "validation_error", Some(field));
    }
    let missing = put(&app, &admin, "bad", &json!({"effect": "deny"})).await;
    assert_eq!(missing.0, 422, "{}", missing.2);
    let bad_name = put(&app, &admin, "Bad%20Name", &base).await;
    assert_eq!(bad_name.0, 422, "{}", bad_name.2);
    let not_json = call(
        app.client
            .put(app.at("/policies/x"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(not_json.0, 400);
    let (s, _, list) = call(app.client.get(app.at("/policies")).bearer_auth(&admin)).await;
    assert_eq!((s, list), (200, json!([])), "nothing was stored");
    app.stop().await;
}

#[tokio::test]
async fn a_policy_change_reaches_another_instance() {
    let app = TestApp::spawn().await;
    let other = TestApp::spawn_shared(&app).await;
    let admin = app.admin_token().await;
    let (user, pw, _) = app.user_with_roles("far", &["user"]).await;
    let t = other.token(&user, &pw).await;
    assert_eq!(other.get_bearer("/items", &t).await.status(), 200);
    put_ok(
        &app,
        &admin,
        "stop-reads",
        json!({"effect": "deny", "permissions": ["items:read"]}),
    )
    .await;
    let start = std::time::Instant::now();
    loop {
        let s = other.get_bearer("/items", &t).await.status();
        if s == 403 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_millis(1500),
            "not in force on the other instance within 1.5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    other.stop().await;
    app.stop().await;
}
