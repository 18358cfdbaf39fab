//! Bouncer's domain. Nothing here knows about HTTP or SQL: the HTTP layer turns requests into calls on
//! [`service::Bouncer`], and storage sits behind the [`store::Store`] trait.
//!
//! The invariants that matter most live here, in one place each:
//! - who is calling: [`auth::Authenticator`] turns any credential into one [`principal::Principal`];
//! - may they: [`authz::Authorizer::authorize`] returns a [`authz::Decision`] that carries the reason;
//! - what is valid: [`validate`] and [`permission`] parse every user-supplied value once.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod clock;
pub mod context;
pub mod error;
pub mod forward;
pub mod issuers;
pub mod keys;
pub mod model;
pub mod password;
pub mod permission;
pub mod policy;
pub mod principal;
pub mod secret;
pub mod service;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod token;
pub mod validate;

pub use error::{Error, Result};

#[cfg(test)]
mod credential_proptests;
