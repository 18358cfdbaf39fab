//! Extractors: a handler's signature says what it needs. `Auth` is any authenticated caller,
//! `Require<N>` one meeting `N`: a permission (`Require<UsersRead>`) or roles (`Require<Admin>`). Bodies and
//! queries are parsed here so every bad input becomes a clear 4xx naming the field.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use bouncer_core::auth::Credential;
use bouncer_core::authz::{Requirement, Resource};
use bouncer_core::permission::registry;
use bouncer_core::principal::Principal;
use bouncer_core::{Error, service::Bouncer};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ApiError, Challenge};

/// An authenticated caller, whatever the scheme.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

fn challenge(b: &Bouncer, invalid_token: bool) -> Challenge {
    let s = b.auth.settings();
    Challenge {
        bearer: s.bearer_enabled,
        basic: s.basic_enabled,
        invalid_token: invalid_token && s.bearer_enabled,
    }
}

pub(crate) fn unauthorized(b: &Bouncer, invalid_token: bool, detail: &'static str) -> ApiError {
    ApiError::Unauthorized {
        challenge: challenge(b, invalid_token),
        detail,
    }
}

/// The two halves of a Basic credential (RFC 7617: base64, split at the first colon), as raw
/// bytes; `None` when it does not decode. The one decoder: users, API keys and OAuth clients
/// (whose halves are form-encoded, RFC 6749 §2.3.1) each read the halves their way.
pub fn decode_basic(encoded: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    if encoded.len() > 4096 {
        return None;
    }
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    let pass = raw.split_off(colon + 1);
    raw.truncate(colon);
    Some((raw, pass))
}

/// Splits `user:pass` from a Basic credential (UTF-8; a non-empty username without control
/// characters).
pub fn parse_basic(encoded: &str) -> Option<(String, String)> {
    let (user, pass) = decode_basic(encoded)?;
    user_and_password(user, pass)
}

/// A decoded Basic credential as a username and password (see [`parse_basic`]).
fn user_and_password(user: Vec<u8>, pass: Vec<u8>) -> Option<(String, String)> {
    let (user, pass) = (String::from_utf8(user).ok()?, String::from_utf8(pass).ok()?);
    if user.is_empty() || user.chars().any(char::is_control) {
        return None;
    }
    Some((user, pass))
}

