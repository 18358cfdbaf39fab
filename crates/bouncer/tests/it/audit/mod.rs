//! The audit trail over HTTP: logins (password grant, session, failed Basic) and token events,
//! refusals and the `audit:read` permission, and the helpers the audit tests share. Administrative
//! changes (committed with the change, never a secret) are in `admin_changes`; filters and
//! pagination, no loss across a graceful restart, and retention in `trail`.

mod admin_changes;
mod trail;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::support::http::{assert_problem, call, s};
use crate::support::{BOTH, Db, TestApp, basic};

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
pub(crate) async fn send(rb: RequestBuilder, rid: &str) -> (u16, Value) {
    let (s, _, body) = call(rb.header("x-request-id", rid)).await;
    (s, body)
}

/// A request to `path` with `token` as its bearer credential.
pub(crate) fn req(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
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
pub(crate) fn subject_of(events: &[Value], rid: &str, action: &str) -> String {
    let found: Vec<&Value> = events
        .iter()
        .filter(|e| e["request_id"] == rid && e["action"] == action)
        .collect();
    assert_eq!(found.len(), 1, "{rid} {action}: {found:?}");
    found[0]["subject"].as_str().unwrap_or_default().to_owned()
}

/// Asserts that none of `secrets` appears anywhere in the events.
pub(crate) fn assert_secret_free(events: &[Value], secrets: &[&str]) {
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
