//! Bouncer's HTTP layer: routes, extractors and the one mapping from domain errors to RFC 9457 /
//! RFC 6749 responses. Routes are registered through `utoipa-axum`, so `/openapi.json` is generated
//! from the same list the router serves and cannot drift from it.

pub mod body_timeout;
pub mod context;
mod edge;
pub mod error;
pub mod extract;
pub mod observe;
mod request_timeout;
pub mod routes;
pub mod spec;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use bouncer_core::service::Bouncer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::edge::{App, Connection, RouterService};
use crate::error::ApiError;
pub use crate::observe::{MetricsOptions, Scrape};

/// When the session cookie gets `Secure` (`sessions.secure_cookie`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecureCookie {
    /// When the request came over TLS (directly, or as a trusted proxy says).
    #[default]
    Auto,
    Always,
    Never,
}

/// What the router shares with handlers.
#[derive(Clone)]
pub struct AppState {
    pub bouncer: Arc<Bouncer>,
    pub secure_cookie: SecureCookie,
    /// `GET /metrics` on the API, when served here.
    pub metrics: Option<Scrape>,
}

impl FromRef<AppState> for Arc<Bouncer> {
    fn from_ref(s: &AppState) -> Arc<Bouncer> {
        s.bouncer.clone()
    }
}

/// Limits the HTTP layer enforces per request.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Time allowed for the whole body once the request head is in (`server.body_read_timeout_s`).
    pub body_read_timeout: Duration,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed (none by default).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub secure_cookie: SecureCookie,
    /// Cross-origin access; `None`: none at all.
    pub cors: Option<CorsOptions>,
    /// Request metrics and `GET /metrics` (off by default).
    pub metrics: MetricsOptions,
}

/// `[cors]`, validated: exact origins (or `*` without credentials), methods, headers.
#[derive(Debug, Clone, Default)]
pub struct CorsOptions {
    /// Exact `scheme://host[:port]` values; `["*"]` for any origin (never with credentials).
    pub allowed_origins: Vec<axum::http::HeaderValue>,
    pub any_origin: bool,
    pub allowed_methods: Vec<axum::http::Method>,
    pub allowed_headers: Vec<axum::http::HeaderName>,
    pub exposed_headers: Vec<axum::http::HeaderName>,
    pub allow_credentials: bool,
    pub max_age: Duration,
}

impl CorsOptions {
    /// tower-http's CORS layer for these options: preflights answered before authentication,
    /// headers only for allowed origins (on errors too), `Vary` always. Never the permissive
    /// layer, which reflects any origin with credentials.
    fn layer(&self) -> tower_http::cors::CorsLayer {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        let origin = if self.any_origin {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(self.allowed_origins.clone())
        };
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods(self.allowed_methods.clone())
            .allow_headers(self.allowed_headers.clone())
            .expose_headers(self.exposed_headers.clone())
            .allow_credentials(self.allow_credentials)
            .max_age(self.max_age)
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            secure_cookie: SecureCookie::Auto,
            cors: None,
            metrics: MetricsOptions::default(),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Bouncer", description = "Identity and access for HTTP APIs."),
    components(schemas(views::ProblemDoc))
)]
struct ApiDoc;

/// Every route; `GET /metrics` only when it is served on the API (`metrics`).
fn api(metrics: bool) -> OpenApiRouter<AppState> {
    use routes::*;
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(wellknown::jwks))
        .routes(routes!(wellknown::metadata))
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::revoke))
        .routes(routes!(oauth::introspect))
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::delete))
        .routes(routes!(users::register))
        .routes(routes!(sessions::login))
        .routes(routes!(sessions::logout))
        .routes(routes!(verify::verify))
        .routes(routes!(users::me, users::patch_me))
        .routes(routes!(api_keys::my_list, api_keys::my_create))
        .routes(routes!(api_keys::my_delete))
        .routes(routes!(api_keys::my_roll))
        .routes(routes!(api_keys::user_list, api_keys::user_create))
        .routes(routes!(api_keys::user_delete))
        .routes(routes!(users::list))
        .routes(routes!(users::get, users::patch, users::delete))
        .routes(routes!(roles::list))
        .routes(routes!(roles::get, roles::put, roles::delete))
        .routes(routes!(policies::list))
        .routes(routes!(policies::get, policies::put, policies::delete))
        .routes(routes!(policies::explain))
        .routes(routes!(audit::list))
        .routes(routes!(items::list, items::create))
        .routes(routes!(items::get, items::put, items::delete))
        .routes(routes!(demo::protected))
        .routes(routes!(demo::admin_only))
        .routes(routes!(demo::user_only));
    if metrics {
        api.routes(routes!(metrics::scrape))
    } else {
        api
    }
}

