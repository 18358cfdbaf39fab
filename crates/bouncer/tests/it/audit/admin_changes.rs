//! The audit trail, administrative changes: each is recorded (by whom, on what, which fields: never
//! a value), and a change that fails leaves no event, as it shares the change's transaction.

use reqwest::Method;
use serde_json::{Value, json};

use super::{all, assert_secret_free, of_request, on_both, req, send, subject_of};
use crate::support::http::s;
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp};
use crate::users::admin_id;

/// Each administrative change is recorded (by whom, on what, which fields: never a value); a
/// change that fails leaves no event, as it shares the change's transaction.
#[tokio::test]
async fn admin_changes_are_recorded_with_the_change_and_without_secrets() {
    on_both(admin_changes).await;
}

async fn admin_changes(app: &TestApp, db: Db) {
    let admin = app.admin_token().await;
    let (_, old_pw, carol) = app.user_with_roles("carol", &["user"]).await;
    let to = |m: Method, path: &str| req(app, m, path, &admin);
    let carol_url = format!("/users/{carol}");
    let rb = to(Method::PATCH, &carol_url).json(&json!({"roles": ["moderator"]}));
    assert_eq!(send(rb, "r-roles").await.0, 200, "{db:?}");
    let new_pw = "Brand-new-secret-777";
    let rb = to(Method::PATCH, &carol_url).json(&json!({"password": new_pw, "full_name": "C"}));
    assert_eq!(send(rb, "r-pw").await.0, 200, "{db:?}");
    // Roles, clients, API keys and policies, each created and deleted.
    let rb = to(Method::PUT, "/roles/auditor").json(&json!({"permissions": ["audit:read"]}));
    assert_eq!(send(rb, "r-role").await.0, 201, "{db:?}");
    assert_eq!(
        send(to(Method::DELETE, "/roles/auditor"), "r-role-del")
            .await
            .0,
        204
    );
    let rb = to(Method::POST, "/clients").json(&json!({"name": "rep", "scopes": ["items:read"]}));
    let (st, c) = send(rb, "r-cl").await;
    assert_eq!(st, 201, "{db:?}: {c}");
    let (client_id, client_secret) = (s(&c, "client_id"), s(&c, "client_secret"));
    let rb = to(Method::DELETE, &format!("/clients/{client_id}"));
    assert_eq!(send(rb, "r-cl-del").await.0, 204, "{db:?}");
    let rb = to(Method::POST, "/users/me/api-keys").json(&json!({"name": "k"}));
    let (st, k) = send(rb, "r-key").await;
    assert_eq!(st, 201, "{db:?}: {k}");
    let (key_id, key) = (s(&k, "id"), s(&k, "key"));
    let rb = to(Method::POST, &format!("/users/me/api-keys/{key_id}/roll"));
    let (st, rolled) = send(rb.json(&json!({"overlap_s": 0})), "r-roll").await;
    assert_eq!(st, 200, "{db:?}: {rolled}");
    let (new_id, new_key) = (s(&rolled, "id"), s(&rolled, "key"));
    let rb = to(Method::DELETE, &format!("/users/me/api-keys/{new_id}"));
    assert_eq!(send(rb, "r-key-del").await.0, 204, "{db:?}");
    let doc = json!({"effect": "deny", "permissions": ["items:delete"]});
    let (st, b) = send(to(Method::PUT, "/policies/no-del").json(&doc), "r-pol").await;
    assert_eq!(st, 201, "{db:?}: {b}");
    // The policy refuses even the admin: a 403 like any other.
    let (st, item) = send(to(Method::POST, "/items").json(&json!({"name": "x"})), "-").await;
    assert_eq!(st, 201, "{db:?}: {item}");
    let rb = to(Method::DELETE, &format!("/items/{}", s(&item, "id")));
    assert_eq!(send(rb, "r-denied").await.0, 403, "{db:?}");
    assert_eq!(
        send(to(Method::DELETE, "/policies/no-del"), "r-pol-del")
            .await
            .0,
        204
    );
    assert_eq!(
        send(to(Method::DELETE, &carol_url), "r-user-del").await.0,
        204
    );
    // The last admin cannot be disabled: 409, and no event.
    let me = admin_id(app, &admin).await;
    let rb = to(Method::PATCH, &format!("/users/{me}")).json(&json!({"disabled": true}));
    let (st, b) = send(rb, "r-last-admin").await;
    assert_eq!((st, &b["code"]), (409, &json!("last_admin")), "{db:?}");

    let events = all(app, &admin, &[]).await;
    let key_reason = format!("owner={ADMIN} prefix={}", &key[..8]);
    let roll_reason = format!("new={new_id} overlap_s=0");
    let expect = [
        ("r-roles", "carol", "user.update", "changed=roles"),
        ("r-pw", "carol", "user.update", "changed=full_name,password"),
        ("r-role", "auditor", "role.put", "permissions=audit:read"),
        ("r-role-del", "auditor", "role.delete", "-"),
        ("r-cl", &client_id, "client.create", "scopes=items:read"),
        ("r-cl-del", &client_id, "client.delete", "-"),
        ("r-key", &key_id, "api_key.create", &key_reason),
        ("r-roll", &key_id, "api_key.roll", &roll_reason),
        ("r-key-del", &new_id, "api_key.delete", "-"),
        ("r-pol", "no-del", "policy.put", "-"),
        ("r-pol-del", "no-del", "policy.delete", "-"),
        ("r-user-del", "carol", "user.delete", "-"),
    ];
    for (rid, subject, action, reason) in expect {
        let want = format!("{action} {ADMIN} success {reason}");
        assert_eq!(of_request(&events, rid), [want], "{db:?}: {rid}");
        assert_eq!(subject_of(&events, rid, action), subject, "{db:?}: {rid}");
    }
    let denied = of_request(&events, "r-denied");
    assert_eq!(
        denied,
        [format!("authz.denied {ADMIN} failure policy_denied")]
    );
    let subject = subject_of(&events, "r-denied", "authz.denied");
    assert!(
        subject.contains("no-del"),
        "{db:?}: the policy is named: {subject}"
    );
    assert_eq!(
        of_request(&events, "r-last-admin"),
        Vec::<String>::new(),
        "{db:?}"
    );
    let admin_updated = |e: &&Value| e["action"] == "user.update" && e["subject"] == ADMIN;
    assert!(!events.iter().any(|e| admin_updated(&e)), "{db:?}");
    // The registration is the new user's own.
    let reg = events
        .iter()
        .find(|e| e["action"] == "user.create" && e["subject"] == "carol");
    assert_eq!(reg.expect("user.create")["actor"], "carol", "{db:?}");
    let secrets = [
        &*old_pw,
        new_pw,
        ADMIN_PASSWORD,
        &client_secret,
        &key,
        &new_key,
        &admin,
    ];
    assert_secret_free(&events, &secrets);
}
