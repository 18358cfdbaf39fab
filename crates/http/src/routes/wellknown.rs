use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use bouncer_core::service::Bouncer;
use serde_json::json;

/// RFC 7517 key set: the public keys that verify our access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth2", responses((status = 200, description = "JWK set")))]
pub async fn jwks(State(b): State<Arc<Bouncer>>) -> impl IntoResponse {
    // Cached no longer than a rotated-in key waits before it signs: every verifier that refetches
    // on schedule has a key before its first token.
    let max_age = format!(
        "public, max-age={}",
        b.settings.keys.publish_delay.as_secs()
    );
    (
        [(header::CACHE_CONTROL, max_age)],
        Json(b.tokens.jwks_at(b.clock.now_ms())),
    )
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth2",
    responses((status = 200, description = "metadata")))]
pub async fn metadata(State(b): State<Arc<Bouncer>>) -> impl IntoResponse {
    let iss = b.tokens.settings().issuer.trim_end_matches('/').to_owned();
    Json(json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}/oauth2/token"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint": format!("{iss}/oauth2/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "grant_types_supported": ["password", "refresh_token", "client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": [b.tokens.algorithm().name()],
        "scopes_supported": bouncer_core::permission::registry::scope_names().collect::<Vec<_>>(),
    }))
}
