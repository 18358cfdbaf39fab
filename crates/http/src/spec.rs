//! The OpenAPI document as served at `/openapi.json` (and committed as `openapi.json`): what
//! utoipa-axum generates from the routes themselves (so an undocumented route cannot exist),
//! finished here in one place rather than repeated on every route:
//! - the security schemes of every credential switched on (OAuth2 password and client-credentials
//!   flows with the registry's scopes, HTTP bearer, HTTP basic, API key in header, cookie and,
//!   while enabled, query, and the session cookie), and each protected operation offering all of
//!   them, its scopes on the OAuth2 entry;
//! - the error responses each operation can give: RFC 9457 `application/problem+json` outside
//!   `/oauth2/*`, RFC 6749 `application/json` bodies inside it.

use bouncer_core::permission::registry;
use bouncer_core::settings::AuthSettings;
use serde_json::{Map, Value, json};

/// Which credentials the spec offers: the `auth.*` switches and names.
#[derive(Debug, Clone)]
pub struct SpecOptions {
    pub basic: bool,
    pub bearer: bool,
    pub api_keys: bool,
    pub api_key_query: bool,
    pub sessions: bool,
    pub api_key_header: String,
    pub api_key_cookie: String,
    pub api_key_query_param: String,
    /// `GET /metrics` is served on the API (`metrics.enabled` without `metrics.listen`).
    pub metrics: bool,
}

impl SpecOptions {
    pub fn from_settings(a: &AuthSettings) -> Self {
        SpecOptions {
            basic: a.basic_enabled,
            bearer: a.bearer_enabled,
            api_keys: a.api_keys_enabled,
            api_key_query: a.api_keys_enabled && a.api_key_query,
            sessions: a.sessions_enabled,
            api_key_header: a.api_key_header.clone(),
            api_key_cookie: a.api_key_cookie.clone(),
            api_key_query_param: a.api_key_query_param.clone(),
            metrics: false,
        }
    }
}

impl Default for SpecOptions {
    fn default() -> Self {
        Self::from_settings(&bouncer_core::settings::Settings::default().auth)
    }
}

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "bouncer_session";
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
/// A role's or policy's name (`validate::role_name`).
const NAME_PATTERN: &str = "^[a-z][a-z0-9_.-]{0,63}$";
/// A `/users` cursor: the last user's creation time (ms) and id; every value it admits is a
/// position, so a schema-valid cursor is never refused.
const USER_CURSOR_PATTERN: &str =
    "^[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// Text without control characters.
const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// A permission: `resource:action`, `resource:*` or `*` (`permission::PermissionRef::parse`).
const PERMISSION_PATTERN: &str = "^(\\*|[a-z][a-z0-9_.-]{0,63}:(\\*|[a-z][a-z0-9_.-]{0,63}))$";
/// An address as `validate::email` takes it (ASCII domains; the server also takes Unicode ones).
const EMAIL_PATTERN: &str = "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

/// An IPv4 address or CIDR range, as `context::network` takes it.
const NETWORK_V4: &str = "^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(/([0-9]|[12][0-9]|3[0-2]))?$";
/// An IPv6 address or CIDR range (without zone), as `context::network` takes it.
const NETWORK_V6: &str = "^(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}|:((:[0-9a-fA-F]{1,4}){1,7}|:)|([0-9a-fA-F]{1,4}:){6}((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|::(ffff(:0{1,4})?:)?((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?$";

/// Sets `key` on the property `field` if the schema has that property.
fn set(props: &mut Map<String, Value>, field: &str, key: &str, value: Value) {
    if let Some(p) = props.get_mut(field).and_then(Value::as_object_mut) {
        p.insert(key.to_owned(), value);
    }
}

