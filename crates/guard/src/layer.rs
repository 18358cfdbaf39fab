//! The tower layer: reads the request's credential as Bouncer does, checks it, and puts the
//! [`Principal`] into the request's extensions, or answers the refusal itself.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, Request, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tower::{Layer, Service};

use crate::extract::Authenticated;
use crate::introspect::API_KEY_PREFIX;
use crate::principal::Principal;
use crate::problem::Refusal;
use crate::{Guard, Inner};

/// Authenticates every request it wraps: a request without a credential passes without a
/// principal (the extractors then answer 401 where one is needed); a bad credential is answered
/// here (401 `invalid_token` for a bearer token, 401 `unauthorized` otherwise, 400
/// `ambiguous_credentials` for two that disagree, 503 `bouncer_unavailable` while Bouncer cannot
/// be asked). `Router::layer(guard.layer())`.
#[derive(Clone)]
pub struct GuardLayer {
    guard: Guard,
}

impl GuardLayer {
    pub fn new(guard: Guard) -> Self {
        GuardLayer { guard }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.inner.clone(),
        }
    }
}

/// The service of a [`GuardLayer`].
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Arc<Inner>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone that was made ready is the one to call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        // Known tokens and keys in hand: decided here, and the future is only the handler's.
        match guard.authenticate_now(req.headers()) {
            Some(Ok(principal)) => {
                req.extensions_mut().insert(Authenticated {
                    principal,
                    realm: guard.realm.clone(),
                });
                let fut = inner.call(req);
                Box::pin(async move { fut.await.map(IntoResponse::into_response) })
            }
            Some(Err(refusal)) => Box::pin(async move { Ok(refusal.into_response()) }),
            None => Box::pin(async move {
                match guard.authenticate(req.headers()).await {
                    Ok(principal) => {
                        req.extensions_mut().insert(Authenticated {
                            principal,
                            realm: guard.realm.clone(),
                        });
                        inner.call(req).await.map(IntoResponse::into_response)
                    }
                    Err(refusal) => Ok(refusal.into_response()),
                }
            }),
        }
    }
}

/// The password of a Basic credential (RFC 7617), if it decodes.
fn basic_password(encoded: &str) -> Option<String> {
    if encoded.len() > 8192 {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    String::from_utf8(raw[colon + 1..].to_vec()).ok()
}

/// A credential as presented.
enum Credential<'a> {
    Bearer(&'a str),
    ApiKey(Cow<'a, str>),
}

impl Inner {
    /// The request's credential, by Bouncer's precedence: the `Authorization` header (Bearer;
    /// Basic only with an API key as the password, as curl sends `-u any:bnc_...`), then the
    /// API-key header. Two `Authorization` headers, or API keys that differ, are 400
    /// `ambiguous_credentials`: never a guess. Cookies and query parameters are not read.
    fn credential<'h>(&self, headers: &'h HeaderMap) -> Result<Option<Credential<'h>>, Refusal> {
        let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
        let authorization = authorizations.next();
        if authorizations.next().is_some() {
            return Err(Refusal::ambiguous("more than one Authorization header"));
        }
        let mut key: Option<&str> = None;
        for v in headers.get_all(&self.api_key_header) {
            let v = v
                .to_str()
                .map_err(|_| Refusal::unauthorized(&self.realm, "malformed API key header"))?
                .trim();
            match key {
                Some(k) if k != v => {
                    return Err(Refusal::ambiguous("different API keys in one request"));
                }
                _ => key = Some(v),
            }
        }
        let Some(authorization) = authorization else {
            return Ok(key.map(|k| Credential::ApiKey(Cow::Borrowed(k))));
        };
        // UTF-8 is enough (and quick): a header value holds no CR, LF or NUL, and what a token
        // may contain is decided by its verification.
        let value = std::str::from_utf8(authorization.as_bytes())
            .map_err(|_| Refusal::unauthorized(&self.realm, "malformed Authorization header"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            if rest.is_empty() {
                return Err(self.invalid(": empty bearer token"));
            }
            return Ok(Some(Credential::Bearer(rest)));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            if let Some(password) = basic_password(rest).filter(|p| p.starts_with(API_KEY_PREFIX)) {
                if key.is_some_and(|k| k != password) {
                    return Err(Refusal::ambiguous("different API keys in one request"));
                }
                return Ok(Some(Credential::ApiKey(Cow::Owned(password))));
            }
            return Err(Refusal::unauthorized(
                &self.realm,
                "this service takes bearer tokens and API keys, not passwords",
            ));
        }
        Err(Refusal::unauthorized(
            &self.realm,
            "unsupported authorization scheme",
        ))
    }

    /// The request's caller, without I/O: `None` when Bouncer must be asked first.
    pub(crate) fn authenticate_now(
        self: &Arc<Self>,
        headers: &HeaderMap,
    ) -> Option<Result<Option<Arc<Principal>>, Refusal>> {
        let credential = match self.credential(headers) {
            Ok(Some(c)) => c,
            Ok(None) => return Some(Ok(None)),
            Err(refusal) => return Some(Err(refusal)),
        };
        let done = match credential {
            Credential::Bearer(token) => self.bearer_now(token)?,
            Credential::ApiKey(key) => self.api_key_now(&key)?,
        };
        Some(done.map(Some))
    }

    /// The request's caller: `Ok(None)` without a credential.
    pub(crate) async fn authenticate(
        self: &Arc<Self>,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<Principal>>, Refusal> {
        Ok(Some(match self.credential(headers)? {
            None => return Ok(None),
            Some(Credential::Bearer(token)) => self.bearer(token).await?,
            Some(Credential::ApiKey(key)) => self.api_key(&key).await?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_passwords() {
        let enc = base64::engine::general_purpose::STANDARD.encode("any:bnc_abc");
        assert_eq!(basic_password(&enc).as_deref(), Some("bnc_abc"));
        let enc = base64::engine::general_purpose::STANDARD.encode(":bnc_x:y");
        assert_eq!(basic_password(&enc).as_deref(), Some("bnc_x:y"));
        assert_eq!(basic_password("%%%"), None);
    }
}
