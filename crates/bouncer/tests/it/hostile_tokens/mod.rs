//! Tokens built to get in: forged algorithms and keys, broken encodings, oversize and empty
//! headers. Each is one request to `GET /users/me`, which must answer 401 `invalid_token` with
//! `WWW-Authenticate: Bearer ..., error="invalid_token"` (never a 500). Next to them, the near
//! misses that must still work: a lowercase scheme, a restart, the published JWKS. Bent claims (and
//! the leeway) are in `claims`.

mod claims;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bouncer_core::clock::Clock;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use crate::support::http::{Resp, problem, send};
use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp, jwt_part};
use crate::users::admin_id;

const ISSUER: &str = "http://bouncer.test";

/// `GET /users/me` with this exact `Authorization` header.
async fn me_with(app: &TestApp, authorization: &str) -> Resp {
    send(
        app.client
            .get(app.at("/users/me"))
            .header(AUTHORIZATION, authorization),
    )
    .await
}

/// `GET /users/me` with `token` as the bearer token.
pub(crate) async fn me(app: &TestApp, token: &str) -> Resp {
    me_with(app, &format!("Bearer {token}")).await
}

/// 401 `invalid_token`, as a problem document with the RFC 6750 challenge.
pub(crate) fn assert_refused(what: &str, r: &Resp) {
    problem(what, r, 401, "invalid_token", None);
    assert!(
        r.challenges()
            .iter()
            .any(|c| c.starts_with("Bearer ") && c.contains(r#"error="invalid_token""#)),
        "{what}: challenges {:?}",
        r.challenges()
    );
}

/// 200 with the user: the token was taken.
pub(crate) fn assert_accepted(what: &str, r: &Resp) {
    assert_eq!(r.status, 200, "{what}: {}", r.text);
    assert!(r.body["id"].is_string(), "{what}: {}", r.text);
}

fn b64_json(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// The server's signing key id.
fn real_kid(app: &TestApp) -> String {
    app.bouncer.tokens.jwks()["keys"][0]["kid"]
        .as_str()
        .expect("kid")
        .to_owned()
}

/// Claims the server would issue for `sub` right now.
pub(crate) fn claims(app: &TestApp, sub: &str) -> Value {
    let now = app.clock.now_s();
    json!({
        "iss": ISSUER, "aud": "bouncer", "sub": sub,
        "exp": now + 900, "iat": now, "nbf": now,
        "jti": uuid::Uuid::new_v4().to_string(), "scope": "*", "gen": 1,
        "auth_time": now, "client_id": "swagger", "username": "admin",
    })
}

/// Signed with the server's real key and kid.
pub(crate) fn sign(app: &TestApp, claims: &Value) -> String {
    app.bouncer.tokens.sign(claims).expect("sign")
}

/// Admin claims changed by `edit`, signed with the real key.
pub(crate) async fn forged(
    app: &TestApp,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>, i64),
) -> String {
    let mut c = claims(app, &admin_id(app, &app.admin_token().await).await);
    edit(c.as_object_mut().expect("object"), app.clock.now_s());
    sign(app, &c)
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = TestApp::spawn().await;
    let header = json!({"alg": "none", "typ": "JWT", "kid": real_kid(&app)});
    let body = claims(&app, &admin_id(&app, &app.admin_token().await).await);
    let token = format!("{}.{}.", b64_json(&header), b64_json(&body));
    assert_refused("alg none", &me(&app, &token).await);
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let jwk = app.bouncer.tokens.jwks()["keys"][0].clone();
    let x = jwk["x"].as_str().expect("x");
    let body = claims(&app, &admin_id(&app, &app.admin_token().await).await);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(real_kid(&app));
    let secrets = [
        ("decoded x", B64.decode(x).expect("x is base64url")),
        ("x as text", x.as_bytes().to_vec()),
        ("JWK JSON", jwk.to_string().into_bytes()),
    ];
    for (what, secret) in secrets {
        let token = jsonwebtoken::encode(&header, &body, &EncodingKey::from_secret(&secret))
            .expect("sign HS256");
        assert_refused(&format!("HS256 with {what}"), &me(&app, &token).await);
    }
}

/// A fresh Ed25519 key, not the server's.
fn foreign_key() -> EncodingKey {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    EncodingKey::from_ed_der(key.to_pkcs8_der().expect("pkcs8").as_bytes())
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    let app = TestApp::spawn().await;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("nope".into());
    let body = claims(&app, &admin_id(&app, &app.admin_token().await).await);
    let token = jsonwebtoken::encode(&header, &body, &foreign_key()).expect("sign");
    assert_refused("unknown kid", &me(&app, &token).await);
}

#[tokio::test]
async fn a_foreign_key_claiming_the_real_kid_is_refused() {
    let app = TestApp::spawn().await;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(real_kid(&app));
    let body = claims(&app, &admin_id(&app, &app.admin_token().await).await);
    let token = jsonwebtoken::encode(&header, &body, &foreign_key()).expect("sign");
    assert_refused("foreign key, real kid", &me(&app, &token).await);
}

#[tokio::test]
async fn no_kid_is_refused_even_when_signed_with_the_real_key() {
    let app = TestApp::spawn().await;
    let keys = app.bouncer.store.signing_keys(0).await.expect("keys");
    let key = keys.iter().find(|k| k.alg == "EdDSA").expect("EdDSA key");
    let real = EncodingKey::from_ed_pem(key.private_pem.as_bytes()).expect("pem");
    let body = claims(&app, &admin_id(&app, &app.admin_token().await).await);
    let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &body, &real).expect("sign");
    assert!(jsonwebtoken::decode_header(&token).unwrap().kid.is_none());
    assert_refused("no kid", &me(&app, &token).await);
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let app = TestApp::spawn().await;
    let (name, pw, _) = app.user_with_roles("gina", &["guest"]).await;
    let token = app.token(&name, &pw).await;
    assert_accepted("the guest's own token", &me(&app, &token).await);
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = jwt_part(&token, 1);
    assert_eq!(claims["roles"], serde_json::json!(["guest"]));
    claims["roles"] = serde_json::json!(["admin"]);
    claims["permissions"] = serde_json::json!(["*"]);
    let tampered = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_refused("guest scope raised to *", &me(&app, &tampered).await);
}

#[tokio::test]
async fn a_truncated_token_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_refused(
        "last 10 chars dropped",
        &me(&app, &token[..token.len() - 10]).await,
    );
}