/// The constraints of request fields that mean the same wherever they appear, by name: what the
/// server checks, stated once instead of on every body type.
fn constrain_schemas(schemas: &mut Map<String, Value>) {
    for (type_name, schema) in schemas.iter_mut() {
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (field, p) in props.iter_mut() {
            match field.as_str() {
                "permissions" | "scopes" if p.get("items").is_some() => {
                    p["items"]["pattern"] = json!(PERMISSION_PATTERN);
                }
                "permission" => p["pattern"] = json!(PERMISSION_PATTERN),
                "roles" if p.get("items").is_some() => p["items"]["pattern"] = json!(NAME_PATTERN),
                "expires_at" | "at" | "valid_from" | "valid_until" => {
                    p["format"] = json!("date-time")
                }
                "email" => {
                    p["pattern"] = json!(EMAIL_PATTERN);
                    p["maxLength"] = json!(254);
                }
                "client_ips" | "not_client_ips" if p.get("items").is_some() => {
                    p["items"]["anyOf"] = json!([{"pattern": NETWORK_V4}, {"pattern": NETWORK_V6}]);
                }
                "client_ip" => {
                    p["anyOf"] = json!([{"format": "ipv4"}, {"format": "ipv6"}]);
                }
                _ => {}
            }
        }
        match type_name.as_str() {
            "PolicyDocument" => {
                set(props, "permissions", "minItems", json!(1));
                set(props, "permissions", "maxItems", json!(256));
                for list in ["roles", "credential_kinds"] {
                    set(props, list, "minItems", json!(1));
                    set(props, list, "maxItems", json!(256));
                }
                set(props, "description", "maxLength", json!(1000));
                set(props, "description", "pattern", json!(NO_CONTROL));
            }
            "Conditions" => {
                {
                    // The field may be absent or null; otherwise one of the database's names.
                    let mut names: Vec<Value> = bouncer_core::policy::time_zone_names()
                        .into_iter()
                        .map(Value::from)
                        .collect();
                    names.push(Value::Null);
                    set(props, "time_zone", "enum", Value::Array(names));
                }
                for list in ["time_windows", "weekdays", "client_ips"] {
                    set(props, list, "minItems", json!(1));
                    set(props, list, "maxItems", json!(256));
                }
                set(props, "not_client_ips", "maxItems", json!(256));
                set(props, "max_auth_age_s", "minimum", json!(1));
                set(props, "max_auth_age_s", "maximum", json!(31_622_400));
            }
            // What each grant needs (RFC 6749 §4.3, §6, §4.4); the client's credentials may come in
            // the Authorization header instead, which a form schema cannot see.
            "TokenForm" => {
                schema["oneOf"] = json!([
                    {"properties": {"grant_type": {"const": "password"},
                                    "username": {"type": "string"}, "password": {"type": "string"}},
                     "required": ["grant_type", "username", "password"]},
                    {"properties": {"grant_type": {"const": "refresh_token"},
                                    "refresh_token": {"type": "string"}},
                     "required": ["grant_type", "refresh_token"]},
                    {"properties": {"grant_type": {"const": "client_credentials"}},
                     "required": ["grant_type"]}
                ]);
            }
            // Changing one's own password needs the current one.
            "OwnPatchBody" => {
                // No new password (absent or null), or a current one (a string) with it.
                schema["anyOf"] = json!([
                    {"not": {"required": ["password"]}},
                    {"properties": {"password": {"type": "null"}}},
                    {"required": ["current_password"], "properties": {"current_password": {"type": "string"}}}
                ]);
            }
            "TimeWindow" => {
                set(
                    props,
                    "start",
                    "pattern",
                    json!("^([01][0-9]|2[0-3]):[0-5][0-9]$"),
                );
                set(
                    props,
                    "end",
                    "pattern",
                    json!("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"),
                );
            }
            _ => {}
        }
    }
}

/// A unique operation id from the method and path (`get_users_id_api_keys`): utoipa names
/// operations after their handlers, which repeat (`list`, `get`) across modules.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(seg.chars().filter_map(|c| match c {
            '{' | '}' => None,
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => Some('_'),
        }));
    }
    id
}

/// The constraints of parameters that mean the same everywhere, by name: what the server checks.
fn constrain_parameters(path: &str, op: &mut Value) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let place = p["in"].as_str().unwrap_or_default().to_owned();
        let schema = &mut p["schema"];
        if !schema.is_object() {
            continue;
        }
        match (place.as_str(), name.as_str()) {
            ("query", "limit") => {
                schema["minimum"] = json!(1);
                schema["maximum"] = json!(100);
            }
            ("query", "offset") => schema["minimum"] = json!(0),
            ("query", "outcome") => schema["enum"] = json!(["success", "failure"]),
            ("query", "since") => schema["format"] = json!("date-time"),
            ("query", "cursor") if path == "/users" => {
                schema["pattern"] = json!(USER_CURSOR_PATTERN);
            }
            ("query", "cursor") => schema["format"] = json!("uuid"),
            ("query", "actor" | "action") => {
                schema["maxLength"] = json!(256);
                schema["pattern"] = json!(NO_CONTROL);
            }
            ("path", "name") if path.starts_with("/roles/") || path.starts_with("/policies/") => {
                schema["pattern"] = json!(NAME_PATTERN);
            }
            _ => {}
        }
    }
}

