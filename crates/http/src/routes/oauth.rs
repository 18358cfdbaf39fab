//! `POST /oauth2/token` (RFC 6749). Form-encoded in, RFC 6749 §5.1/§5.2 JSON out, never cached.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bouncer_core::service::{
    AuthenticatedClient, Bouncer, ClientCredentials, OAuthError, RevokeCaller, SWAGGER_CLIENT,
    TokenGrant,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, OAuthErrorResponse};
use crate::extract::body_bytes;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    /// Rotates on every use (RFC 6749 §6); a reused one revokes its whole login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl From<TokenGrant> for TokenResponse {
    fn from(g: TokenGrant) -> Self {
        TokenResponse {
            access_token: g.access_token,
            token_type: "Bearer",
            expires_in: g.expires_in,
            scope: g.scope,
            refresh_token: g.refresh_token,
        }
    }
}

/// The parameters of the token, revocation and introspection endpoints.
#[doc(hidden)]
pub const KNOWN_PARAMETERS: &[&str] = &[
    "grant_type",
    "username",
    "password",
    "scope",
    "refresh_token",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
];

/// Parses the form; a repeated known parameter is an error (RFC 6749 §3.1).
#[doc(hidden)]
pub fn parse_form(bytes: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        // RFC 6749 §3.1: a parameter the server knows must not be repeated; others are ignored.
        if !KNOWN_PARAMETERS.contains(&k.as_ref()) {
            continue;
        }
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::InvalidRequest(format!("{k} is repeated")));
        }
    }
    Ok(out)
}

/// The client named by `Authorization: Basic` (RFC 6749 §2.3.1: the id and secret are
/// form-encoded, then joined by a colon). No header: `None`. Any other scheme, or a header that does
/// not decode, is a failed client authentication.
fn basic_client(headers: &axum::http::HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::InvalidRequest(
            "more than one Authorization header".into(),
        ));
    }
    let value = value.to_str().map_err(|_| OAuthError::InvalidClient)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::InvalidClient);
    }
    client_from_basic(rest).map(Some)
}

/// A client id and secret from a Basic credential's encoded part (both form-encoded, RFC 6749
/// §2.3.1).
#[doc(hidden)]
pub fn client_from_basic(encoded: &str) -> Result<(String, String), OAuthError> {
    let (id, secret) = crate::extract::decode_basic(encoded).ok_or(OAuthError::InvalidClient)?;
    // application/x-www-form-urlencoded decoding of one value: '+' is a space, %XX a byte.
    let decode = |part: &[u8]| -> String {
        let plus: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&plus)
            .decode_utf8_lossy()
            .into_owned()
    };
    let id = decode(&id);
    if id.is_empty() {
        return Err(OAuthError::InvalidClient);
    }
    Ok((id, decode(&secret)))
}

/// The client credentials of a request: from `Authorization: Basic` (already decoded) or the form
/// (`client_id`, `client_secret`); both at once must agree on the client and not both carry a
/// secret.
fn client_credentials<'a>(
    basic: &'a Option<(String, String)>,
    form: &'a HashMap<String, String>,
) -> Result<ClientCredentials<'a>, OAuthError> {
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    Ok(match basic {
        Some((id, secret)) => {
            if field("client_id").is_some_and(|c| c != id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the client in the Authorization header".into(),
                ));
            }
            if form.contains_key("client_secret") {
                return Err(OAuthError::InvalidRequest(
                    "use one client authentication method, not two".into(),
                ));
            }
            ClientCredentials {
                client_id: Some(id),
                client_secret: Some(secret),
            }
        }
        None => ClientCredentials {
            client_id: field("client_id"),
            client_secret: form.get("client_secret").map(String::as_str),
        },
    })
}

/// `grant_type` of `POST /oauth2/token`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum GrantType {
    Password,
    RefreshToken,
    ClientCredentials,
}

/// The token request (RFC 6749 §4.3, §4.4, §6), form-encoded. Which fields a grant needs:
/// `password`: `username`, `password`; `refresh_token`: `refresh_token`; `client_credentials`:
/// the client's credentials (Basic, or `client_id` and `client_secret`). `client_id` alone names a
/// public client (`swagger`, the default for the password grant).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    pub grant_type: GrantType,
    pub username: Option<String>,
    #[schema(format = Password)]
    pub password: Option<String>,
    /// Space-separated permissions and `role:NAME`; default `*`.
    pub scope: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    #[schema(format = Password)]
    pub client_secret: Option<String>,
}

/// A token to revoke (RFC 7009) or introspect (RFC 7662), form-encoded, with the client's
/// credentials unless they come as Basic.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RevokeForm {
    #[schema(min_length = 1)]
    pub token: String,
    /// `access_token` or `refresh_token` (a hint only).
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    #[schema(format = Password)]
    pub client_secret: Option<String>,
}

