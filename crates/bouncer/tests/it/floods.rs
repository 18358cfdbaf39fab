//! Flood defences: one client address cannot hold every connection slot.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{Db, TestApp};

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
    let addr = app.url.trim_start_matches("http://").to_owned();
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
    let addr = app.url.trim_start_matches("http://").to_owned();
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

/// A connection that makes no progress is cut after `server.request_timeout_s` by the stall guard
/// around the socket, even where hyper's own wait for a request head is longer; and the server
/// goes on answering others.
#[tokio::test]
async fn a_connection_that_makes_no_progress_is_cut_by_the_stall_guard() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.server.request_timeout_s = 1;
        c.server.header_read_timeout_s = 120;
    })
    .await
    .unwrap();
    let addr = app.url.trim_start_matches("http://").to_owned();
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