/// The OpenAPI document for every route, as served at `/openapi.json` for these options.
pub fn openapi(opts: &spec::SpecOptions) -> serde_json::Value {
    let generated = serde_json::to_value(api(opts.metrics).into_openapi()).unwrap_or_default();
    spec::finish(generated, opts)
}

/// The whole application: the edge (`edge.rs`) around the router, with CORS and the body limit.
/// The server makes each connection's service from it with [`App::connection`].
pub fn app(
    bouncer: Arc<Bouncer>,
    opts: HttpOptions,
) -> App<impl RouterService, impl RouterService> {
    let spec_options = spec::SpecOptions {
        metrics: opts.metrics.scrape.is_some(),
        ..spec::SpecOptions::from_settings(&bouncer.settings.auth)
    };
    let (router, generated) = api(spec_options.metrics).split_for_parts();
    let spec = spec::finish(
        serde_json::to_value(generated).unwrap_or_default(),
        &spec_options,
    );
    // `/docs`: Swagger UI from the binary (vendored assets), its Authorize button completing the
    // password flow with the built-in public client `swagger`; it serves `/openapi.json` too.
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs")
        .external_url_unchecked("/openapi.json", spec)
        .oauth(
            utoipa_swagger_ui::oauth::Config::new()
                .client_id(bouncer_core::service::SWAGGER_CLIENT)
                .app_name("Bouncer"),
        );
    let docs: Router<AppState> =
        Router::from(docs).layer(axum::middleware::map_response(docs_headers));
    let router = router
        .merge(docs)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(AppState {
            bouncer: bouncer.clone(),
            secure_cookie: opts.secure_cookie,
            metrics: opts.metrics.scrape.clone(),
        });
    // With metrics on, every route's answer names its route for the edge's labels.
    let router = if opts.metrics.record {
        router.route_layer(axum::middleware::from_fn(observe::keep_route))
    } else {
        router
    };
    let edge = edge::EdgeState {
        context: context::ContextState {
            bouncer,
            trusted_proxies: opts.trusted_proxies.clone().into(),
        },
        record: opts.metrics.record,
        body_limit: opts.body_limit,
        body_read_timeout: opts.body_read_timeout,
        request_timeout: opts.request_timeout,
    };
    // Around the router, not layered onto each route: axum would box and clone the layers with
    // the route on every request. CORS is inside the edge, so its answers get the request id and
    // the security headers and are logged and counted too. The body limit only where there is a
    // body (see `edge::Inner`).
    let cors = opts.cors.as_ref().map(CorsOptions::layer);
    let limited = tower::ServiceBuilder::new()
        .option_layer(cors.clone())
        .layer(DefaultBodyLimit::max(opts.body_limit))
        .service(router.clone());
    let plain = tower::ServiceBuilder::new()
        .option_layer(cors)
        .service(router);
    App::new(edge, edge::Inner { limited, plain })
}

/// The content security policy `/docs` runs under: its own scripts and styles only (Swagger UI's
/// inline styles allowed), requests to this origin only, and never framed.
async fn docs_headers(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut().insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'self'",
        ),
    );
    res
}

/// Whether a client's `X-Request-Id` may be kept: 1 to 128 characters of `[A-Za-z0-9._:-]`, so it
/// cannot forge log lines or bloat them.
pub fn valid_request_id(v: &[u8]) -> bool {
    (1..=128).contains(&v.len())
        && v.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}
