//! The example app (`examples/items_api.rs`), protected by the guard, against the real Bouncer
//! binary: each kind of credential gets the answer Bouncer itself would give.

mod support;

#[allow(dead_code)]
#[path = "../examples/items_api.rs"]
mod items_api;

use std::time::{Duration, Instant};

use bouncer_guard::{CredentialKind, Guard, Mode};
use support::{ADMIN_PASSWORD, ALICE_PASSWORD, Bouncer, Cred, assert_problem, send};

/// What one request should get: 200/201, or a problem's status, code and `missing`.
#[derive(Debug, Clone, Copy)]
enum Want {
    Ok(u16),
    No(u16, &'static str, Option<&'static str>),
}

async fn expect(http: &reqwest::Client, method: &str, url: &str, cred: &Cred, want: Want) {
    let r = send(http, method, url, cred).await;
    match want {
        Want::Ok(status) => assert_eq!(r.status, status, "{method} {url} {cred:?}: {r:?}"),
        Want::No(status, code, missing) => {
            assert_problem(&r, status, code, missing);
            let challenge = r.bearer_challenge();
            match code {
                "invalid_token" => assert_eq!(
                    challenge.as_deref(),
                    Some(r#"Bearer realm="bouncer", error="invalid_token""#)
                ),
                "unauthorized" => {
                    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="bouncer""#))
                }
                "insufficient_scope" => assert_eq!(
                    challenge,
                    Some(format!(
                        r#"Bearer realm="bouncer", error="insufficient_scope", scope="{}""#,
                        missing.unwrap_or_default()
                    ))
                ),
                _ => assert_eq!(challenge, None, "{r:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_app_answers_each_credential_as_bouncer_would() {
    let Some(bin) = support::bouncer_bin() else {
        return;
    };
    let b = Bouncer::start(&bin, &[]).await;
    b.register("alice", ALICE_PASSWORD).await;
    let guard = Guard::discover(&b.url).await.expect("discovery");
    let app = support::serve(items_api::app(&guard)).await;

    let admin = Cred::Bearer(b.admin_token().await);
    let alice = Cred::Bearer(b.token("alice", ALICE_PASSWORD, None).await);
    let reader = Cred::Bearer(b.token("alice", ALICE_PASSWORD, Some("items:read")).await);
    let admin_role = Cred::Bearer(
        b.token("admin", ADMIN_PASSWORD, Some("items:read role:admin"))
            .await,
    );
    let admin_items = Cred::Bearer(
        b.token("admin", ADMIN_PASSWORD, Some("items:read items:write"))
            .await,
    );
    let (cid, secret) = b.client("reporting", &["items:read"]).await;
    let client = Cred::Bearer(b.client_token(&cid, &secret).await);
    let garbage = Cred::Bearer("not-a-token".into());
    let forged = Cred::Bearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into());

    use Want::*;
    let scope = |m| No(403, "insufficient_scope", Some(m));
    let unauth = No(401, "unauthorized", None);
    let invalid = No(401, "invalid_token", None);
    // (credential, GET /items, POST /items, GET /admin)
    let cases = [
        ("admin", &admin, Ok(200), Ok(201), Ok(200)),
        (
            "alice",
            &alice,
            Ok(200),
            Ok(201),
            No(403, "missing_role", Some("admin")),
        ),
        (
            "alice items:read",
            &reader,
            Ok(200),
            scope("items:write"),
            scope("role:admin"),
        ),
        (
            "admin items:read role:admin",
            &admin_role,
            Ok(200),
            scope("items:write"),
            Ok(200),
        ),
        (
            "admin items:read items:write",
            &admin_items,
            Ok(200),
            Ok(201),
            scope("role:admin"),
        ),
        (
            "client items:read",
            &client,
            Ok(200),
            No(403, "missing_permission", Some("items:write")),
            No(403, "missing_role", Some("admin")),
        ),
        ("no credential", &Cred::None, unauth, unauth, unauth),
        ("garbage", &garbage, invalid, invalid, invalid),
        ("alg none", &forged, invalid, invalid, invalid),
    ];
    let http = reqwest::Client::new();
    for (name, cred, get, post, admin_route) in cases {
        eprintln!("case {name}");
        expect(&http, "GET", &format!("{app}/items"), cred, get).await;
        expect(&http, "POST", &format!("{app}/items"), cred, post).await;
        expect(&http, "GET", &format!("{app}/admin"), cred, admin_route).await;
    }

    // The principal: a client token is a client, a user's token a JWT.
    let p = guard
        .verify_token(match &client {
            Cred::Bearer(t) => t,
            _ => unreachable!(),
        })
        .await
        .expect("a client token");
    assert_eq!(p.credential_kind, CredentialKind::Client);
    assert_eq!(p.subject, cid);
    let p = guard
        .verify_token(match &reader {
            Cred::Bearer(t) => t,
            _ => unreachable!(),
        })
        .await
        .expect("a user token");
    assert_eq!(
        (p.username.as_str(), p.credential_kind),
        ("alice", CredentialKind::Jwt)
    );
    assert_eq!(p.scopes, ["items:read"]);
    assert!(p.roles.is_empty(), "a narrowed token uses no role: {p:?}");

    // Local mode checks JWTs only: an API key is refused, saying so.
    let (_, key) = b.api_key("alice", ALICE_PASSWORD, &[]).await;
    let r = send(&http, "GET", &format!("{app}/items"), &Cred::ApiKey(key)).await;
    assert_problem(&r, 401, "unauthorized", None);
    // Two Authorization headers: never a guess.
    let r = http
        .get(format!("{app}/items"))
        .header("authorization", "Bearer a.b.c")
        .header("authorization", "Bearer d.e.f")
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 400);
}

/// The guard's refusals against Bouncer's own for the same token and requirement: same status,
/// `code`, `missing` and Bearer challenge, but for the one case a token cannot tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_match_bouncers_own() {
    let Some(bin) = support::bouncer_bin() else {
        return;
    };
    let b = Bouncer::start(&bin, &[]).await;
    b.register("alice", ALICE_PASSWORD).await;
    let guard = Guard::discover(&b.url).await.expect("discovery");
    let app = support::serve(items_api::app(&guard)).await;
    let http = reqwest::Client::new();
    let tokens = [
        ("admin", b.admin_token().await),
        ("alice", b.token("alice", ALICE_PASSWORD, None).await),
        (
            "alice items:read",
            b.token("alice", ALICE_PASSWORD, Some("items:read")).await,
        ),
        (
            "admin items:read role:admin",
            b.token("admin", ADMIN_PASSWORD, Some("items:read role:admin"))
                .await,
        ),
        (
            "admin items:write",
            b.token("admin", ADMIN_PASSWORD, Some("items:write")).await,
        ),
        ("garbage", "x.y.z".to_owned()),
    ];
    // (method, the example's path, Bouncer's path with the same requirement)
    let routes = [
        ("GET", "/items", "/items"),
        ("POST", "/items", "/items"),
        ("GET", "/admin", "/admin-only"),
    ];
    let mut compared = 0;
    for (name, token) in &tokens {
        for (method, ours, theirs) in routes {
            let cred = Cred::Bearer(token.clone());
            let g = send(&http, method, &format!("{app}{ours}"), &cred).await;
            let t = send(&http, method, &format!("{}{theirs}", b.url), &cred).await;
            let seen = |r: &support::Resp| {
                (
                    r.status >= 400,
                    r.status,
                    r.code().map(str::to_owned),
                    r.missing().map(str::to_owned),
                    r.bearer_challenge(),
                )
            };
            if *name == "alice items:read" && ours == "/admin" {
                // Bouncer knows alice has no admin role (missing_role); the token only shows that
                // its scope does not name role:admin.
                assert_eq!(t.code(), Some("missing_role"));
                assert_eq!(g.code(), Some("insufficient_scope"));
                continue;
            }
            if g.status < 400 {
                assert!(t.status < 400, "{name} {method} {ours}: {g:?} vs {t:?}");
            } else {
                assert_eq!(seen(&g), seen(&t), "{name} {method} {ours}");
            }
            compared += 1;
        }
    }
    assert_eq!(compared, tokens.len() * routes.len() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_is_picked_up_through_the_new_kid() {
    let Some(bin) = support::bouncer_bin() else {
        return;
    };
    let b = Bouncer::start(&bin, &[]).await;
    let guard = Guard::discover(&b.url).await.expect("discovery");
    let fetched = Instant::now();
    let app = support::serve(items_api::app(&guard)).await;
    let http = reqwest::Client::new();
    let items = format!("{app}/items");
    assert_eq!(guard.stats().jwks_fetches, 1);

    let old = b.admin_token().await;
    expect(
        &http,
        "GET",
        &items,
        &Cred::Bearer(old.clone()),
        Want::Ok(200),
    )
    .await;

    let out = b.cli(&["keys", "rotate", "--now"]);
    assert!(out.contains("new signing key"), "{out}");
    // Bouncer picks the new key up through its change feed; wait for a token it signs.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let t = b.admin_token().await;
        if support::kid_of(&t) != support::kid_of(&old) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "Bouncer still signs with the old key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Within 10 s of the last fetch an unknown kid does not cause another: the token is refused.
    if fetched.elapsed() < Duration::from_secs(8) {
        let r = send(&http, "GET", &items, &Cred::Bearer(new.clone())).await;
        assert_problem(&r, 401, "invalid_token", None);
        assert_eq!(guard.stats().jwks_fetches, 1);
        eprintln!(
            "the new kid was refused {:?} after the last fetch",
            fetched.elapsed()
        );
    }
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(fetched.elapsed())).await;

    // Then one refetch, and the new kid verifies; the old key still does (it retires later).
    expect(
        &http,
        "GET",
        &items,
        &Cred::Bearer(new.clone()),
        Want::Ok(200),
    )
    .await;
    assert_eq!(guard.stats().jwks_fetches, 2);
    expect(
        &http,
        "GET",
        &items,
        &Cred::Bearer(old.clone()),
        Want::Ok(200),
    )
    .await;
    let fresh = b.admin_token().await;
    expect(&http, "GET", &items, &Cred::Bearer(fresh), Want::Ok(200)).await;

    // A flood of unknown kids right after costs Bouncer nothing more.
    let (_, rest) = new.split_once('.').expect("a JWT");
    use base64::Engine as _;
    for i in 0..5 {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"forged-{i}"}}"#
        ));
        let r = send(
            &http,
            "GET",
            &items,
            &Cred::Bearer(format!("{header}.{rest}")),
        )
        .await;
        assert_problem(&r, 401, "invalid_token", None);
    }
    assert_eq!(guard.stats().jwks_fetches, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_refuses_a_revoked_token_and_takes_api_keys() {
    let Some(bin) = support::bouncer_bin() else {
        return;
    };
    let b = Bouncer::start(&bin, &[]).await;
    b.register("alice", ALICE_PASSWORD).await;
    let (cid, secret) = b.client("items-api", &["tokens:introspect"]).await;
    let guard = Guard::builder(&b.url)
        .mode(Mode::introspect(&cid, &secret))
        .build()
        .await
        .expect("discovery");
    let local = Guard::discover(&b.url).await.expect("discovery");
    let app = support::serve(items_api::app(&guard)).await;
    let local_app = support::serve(items_api::app(&local)).await;
    let http = reqwest::Client::new();
    let items = format!("{app}/items");
    use Want::*;

    // A JWT: introspected, its claims read once Bouncer says it is active.
    let token = b.token("alice", ALICE_PASSWORD, None).await;
    let alice = Cred::Bearer(token.clone());
    expect(&http, "GET", &items, &alice, Ok(200)).await;
    let before = guard.stats().introspections;
    expect(&http, "POST", &items, &alice, Ok(201)).await;
    assert_eq!(guard.stats().introspections, before, "the answer is cached");
    let admin_route = format!("{app}/admin");
    let no_role = No(403, "missing_role", Some("admin"));
    expect(&http, "GET", &admin_route, &alice, no_role).await;
    let admin = Cred::Bearer(b.admin_token().await);
    expect(&http, "GET", &admin_route, &admin, Ok(200)).await;

    // Rights taken away show at once (introspection answers what the credential may use now);
    // a locally verifying guard goes by the token's claims until it expires.
    let guest_token = b.token("alice", ALICE_PASSWORD, None).await;
    let guest = Cred::Bearer(guest_token);
    expect(&http, "POST", &items, &guest, Ok(201)).await;
    b.set_roles("alice", &["guest"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let lacks = No(403, "missing_permission", Some("items:write"));
    expect(&http, "POST", &items, &guest, lacks).await;
    expect(&http, "GET", &items, &guest, Ok(200)).await;
    expect(
        &http,
        "POST",
        &format!("{local_app}/items"),
        &guest,
        Ok(201),
    )
    .await;
    b.set_roles("alice", &["user"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Revoked: refused within the cache's second; a locally verifying guard still takes it.
    b.revoke(&token).await;
    let revoked = Instant::now();
    loop {
        let r = send(&http, "GET", &items, &alice).await;
        if r.status == 401 {
            assert_problem(&r, 401, "invalid_token", None);
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_millis(2500),
            "a revoked token still passes after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("revocation seen after {:?}", revoked.elapsed());
    expect(&http, "GET", &format!("{local_app}/items"), &alice, Ok(200)).await;

    // API keys, in X-API-Key or as a Basic password.
    let (key_id, reader_key) = b.api_key("alice", ALICE_PASSWORD, &["items:read"]).await;
    let reader = Cred::ApiKey(reader_key.clone());
    expect(&http, "GET", &items, &reader, Ok(200)).await;
    let scope = No(403, "insufficient_scope", Some("items:write"));
    expect(&http, "POST", &items, &reader, scope).await;
    expect(
        &http,
        "GET",
        &items,
        &Cred::BasicKey(reader_key.clone()),
        Ok(200),
    )
    .await;
    let (_, writer_key) = b.api_key("alice", ALICE_PASSWORD, &[]).await;
    expect(
        &http,
        "POST",
        &items,
        &Cred::ApiKey(writer_key.clone()),
        Ok(201),
    )
    .await;
    let p = guard
        .authenticate(&{
            let mut h = axum::http::HeaderMap::new();
            h.insert("x-api-key", writer_key.parse().expect("a header value"));
            h
        })
        .await
        .expect("a key")
        .expect("a principal");
    assert_eq!(
        (p.username.as_str(), p.credential_kind),
        ("alice", CredentialKind::ApiKey)
    );

    // A deleted key: 401 unauthorized (not a bearer token) within the cache's second.
    b.delete_api_key("alice", ALICE_PASSWORD, &key_id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = send(&http, "GET", &items, &reader).await;
    assert_problem(&r, 401, "unauthorized", None);

    // What is not an access token is not taken as one; garbage is invalid_token.
    let (_, refresh) = b.grant_pair("alice", ALICE_PASSWORD, None).await;
    for bad in [refresh.as_str(), "not-a-token", "bno_made_up", "a.b.c"] {
        let r = send(&http, "GET", &items, &Cred::Bearer(bad.to_owned())).await;
        assert_problem(&r, 401, "invalid_token", None);
    }
    let r = send(&http, "GET", &items, &Cred::ApiKey("bnc_made_up".into())).await;
    assert_problem(&r, 401, "unauthorized", None);

    // A guard with a wrong secret cannot ask: 503, never a pass.
    let wrong = Guard::builder(&b.url)
        .mode(Mode::introspect(&cid, "bns_wrong"))
        .build()
        .await
        .expect("discovery");
    let wrong_app = support::serve(items_api::app(&wrong)).await;
    let admin_again = Cred::Bearer(b.admin_token().await);
    let r = send(&http, "GET", &format!("{wrong_app}/items"), &admin_again).await;
    assert_problem(&r, 503, "bouncer_unavailable", None);
    assert_eq!(r.headers["retry-after"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_are_introspected() {
    let Some(bin) = support::bouncer_bin() else {
        return;
    };
    let b = Bouncer::start(&bin, &[("BOUNCER_TOKENS__FORMAT", "opaque")]).await;
    b.register("alice", ALICE_PASSWORD).await;
    let (cid, secret) = b.client("items-api", &["tokens:introspect"]).await;
    let guard = Guard::builder(&b.url)
        .mode(Mode::introspect(&cid, &secret))
        .build()
        .await
        .expect("discovery");
    let app = support::serve(items_api::app(&guard)).await;
    let http = reqwest::Client::new();
    let items = format!("{app}/items");
    use Want::*;

    let reader = b.token("alice", ALICE_PASSWORD, Some("items:read")).await;
    assert!(reader.starts_with("bno_"), "{reader}");
    let reader = Cred::Bearer(reader);
    expect(&http, "GET", &items, &reader, Ok(200)).await;
    let scope = No(403, "insufficient_scope", Some("items:write"));
    expect(&http, "POST", &items, &reader, scope).await;
    // Unnarrowed (`*`): introspection answers what it may do now (`permissions`), so it passes
    // what Bouncer itself would let it through.
    let all = Cred::Bearer(b.token("alice", ALICE_PASSWORD, None).await);
    expect(&http, "GET", &items, &all, Ok(200)).await;
}
