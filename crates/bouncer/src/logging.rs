//! Logs go to stderr through tracing: pretty by default, JSON by config. RUST_LOG overrides the
//! level. Nothing logged anywhere carries a password, token, hash or key: handlers never log
//! bodies, spans carry the path without the query, and domain types redact their Debug output.

use tracing_subscriber::EnvFilter;

use crate::config::Config;

pub fn init(config: &Config) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    if config.audit.json_log {
        // Audit lines are asked for explicitly: whatever the level, they are written.
        if let Ok(d) = "bouncer::audit=info".parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colour only for a person at a terminal: a redirected log holds no escape codes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let result = if config.log.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // Already initialized (tests): keep the first.
    let _ = result;
}
