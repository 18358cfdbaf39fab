//! Tokens built to get in, bent claims: signed with the server's real key, but naming the wrong
//! issuer or audience, missing a required claim, out of their time (and, within the leeway, still
//! accepted), of another type or credential generation. The same answer as in `hostile_tokens`: 401
//! `invalid_token` with the RFC 6750 challenge.

use serde_json::json;

use super::{assert_accepted, assert_refused, claims, forged, me, sign};
use crate::support::{ADMIN, TestApp};
use crate::users::admin_id;

#[tokio::test]
async fn the_forging_helper_itself_makes_accepted_tokens() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |_, _| {}).await;
    assert_accepted("unchanged claims", &me(&app, &token).await);
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.insert("iss".into(), "http://evil.test".into());
    })
    .await;
    assert_refused("wrong iss", &me(&app, &token).await);
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.insert("aud".into(), "someone-else".into());
    })
    .await;
    assert_refused("wrong aud", &me(&app, &token).await);
}

#[tokio::test]
async fn missing_audience_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.remove("aud");
    })
    .await;
    assert_refused("no aud", &me(&app, &token).await);
}

#[tokio::test]
async fn missing_exp_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.remove("exp");
    })
    .await;
    assert_refused("no exp", &me(&app, &token).await);
}

#[tokio::test]
async fn missing_sub_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.remove("sub");
    })
    .await;
    assert_refused("no sub", &me(&app, &token).await);
}

#[tokio::test]
async fn a_sub_that_is_not_a_uuid_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.insert("sub".into(), ADMIN.into());
    })
    .await;
    assert_refused("sub is a username", &me(&app, &token).await);
}

#[tokio::test]
async fn a_sub_naming_no_user_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.insert("sub".into(), uuid::Uuid::new_v4().to_string().into());
    })
    .await;
    assert_refused("sub of nobody", &me(&app, &token).await);
}

#[tokio::test]
async fn expired_beyond_the_leeway_is_refused() {
    // Issued now (a token dated before the user's password was set is refused for that reason
    // alone), then the clock moves past exp + leeway.
    let app = TestApp::spawn().await;
    let token = forged(&app, |_, _| {}).await;
    assert_accepted("fresh", &me(&app, &token).await);
    app.clock.advance_s(900 + 61);
    assert_refused(
        "expired 61 s ago (cached verification too)",
        &me(&app, &token).await,
    );
}

#[tokio::test]
async fn expired_within_the_leeway_is_still_accepted() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |_, _| {}).await;
    app.clock.advance_s(900 + 30);
    assert_accepted("expired 30 s ago", &me(&app, &token).await);
}

/// RFC 9068: a JWT signed with the real key but not typed `at+jwt` (an ID token, a plain JWT) is
/// not an access token.
#[tokio::test]
async fn a_jwt_that_is_not_an_access_token_is_refused() {
    let app = TestApp::spawn().await;
    let c = claims(&app, &admin_id(&app, &app.admin_token().await).await);
    for typ in [Some("JWT"), Some("id+jwt"), None] {
        let token = app.bouncer.tokens.sign_typed(&c, typ).unwrap();
        assert_refused(&format!("typ {typ:?}"), &me(&app, &token).await);
    }
    assert_accepted("typ at+jwt", &me(&app, &sign(&app, &c)).await);
}

/// `auth_time` is required: a token without it is refused.
#[tokio::test]
async fn a_token_without_auth_time_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.remove("auth_time");
    })
    .await;
    assert_refused("no auth_time", &me(&app, &token).await);
}

#[tokio::test]
async fn a_token_of_another_credential_generation_is_refused() {
    let app = TestApp::spawn().await;
    for (what, r#gen) in [
        ("an earlier generation", json!(0)),
        ("a later one", json!(2)),
        ("a string", json!("1")),
    ] {
        let token = forged(&app, |c, _| {
            c.insert("gen".into(), r#gen);
        })
        .await;
        assert_refused(what, &me(&app, &token).await);
    }
    let token = forged(&app, |c, _| {
        c.remove("gen");
    })
    .await;
    assert_refused("no gen at all", &me(&app, &token).await);
}

#[tokio::test]
async fn not_before_beyond_the_leeway_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, now| {
        c.insert("nbf".into(), (now + 120).into());
    })
    .await;
    assert_refused("nbf in 120 s", &me(&app, &token).await);
}

#[tokio::test]
async fn not_before_within_the_leeway_is_accepted() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, now| {
        c.insert("nbf".into(), (now + 30).into());
    })
    .await;
    assert_accepted("nbf in 30 s", &me(&app, &token).await);
}

#[tokio::test]
async fn issued_in_the_future_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, now| {
        c.insert("iat".into(), (now + 3600).into());
    })
    .await;
    assert_refused("iat in an hour", &me(&app, &token).await);
}

#[tokio::test]
async fn exp_as_a_string_is_refused() {
    let app = TestApp::spawn().await;
    let token = forged(&app, |c, _| {
        c.insert("exp".into(), "9999999999".into());
    })
    .await;
    assert_refused("exp as a string", &me(&app, &token).await);
}