/// Issues tokens. Grant `password` (RFC 6749 §4.3): `username`, `password`, optional `scope`
/// (space-separated permissions and `role:NAME`) and `client_id` (`swagger`). Grant
/// `refresh_token` (§6): `refresh_token`, optional narrower `scope`; the refresh token rotates.
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", content = TokenForm),
    responses((status = 200, body = TokenResponse), (status = 400, description = "RFC 6749 error"), (status = 401, description = "invalid_client")))]
pub async fn token(State(b): State<Arc<Bouncer>>, req: Request) -> Response {
    match issue(&b, req).await {
        Ok(t) => {
            let mut res = Json(t).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(Ok(e)) => OAuthErrorResponse(e).into_response(),
        Err(Err(e)) => e.into_response(),
    }
}

async fn issue(b: &Bouncer, req: Request) -> Result<TokenResponse, Result<OAuthError, ApiError>> {
    if !form_content_type(req.headers()) {
        return Err(Ok(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        )));
    }
    let ctx = request_context(&req);
    let basic = basic_client(req.headers()).map_err(Ok)?;
    let bytes = body_bytes(req, &()).await.map_err(Err)?;
    let form = parse_form(&bytes).map_err(Ok)?;
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let client_auth = client_credentials(&basic, &form).map_err(Ok)?;
    let grant = field("grant_type")
        .ok_or_else(|| Ok(OAuthError::InvalidRequest("grant_type is required".into())))?;
    match grant {
        "password" => {
            let username = field("username")
                .ok_or_else(|| Ok(OAuthError::InvalidRequest("username is required".into())))?;
            let password = field("password")
                .ok_or_else(|| Ok(OAuthError::InvalidRequest("password is required".into())))?;
            let grant = b
                .password_grant(
                    client_auth,
                    username,
                    password,
                    form.get("scope").map(String::as_str),
                    &ctx,
                )
                .await
                .map_err(Ok)?;
            Ok(grant.into())
        }
        "client_credentials" => {
            let grant = b
                .client_credentials_grant(client_auth, form.get("scope").map(String::as_str), &ctx)
                .await
                .map_err(Ok)?;
            Ok(grant.into())
        }
        "refresh_token" => {
            let refresh = field("refresh_token").ok_or_else(|| {
                Ok(OAuthError::InvalidRequest(
                    "refresh_token is required".into(),
                ))
            })?;
            let grant = b
                .refresh_grant(
                    client_auth,
                    refresh,
                    form.get("scope").map(String::as_str),
                    &ctx,
                )
                .await
                .map_err(Ok)?;
            Ok(grant.into())
        }
        _ => Err(Ok(OAuthError::UnsupportedGrantType)),
    }
}

/// The request's context (client address through trusted proxies, time, id).
fn request_context(req: &Request) -> bouncer_core::context::RequestContext {
    crate::context::entered(req.extensions())
        .cloned()
        .unwrap_or_default()
}

fn form_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// Revokes a token (RFC 7009): `token`, optional `token_type_hint`. The caller authenticates as
/// the token's owner (any of their credentials), as its client, or by presenting the token itself
/// as its bearer credential; otherwise 401 `invalid_client` and nothing is revoked. A well-formed,
/// authenticated request always gets 200, whether or not the token was valid or theirs.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", content = RevokeForm),
    responses((status = 200, description = "revoked, or nothing to revoke"), (status = 400, description = "RFC 6749 error"), (status = 401, description = "invalid_client")))]
