//! Who may do what. One table, principals × routes → the expected answer, run with Bearer tokens
//! (SQLite, and a subset on PostgreSQL) and with HTTP Basic. The rules a table cannot show are in
//! `changes_and_items`.

mod changes_and_items;

use std::fmt;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, RequestBuilder};
use serde_json::json;

use crate::support::http::{Resp, send};
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp};

/// The expected answer of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Any 2xx.
    Ok,
    /// 401: no credentials (`unauthorized`) or refused ones (`invalid_token` for a bearer token).
    No,
    /// 403 `missing_role`.
    Role,
    /// 403 `missing_permission`, naming the permission.
    Perm(&'static str),
    /// 403 `insufficient_scope`, naming the scope, with the RFC 6750 challenge.
    Scope(&'static str),
}

use Want::{No as NO, Ok as OK, Perm as P, Role as ROLE, Scope as S};

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Want::Ok => write!(f, "2xx"),
            Want::No => write!(f, "401"),
            Want::Role => write!(f, "403 missing_role"),
            Want::Perm(p) => write!(f, "403 missing_permission {p}"),
            Want::Scope(s) => write!(f, "403 insufficient_scope {s}"),
        }
    }
}

/// The columns of [`MATRIX`]. `{id}` is an item of "user", created afresh for every cell.
const ROUTES: [&str; 11] = [
    "GET /protected",
    "GET /admin-only",
    "GET /user-only",
    "GET /users/me",
    "GET /users",
    "GET /items",
    "POST /items",
    "PUT /items/{id}",
    "DELETE /items/{id}",
    "GET /roles",
    "PUT /roles/x",
];

/// The contract. "user" owns the items of the PUT and DELETE columns; "other user" is a second
/// holder of role `user`; "scoped token" is a token of "user" with `scope=items:read`, which narrows
/// its roles too (no `role:user` in it: `/user-only` is `insufficient_scope`); "expired
/// token" is one of "user" aged past expiry and leeway; "disabled user" got its token first.
#[rustfmt::skip]
const MATRIX: [(&str, [Want; 11]); 9] = [
    //                /protected /admin-only /user-only /users/me  GET /users        GET /items  POST /items       PUT /items/{id}   DELETE /items/{id}  GET /roles       PUT /roles/x
    ("anonymous",     [NO,       NO,         NO,        NO,        NO,               NO,         NO,               NO,               NO,                 NO,              NO              ]),
    ("guest",         [OK,       ROLE,       ROLE,      OK,        P("users:read"),  OK,         P("items:write"), P("items:*"),     P("items:delete"),  P("roles:read"), P("roles:write")]),
    ("user",          [OK,       ROLE,       OK,        OK,        P("users:read"),  OK,         OK,               OK,               OK,                 P("roles:read"), P("roles:write")]),
    ("other user",    [OK,       ROLE,       OK,        OK,        P("users:read"),  OK,         OK,               P("items:*"),     P("items:delete"),  P("roles:read"), P("roles:write")]),
    ("moderator",     [OK,       ROLE,       ROLE,      OK,        OK,               OK,         OK,               OK,               OK,                 P("roles:read"), P("roles:write")]),
    ("admin",         [OK,       OK,         OK,        OK,        OK,               OK,         OK,               OK,               OK,                 OK,              OK              ]),
    ("disabled user", [NO,       NO,         NO,        NO,        NO,               NO,         NO,               NO,               NO,                 NO,              NO              ]),
    ("scoped token",  [OK,       ROLE,       S("role:user"), OK,        P("users:read"),  OK,         S("items:write"), S("items:write"), S("items:write"),   P("roles:read"), P("roles:write")]),
    ("expired token", [NO,       NO,         NO,        NO,        NO,               NO,         NO,               NO,               NO,                 NO,              NO              ]),
];

/// How a principal proves who it is.
#[derive(Debug, Clone)]
pub(crate) enum Cred {
    Anonymous,
    Bearer(String),
    Basic(String, String),
}

impl Cred {
    pub(crate) fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        match self {
            Cred::Anonymous => rb,
            Cred::Bearer(t) => rb.bearer_auth(t),
            Cred::Basic(u, p) => rb.basic_auth(u, Some(p)),
        }
    }
}

/// Creates an item as `owner`; its id.
pub(crate) async fn new_item(app: &TestApp, owner: &Cred) -> String {
    let r = send(
        owner
            .apply(app.client.post(app.at("/items")))
            .json(&json!({"name": "thing"})),
    )
    .await;
    assert_eq!(r.status, 201, "create item: {}", r.text);
    r.body["id"].as_str().expect("item id").to_owned()
}

/// One cell: the request of `route` with `cred`.
async fn call(app: &TestApp, route: &str, cred: &Cred, owner: &Cred) -> Resp {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    let path = if path.contains("{id}") {
        path.replace("{id}", &new_item(app, owner).await)
    } else {
        path.to_owned()
    };
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = cred.apply(app.client.request(method.clone(), app.at(&path)));
    if method == Method::POST || method == Method::PUT {
        rb = rb.json(&if path.starts_with("/roles/") {
            json!({"permissions": ["items:read"]})
        } else {
            json!({"name": "renamed"})
        });
    }
    send(rb).await
}