/// The schemes, by name, for `components.securitySchemes`.
fn schemes(o: &SpecOptions) -> Map<String, Value> {
    let scopes: Map<String, Value> = registry::SCOPES
        .iter()
        .map(|(n, d)| ((*n).to_owned(), json!(d)))
        .collect();
    let mut m = Map::new();
    if o.bearer {
        m.insert(
            "oauth2".into(),
            json!({
                "type": "oauth2",
                "description": "OAuth2: the password grant (Authorize in /docs uses the built-in public client `swagger`) and client credentials for machines. Tokens rotate through the refresh URL.",
                "flows": {
                    "password": {"tokenUrl": "/oauth2/token", "refreshUrl": "/oauth2/token", "scopes": scopes},
                    "clientCredentials": {"tokenUrl": "/oauth2/token", "refreshUrl": "/oauth2/token", "scopes": scopes}
                }
            }),
        );
        m.insert(
            "bearer".into(),
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RFC 9068) or opaque",
                   "description": "An access token from /oauth2/token."}),
        );
    }
    if o.basic {
        m.insert(
            "basic".into(),
            json!({"type": "http", "scheme": "basic",
                   "description": "Username and password at each request (RFC 7617, UTF-8); or any username and an API key as the password."}),
        );
    }
    if o.api_keys {
        m.insert(
            "api_key".into(),
            json!({"type": "apiKey", "in": "header", "name": o.api_key_header, "description": "An API key (bnc_...)."}),
        );
        m.insert(
            "api_key_cookie".into(),
            json!({"type": "apiKey", "in": "cookie", "name": o.api_key_cookie, "description": "An API key (bnc_...) in a cookie."}),
        );
    }
    if o.api_key_query {
        m.insert(
            "api_key_query".into(),
            json!({"type": "apiKey", "in": "query", "name": o.api_key_query_param, "description": "An API key in the query string (URLs reach logs: prefer the header)."}),
        );
    }
    if o.sessions {
        m.insert(
            "session".into(),
            json!({"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                   "description": "A session from POST /auth/login; unsafe methods also need X-CSRF-Token."}),
        );
    }
    m
}

/// Every credential a protected operation accepts, the OAuth2 entry carrying its scopes.
fn alternatives(o: &SpecOptions, scopes: &[Value]) -> Value {
    let schemes = schemes(o);
    let alts: Vec<Value> = schemes
        .keys()
        .map(|name| {
            let s: &[Value] = if name == "oauth2" { scopes } else { &[] };
            json!({ name: s })
        })
        .collect();
    Value::Array(alts)
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDoc"}}}
    })
}

fn oauth_error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthErrorBody"}}}
    })
}

/// Adds `status` unless the operation documents it already.
fn add(responses: &mut Map<String, Value>, status: &str, response: Value) {
    responses.entry(status).or_insert(response);
}

/// Moves error bodies documented as `application/json` problem documents to
/// `application/problem+json`, which is what the server sends.
fn problem_content_type(responses: &mut Map<String, Value>) {
    for (status, r) in responses.iter_mut() {
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        let Some(content) = r.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(body) = content.remove("application/json") {
            content.insert("application/problem+json".into(), body);
        }
    }
}

