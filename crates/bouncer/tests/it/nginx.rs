//! Forward-auth behind a real nginx (Debian's `nginx`, `auth_request`), in front of a small
//! upstream: 200 / 401 / 403 end to end for a JWT, an API key, a session and nothing. The nginx
//! configuration here is the one the README shows.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bouncer::config::ForwardRuleConfig;
use serde_json::{Value, json};

use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp, free_port};

fn nginx() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is not installed (apt-get install nginx); CI needs it"
        );
        eprintln!("skipping: nginx is not installed (apt-get install nginx)");
    }
    found
}

/// The configuration the README shows, with this test's ports and a private prefix.
fn nginx_conf(dir: &Path, port: u16, bouncer: &str, upstream: u16) -> String {
    let d = dir.display();
    format!(
        r#"
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    server {{
        listen 127.0.0.1:{port};

        location = /_bouncer {{
            internal;
            proxy_pass {bouncer}/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}

        location / {{
            auth_request /_bouncer;
            auth_request_set $auth_user $upstream_http_x_auth_user;
            auth_request_set $auth_roles $upstream_http_x_auth_roles;
            proxy_set_header X-Auth-User $auth_user;
            proxy_set_header X-Auth-Roles $auth_roles;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"#
    )
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The upstream API: answers who nginx says is calling.
async fn upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        axum::Json(json!({"user": h("x-auth-user"), "roles": h("x-auth-roles")}))
    });
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    port
}

#[tokio::test]
async fn nginx_auth_request_in_front_of_an_api() {
    let Some(nginx) = nginx() else { return };
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.forward_auth.rules = vec![
            ForwardRuleConfig {
                path: "/public/**".into(),
                public: true,
                ..Default::default()
            },
            ForwardRuleConfig {
                path: "/admin/**".into(),
                role: Some("admin".into()),
                ..Default::default()
            },
            ForwardRuleConfig {
                path: "/**".into(),
                ..Default::default()
            },
        ];
    })
    .await
    .unwrap();
    let upstream = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), port, &app.url, upstream)).unwrap();
    let child = std::process::Command::new(&nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir.path())
        .arg("-g")
        .arg("daemon off; master_process off;")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let _guard = Nginx(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(format!("{base}/public/x")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Credentials of every kind.
    let (name, pw, _) = app.user_with_roles("behindnginx", &["user"]).await;
    let jwt = app.token(&name, &pw).await;
    let r = app
        .client
        .post(app.at("/users/me/api-keys"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "nginx"}))
        .send()
        .await
        .unwrap();
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (session, _) = app.session_login(ADMIN, ADMIN_PASSWORD).await;

    let get = |path: &str, header: Option<(&str, String)>| {
        let mut rb = client.get(format!("{base}{path}"));
        if let Some((k, v)) = header {
            rb = rb.header(k, v);
        }
        async move {
            let r = rb.send().await.unwrap();
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(get("/public/x", None).await.0, 200);
    assert_eq!(get("/api/things", None).await.0, 401);
    let (st, body) = get(
        "/api/things",
        Some(("authorization", format!("Bearer {jwt}"))),
    )
    .await;
    assert_eq!((st, body["user"].as_str()), (200, Some(name.as_str())));
    assert_eq!(body["roles"], "user");
    let (st, body) = get("/api/things", Some(("x-api-key", key.clone()))).await;
    assert_eq!((st, body["user"].as_str()), (200, Some(name.as_str())));
    let (st, body) = get("/api/things", Some(("cookie", session.clone()))).await;
    assert_eq!((st, body["user"].as_str()), (200, Some(ADMIN)));
    assert_eq!(get("/admin/panel", Some(("x-api-key", key))).await.0, 403);
    assert_eq!(get("/admin/panel", Some(("cookie", session))).await.0, 200);
    // The spellings that slipped past other proxies' rules do not here.
    for path in ["/public/../admin/panel", "/%61dmin/panel", "//admin/panel"] {
        let (st, _) = get(path, Some(("authorization", format!("Bearer {jwt}")))).await;
        assert!(st == 403 || st == 400, "{path}: {st}");
    }
    // A client's own X-Auth-User never reaches the upstream as its identity.
    let (_, body) = get("/public/x", Some(("x-auth-user", "root".into()))).await;
    assert_eq!(body["user"], "");
    app.stop().await;
}
