//! Flood defences: one client address cannot hold every connection slot.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{Db, TestApp};

/// The server's `host:port`, for raw connections.
fn host_port(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

async fn connect_from(local: Ipv4Addr, addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((IpAddr::V4(local), 0).into()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// `GET /healthz` on a fresh connection from `local`: the status line, or `None` when the server
/// closed the connection without answering.
async fn healthz_from(local: Ipv4Addr, addr: &str) -> Option<String> {
    let mut s = connect_from(local, addr).await;
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return None;
    }
    let mut out = String::new();
    match tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await {
        Ok(Ok(_)) if !out.is_empty() => out.lines().next().map(str::to_owned),
        _ => None,
    }
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.server.max_connections_per_ip = 3)
        .await
        .unwrap();
    let addr = host_port(&app);
    let here = Ipv4Addr::new(127, 0, 0, 1);
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect_from(here, &addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        healthz_from(here, &addr).await,
        None,
        "a 4th connection from the same address"
    );
    let other = Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(
        healthz_from(other, &addr).await.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "another address is still served"
    );
    // A closed connection gives its slot back.
    idle.pop();
    let start = Instant::now();
    loop {
        if healthz_from(here, &addr).await.as_deref() == Some("HTTP/1.1 200 OK") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the slot was not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(idle);
    app.stop().await;
}

/// A request head over `server.max_header_bytes` is 431, and the server goes on answering.
#[tokio::test]
async fn an_oversize_request_head_is_431() {
    let app = TestApp::spawn().await;
    let addr = host_port(&app);
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let big = "a".repeat(20_000);
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Big: {big}\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut out))
        .await
        .expect("answered")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&out[..n]);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert_eq!(
        app.client
            .get(app.at("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

/// A connection that makes no progress is cut after `server.request_timeout_s` (plus the stall
/// grace, 5 s) by the stall guard around the socket, even where hyper's own wait for a request
/// head is longer; and the server goes on answering others.
#[tokio::test]
async fn a_connection_that_makes_no_progress_is_cut_by_the_stall_guard() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.server.request_timeout_s = 1;
        c.server.header_read_timeout_s = 120;
    })
    .await
    .unwrap();
    let addr = host_port(&app);
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut out = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(60), silent.read(&mut out))
        .await
        .expect("cut long before hyper's 120 s for a request head")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer: {:?}", &out[..n]);
    assert_eq!(
        healthz_from(Ipv4Addr::new(127, 0, 0, 1), &addr)
            .await
            .as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    app.stop().await;
}

/// One answer read off a keep-alive connection: its status line (the body is `/healthz`'s short
/// JSON, read by its `Content-Length`).
async fn healthz_on(s: &mut TcpStream, addr: &str) -> String {
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("a content length");
            if body.len() >= length {
                return head.lines().next().unwrap().to_owned();
            }
        }
    }
}

/// Slowloris: a request head sent a byte at a time (progress the stall guard accepts) is cut
/// once `server.header_read_timeout_s` has passed since the server began waiting for it, while
/// the server answers others; and on a keep-alive connection each head has the whole timeout from
/// the previous answer (the connection's one timer, armed for an earlier head, fires early for a
/// later one and must not cut it).
#[tokio::test]
async fn a_request_head_that_trickles_in_is_cut_after_the_header_read_timeout() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.server.header_read_timeout_s = 1;
        c.server.request_timeout_s = 30;
    })
    .await
    .unwrap();
    let addr = host_port(&app);

    // Keep-alive: heads at 0 s, 0.6 s and 1.2 s, each well within 1 s of the answer before it.
    let mut steady = TcpStream::connect(&addr).await.unwrap();
    for pause in [0, 600, 600] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        assert_eq!(healthz_on(&mut steady, &addr).await, "HTTP/1.1 200 OK");
    }

    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(64)
    );
    let mut cut = false;
    for byte in head.as_bytes() {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        // Others are answered while it trickles.
        if started.elapsed() < Duration::from_millis(500) {
            assert_eq!(
                healthz_from(Ipv4Addr::new(127, 0, 0, 1), &addr)
                    .await
                    .as_deref(),
                Some("HTTP/1.1 200 OK")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut probe = [0u8; 256];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
            assert!(
                matches!(r, Ok(0) | Err(_)),
                "closed without an answer, not answered: {:?}",
                r.map(|n| String::from_utf8_lossy(&probe[..n]).into_owned())
            );
            cut = true;
            break;
        }
    }
    let after = started.elapsed();
    assert!(cut, "a head trickling in for {after:?} was never cut");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(5),
        "cut after {after:?}, not at the 1 s header-read timeout"
    );
    assert_eq!(
        healthz_from(Ipv4Addr::new(127, 0, 0, 1), &addr)
            .await
            .as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    app.stop().await;
}

/// A route that has not answered within `server.request_timeout_s` gets 408 with no body, at the
/// timeout counted from the request's arrival, while the server answers others. Here the slow
/// route is a password grant whose hash is made to take seconds.
#[tokio::test]
async fn a_route_slower_than_the_request_timeout_gets_408() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.server.request_timeout_s = 1;
        c.passwords.argon2_iterations = 4000;
    })
    .await
    .unwrap();
    let addr = host_port(&app);
    let form = [
        ("grant_type", "password"),
        ("username", crate::support::ADMIN),
        ("password", crate::support::ADMIN_PASSWORD),
    ];
    let slow = app.client.post(app.at("/oauth2/token")).form(&form).send();
    let started = Instant::now();
    let others = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        healthz_from(Ipv4Addr::new(127, 0, 0, 1), &addr).await
    };
    let (slow, other) = tokio::join!(slow, others);
    let waited = started.elapsed();
    let slow = slow.unwrap();
    assert_eq!(slow.status(), 408);
    assert!(slow.bytes().await.unwrap().is_empty(), "408 with no body");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?}, not at the 1 s request timeout"
    );
    assert_eq!(other.as_deref(), Some("HTTP/1.1 200 OK"));
    app.stop().await;
}