fn finish_operation(method: &str, path: &str, op: &mut Value, o: &SpecOptions) {
    op["operationId"] = json!(operation_id(method, path));
    constrain_parameters(path, op);
    let has_body = op.get("requestBody").is_some();
    let has_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    // Scopes, from the route's own annotation.
    let scopes: Option<Vec<Value>> = op.get("security").and_then(Value::as_array).map(|reqs| {
        reqs.iter()
            .filter_map(Value::as_object)
            .flat_map(|r| r.values())
            .filter_map(Value::as_array)
            .flatten()
            .cloned()
            .collect()
    });
    let protected = scopes.is_some() && !path.starts_with("/oauth2/");
    // A route that only a session can use (logout) keeps just that scheme.
    let session_only = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|r| r.len() == 1 && r[0].get("session").is_some());
    if protected && !session_only {
        let scopes = scopes.unwrap_or_default();
        op["security"] = alternatives(o, &scopes);
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    // OpenAPI requires a description on every response.
    for (status, r) in responses.iter_mut() {
        if let Some(r) = r.as_object_mut()
            && r.get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Response");
            r.insert("description".into(), json!(reason));
        }
    }
    if path.starts_with("/oauth2/") {
        // The RFC 6749 error body on every error the route documents.
        for (status, r) in responses.iter_mut() {
            if status != "200" && r.get("content").is_none() {
                r["content"] = json!({"application/json": {"schema": {"$ref": "#/components/schemas/OAuthErrorBody"}}});
            }
        }
        add(
            responses,
            "400",
            oauth_error(
                "RFC 6749 §5.2 error (`invalid_request`, `invalid_grant`, `invalid_scope`, `unsupported_grant_type`, `unauthorized_client`)",
            ),
        );
        add(
            responses,
            "401",
            oauth_error(
                "`invalid_client`: client authentication failed (with `WWW-Authenticate: Basic`)",
            ),
        );
        add(responses, "413", problem("The body is over the size limit"));
        let mut throttled = oauth_error(
            "`slow_down`: too many failed password or client-secret checks for this username or client from this address (`[throttle]`); try again after `Retry-After` seconds",
        );
        throttled["headers"] = retry_after_header();
        add(responses, "429", throttled);
        add(
            responses,
            "503",
            oauth_error(
                "`temporarily_unavailable`: busy or the database is unreachable (with `Retry-After`)",
            ),
        );
        return;
    }
    problem_content_type(responses);
    add(
        responses,
        "400",
        problem("Malformed request (`bad_host`, `malformed_json`, `ambiguous_credentials`, ...)"),
    );
    if protected {
        add(
            responses,
            "401",
            json!({
                "description": "No credentials, or credentials that are wrong, expired or revoked",
                "headers": {"WWW-Authenticate": {"description": "The challenges of the enabled schemes", "schema": {"type": "string"}}},
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDoc"}}}
            }),
        );
        add(
            responses,
            "403",
            problem(
                "Known caller, not allowed (`missing_permission`, `insufficient_scope`, `missing_role`, `policy_denied`, `cannot_grant`, `csrf_failed`, `ip_not_allowed`)",
            ),
        );
    }
    if has_body {
        add(responses, "413", problem("The body is over the size limit"));
        add(
            responses,
            "415",
            problem("The body must be application/json"),
        );
        add(
            responses,
            "422",
            problem(
                "A field is missing, unknown, of the wrong type or out of range (`field` names it)",
            ),
        );
    }
    if has_params {
        add(responses, "404", problem("Not found"));
        add(
            responses,
            "422",
            problem("A parameter is invalid (`field` names it)"),
        );
    }
    // Every password check is throttled (Basic on any protected route, logins, current_password),
    // and so are registrations; forward-auth answers a throttled credential with 401.
    let throttled = match path {
        "/auth/verify" => None,
        "/auth/register" => Some(
            "`rate_limited`: this address registered its most this hour (`[throttle]`); try again after `Retry-After` seconds",
        ),
        "/auth/login" => Some(THROTTLED),
        _ if protected && !session_only => Some(THROTTLED),
        _ => None,
    };
    if let Some(what) = throttled {
        let mut r = problem(what);
        r["headers"] = retry_after_header();
        add(responses, "429", r);
    }
    // Forward-auth answers only 200, 401 and 403 (a busy database is a 401 with a code).
    if (protected || has_body || has_params) && path != "/auth/verify" {
        add(
            responses,
            "503",
            problem("Busy or the database is unreachable (with `Retry-After`)"),
        );
    }
}

const THROTTLED: &str = "`throttled`: too many failed password checks for this username from this address, or from this address (`[throttle]`); refused whatever the password until `Retry-After` seconds pass";

fn retry_after_header() -> Value {
    json!({"Retry-After": {"description": "Seconds until the limit's window ends", "schema": {"type": "integer", "minimum": 1}}})
}

/// Finishes the generated document (see the module docs).
pub fn finish(mut spec: Value, o: &SpecOptions) -> Value {
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for m in METHODS {
                if let Some(op) = item.get_mut(m) {
                    finish_operation(m, path, op, o);
                }
            }
        }
    }
    let components = spec
        .as_object_mut()
        .map(|s| s.entry("components").or_insert_with(|| json!({})));
    if let Some(c) = components.and_then(Value::as_object_mut) {
        c.insert("securitySchemes".into(), Value::Object(schemes(o)));
        let schemas = c.entry("schemas").or_insert_with(|| json!({}));
        if let Some(s) = schemas.as_object_mut() {
            constrain_schemas(s);
        }
        schemas["OAuthErrorBody"] = json!({
            "type": "object",
            "description": "An RFC 6749 §5.2 error",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "error_description": {"type": "string"}
            }
        });
    }
    spec
}
