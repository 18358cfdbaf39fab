//! The HTTP client that fetches outside issuers' discovery documents and key sets: configured URLs
//! only (https, or http on a loopback host), no redirects (a redirect could leave both), 10 s for
//! the whole exchange, and at most 1 MiB of body.

use std::time::Duration;

use async_trait::async_trait;
use bouncer_core::issuers::Fetcher;

/// Documents larger than this are refused.
const MAX_BYTES: usize = 1024 * 1024;

pub struct HttpFetcher {
    client: reqwest::Client,
}

impl HttpFetcher {
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bouncer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpFetcher { client })
    }
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        if !crate::config::acceptable_url(url) {
            return Err(format!("{url}: not https (nor http on a loopback host)"));
        }
        let mut r = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        if r.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(format!("{url}: over {MAX_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(format!("{url}: over {MAX_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
