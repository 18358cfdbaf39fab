//! Tokens from outside issuers (`[[issuers]]`), against a small issuer of the test's own on
//! 127.0.0.1: discovery, its key set (EdDSA keys made here), rotation and failures. Bouncer's roles,
//! permissions, scopes and forward-auth apply to its tokens; anything not configured is 401.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use bouncer::config::{IssuerClaimsConfig, IssuerConfig};
use bouncer_core::clock::Clock;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::http::{problem, problem_missing, send};
use crate::support::{Db, TestApp};

const AUDIENCE: &str = "my-api";

/// What the issuer serves, changed by the test.
#[derive(Default)]
struct Served {
    /// (kid, seed) of the keys in the key set.
    keys: Vec<(String, u8)>,
    /// Answer 500 to everything (an outage).
    down: bool,
    fetches: usize,
}

struct Idp {
    url: String,
    served: Arc<Mutex<Served>>,
    task: tokio::task::JoinHandle<()>,
}

fn signing_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

async fn discovery(State((url, s)): State<(String, Arc<Mutex<Served>>)>) -> Response {
    if s.lock().unwrap().down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    axum::Json(json!({"issuer": url, "jwks_uri": format!("{url}/certs")})).into_response()
}

async fn certs(State((_, s)): State<(String, Arc<Mutex<Served>>)>) -> Response {
    let mut s = s.lock().unwrap();
    s.fetches += 1;
    if s.down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let keys: Vec<Value> = s
        .keys
        .iter()
        .map(|(kid, seed)| {
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(signing_key(*seed).verifying_key().as_bytes());
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
        })
        .collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

impl Idp {
    async fn start(keys: &[(&str, u8)]) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/realms/main", listener.local_addr().unwrap());
        let served = Arc::new(Mutex::new(Served {
            keys: keys.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect(),
            ..Served::default()
        }));
        let app = Router::new()
            .route(
                "/realms/main/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/main/certs", get(certs))
            .with_state((url.clone(), served.clone()));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Idp { url, served, task }
    }

    /// A token of this issuer signed with key `kid` (seed `seed`), with `claims` over the defaults.
    fn token(&self, kid: &str, seed: u8, now: i64, claims: Value) -> String {
        let mut body = json!({
            "iss": self.url, "aud": AUDIENCE, "sub": "kc-1234", "preferred_username": "carol",
            "iat": now, "exp": now + 300,
            "realm_access": {"roles": ["user", "no-such-role"]},
        });
        for (k, v) in claims.as_object().unwrap() {
            body[k] = v.clone();
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        header.typ = Some("JWT".into());
        let der = signing_key(seed).to_pkcs8_der().unwrap();
        jsonwebtoken::encode(&header, &body, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn issuer_config(idp: &Idp) -> IssuerConfig {
    IssuerConfig {
        issuer: idp.url.clone(),
        jwks_uri: String::new(),
        audience: AUDIENCE.into(),
        algorithms: vec!["EdDSA".into()],
        require_at_jwt: false,
        claims: IssuerClaimsConfig {
            roles: "realm_access.roles".into(),
            ..IssuerClaimsConfig::default()
        },
    }
}

async fn spawn(db: Db, idp: &Idp) -> Option<TestApp> {
    let config = issuer_config(idp);
    TestApp::spawn_with(db, move |c| c.issuers.push(config)).await
}

/// Polls until the server fetched the issuer's keys (start-up fetches in the background).
async fn wait_for_keys(app: &TestApp, token: &str) {
    for _ in 0..100 {
        let r = send(app.client.get(app.at("/users/me")).bearer_auth(token)).await;
        if r.status == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the issuer's token was never accepted");
}

async fn outside_tokens_get_bouncers_roles_and_permissions(db: Db) {
    let idp = Idp::start(&[("k1", 1)]).await;
    let Some(app) = spawn(db, &idp).await else {
        return;
    };
    let now = app.clock.now_s();
    let token = idp.token("k1", 1, now, json!({}));
    wait_for_keys(&app, &token).await;

    let get = |path: &str, t: &str| app.client.get(app.at(path)).bearer_auth(t.to_owned());
    let r = send(get("/users/me", &token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"sub": "kc-1234", "username": "carol", "roles": ["user"], "issuer": idp.url}),
        "roles Bouncer does not have are ignored"
    );
    // The `user` role's permissions apply, and nothing more.
    assert_eq!(send(get("/items", &token)).await.status, 200);
    let r = send(get("/users", &token)).await;
    problem_missing("users:read", &r, 403, "missing_permission", "users:read");

    // Scopes narrow: what is neither a permission nor role:NAME is ignored.
    let narrow = idp.token("k1", 1, now, json!({"scope": "openid profile items:read"}));
    let r = send(
        app.client
            .post(app.at("/items"))
            .bearer_auth(&narrow)
            .json(&json!({"name": "x"})),
    )
    .await;
    problem_missing("scope", &r, 403, "insufficient_scope", "items:write");
    let none_left = idp.token(
        "k1",
        1,
        now,
        json!({"scope": "openid profile", "realm_access": {"roles": ["admin"]}}),
    );
    let r = send(get("/users", &none_left)).await;
    assert_eq!(r.status, 200, "no scope left: not narrowed: {}", r.text);

    // Forward-auth names the subject issuer#sub.
    let r = send(get("/auth/verify", &token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("x-auth-user-id"),
        Some(format!("{}#kc-1234", idp.url).as_str())
    );
    assert_eq!(r.header("x-auth-user"), Some("carol"));
    assert_eq!(r.header("x-auth-roles"), Some("user"));

    // An outside subject is never a local user: its own-account routes refuse it.
    let r = send(get("/users/me/api-keys", &token)).await;
    problem("not a user", &r, 403, "not_a_user", None);

    // Refused: another audience, expired, another issuer, an algorithm not allowed, a bad
    // signature.
    let refused = [
        ("audience", idp.token("k1", 1, now, json!({"aud": "other"}))),
        (
            "expired",
            idp.token("k1", 1, now, json!({"exp": now - 3600, "iat": now - 7200})),
        ),
        (
            "issuer",
            idp.token("k1", 1, now, json!({"iss": "http://127.0.0.1:9/other"})),
        ),
        ("signature", idp.token("k1", 9, now, json!({}))),
        ("hs256", {
            let body =
                json!({"iss": idp.url, "aud": AUDIENCE, "sub": "x", "exp": now + 300, "iat": now});
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("k1".into());
            jsonwebtoken::encode(&h, &body, &EncodingKey::from_secret(b"guess")).unwrap()
        }),
    ];
    for (what, t) in refused {
        let r = send(get("/users/me", &t)).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        let r = send(get("/auth/verify", &t)).await;
        assert_eq!(r.status, 401, "{what} at forward-auth: {}", r.text);
    }
    app.stop().await;
}

#[tokio::test]
async fn outside_tokens_get_bouncers_roles_and_permissions_on_sqlite() {
    outside_tokens_get_bouncers_roles_and_permissions(Db::Sqlite).await;
}

#[tokio::test]
async fn outside_tokens_get_bouncers_roles_and_permissions_on_postgres() {
    outside_tokens_get_bouncers_roles_and_permissions(Db::Postgres).await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_the_last_good_set_survives_an_outage() {
    let idp = Idp::start(&[("k1", 1)]).await;
    let app = spawn(Db::Sqlite, &idp).await.unwrap();
    let now = app.clock.now_s();
    let old = idp.token("k1", 1, now, json!({}));
    wait_for_keys(&app, &old).await;
    let me = |t: &str| {
        send(
            app.client
                .get(app.at("/users/me"))
                .bearer_auth(t.to_owned()),
        )
    };

    // The issuer rotates to k2. Its tokens name a kid Bouncer has not seen: one refetch (never
    // more often than every 10 s), and they are accepted.
    idp.served.lock().unwrap().keys = vec![("k1".into(), 1), ("k2".into(), 2)];
    let new = idp.token("k2", 2, now, json!({}));
    app.clock.advance_s(11);
    let before = idp.served.lock().unwrap().fetches;
    assert_eq!(me(&new).await.status, 200);
    assert_eq!(idp.served.lock().unwrap().fetches, before + 1);
    // Unknown kids do not turn into fetches: at most one per 10 s.
    for i in 0..5 {
        let junk = idp.token(&format!("junk{i}"), 3, now, json!({}));
        assert_eq!(me(&junk).await.status, 401);
    }
    assert!(idp.served.lock().unwrap().fetches <= before + 2);

    // An outage: fetches fail, the last good set is kept.
    idp.served.lock().unwrap().down = true;
    app.clock.advance_s(11);
    let unknown = idp.token("k3", 3, app.clock.now_s(), json!({}));
    assert_eq!(me(&unknown).await.status, 401, "k3 cannot be fetched");
    let fresh = idp.token("k2", 2, app.clock.now_s(), json!({}));
    assert_eq!(me(&fresh).await.status, 200, "k2 is still known");
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_issuer_does_not_stop_start_up_and_require_at_jwt_is_kept() {
    let idp = Idp::start(&[("k1", 1)]).await;
    idp.served.lock().unwrap().down = true;
    let mut config = issuer_config(&idp);
    config.require_at_jwt = true;
    let app = TestApp::spawn_with(Db::Sqlite, move |c| c.issuers.push(config))
        .await
        .unwrap();
    let now = app.clock.now_s();
    let mut at = Header::new(Algorithm::EdDSA);
    at.kid = Some("k1".into());
    at.typ = Some("at+jwt".into());
    let body = json!({"iss": idp.url, "aud": AUDIENCE, "sub": "s", "exp": now + 300, "iat": now});
    let der = signing_key(1).to_pkcs8_der().unwrap();
    let at_token =
        jsonwebtoken::encode(&at, &body, &EncodingKey::from_ed_der(der.as_bytes())).unwrap();
    let me = |t: &str| {
        send(
            app.client
                .get(app.at("/users/me"))
                .bearer_auth(t.to_owned()),
        )
    };
    assert_eq!(me(&at_token).await.status, 401, "no keys yet");
    // The issuer comes back; the next unknown-key refetch (10 s later) gets its keys.
    idp.served.lock().unwrap().down = false;
    app.clock.advance_s(11);
    assert_eq!(me(&at_token).await.status, 200);
    // typ JWT is refused where at+jwt is required.
    let jwt = idp.token("k1", 1, now, json!({}));
    assert_eq!(me(&jwt).await.status, 401);
    app.stop().await;
}

#[tokio::test]
async fn bad_issuer_configuration_names_the_key() {
    for (mutate, key) in [
        (
            (|c: &mut IssuerConfig| c.issuer = "http://idp.example".into())
                as fn(&mut IssuerConfig),
            "issuers[0].issuer",
        ),
        (
            |c| c.algorithms = vec!["HS256".into()],
            "issuers[0].algorithms",
        ),
        (|c| c.algorithms = vec![], "issuers[0].algorithms"),
        (|c| c.audience = String::new(), "issuers[0].audience"),
        (
            |c| c.jwks_uri = "ftp://127.0.0.1/certs".into(),
            "issuers[0].jwks_uri",
        ),
        (
            |c| c.claims.roles = "realm_access..roles".into(),
            "issuers[0].claims.roles",
        ),
    ] {
        let mut c = bouncer::config::Config::default();
        let mut i = IssuerConfig {
            issuer: "https://idp.example/realms/main".into(),
            audience: AUDIENCE.into(),
            algorithms: vec!["RS256".into()],
            ..IssuerConfig::default()
        };
        mutate(&mut i);
        c.issuers.push(i);
        let e = c.validate().expect_err(key).to_string();
        assert!(e.contains(key), "{key}: {e}");
    }
}
