//! The token commands of the CLI (`client`, `keys`) against a server running on the same
//! database: what they change reaches the server through the change feed.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::Cli;
use crate::support::jwt_part;

/// `client add|list|remove`: the secret is printed once, the client works against a running server
/// on the same database, and its removal reaches that server through the change feed.
#[tokio::test]
async fn client_commands() {
    let cli = Cli::new();
    cli.run(&["migrate"]).ok();
    let out = cli
        .run(&["client", "add", "ci-bot", "--scope", "items:read"])
        .ok();
    let field = |name: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {out:?}"))
    };
    let (id, secret) = (field("client_id:"), field("client_secret:"));
    assert!(id.starts_with("cl_") && secret.starts_with("bns_"));
    let list = cli.run(&["client", "list"]).ok().stdout;
    assert!(list.contains(&id) && list.contains("ci-bot") && !list.contains(&secret));

    let app = cli.server().await;
    let grant = || {
        app.client
            .post(app.at("/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let r = grant().await.unwrap();
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_bearer("/items", &token).await.status(), 200);
    let out = cli.run(&["client", "remove", &id]).ok();
    assert!(out.stdout.contains(&id));
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.get_bearer("/items", &token).await.status() != 401 {
        assert!(
            Instant::now() < deadline,
            "the server never saw the removal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(grant().await.unwrap().status(), 401);
    cli.run(&["client", "remove", &id]).failed();
    app.stop().await;
}

/// `keys rotate` on the database while a server runs: the server signs with the new key once the
/// change feed reaches it (`--now`); `keys list` shows both keys.
#[tokio::test]
async fn keys_commands() {
    let cli = Cli::new();
    cli.run(&["migrate"]).ok();
    let app = cli.server().await;
    let before = app.admin_token().await;
    let out = cli.run(&["keys", "rotate", "--now"]).ok();
    let new = out
        .stdout
        .trim()
        .strip_prefix("new signing key ")
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_owned();
    let list = cli.run(&["keys", "list"]).ok().stdout;
    assert_eq!(list.lines().count(), 2, "{list}");
    // The server's test clock stood still while the CLI (on the real clock) rotated.
    app.clock.advance_s(1);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&new) && l.contains("signing")),
        "{list}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = app.admin_token().await;
        if jwt_part(&t, 0)["kid"] == new.as_str() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never picked up the new key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.get_bearer("/users/me", &before).await.status(), 200);
    app.stop().await;
}

/// `apikey create|list|revoke` for a user, against a running server on the same database.
#[tokio::test]
async fn apikey_commands() {
    let cli = Cli::new();
    cli.run(&["migrate"]).ok();
    let app = cli.server().await;
    let (name, _, _) = app.user_with_roles("cliuser", &["user"]).await;
    let out = cli
        .run(&[
            "apikey",
            "create",
            &name,
            "--name",
            "deploy",
            "--scope",
            "items:read",
        ])
        .ok();
    let field = |f: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(f))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {f} in {out:?}"))
    };
    let (id, key) = (field("id:"), field("key:"));
    let list = cli.run(&["apikey", "list", &name]).ok().stdout;
    assert!(list.contains(&id) && list.contains(&key[..8]) && !list.contains(&key));
    let items = |key: String| {
        let app = &app;
        async move {
            app.client
                .get(app.at("/items"))
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(items(key.clone()).await, 200);
    cli.run(&["apikey", "revoke", &name, &id]).ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while items(key.clone()).await != 401 {
        assert!(
            Instant::now() < deadline,
            "the server never saw the revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Beyond the owner's rights, even for the operator: 422 naming scopes.
    let out = cli
        .run(&[
            "apikey",
            "create",
            &name,
            "--name",
            "x",
            "--scope",
            "users:write",
        ])
        .failed();
    assert!(out.stderr.contains("scopes"), "{out:?}");
    app.stop().await;
}
