//! `bouncer apply` and a running server: an apply in force on a server on the same database within
//! 1.5 s, and a client changed in place as apply changes it, on both databases.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Ops;
use crate::support::{Db, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_is_in_force_on_a_running_server_within_1_5_s() {
    let ops = Ops::new();
    let url = ops.url.clone();
    let app = TestApp::spawn_with(Db::Sqlite, move |c| c.database.url = url)
        .await
        .expect("SQLite is always available");
    let (alice, password, _) = app.user_with_roles("alice", &["user"]).await;
    let token = app.token(&alice, &password).await;
    assert_eq!(app.get_bearer("/items", &token).await.status(), 200);

    let file = r#"
[policies.no-reading]
effect = "deny"
permissions = ["items:read"]
roles = ["user"]

[clients.reporting]
scopes = ["items:read"]
"#;
    let out = tokio::task::block_in_place(|| ops.apply(&[], file).ok());
    let applied = Instant::now();
    let stdout = out.stdout.clone();
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
            .expect("printed")
            .to_owned()
    };
    let (id, secret) = (field("client_id:"), field("client_secret:"));

    let mut denied = None;
    let mut client_works = None;
    while applied.elapsed() < Duration::from_secs(5) && (denied.is_none() || client_works.is_none())
    {
        if denied.is_none() {
            let r = app.get_bearer("/items", &token).await;
            if r.status() == 403 {
                let body: Value = r.json().await.unwrap();
                assert!(body.to_string().contains("policy_denied"), "{body}");
                denied = Some(applied.elapsed());
            }
        }
        if client_works.is_none() {
            let r = app
                .client
                .post(app.at("/oauth2/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                client_works = Some(applied.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let denied = denied.expect("the server still lets alice read 5 s after the apply");
    let client_works = client_works.expect("the new client still refused 5 s after the apply");
    eprintln!("policy in force after {denied:?}, client after {client_works:?}");
    let limit = Duration::from_millis(1500);
    assert!(denied < limit && client_works < limit, "too slow");
    app.stop().await;
}

/// What apply does to an existing client (`Bouncer::update_client`), on both databases: scopes
/// and first_party change in place, the secret stays, a token issued before loses what the client
/// lost at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_changes_in_place_on_both_databases() {
    use bouncer_core::authz::Actor::Operator;
    use bouncer_core::service::{NewClient, client_update::ClientPatch};
    for db in crate::support::BOTH {
        let Some(app) = TestApp::spawn_on(db).await else {
            continue;
        };
        let scopes = vec!["items:read".to_owned(), "items:write".to_owned()];
        let new = NewClient {
            name: "reporting".into(),
            scopes,
            first_party: false,
        };
        let (c, secret) = app.bouncer.create_client(Operator, new).await.unwrap();
        let grant = |form: &[(&str, &str)]| {
            let req = app.client.post(app.at("/oauth2/token"));
            req.basic_auth(&c.id, Some(&secret)).form(form).send()
        };
        let password = [
            ("grant_type", "password"),
            ("username", crate::support::ADMIN),
            ("password", crate::support::ADMIN_PASSWORD),
        ];
        assert_eq!(grant(&password).await.unwrap().status(), 400, "{db:?}");
        let r = grant(&[("grant_type", "client_credentials")])
            .await
            .unwrap();
        let token: Value = r.json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.get_bearer("/items", &token).await.status(), 200);

        let patch = ClientPatch {
            scopes: Some(vec!["items:write".into()]),
            first_party: Some(true),
        };
        let updated = app.bouncer.update_client(Operator, &c.id, patch).await;
        let updated = updated.unwrap();
        assert_eq!(
            (updated.scopes, updated.first_party),
            (vec!["items:write".to_owned()], true)
        );
        let stored = app.bouncer.list_clients().await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (&stored[0].id, &stored[0].secret_hash),
            (&c.id, &c.secret_hash)
        );
        assert_eq!(stored[0].scopes, ["items:write"], "{db:?}");
        assert_eq!(
            app.get_bearer("/items", &token).await.status(),
            403,
            "{db:?}"
        );
        assert_eq!(grant(&password).await.unwrap().status(), 200, "{db:?}");
        let missing = app
            .bouncer
            .update_client(Operator, "cl_nope", ClientPatch::default());
        assert!(matches!(
            missing.await,
            Err(bouncer_core::Error::NotFound("client"))
        ));
        app.stop().await;
    }
}
