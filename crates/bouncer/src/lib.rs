//! The `bouncer` binary's library half: configuration, CLI and wiring, so integration tests can
//! start the real server in-process.

pub mod app;
pub mod apply;
pub mod cli;
pub mod cli_policy;
pub mod config;
pub mod conn_limit;
pub mod fetch;
mod lazy_timer;
pub mod logging;
pub mod metrics;
mod stall;
pub mod tls;
