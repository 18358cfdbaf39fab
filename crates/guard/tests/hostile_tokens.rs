//! Local verification against an issuer of the test's own (metadata and JWKS served in-process,
//! tokens signed here): every forgery and every bad claim is 401 `invalid_token`, the JWKS is
//! fetched no more than the rules allow, and the guard fails closed.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bouncer_guard::{Guard, GuardError, Principal, Require, permission};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{Cred, assert_problem, send};

permission!(ItemsRead, "items:read");

struct Issuer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct IssuerState {
    url: Arc<Mutex<String>>,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

fn jwk(kid: &str, key: &SigningKey) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
           "x": B64.encode(key.verifying_key().as_bytes())})
}

async fn issuer(keys: Vec<Value>) -> Issuer {
    let state = IssuerState {
        url: Arc::default(),
        jwks: Arc::new(Mutex::new(json!({ "keys": keys }))),
        fetches: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(|State(s): State<IssuerState>| async move {
                let url = s.url.lock().unwrap().clone();
                axum::Json(json!({"issuer": url, "token_endpoint": format!("{url}/oauth2/token"),
                    "jwks_uri": format!("{url}/jwks"), "introspection_endpoint": format!("{url}/introspect")}))
            }),
        )
        .route(
            "/jwks",
            get(|State(s): State<IssuerState>| async move {
                s.fetches.fetch_add(1, Ordering::SeqCst);
                let keys = s.jwks.lock().unwrap().clone();
                ([("cache-control", "public, max-age=300")], axum::Json(keys))
            }),
        )
        .with_state(state.clone());
    let url = support::serve(app).await;
    *state.url.lock().unwrap() = url.clone();
    Issuer {
        url,
        jwks: state.jwks,
        fetches: state.fetches,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(iss: &str) -> Value {
    let n = now();
    json!({"iss": iss, "aud": "bouncer", "sub": "u1", "exp": n + 600, "iat": n, "nbf": n,
           "jti": "j1", "auth_time": n, "client_id": "swagger", "scope": "*", "username": "alice",
           "roles": ["user"], "permissions": ["items:read", "items:write"], "gen": 0})
}

fn sign(key: &SigningKey, kid: &str, claims: &Value, typ: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(kid.to_owned());
    h.typ = typ.map(str::to_owned);
    let der = key.to_pkcs8_der().unwrap();
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
}

/// A token whose header is `header` (JSON) over `claims`, with the signature of `key` over them.
fn with_header(header: Value, claims: &Value, key: &SigningKey) -> String {
    use ed25519_dalek::Signer as _;
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

fn app(guard: &Guard) -> Router {
    Router::new()
        .route("/me", get(|p: Principal| async move { p.username }))
        .route(
            "/open",
            get(|p: Option<Principal>| async move { format!("{}", p.is_some()) }),
        )
        .route("/items", get(|_: Require<ItemsRead>| async { "items" }))
        .layer(guard.layer())
}

fn key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgeries_and_bad_claims_are_invalid_tokens() {
    let k1 = key();
    let iss = issuer(vec![jwk("k1", &k1)]).await;
    let guard = Guard::discover(&iss.url).await.expect("discovery");
    let url = support::serve(app(&guard)).await;
    let http = reqwest::Client::new();
    let me = format!("{url}/me");
    let good = claims(&iss.url);

    let ok = send(
        &http,
        "GET",
        &me,
        &Cred::Bearer(sign(&k1, "k1", &good, Some("at+jwt"))),
    )
    .await;
    assert_eq!((ok.status, ok.body.clone()), (200, Value::Null), "{ok:?}");
    // Within the leeway (10 s), an expired token still passes.
    let mut c = good.clone();
    c["exp"] = json!(now() - 5);
    let r = send(
        &http,
        "GET",
        &me,
        &Cred::Bearer(sign(&k1, "k1", &c, Some("at+jwt"))),
    )
    .await;
    assert_eq!(r.status, 200);

    let x = B64.encode(k1.verifying_key().as_bytes());
    let mut bad: Vec<(&str, String)> = Vec::new();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        sign(&k1, "k1", &c, Some("at+jwt"))
    };
    bad.push(("expired", edit(&|c| c["exp"] = json!(now() - 60))));
    bad.push(("not yet valid", edit(&|c| c["nbf"] = json!(now() + 60))));
    bad.push(("wrong audience", edit(&|c| c["aud"] = json!("other"))));
    bad.push((
        "wrong issuer",
        edit(&|c| c["iss"] = json!("http://evil.example")),
    ));
    bad.push((
        "no nbf",
        edit(&|c| {
            c.as_object_mut().unwrap().remove("nbf");
        }),
    ));
    bad.push((
        "no sub",
        edit(&|c| {
            c.as_object_mut().unwrap().remove("sub");
        }),
    ));
    bad.push(("typ JWT", sign(&k1, "k1", &good, Some("JWT"))));
    bad.push(("no typ", sign(&k1, "k1", &good, None)));
    bad.push((
        "another key, same kid",
        sign(&key(), "k1", &good, Some("at+jwt")),
    ));
    bad.push((
        "crit",
        with_header(
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1", "crit": ["exp"], "exp": 1}),
            &good,
            &k1,
        ),
    ));
    bad.push((
        "no kid",
        with_header(json!({"alg": "EdDSA", "typ": "at+jwt"}), &good, &k1),
    ));
    bad.push((
        "alg none",
        format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#),
            B64.encode(good.to_string())
        ),
    ));
    // HS256 with the public key as the secret: the classic algorithm confusion.
    for secret in [
        x.as_bytes().to_vec(),
        k1.verifying_key().as_bytes().to_vec(),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        h.typ = Some("at+jwt".into());
        let t = jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(&secret)).unwrap();
        bad.push(("HS256 with the public key", t));
    }
    bad.push(("garbage", "a.b.c".into()));
    bad.push(("too long", "a".repeat(9000)));
    let fetches = iss.fetches.load(Ordering::SeqCst);
    for (name, token) in bad {
        let r = send(&http, "GET", &me, &Cred::Bearer(token)).await;
        eprintln!("{name}: {}", r.body["detail"]);
        assert_problem(&r, 401, "invalid_token", None);
        assert_eq!(
            r.headers["www-authenticate"], r#"Bearer realm="bouncer", error="invalid_token""#,
            "{name}"
        );
    }
    assert_eq!(
        iss.fetches.load(Ordering::SeqCst),
        fetches,
        "no kid was unknown"
    );

    // Credentials that are not bearer tokens, and ones that disagree.
    let r = send(
        &http,
        "GET",
        &me,
        &Cred::Header("authorization", "Basic YWxpY2U6cHc=".into()),
    )
    .await;
    assert_problem(&r, 401, "unauthorized", None);
    let r = send(
        &http,
        "GET",
        &me,
        &Cred::Header("authorization", "Digest x".into()),
    )
    .await;
    assert_problem(&r, 401, "unauthorized", None);
    let r = send(
        &http,
        "GET",
        &me,
        &Cred::Header("authorization", "Bearer ".into()),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http
        .get(&me)
        .header("x-api-key", "bnc_a")
        .header("x-api-key", "bnc_b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // No credential: the open route runs without a principal; the others are 401.
    let r = send(&http, "GET", &format!("{url}/open"), &Cred::None).await;
    assert_eq!(r.status, 200);
    let r = send(&http, "GET", &me, &Cred::None).await;
    assert_problem(&r, 401, "unauthorized", None);
    assert_eq!(r.headers["www-authenticate"], r#"Bearer realm="bouncer""#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refetch_at_most_once_per_interval_and_retired_keys_stop() {
    let (k1, k2) = (key(), key());
    let iss = issuer(vec![jwk("k1", &k1)]).await;
    let guard = Guard::builder(&iss.url)
        .jwks_refetch_interval(Duration::from_secs(1))
        .build()
        .await
        .expect("discovery");
    assert_eq!(iss.fetches.load(Ordering::SeqCst), 1);
    let url = support::serve(app(&guard)).await;
    let http = reqwest::Client::new();
    let me = format!("{url}/me");
    let c = claims(&iss.url);
    let old = Cred::Bearer(sign(&k1, "k1", &c, Some("at+jwt")));
    assert_eq!(send(&http, "GET", &me, &old).await.status, 200);

    // The issuer rotates: k2 replaces k1 in the set.
    *iss.jwks.lock().unwrap() = json!({"keys": [jwk("k2", &k2)]});
    let new = Cred::Bearer(sign(&k2, "k2", &c, Some("at+jwt")));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(send(&http, "GET", &me, &new).await.status, 200);
    }
    assert_eq!(
        iss.fetches.load(Ordering::SeqCst),
        2,
        "one refetch for the new kid"
    );
    // k1 left the set: its token is refused, although it was verified (and cached) before.
    let r = send(&http, "GET", &me, &old).await;
    assert_problem(&r, 401, "invalid_token", None);
    // A flood of forged kids: at most one fetch per interval.
    for i in 0..20 {
        let t = sign(&k2, &format!("forged-{i}"), &c, Some("at+jwt"));
        let r = send(&http, "GET", &me, &Cred::Bearer(t)).await;
        assert_eq!(r.status, 401);
    }
    assert!(iss.fetches.load(Ordering::SeqCst) <= 3);
    assert_eq!(
        guard.stats().jwks_fetches as usize,
        iss.fetches.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_token_still_expires() {
    let k1 = key();
    let iss = issuer(vec![jwk("k1", &k1)]).await;
    let guard = Guard::builder(&iss.url)
        .leeway(Duration::ZERO)
        .build()
        .await
        .expect("discovery");
    let url = support::serve(app(&guard)).await;
    let http = reqwest::Client::new();
    let mut c = claims(&iss.url);
    c["exp"] = json!(now() + 2);
    let t = Cred::Bearer(sign(&k1, "k1", &c, Some("at+jwt")));
    assert_eq!(
        send(&http, "GET", &format!("{url}/me"), &t).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = send(&http, "GET", &format!("{url}/me"), &t).await;
    assert_problem(&r, 401, "invalid_token", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_fails_closed() {
    // Bouncer unreachable: discovery fails; a lazy guard answers 503 to a credential and lets a
    // request without one through (it has no principal).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    assert!(matches!(
        Guard::discover(&closed).await,
        Err(GuardError::Discovery(_))
    ));
    let lazy = Guard::builder(&closed).build_lazy().expect("settings");
    let url = support::serve(app(&lazy)).await;
    let http = reqwest::Client::new();
    let t = Cred::Bearer(sign(&key(), "k1", &claims(&closed), Some("at+jwt")));
    let r = send(&http, "GET", &format!("{url}/me"), &t).await;
    assert_problem(&r, 503, "bouncer_unavailable", None);
    assert_eq!(r.headers["retry-after"], "1");
    let r = send(&http, "GET", &format!("{url}/open"), &Cred::None).await;
    assert_eq!(r.status, 200);

    // An issuer that names another issuer is not trusted.
    let k1 = key();
    let iss = issuer(vec![jwk("k1", &k1)]).await;
    let other = Guard::builder(&iss.url)
        .issuer("https://bouncer.example")
        .build()
        .await;
    assert!(matches!(other, Err(GuardError::Discovery(m)) if m.contains("issuer")));

    // An extractor outside the layer: 500, never a pass.
    let guard = Guard::discover(&iss.url).await.unwrap();
    let unguarded = Router::new()
        .route("/bare", get(|p: Principal| async move { p.username }))
        .merge(app(&guard));
    let url = support::serve(unguarded).await;
    let t = Cred::Bearer(sign(&k1, "k1", &claims(&iss.url), Some("at+jwt")));
    assert_eq!(
        send(&http, "GET", &format!("{url}/me"), &t).await.status,
        200
    );
    let r = send(&http, "GET", &format!("{url}/bare"), &t).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.code(), Some("guard_not_installed"));

    // Settings that cannot work are refused up front.
    for b in [
        Guard::builder("ftp://x"),
        Guard::builder("http://x").audience(""),
        Guard::builder("http://x").realm("a\"b"),
        Guard::builder("http://x").mode(bouncer_guard::Mode::introspect("", "")),
    ] {
        assert!(matches!(b.build_lazy(), Err(GuardError::Config(_))));
    }
}