pub async fn revoke(State(b): State<Arc<Bouncer>>, req: Request) -> Response {
    match revoke_inner(&b, req).await {
        Ok(()) => {
            let mut res = axum::http::StatusCode::OK.into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(Ok(e)) => OAuthErrorResponse(e).into_response(),
        Err(Err(e)) => e.into_response(),
    }
}

async fn revoke_inner(b: &Bouncer, req: Request) -> Result<(), Result<OAuthError, ApiError>> {
    if !form_content_type(req.headers()) {
        return Err(Ok(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        )));
    }
    let (parts, body) = req.into_parts();
    let ctx = crate::context::of(&parts);
    let mut authorizations = parts.headers.get_all(header::AUTHORIZATION).iter();
    let authorization = authorizations.next();
    if authorizations.next().is_some() {
        return Err(Ok(OAuthError::InvalidRequest(
            "more than one Authorization header".into(),
        )));
    }
    let bytes = body_bytes(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(Err)?;
    let form = parse_form(&bytes).map_err(Ok)?;
    let token = form
        .get("token")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Ok(OAuthError::InvalidRequest("token is required".into())))?;
    // A client, first: by its Basic credential (RFC 6749 §2.3.1: form-encoded id and secret)
    // when it names a registered client, or by the form (client_secret_post).
    match authorization {
        Some(value) => {
            let value = value.to_str().map_err(|_| Ok(OAuthError::InvalidClient))?;
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("bearer")
                && rest == token
                && !token.starts_with(bouncer_core::secret::REFRESH_PREFIX)
            {
                // The token as its own bearer credential: it may revoke itself.
                return b
                    .revoke(RevokeCaller::Possession, token, &ctx)
                    .await
                    .map_err(Ok);
            }
            if scheme.eq_ignore_ascii_case("basic") {
                let (id, secret) = client_from_basic(rest).map_err(Ok)?;
                if id == SWAGGER_CLIENT && secret.is_empty() {
                    // A public client naming itself proves nothing: not enough to revoke.
                    return Err(Ok(OAuthError::InvalidClient));
                }
                if b.auth.client(&id).is_some() {
                    let creds = ClientCredentials {
                        client_id: Some(&id),
                        client_secret: Some(&secret),
                    };
                    return revoke_as_client(b, creds, token, &ctx).await;
                }
            }
        }
        None if form.contains_key("client_id") => {
            // A public client's bare client_id proves nothing: refused in revoke_as_client.
            let creds = client_credentials(&None, &form).map_err(Ok)?;
            return revoke_as_client(b, creds, token, &ctx).await;
        }
        None => {}
    }
    // Otherwise the token's owner, by any credential the request pipeline accepts (with its
    // switches, its one-credential rule and CSRF for a session cookie).
    let owner = match crate::extract::authenticate(b, &parts).await {
        Ok(Some(p)) => p,
        Err(ApiError::Core(bouncer_core::Error::Busy)) => return Err(Ok(OAuthError::Busy)),
        Ok(None) | Err(_) => return Err(Ok(OAuthError::InvalidClient)),
    };
    b.revoke(RevokeCaller::Owner(owner.subject_id()), token, &ctx)
        .await
        .map_err(Ok)
}

/// Revocation by an authenticated registered client, of the tokens issued to it; a public client
/// proves nothing and is refused.
async fn revoke_as_client(
    b: &Bouncer,
    creds: ClientCredentials<'_>,
    token: &str,
    ctx: &bouncer_core::context::RequestContext,
) -> Result<(), Result<OAuthError, ApiError>> {
    let AuthenticatedClient::Registered(client) = b.authenticate_client(creds, ctx).map_err(Ok)?
    else {
        return Err(Ok(OAuthError::InvalidClient));
    };
    b.revoke(RevokeCaller::Client(&client.client.id), token, ctx)
        .await
        .map_err(Ok)
}

/// RFC 7662 answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The roles the credential may use now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// What the credential may do now: the subject's permissions narrowed by its scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

/// Introspects a token (RFC 7662) for a registered client holding `tokens:introspect` (Basic or
/// `client_secret_post`); users, even admins, get 401. `{"active": false}` for anything not valid.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", content = RevokeForm),
    responses((status = 200, body = IntrospectionResponse), (status = 400, description = "RFC 6749 error"), (status = 401, description = "invalid_client")))]
pub async fn introspect(State(b): State<Arc<Bouncer>>, req: Request) -> Response {
    let result = async {
        if !form_content_type(req.headers()) {
            return Err(Ok(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            )));
        }
        let basic = basic_client(req.headers()).map_err(Ok)?;
        let ctx = request_context(&req);
        let bytes = body_bytes(req, &()).await.map_err(Err)?;
        let form = parse_form(&bytes).map_err(Ok)?;
        let creds = client_credentials(&basic, &form).map_err(Ok)?;
        let token = form
            .get("token")
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Ok(OAuthError::InvalidRequest("token is required".into())))?;
        b.introspect(creds, token, &ctx).await.map_err(Ok)
    }
    .await;
    match result {
        Ok(i) => {
            let body = if i.active {
                IntrospectionResponse {
                    active: true,
                    sub: Some(i.sub),
                    username: Some(i.username),
                    scope: Some(i.scope),
                    client_id: Some(i.client_id).filter(|c| !c.is_empty()),
                    exp: Some(i.exp).filter(|e| *e > 0),
                    iat: Some(i.iat),
                    token_type: Some(i.token_type),
                    roles: Some(i.roles),
                    permissions: Some(i.permissions),
                }
            } else {
                IntrospectionResponse {
                    active: false,
                    sub: None,
                    username: None,
                    scope: None,
                    client_id: None,
                    exp: None,
                    iat: None,
                    token_type: None,
                    roles: None,
                    permissions: None,
                }
            };
            let mut res = Json(body).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(Ok(e)) => OAuthErrorResponse(e).into_response(),
        Err(Err(e)) => e.into_response(),
    }
}
