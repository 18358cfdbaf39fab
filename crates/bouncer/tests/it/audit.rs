//! The audit trail over HTTP: logins (password grant, session, failed Basic) and token events,
//! refusals, administrative changes (committed with the change, never a secret), filters and
//! pagination, the `audit:read` permission, no loss across a graceful restart, and retention.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bouncer_core::clock::{Clock, rfc3339};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::support::http::{assert_problem, call};
use crate::support::{ADMIN, ADMIN_PASSWORD, BOTH, Db, TestApp, basic};
use crate::users::admin_id;

/// The query for failed logins.
pub(crate) const FAILED_LOGINS: [(&str, &str); 2] = [("action", "login"), ("outcome", "failure")];
pub(crate) const WRONG: &str = "Wrong-pw-000111";

/// Runs `test` on a fresh server on each database (PostgreSQL skipped when unavailable).
pub(crate) async fn on_both(test: impl AsyncFn(&TestApp, Db)) {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        test(&app, db).await;
        app.stop().await;
    }
}

/// `rb` with `X-Request-Id: rid`, sent; status and JSON body.
async fn send(rb: RequestBuilder, rid: &str) -> (u16, Value) {
    let (s, _, body) = call(rb.header("x-request-id", rid)).await;
    (s, body)
}

/// A request to `path` with `token` as its bearer credential.
fn req(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
    app.client.request(method, app.at(path)).bearer_auth(token)
}

/// `POST /oauth2/token` with `form` and `X-Request-Id: rid`.
async fn grant(app: &TestApp, form: &[(&str, &str)], rid: &str) -> (u16, Value) {
    send(app.client.post(app.at("/oauth2/token")).form(form), rid).await
}

pub(crate) async fn password(app: &TestApp, user: &str, pw: &str, rid: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "password"),
        ("username", user),
        ("password", pw),
    ];
    grant(app, &form, rid).await
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_owned()
}

/// One page of `GET /audit/events` with `query`, as `token`.
pub(crate) async fn page(app: &TestApp, token: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let (s, _, body) = call(req(app, Method::GET, "/audit/events", token).query(query)).await;
    (s, body)
}

/// Every event matching `query`, following `next_cursor` to the end. Checks that every page but
/// the last holds 50 and ends at its cursor, and that the walk is strictly newest first (ids
/// descending, so nothing repeats; times never increasing).
pub(crate) async fn all(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = query.to_vec();
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let (st, body) = page(app, token, &q).await;
        assert_eq!(st, 200, "{query:?}: {body}");
        let items = body["items"].as_array().expect("items").clone();
        let next = body["next_cursor"].as_str().map(str::to_owned);
        if next.is_some() {
            assert_eq!(items.len(), 50, "a page that is not the last is full");
            assert_eq!(next.as_deref(), items[49]["id"].as_str(), "cursor: last id");
        }
        assert!(items.len() <= 50);
        out.extend(items);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    for w in out.windows(2) {
        assert!(s(&w[0], "id") > s(&w[1], "id"), "order: {} {}", w[0], w[1]);
        assert!(
            s(&w[0], "time") >= s(&w[1], "time"),
            "time: {} {}",
            w[0],
            w[1]
        );
    }
    out
}

/// How many events match `query`.
async fn count(app: &TestApp, token: &str, query: &[(&str, &str)]) -> usize {
    all(app, token, query).await.len()
}