/// Why `r` is not `want`, if it is not.
fn mismatch(want: Want, cred: &Cred, r: &Resp) -> Option<String> {
    let code = r.body["code"].as_str().unwrap_or("");
    let missing = r.body["missing"].as_str().unwrap_or("");
    let problem = r
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json");
    let problem_ok = |status: u16, c: &str, m: Option<&str>| {
        r.status == status && problem && code == c && m.is_none_or(|m| m == missing)
    };
    let ok = match want {
        Want::Ok => (200..300).contains(&r.status),
        Want::No => {
            let bearer = matches!(cred, Cred::Bearer(_));
            let expected_code = if bearer {
                "invalid_token"
            } else {
                "unauthorized"
            };
            let ch = r.challenges();
            let bearer_challenge = ch.iter().any(|c| {
                c.starts_with(r#"Bearer realm="bouncer""#)
                    && c.contains(r#"error="invalid_token""#) == bearer
            });
            let basic_challenge = ch.contains(&r#"Basic realm="bouncer", charset="UTF-8""#);
            problem_ok(401, expected_code, None) && bearer_challenge && basic_challenge
        }
        Want::Role => problem_ok(403, "missing_role", None),
        Want::Perm(p) => problem_ok(403, "missing_permission", Some(p)),
        Want::Scope(s) => {
            let challenge =
                format!(r#"Bearer realm="bouncer", error="insufficient_scope", scope="{s}""#);
            problem_ok(403, "insufficient_scope", Some(s)) && r.challenges() == [challenge.as_str()]
        }
    };
    (!ok).then(|| {
        format!(
            "{} {}; WWW-Authenticate {:?}",
            r.status,
            r.text,
            r.challenges()
        )
    })
}

/// Runs the rows of [`MATRIX`] named in `who` (name, credential); panics once, listing every
/// cell that did not match.
async fn run_matrix(app: &TestApp, label: &str, owner: &Cred, who: &[(&str, Cred)]) {
    let mut failures = Vec::new();
    let mut cells = 0;
    for (name, cred) in who {
        let (_, row) = MATRIX
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no row {name}"));
        for (route, want) in ROUTES.iter().zip(row) {
            cells += 1;
            let r = call(app, route, cred, owner).await;
            assert!(r.status < 500, "{name} {route}: server error {}", r.text);
            if let Some(actual) = mismatch(*want, cred, &r) {
                failures.push(format!(
                    "  ({name}, {route}): expected {want}, got {actual}"
                ));
            }
        }
    }
    assert!(cells > 0);
    assert!(
        failures.is_empty(),
        "{label}: {} of {cells} cells differ from the contract:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The cast of the matrix on `app`, with Bearer and Basic credentials for each.
struct Cast {
    /// Creates the items of the PUT and DELETE columns ("user").
    owner: Cred,
    bearer: Vec<(&'static str, Cred)>,
    basic: Vec<(&'static str, Cred)>,
}

async fn cast(app: &TestApp) -> Cast {
    let guest = app.user_with_roles("gina", &["guest"]).await;
    let user = app.user_with_roles("uma", &["user"]).await;
    let other = app.user_with_roles("otto", &["user"]).await;
    let moderator = app.user_with_roles("mona", &["moderator"]).await;
    let disabled = app.user_with_roles("dora", &["user"]).await;

    // The expired token first: moving the clock ages every token issued so far.
    let expired = app.token(&user.0, &user.1).await;
    app.clock.advance_s(900 + 61);

    let token = |(name, password, _): &(String, String, String)| {
        let (name, password) = (name.clone(), password.clone());
        async move { Cred::Bearer(app.token(&name, &password).await) }
    };
    let basic = |(name, password, _): &(String, String, String)| {
        Cred::Basic(name.clone(), password.clone())
    };
    let disabled_token = token(&disabled).await;
    let r = send(
        app.client
            .patch(app.at(&format!("/users/{}", disabled.2)))
            .bearer_auth(app.admin_token().await)
            .json(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(r.status, 200, "disable dora: {}", r.text);

    let admin = (ADMIN.to_owned(), ADMIN_PASSWORD.to_owned(), String::new());
    let scoped = app.scoped_token(&user.0, &user.1, Some("items:read")).await;
    Cast {
        owner: token(&user).await,
        bearer: vec![
            ("anonymous", Cred::Anonymous),
            ("guest", token(&guest).await),
            ("user", token(&user).await),
            ("other user", token(&other).await),
            ("moderator", token(&moderator).await),
            ("admin", token(&admin).await),
            ("disabled user", disabled_token),
            ("scoped token", Cred::Bearer(scoped)),
            ("expired token", Cred::Bearer(expired)),
        ],
        basic: vec![
            ("anonymous", Cred::Anonymous),
            ("guest", basic(&guest)),
            ("user", basic(&user)),
            ("moderator", basic(&moderator)),
            ("admin", basic(&admin)),
            ("disabled user", basic(&disabled)),
        ],
    }
}

#[tokio::test]
async fn bearer_tokens_get_exactly_what_the_matrix_says() {
    let app = TestApp::spawn().await;
    let cast = cast(&app).await;
    assert_eq!(cast.bearer.len(), MATRIX.len(), "every row is exercised");
    run_matrix(&app, "Bearer on SQLite", &cast.owner, &cast.bearer).await;
    app.stop().await;
}

#[tokio::test]
async fn basic_credentials_get_the_same_answers_as_tokens() {
    let app = TestApp::spawn().await;
    let cast = cast(&app).await;
    run_matrix(&app, "Basic on SQLite", &cast.owner, &cast.basic).await;
    app.stop().await;
}

#[tokio::test]
async fn the_matrix_holds_on_postgres_too() {
    let Some(app) = TestApp::spawn_on(Db::Postgres).await else {
        return;
    };
    let cast = cast(&app).await;
    let subset: Vec<_> = cast
        .bearer
        .into_iter()
        .filter(|(n, _)| {
            [
                "anonymous",
                "guest",
                "other user",
                "moderator",
                "disabled user",
                "scoped token",
            ]
            .contains(n)
        })
        .collect();
    run_matrix(&app, "Bearer on PostgreSQL", &cast.owner, &subset).await;
    app.stop().await;
}
