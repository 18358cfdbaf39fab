//! What the domain counts, through the `metrics` facade: logins by outcome and the credential
//! caches' hits and misses. Nothing is recorded until the binary installs a recorder
//! (`metrics.enabled`); until then each call is a look at the (absent) recorder and nothing else.
//! The cache counters' keys are statics (no allocation per request, recorder or not).

/// The credential caches whose lookups are counted (`bouncer_cache_lookups_total{cache}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    /// Users with their resolved permissions.
    UserState,
    /// Verified access tokens (JWT or opaque).
    Token,
    /// Verified Basic credentials.
    Basic,
    /// API keys by digest.
    ApiKey,
    /// Sessions by digest.
    Session,
}

/// Counts one lookup in `cache` and hands its result back: a hit when something was found.
pub fn counted<T>(kind: CacheKind, found: Option<T>) -> Option<T> {
    cache_lookup(kind, found.is_some());
    found
}

/// Counts one lookup in `cache`: `hit` when it was found in memory (a remembered unknown secret
/// included), a miss when it went to the store or to a signature or password check.
pub fn cache_lookup(kind: CacheKind, hit: bool) {
    macro_rules! count {
        ($name:literal) => {
            if hit {
                metrics::counter!("bouncer_cache_lookups_total", "cache" => $name, "result" => "hit")
                    .increment(1)
            } else {
                metrics::counter!("bouncer_cache_lookups_total", "cache" => $name, "result" => "miss")
                    .increment(1)
            }
        };
    }
    match kind {
        CacheKind::UserState => count!("user_state"),
        CacheKind::Token => count!("token"),
        CacheKind::Basic => count!("basic"),
        CacheKind::ApiKey => count!("api_key"),
        CacheKind::Session => count!("session"),
    }
}

/// Counts a password login (`bouncer_logins_total`): `via` is `basic`, `session` or anything
/// else for the password grant (a client's id, which is not a label: the set of clients is the
/// operator's); `failure` is the audit trail's reason (`wrong_password`, `busy`, ...), `None` on
/// success.
pub fn login(via: &str, failure: Option<&'static str>) {
    let via = match via {
        "basic" => "basic",
        "session" => "session",
        _ => "password_grant",
    };
    match failure {
        None => metrics::counter!("bouncer_logins_total", "via" => via, "outcome" => "success")
            .increment(1),
        Some(reason) => metrics::counter!(
            "bouncer_logins_total", "via" => via, "outcome" => "failure", "reason" => reason
        )
        .increment(1),
    }
}

/// Describes the series above (`# HELP` lines) to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        "bouncer_cache_lookups_total",
        "Credential cache lookups by cache (user_state, token, basic, api_key, session) and result (hit: found in memory; miss: went to the store or a signature or password check)"
    );
    metrics::describe_counter!(
        "bouncer_logins_total",
        "Password logins by channel (via: password_grant, session, basic; Basic counts failures only, each request being one) and outcome; failures carry the audit trail's reason"
    );
}