/// The events of the request sent with `X-Request-Id: rid` as `action actor outcome reason`
/// (`-` for no reason), sorted; each must carry the client's address.
pub(crate) fn of_request(events: &[Value], rid: &str) -> Vec<String> {
    let mut rows: Vec<String> = events
        .iter()
        .filter(|e| e["request_id"] == rid)
        .map(|e| {
            assert_eq!(e["client_ip"], "127.0.0.1", "{e}");
            let reason = e["reason"].as_str().unwrap_or("-");
            format!(
                "{} {} {} {reason}",
                s(e, "action"),
                s(e, "actor"),
                s(e, "outcome")
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The subject of the one event of request `rid` with `action`.
fn subject_of(events: &[Value], rid: &str, action: &str) -> String {
    let found: Vec<&Value> = events
        .iter()
        .filter(|e| e["request_id"] == rid && e["action"] == action)
        .collect();
    assert_eq!(found.len(), 1, "{rid} {action}: {found:?}");
    found[0]["subject"].as_str().unwrap_or_default().to_owned()
}

/// Asserts that none of `secrets` appears anywhere in the events.
fn assert_secret_free(events: &[Value], secrets: &[&str]) {
    let text = serde_json::to_string(events).unwrap();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} is in the audit trail");
    }
}

/// Logins that work and fail (with the username tried), token issue, refresh, revoke (by the
/// token itself and by its owner) and reuse, each with its client address and request id.
#[tokio::test]
async fn logins_and_token_events_are_recorded() {
    on_both(logins_and_token_events).await;
}

async fn logins_and_token_events(app: &TestApp, db: Db) {
    let (name, pw, _) = app.user_with_roles("alice", &["user"]).await;
    let (st, first) = password(app, &name, &pw, "r-login").await;
    assert_eq!(st, 200, "{db:?}: {first}");
    assert_eq!(password(app, &name, WRONG, "r-wrong").await.0, 400);
    assert_eq!(password(app, "nobody", WRONG, "r-unknown").await.0, 400);
    let rt = s(&first, "refresh_token");
    let form = [("grant_type", "refresh_token"), ("refresh_token", &rt)];
    let (st, second) = grant(app, &form, "r-refresh").await;
    assert_eq!(st, 200, "{db:?}: {second}");
    // A second login: its access token revokes itself; its refresh token is revoked by its owner
    // (the first login's newest access token as the credential).
    let (st, other) = password(app, &name, &pw, "r-login2").await;
    assert_eq!(st, 200);
    let (access, a2) = (s(&other, "access_token"), s(&second, "access_token"));
    let rb = req(app, Method::POST, "/oauth2/revoke", &access).form(&[("token", &access)]);
    assert_eq!(send(rb, "r-revoke-self").await.0, 200, "{db:?}");
    let rb = req(app, Method::POST, "/oauth2/revoke", &a2);
    let rb = rb.form(&[("token", s(&other, "refresh_token"))]);
    assert_eq!(send(rb, "r-revoke-own").await.0, 200, "{db:?}");
    // The first refresh token again: rotated already, so a reuse.
    assert_eq!(grant(app, &form, "r-reuse").await.0, 400, "{db:?}");
    // A session login, and a failed Basic credential.
    let rb = app.client.post(app.at("/auth/login"));
    let rb = rb.json(&json!({"username": name, "password": pw}));
    assert_eq!(send(rb, "r-session").await.0, 200, "{db:?}");
    let rb = app.client.get(app.at("/users/me"));
    let rb = rb.header("authorization", basic(&name, "Wrong-basic-333"));
    assert_eq!(send(rb, "r-basic").await.0, 401, "{db:?}");

    let admin = app.admin_token().await;
    let events = all(app, &admin, &[]).await;
    let issued: &[&str] = &[
        "login alice success -",
        "token.issue alice success password",
    ];
    let reuse: &[&str] = &[
        "token.refresh swagger failure invalid_grant",
        "token.reuse alice failure refresh_token_reused",
    ];
    let expect: [(&str, &[&str]); 9] = [
        ("r-login", issued),
        ("r-wrong", &["login alice failure wrong_password"]),
        ("r-refresh", &["token.refresh alice success -"]),
        ("r-login2", issued),
        ("r-revoke-self", &["token.revoke token holder success -"]),
        ("r-revoke-own", &["token.revoke alice success -"]),
        ("r-reuse", reuse),
        ("r-session", &["login alice success -"]),
        ("r-basic", &["login alice failure wrong_password"]),
    ];
    for (rid, rows) in expect {
        assert_eq!(of_request(&events, rid), rows, "{db:?}: {rid}");
    }
    // The username as tried (its reason: see `an_unknown_username_is_recorded_as_unknown_user`).
    let unknown = of_request(&events, "r-unknown");
    assert!(
        unknown.len() == 1 && unknown[0].starts_with("login nobody failure "),
        "{unknown:?}"
    );
    assert_eq!(subject_of(&events, "r-login", "login"), "swagger");
    assert_eq!(subject_of(&events, "r-session", "login"), "session");
    assert_eq!(subject_of(&events, "r-basic", "login"), "basic");
    assert!(subject_of(&events, "r-revoke-self", "token.revoke").starts_with("token:"));
    assert!(subject_of(&events, "r-revoke-own", "token.revoke").starts_with("family:"));
    for e in &events {
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }
    let r2 = s(&second, "refresh_token");
    let secrets = [&*pw, WRONG, "Wrong-basic-333", &rt, &r2, &a2, &access];
    assert_secret_free(&events, &secrets);
}

/// A disabled user's login fails as `user_disabled`, a wrong password as `wrong_password`.
#[tokio::test]
async fn failed_logins_are_recorded_with_their_reason() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (name, pw, id) = app.user_with_roles("dora", &["user"]).await;
    let rb = req(&app, Method::PATCH, &format!("/users/{id}"), &admin);
    assert_eq!(
        send(rb.json(&json!({"disabled": true})), "r-off").await.0,
        200
    );
    password(&app, "dora", WRONG, "r-wrong").await;
    password(&app, &name, &pw, "r-disabled").await;
    let events = all(&app, &admin, &FAILED_LOGINS).await;
    let wrong = of_request(&events, "r-wrong");
    assert_eq!(wrong, ["login dora failure wrong_password"]);
    let disabled = of_request(&events, "r-disabled");
    assert_eq!(disabled, ["login dora failure user_disabled"]);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_username_is_recorded_as_unknown_user() {
    let app = TestApp::spawn().await;
    password(&app, "ghost", WRONG, "r-unknown").await;
    let admin = app.admin_token().await;
    let events = all(&app, &admin, &FAILED_LOGINS).await;
    let unknown = of_request(&events, "r-unknown");
    assert_eq!(unknown, ["login ghost failure unknown_user"]);
    app.stop().await;
}

/// Every 403 is an `authz.denied` event naming the caller, the refusal's code and what was
/// missing; the trail itself needs `audit:read`.
#[tokio::test]
async fn refusals_are_recorded_and_reading_needs_audit_read() {
    on_both(async |app: &TestApp, db: Db| {
        let (name, pw, _) = app.user_with_roles("bob", &["user"]).await;
        let t = app.token(&name, &pw).await;
        let (st, body) = send(req(app, Method::GET, "/users", &t), "r-users").await;
        assert_eq!(
            (st, &body["code"]),
            (403, &json!("missing_permission")),
            "{db:?}"
        );
        let rb = req(app, Method::GET, "/audit/events", &t).header("x-request-id", "r-audit");
        let got = call(rb).await;
        assert_problem(&format!("{db:?}"), &got, 403, "missing_permission", None);
        let (st, _, _) = call(app.client.get(app.at("/audit/events"))).await;
        assert_eq!(st, 401, "{db:?}: no credential");

        let admin = app.admin_token().await;
        let events = all(app, &admin, &[("action", "authz.denied")]).await;
        let denied = ["authz.denied bob failure missing_permission"];
        assert_eq!(of_request(&events, "r-users"), denied, "{db:?}");
        assert_eq!(of_request(&events, "r-audit"), denied, "{db:?}");
        assert_eq!(subject_of(&events, "r-users", "authz.denied"), "users:read");
        assert_eq!(subject_of(&events, "r-audit", "authz.denied"), "audit:read");
    })
    .await;
}

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

/// Filters combine with AND; `since` is the server's time; bad values and unknown parameters are
/// 422 naming them; pages of 50 walk the whole trail, newest first, without gap or repeat.
#[tokio::test]
async fn filters_combine_and_pages_walk_the_whole_trail() {
    let app = TestApp::spawn().await;
    let start = app.clock.now_ms();
    for i in 0..60 {
        let user = format!("pager-{i:02}");
        assert_eq!(password(&app, &user, WRONG, &format!("p{i}")).await.0, 400);
    }
    app.clock.advance_s(3600);
    let later = app.clock.now_ms();
    let admin = app.admin_token().await;
    password(&app, "pager-late", WRONG, "p-late").await;

    let failed = all(&app, &admin, &FAILED_LOGINS).await;
    let actors: Vec<String> = failed.iter().map(|e| s(e, "actor")).collect();
    let mut want: Vec<String> = (0..60).rev().map(|i| format!("pager-{i:02}")).collect();
    want.insert(0, "pager-late".into());
    assert_eq!(actors, want, "newest first, no gap, no repeat");
    let (st, first) = page(&app, &admin, &FAILED_LOGINS).await;
    assert_eq!((st, first["items"].as_array().unwrap().len()), (200, 50));
    let [login, fail] = FAILED_LOGINS;
    let (st, rest) = page(
        &app,
        &admin,
        &[login, fail, ("cursor", &s(&first, "next_cursor"))],
    )
    .await;
    assert_eq!((st, rest["items"].as_array().unwrap().len()), (200, 11));
    assert_eq!(rest["next_cursor"], Value::Null);
    // The whole trail: every id once.
    let everything = all(&app, &admin, &[]).await;
    let ids: HashSet<String> = everything.iter().map(|e| s(e, "id")).collect();
    assert_eq!(ids.len(), everything.len());
    assert!(everything.len() >= 63, "{}", everything.len());

    let (a, t) = (&app, admin.as_str());
    assert_eq!(count(a, t, &[("actor", "pager-07"), login, fail]).await, 1);
    assert_eq!(
        count(a, t, &[("actor", "pager-07"), ("outcome", "success")]).await,
        0
    );
    assert_eq!(
        count(a, t, &[("actor", "pager-07"), ("action", "token.issue")]).await,
        0
    );
    assert_eq!(
        count(a, t, &[("actor", ADMIN), login, ("outcome", "success")]).await,
        1
    );
    let bootstrap = [("actor", "operator"), ("action", "user.create")];
    assert_eq!(
        count(a, t, &bootstrap).await,
        1,
        "the first admin, made at start"
    );
    let future = rfc3339(app.clock.now_ms() + 86_400_000);
    assert_eq!(count(a, t, &[("since", &future)]).await, 0);
    assert_eq!(
        count(a, t, &[("since", &rfc3339(start - 1000)), login, fail]).await,
        61
    );
    let since = rfc3339(later);
    let newer = all(a, t, &[("since", &since), fail]).await;
    let newer: Vec<String> = newer.iter().map(|e| s(e, "actor")).collect();
    assert_eq!(newer, ["pager-late"]);
    // An offset survives URL encoding (`+`).
    let offset = since.replace('Z', "+00:00");
    assert_eq!(count(a, t, &[("since", &offset), fail]).await, 1);

    for (q, field) in [
        (vec![("outcome", "maybe")], "outcome"),
        (vec![("actor", "x"), ("colour", "red")], "colour"),
        (vec![("since", "yesterday")], "since"),
        (vec![("cursor", "not-a-cursor")], "cursor"),
    ] {
        let got = call(req(a, Method::GET, "/audit/events", t).query(&q)).await;
        assert_problem(
            &format!("{q:?}"),
            &got,
            422,
            "validation_error",
            Some(field),
        );
    }
    app.stop().await;
}

/// A server on the same database (and clock) as `app`, after a graceful stop.
async fn restart(app: TestApp) -> TestApp {
    let (config, clock, dir) = app.stop_and_keep().await;
    TestApp::spawn_from(config, clock, dir).await
}

/// 200 failed logins answered just before a graceful stop are all in the trail after a restart.
#[tokio::test]
async fn no_event_is_lost_across_a_graceful_restart() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let (client, url) = (app.client.clone(), app.at("/oauth2/token"));
            tasks.spawn(async move {
                let user = format!("burst-{i:03}");
                let form = [
                    ("grant_type", "password"),
                    ("username", &user),
                    ("password", WRONG),
                ];
                client
                    .post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
        }
        while let Some(st) = tasks.join_next().await {
            assert_eq!(st.unwrap(), 400, "{db:?}");
        }
        let app = restart(app).await;
        let admin = app.admin_token().await;
        let failed = all(&app, &admin, &FAILED_LOGINS).await;
        let actors: HashSet<String> = failed.iter().map(|e| s(e, "actor")).collect();
        let want: HashSet<String> = (0..200).map(|i| format!("burst-{i:03}")).collect();
        assert_eq!(failed.len(), 200, "{db:?}");
        assert_eq!(actors, want, "{db:?}");
        app.stop().await;
    }
}

/// Events older than `audit.retention_days` are pruned at start, by the server's clock; newer
/// ones stay.
#[tokio::test]
async fn retention_prunes_old_events_at_start() {
    for db in BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        assert_eq!(app.config.audit.retention_days, 90, "the default");
        for i in 0..3 {
            password(&app, &format!("old-{i}"), WRONG, "r-old").await;
        }
        // 89 days on, nothing is old enough yet: a restart keeps them.
        app.clock.advance_s(89 * 86_400);
        let app = restart(app).await;
        let admin = app.admin_token().await;
        assert_eq!(count(&app, &admin, &FAILED_LOGINS).await, 3, "{db:?}");
        // 91 days after them: gone at the next start; what happens after it stays. The tokens
        // issued before the jump have expired: a fresh one.
        app.clock.advance_s(2 * 86_400);
        let app = restart(app).await;
        password(&app, "new-0", WRONG, "r-new").await;
        let admin = app.admin_token().await;
        let deadline = Instant::now() + Duration::from_secs(3);
        let left = loop {
            let left = all(&app, &admin, &FAILED_LOGINS).await;
            if left.len() == 1 || Instant::now() > deadline {
                break left;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let actors: Vec<String> = left.iter().map(|e| s(e, "actor")).collect();
        assert_eq!(actors, ["new-0"], "{db:?}");
        // The first admin's creation went with them; the login 89 days on stays.
        assert_eq!(
            count(&app, &admin, &[("action", "user.create")]).await,
            0,
            "{db:?}"
        );
        let logins = all(&app, &admin, &[("actor", ADMIN), ("action", "login")]).await;
        assert_eq!(logins.len(), 2, "{db:?}: {logins:?}");
        app.stop().await;
    }
}