#[tokio::test]
async fn a_token_of_two_segments_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let two = token.rsplit_once('.').expect("three segments").0;
    assert_refused("header.payload", &me(&app, two).await);
}

#[tokio::test]
async fn a_100_kb_token_is_refused() {
    let app = TestApp::spawn().await;
    let header = b64_json(&json!({"alg": "EdDSA", "typ": "JWT", "kid": real_kid(&app)}));
    let token = format!("{header}.{}.{}", "A".repeat(100 * 1024), "B".repeat(86));
    let r = me(&app, &token).await;
    assert!(
        r.status == 401 || r.status == 431,
        "100 KB token: {} {}",
        r.status,
        r.text
    );
    if r.status == 401 {
        assert_refused("100 KB token", &r);
    }
}

#[tokio::test]
async fn non_base64_garbage_is_refused() {
    let app = TestApp::spawn().await;
    assert_refused("garbage", &me(&app, "!!!.@@@.###").await);
}

#[tokio::test]
async fn an_empty_bearer_is_refused() {
    let app = TestApp::spawn().await;
    assert_refused("Bearer and a space", &me_with(&app, "Bearer ").await);
    assert_refused("Bearer alone", &me_with(&app, "Bearer").await);
}

#[tokio::test]
async fn the_scheme_name_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_accepted("bearer", &me_with(&app, &format!("bearer {token}")).await);
    assert_accepted("BEARER", &me_with(&app, &format!("BEARER {token}")).await);
}

#[tokio::test]
async fn a_valid_token_of_a_disabled_user_is_refused() {
    let app = TestApp::spawn().await;
    let (name, pw, id) = app.user_with_roles("dora", &["user"]).await;
    let token = app.token(&name, &pw).await;
    assert_accepted("before disabling", &me(&app, &token).await);
    let r = app
        .client
        .patch(app.at(&format!("/users/{id}")))
        .bearer_auth(app.admin_token().await)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "disable");
    assert_refused("after disabling", &me(&app, &token).await);
}

#[tokio::test]
async fn tokens_survive_a_restart_on_the_same_database() {
    let mut first = TestApp::spawn().await;
    let token = first.admin_token().await;
    let kid = real_kid(&first);
    assert_accepted("before the restart", &me(&first, &token).await);
    let url = first.config.database.url.clone();
    // Keep the database directory past the first server's end.
    let dir = std::mem::replace(&mut first.dir, tempfile::tempdir().expect("temp dir"));
    first.stop().await;

    let second = TestApp::spawn_with(Db::Sqlite, |c| c.database.url = url)
        .await
        .expect("SQLite");
    assert_eq!(real_kid(&second), kid, "the stored key is reused");
    assert_accepted("after the restart", &me(&second, &token).await);
    second.stop().await;
    drop(dir);
}

#[tokio::test]
async fn the_published_jwks_alone_verifies_our_tokens() {
    let app = TestApp::spawn().await;
    let token = app.token(ADMIN, ADMIN_PASSWORD).await;
    let r = app
        .client
        .get(app.at("/.well-known/jwks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("body");
    assert!(!text.contains("\"d\""), "no private key part: {text}");
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text).expect("a JWK set");

    let kid = jsonwebtoken::decode_header(&token)
        .expect("header")
        .kid
        .expect("kid");
    let jwk = set.find(&kid).expect("the token's kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("usable JWK");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["bouncer"]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("verifies");
    assert_eq!(data.claims["sub"], admin_id(&app, &token).await);
    assert_eq!(data.claims["scope"], "*");
}

#[tokio::test]
async fn the_metadata_names_issuer_token_endpoint_and_jwks() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.at("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.expect("JSON");
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["token_endpoint"], format!("{ISSUER}/oauth2/token"));
    assert_eq!(m["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
}
