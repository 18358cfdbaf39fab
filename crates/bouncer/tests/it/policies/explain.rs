//! What `POST /authz/explain` answers: every step (role, permission, scope, policy, condition)
//! with its result, the deciding policy and code, the caller's own credential when no subject is
//! named, and its bad inputs.

use serde_json::{Value, json};

use super::{explain, put_ok};
use crate::support::TestApp;
use crate::support::http::{assert_problem, call};

#[tokio::test]
async fn explain_reports_every_step_and_the_deciding_policy() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, pw, id) = app.user_with_roles("why", &["user"]).await;
    put_ok(&app, &admin, "office", json!({
        "effect": "allow", "permissions": ["items:delete", "items:write"], "roles": ["user"],
        "conditions": {"time_zone": "Europe/Berlin", "time_windows": [{"start": "09:00", "end": "17:00"}],
                       "client_ips": ["10.0.0.0/8"]}
    }))
    .await;
    // Not held at all: `forbidden`, no policy.
    let v = explain(
        &app,
        &admin,
        json!({"subject": id, "permission": "users:write"}),
    )
    .await;
    assert_eq!(
        (&v["allowed"], &v["code"], &v["policy"]),
        (&json!(false), &json!("forbidden"), &Value::Null),
        "{v}"
    );
    // Own item: items:write stands in for items:delete, and the office policy decides.
    let v = explain(
        &app,
        &admin,
        json!({
            "subject": user, "permission": "items:delete", "resource_owner": id,
            "at": "2026-11-30T10:00:00Z", "client_ip": "192.168.1.5"
        }),
    )
    .await;
    assert_eq!(
        (&v["allowed"], &v["code"], &v["policy"]),
        (&json!(false), &json!("policy_denied"), &json!("office")),
        "{v}"
    );
    let steps = v["steps"].as_array().unwrap();
    let find = |kind: &str, name: &str| {
        // The last such step: own-or-any checks `items:delete` first, then `items:write`.
        steps
            .iter()
            .rev()
            .find(|s| s["kind"] == kind && s["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} step in {v}"))
    };
    assert_eq!(find("role", "user")["result"], true);
    assert_eq!(find("policy", "office")["result"], false);
    assert_eq!(
        find("condition", "time_windows")["result"],
        true,
        "11:00 in Berlin"
    );
    assert_eq!(find("condition", "client_ips")["result"], false);
    assert_eq!(find("condition", "client_ips")["policy"], "office");
    for s in steps {
        assert!(
            ["role", "permission", "scope", "policy", "condition"]
                .contains(&s["kind"].as_str().unwrap()),
            "{s}"
        );
        assert!(s["result"].is_boolean() && s["detail"].is_string(), "{s}");
    }
    // From the office network it is allowed: code and policy are null.
    let v = explain(
        &app,
        &admin,
        json!({
            "subject": user, "permission": "items:delete", "resource_owner": id,
            "at": "2026-11-30T10:00:00Z", "client_ip": "10.0.0.5"
        }),
    )
    .await;
    assert_eq!(
        (&v["allowed"], &v["code"], &v["policy"]),
        (&json!(true), &Value::Null, &Value::Null),
        "{v}"
    );
    // Without a subject: the caller's own credential (a scoped token lacking the permission).
    let scoped = app.scoped_token(&user, &pw, Some("items:read")).await;
    let r = call(
        app.client
            .post(app.at("/authz/explain"))
            .bearer_auth(&scoped)
            .json(&json!({"permission": "items:read"})),
    )
    .await;
    assert_eq!(r.0, 403, "explain needs policies:read");
    let v = explain(&app, &admin, json!({"permission": "users:write"})).await;
    assert_eq!(v["allowed"], true, "the admin itself: {v}");
    // Bad input.
    for (body, field) in [
        (json!({"permission": "nope"}), "permission"),
        (json!({"permission": "items:read", "at": "noon"}), "at"),
        (json!({"permission": "items:read", "extra": 1}), "extra"),
    ] {
        let r = call(
            app.client
                .post(app.at("/authz/explain"))
                .bearer_auth(&admin)
                .json(&body),
        )
        .await;
        assert_problem(&body.to_string(), &r, 422, "validation_error", Some(field));
    }
    let r = call(
        app.client
            .post(app.at("/authz/explain"))
            .bearer_auth(&admin)
            .json(&json!({"permission": "items:read", "subject": "nobody-here"})),
    )
    .await;
    assert_problem("unknown subject", &r, 404, "not_found", None);
    app.stop().await;
}