fn ambiguous(detail: &str) -> ApiError {
    ApiError::BadRequest {
        code: "ambiguous_credentials",
        detail: detail.to_owned(),
    }
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bouncer_session";

/// The values of cookie `name` in the request (every `Cookie` header).
pub fn cookies<'a>(parts: &'a Parts, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |c| {
            let (k, v) = c.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

/// The credential a request carries, by the documented precedence: the `Authorization` header,
/// then the API-key header, then the session cookie, then the API-key cookie, then the query
/// (when switched on). Refusals before any check: two `Authorization` headers, or API keys in
/// several places that differ, are 400 `ambiguous_credentials` (never a guess); an undecodable or
/// switched-off scheme is 401.
pub fn credential(b: &Bouncer, parts: &Parts) -> Result<Option<Credential>, ApiError> {
    let settings = b.auth.settings();
    let from_authorization = authorization_credential(b, parts)?;
    let mut keys: Vec<(&'static str, String)> = Vec::new();
    if settings.api_keys_enabled {
        if let Some(Credential::ApiKey(k)) = &from_authorization {
            keys.push(("authorization", k.clone()));
        }
        for v in parts.headers.get_all(settings.api_key_header.as_str()) {
            let v = v
                .to_str()
                .map_err(|_| unauthorized(b, false, "malformed API key header"))?;
            keys.push(("header", v.trim().to_owned()));
        }
        for v in cookies(parts, &settings.api_key_cookie) {
            keys.push(("cookie", v.to_owned()));
        }
        if settings.api_key_query
            && let Some(q) = parts.uri.query()
        {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if k == settings.api_key_query_param.as_str() {
                    keys.push(("query", v.into_owned()));
                }
            }
        }
        if keys.windows(2).any(|w| w[0].1 != w[1].1) {
            return Err(ambiguous("different API keys in one request"));
        }
    }
    if from_authorization.is_some() {
        return Ok(from_authorization);
    }
    if let Some(k) = keys.iter().find(|(p, _)| *p == "header") {
        return Ok(Some(Credential::ApiKey(k.1.clone())));
    }
    if settings.sessions_enabled {
        let mut sessions = cookies(parts, SESSION_COOKIE).filter(|v| !v.is_empty());
        if let Some(first) = sessions.next() {
            if sessions.any(|other| other != first) {
                return Err(ambiguous("more than one session cookie"));
            }
            return Ok(Some(Credential::Session(first.to_owned())));
        }
    }
    // The same key in several places is one credential; the order below is the precedence.
    let first = ["cookie", "query"]
        .iter()
        .find_map(|place| keys.iter().find(|(p, _)| p == place));
    Ok(first.map(|(_, k)| Credential::ApiKey(k.clone())))
}

/// The `Authorization` header's credential (an API key given as a Basic password counts as an
/// API key: what curl and many tools send).
fn authorization_credential(b: &Bouncer, parts: &Parts) -> Result<Option<Credential>, ApiError> {
    let mut authorizations = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = authorizations.next() else {
        return Ok(None);
    };
    if authorizations.next().is_some() {
        return Err(ambiguous("more than one Authorization header"));
    }
    let Ok(value) = value.to_str() else {
        return Err(unauthorized(b, false, "malformed Authorization header"));
    };
    parse_authorization(value, b.auth.settings())
        .map(Some)
        .map_err(|(invalid_token, detail)| unauthorized(b, invalid_token, detail))
}

/// One `Authorization` header value as a credential under `settings`; `Err` is what the 401
/// says (whether the token was invalid, and the detail). Public for the fuzz targets.
#[doc(hidden)]
pub fn parse_authorization(
    value: &str,
    settings: &bouncer_core::settings::AuthSettings,
) -> Result<Credential, (bool, &'static str)> {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && settings.bearer_enabled {
        if rest.is_empty() {
            return Err((true, "empty bearer token"));
        }
        return Ok(Credential::Bearer(rest.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let malformed = (false, "malformed Basic credentials");
        let (user, pass) = decode_basic(rest).ok_or(malformed)?;
        // `any:bnc_...` (any username, even none): an API key.
        if settings.api_keys_enabled
            && pass.starts_with(bouncer_core::secret::API_KEY_PREFIX.as_bytes())
        {
            let key = String::from_utf8(pass).map_err(|_| malformed)?;
            return Ok(Credential::ApiKey(key));
        }
        let Some((username, password)) = user_and_password(user, pass) else {
            return Err(malformed);
        };
        if settings.basic_enabled {
            return Ok(Credential::Basic { username, password });
        }
    }
    Err((false, "unsupported authorization scheme"))
}

/// Turns the request's credential into a principal: `Ok(None)` when none was presented.
pub async fn authenticate(b: &Bouncer, parts: &Parts) -> Result<Option<Principal>, ApiError> {
    authenticate_for(b, parts, &parts.method).await
}

/// [`authenticate`], with the CSRF check made for `method` (forward-auth: the original request's
/// method, not the subrequest's).
pub async fn authenticate_for(
    b: &Bouncer,
    parts: &Parts,
    method: &axum::http::Method,
) -> Result<Option<Principal>, ApiError> {
    let Some(credential) = credential(b, parts)? else {
        return Ok(None);
    };
    let ctx = crate::context::of(parts);
    match b.auth.authenticate(&credential, &ctx).await {
        Ok(p) => {
            if let Some(entered) = parts.extensions.get::<crate::context::Entered>() {
                entered.actor.set(&p.subject);
            }
            // CSRF: an unsafe method whose credential is the session cookie (which browsers send
            // on their own) must also carry the session's token, which only its pages can read.
            if let Credential::Session(id) = &credential
                && !method.is_safe()
            {
                let expected = bouncer_core::service::csrf_token(id);
                let given = parts
                    .headers
                    .get("x-csrf-token")
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                let same: bool = subtle::ConstantTimeEq::ct_eq(given, expected.as_bytes()).into();
                if !same {
                    return Err(ApiError::Forbidden {
                        code: "csrf_failed",
                        detail: "an unsafe request with a session cookie needs X-CSRF-Token",
                    });
                }
            }
            Ok(Some(p))
        }
        Err(Error::InvalidCredentials(why)) => {
            tracing::debug!(reason = %why, "credentials refused");
            // A Basic credential is a login at each request: a failed one is a failed login,
            // recorded with the username that was tried (successes are not: every request
            // would be one).
            if let Credential::Basic { username, .. } = &credential {
                let e = Error::InvalidCredentials(why);
                b.note_login::<()>(&ctx, username, "basic", &Err(e));
            }
            Err(unauthorized(
                b,
                credential.is_bearer(),
                "invalid or expired credentials",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// An authenticated caller if the request carries a credential, `None` if it carries none; a
/// credential that fails is still 401 (routes that serve both).
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuth
where
    Arc<Bouncer>: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let b: Arc<Bouncer> = axum::extract::FromRef::from_ref(state);
        Ok(MaybeAuth(authenticate(&b, parts).await?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth
where
    Arc<Bouncer>: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let b: Arc<Bouncer> = axum::extract::FromRef::from_ref(state);
        let principal = authenticate(&b, parts)
            .await?
            .ok_or_else(|| unauthorized(&b, false, "authentication required"))?;
        Ok(Auth(principal))
    }
}

/// What a route requires, as a type: a permission or a set of roles.
pub trait Need: Send + Sync + 'static {
    const REQUIREMENT: Requirement<'static>;
}

macro_rules! permission {
    ($ty:ident, $name:expr) => {
        #[doc = concat!("The `", stringify!($name), "` permission (from the registry).")]
        pub struct $ty;
        impl Need for $ty {
            const REQUIREMENT: Requirement<'static> = Requirement::Permission($name);
        }
    };
}

permission!(UsersRead, registry::USERS_READ);
permission!(UsersWrite, registry::USERS_WRITE);
permission!(RolesRead, registry::ROLES_READ);
permission!(RolesWrite, registry::ROLES_WRITE);
permission!(ClientsWrite, registry::CLIENTS_WRITE);
permission!(PoliciesRead, registry::POLICIES_READ);
permission!(PoliciesWrite, registry::POLICIES_WRITE);
permission!(AuditRead, registry::AUDIT_READ);
permission!(MetricsRead, registry::METRICS_READ);

/// Role `admin`.
pub struct Admin;
impl Need for Admin {
    const REQUIREMENT: Requirement<'static> = Requirement::AnyRole(&["admin"]);
}

/// Role `user` or `admin`.
pub struct UserOrAdmin;
impl Need for UserOrAdmin {
    const REQUIREMENT: Requirement<'static> = Requirement::AnyRole(&["user", "admin"]);
}

/// A caller meeting `N` (for a permission and a scoped token, the scope too), decided by
/// the authorizer; 401 without credentials, 403 with the reason otherwise.
pub struct Require<N: Need>(pub Principal, PhantomData<N>);

impl<S: Send + Sync, N: Need> FromRequestParts<S> for Require<N>
where
    Arc<Bouncer>: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        let b: Arc<Bouncer> = axum::extract::FromRef::from_ref(state);
        b.authz
            .authorize(&p, N::REQUIREMENT, Resource::default())
            .into_result()?;
        Ok(Require(p, PhantomData))
    }
}

/// Reads the raw body, mapping an oversize body to 413.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_)
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::PayloadTooLarge
        }
        other => ApiError::BadRequest {
            code: "bad_body",
            detail: other.body_text(),
        },
    })
}

/// A JSON body: 415 unless `Content-Type` is JSON, 413 over the limit, 400 if not JSON at all,
/// 422 naming the field for unknown fields, wrong types and missing fields.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, naming the offending field on a data error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de);
    if value.is_ok() {
        // Trailing data after the document is malformed JSON, not a second value.
        de.end().map_err(|e| ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("the body is not valid JSON: {e}"),
        })?;
    }
    value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest {
                code: "malformed_json",
                detail: format!("the body is not valid JSON: {inner}"),
            };
        }
        let msg = inner.to_string();
        // For an unknown field the path already ends with its name; for a missing or duplicated
        // one serde names it in backticks and the path is its parent.
        let named = ["missing field `", "duplicate field `"]
            .iter()
            .find_map(|p| {
                msg.strip_prefix(p)
                    .and_then(|r| r.split_once('`'))
                    .map(|(name, _)| name.to_owned())
            });
        let field = match named {
            Some(name) if path == "." => name,
            Some(name) => format!("{path}.{name}"),
            None => path.clone(),
        };
        let field = if field == "." {
            "body".to_owned()
        } else {
            field
        };
        Error::validation(
            field,
            msg.split(" at line ").next().unwrap_or(&msg).to_owned(),
        )
        .into()
    })
}

/// Query parameters as a map; handlers parse the ones they know and name them when bad.
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(q.as_bytes()).into_owned() {
            if map.contains_key(&k) {
                // Which one would count is a guess; refuse instead of picking.
                return Err(Error::validation(k, "is repeated").into());
            }
            map.insert(k, v);
        }
        Ok(QueryMap(map))
    }
}

impl QueryMap {
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.0
            .get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| Error::validation(name, "must be an integer").into())
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(Error::validation(name, "must be true or false").into()),
        }
    }

    pub fn page(&self) -> Result<bouncer_core::model::PageRequest, ApiError> {
        Ok(bouncer_core::model::PageRequest::new(
            self.int("limit")?,
            self.int("offset")?,
        )?)
    }
}

/// A UUID path segment; anything else cannot name a row, so it is 404.
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::RouteNotFound)?;
        Uuid::parse_str(&raw)
            .map(IdPath)
            .map_err(|_| Error::NotFound("resource").into())
    }
}

/// A textual path segment (a role name); one that is not valid UTF-8 names nothing, so it is 404.
pub struct NamePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for NamePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(name)| NamePath(name))
            .map_err(|_| Error::NotFound("resource").into())
    }
}

#[cfg(test)]
mod proptests;
