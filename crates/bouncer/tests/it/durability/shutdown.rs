//! SIGTERM: an in-flight request is answered before the binary exits 0, and an idle keep-alive
//! connection does not hold the shutdown up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::Client;

use super::{BinServer, server_env};
use crate::support::{ADMIN, ADMIN_PASSWORD};

/// Reads from `s` up to and including the first blank line (the end of a response head).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "connection ended inside a response head ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_request_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    // Default Argon2 parameters: a password grant takes a while (tens of ms even optimized).
    let env = vec![
        (
            "BOUNCER_DATABASE_URL".to_owned(),
            format!("sqlite://{}/bouncer.db", dir.path().display()),
        ),
        (
            "BOUNCER_ADMIN_PASSWORD".to_owned(),
            ADMIN_PASSWORD.to_owned(),
        ),
    ];
    let mut server = BinServer::start(dir.path(), &env, "server").await;

    // `Expect: 100-continue` makes the server say when the handler starts reading the body, so
    // the request is known to be in the server's hands (accepted, parsed, being handled) before
    // the signal: no race with the accept loop.
    let body = format!("grant_type=password&username={ADMIN}&password={ADMIN_PASSWORD}");
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        port = server.port(),
        len = body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let interim = read_head(&mut stream);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim:?}");
    stream.write_all(body.as_bytes()).unwrap();
    // The whole request is sent; SIGTERM while Argon2 runs.
    server.sigterm();

    let mut response = String::new();
    if let Err(e) = stream.read_to_string(&mut response) {
        panic!(
            "the in-flight request got no response after SIGTERM: {e}\nstderr:\n{}",
            server.stderr()
        );
    }
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight request after SIGTERM: {response:?}\nstderr:\n{}",
        server.stderr()
    );
    assert!(response.contains("access_token"), "{response}");

    let status = server.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; stderr:\n{}",
        server.stderr()
    );
    // And it is really gone: nothing listens any more.
    assert!(TcpStream::connect(("127.0.0.1", server.port())).is_err());
}

#[tokio::test]
async fn sigterm_on_an_idle_server_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let env = server_env(&format!("sqlite://{}/bouncer.db", dir.path().display()));
    let mut server = BinServer::start(dir.path(), &env, "server").await;
    // An idle keep-alive connection must not hold the shutdown up.
    let client = Client::new();
    assert_eq!(
        client
            .get(server.at("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
}
