//! Talking to Bouncer: one HTTP client (no redirects, a timeout, answers capped at 1 MiB) and the
//! RFC 8414 metadata, read once and again after a failure (never more than once a second).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::Inner;
use crate::problem::Refusal;

/// Answers larger than this are refused.
const MAX_BODY: usize = 1 << 20;
/// After a failed fetch, requests are answered 503 at once for this long instead of asking again.
pub(crate) const FAILURE_BACKOFF: Duration = Duration::from_secs(1);

/// What `/.well-known/oauth-authorization-server` said (RFC 8414), the fields the guard uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

pub(crate) struct Remote {
    pub(crate) http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    metadata_lock: tokio::sync::Mutex<()>,
    metadata_failed: Mutex<Option<(Instant, String)>>,
}

/// A failure remembered for [`FAILURE_BACKOFF`].
pub(crate) fn recent_failure(slot: &Mutex<Option<(Instant, String)>>) -> Option<String> {
    let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    match &*guard {
        Some((at, why)) if at.elapsed() < FAILURE_BACKOFF => Some(why.clone()),
        _ => None,
    }
}

pub(crate) fn remember_failure(slot: &Mutex<Option<(Instant, String)>>, why: &str) {
    tracing::warn!("bouncer-guard: {why}");
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), why.to_owned()));
}

/// A GET or POST's answer: status, `Cache-Control`, body (at most [`MAX_BODY`]).
pub(crate) struct Answer {
    pub status: u16,
    pub cache_control: Option<String>,
    pub body: Vec<u8>,
}

impl Remote {
    pub(crate) fn new(timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Bouncer closes a keep-alive connection idle for its header-read timeout (10 s by
            // default); a pooled connection idle that long can be closed just as it is reused
            // (a key refetch 10 s after the last one), failing the request. Drop them sooner.
            .pool_idle_timeout(Duration::from_secs(4))
            .user_agent(concat!("bouncer-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Remote {
            http,
            metadata: RwLock::new(None),
            metadata_lock: tokio::sync::Mutex::new(()),
            metadata_failed: Mutex::new(None),
        })
    }

    /// Sends `req`; `what` names it in errors ("its keys").
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Answer, String> {
        let mut res = req.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "failed"
            };
            format!("Bouncer does not answer ({what}: {kind})")
        })?;
        if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(format!("Bouncer's answer for {what} is over 1 MiB"));
        }
        let status = res.status().as_u16();
        let cache_control = res
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|_| format!("Bouncer's answer for {what} was cut short"))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("Bouncer's answer for {what} is over 1 MiB"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            cache_control,
            body,
        })
    }

    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<(T, Option<String>), String> {
        let a = self.send(self.http.get(url), what).await?;
        if a.status != 200 {
            return Err(format!("Bouncer answered {} for {what}", a.status));
        }
        let v = serde_json::from_slice(&a.body)
            .map_err(|e| format!("Bouncer's answer for {what} is not what was expected: {e}"))?;
        Ok((v, a.cache_control))
    }

    pub(crate) fn cached_metadata(&self) -> Option<Arc<Metadata>> {
        self.metadata
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn http_url(v: &Option<String>) -> bool {
    v.as_deref()
        .is_none_or(|u| u.starts_with("http://") || u.starts_with("https://"))
}

impl Inner {
    /// The metadata, fetched once (one fetch at a time; a failure is answered 503 for a second).
    pub(crate) async fn metadata(&self) -> Result<Arc<Metadata>, Refusal> {
        let r = &self.remote;
        if let Some(m) = r.cached_metadata() {
            return Ok(m);
        }
        if let Some(why) = recent_failure(&r.metadata_failed) {
            return Err(Refusal::unavailable(why));
        }
        let _one = r.metadata_lock.lock().await;
        if let Some(m) = r.cached_metadata() {
            return Ok(m);
        }
        if let Some(why) = recent_failure(&r.metadata_failed) {
            return Err(Refusal::unavailable(why));
        }
        match self.fetch_metadata().await {
            Ok(m) => {
                let m = Arc::new(m);
                *r.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(m.clone());
                Ok(m)
            }
            Err(why) => {
                remember_failure(&r.metadata_failed, &why);
                Err(Refusal::unavailable(why))
            }
        }
    }

    async fn fetch_metadata(&self) -> Result<Metadata, String> {
        let url = format!("{}/.well-known/oauth-authorization-server", self.url);
        let (m, _): (Metadata, _) = self.remote.get_json(&url, "its metadata").await?;
        if m.issuer.trim_end_matches('/') != self.issuer {
            return Err(format!(
                "Bouncer's metadata names the issuer {:?}, not {:?} (set the guard's issuer)",
                m.issuer, self.issuer
            ));
        }
        if !http_url(&m.jwks_uri) || !http_url(&m.introspection_endpoint) {
            return Err("Bouncer's metadata has an endpoint that is not an http(s) URL".into());
        }
        Ok(m)
    }
}
