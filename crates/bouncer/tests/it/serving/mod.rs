//! The serving path of the binary: the body read timeout, HTTPS (rustls) with its certificate
//! re-read on SIGHUP and HSTS, and no core dumps.
//!
//! Here: the body read timeout, and the certificates the HTTPS tests share. HTTPS on the
//! in-process server (HSTS, the `Secure` cookie, reloading the pair) is in `https`; the real
//! binary (SIGHUP, a missing certificate file, no core dumps) in `binary`.

mod binary;
mod https;

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{ADMIN, ADMIN_PASSWORD, Db, TestApp};

/// A client that sends a head announcing 1000 bytes, then 10, then stalls, gets 408 (a problem
/// document) once `server.body_read_timeout_s` is over; others are answered meanwhile.
#[tokio::test]
async fn a_body_that_stalls_gets_408_after_the_body_read_timeout() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.server.body_read_timeout_s = 1)
        .await
        .unwrap();
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"grant_type").await.unwrap();
    let start = Instant::now();
    // While that body stalls, the server answers others.
    let r = app.client.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    let waited = start.elapsed();
    let text = String::from_utf8_lossy(&out);
    assert!(read.is_ok(), "no answer within 10 s: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(text.contains(r#""code":"body_timeout""#), "{text}");
    assert!(text.contains(r#""status":408"#), "{text}");
    // A body that arrives in time is not affected.
    let r = app.token_response(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, PKCS#8 key PEM).
fn self_signed() -> (String, String) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a self-signed certificate");
    (cert.pem(), key_pair.serialize_pem())
}

/// A client trusting only `cert` (no connection reuse: every request is a new handshake).
fn trusting(cert: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Writes the pair where the configuration points.
fn write_pair(dir: &Path, (cert, key): &(String, String)) {
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
}
