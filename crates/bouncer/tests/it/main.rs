//! Bouncer's integration tests: one binary, one module per concern. Each test starts the real
//! server (in-process, random port, fresh database) through `support::TestApp`.

mod support;

mod admin_users;
mod api_keys;
mod audit;
mod audit_safety;
mod authz_matrix;
mod bad_credentials;
mod bad_input;
mod bad_requests;
mod browser;
mod cli;
mod cli_policy;
mod cli_tokens;
mod clients;
mod cors;
mod doc_runner;
mod durability;
mod faults;
mod floods;
mod forward_auth;
mod hostile_tokens;
mod issuers;
mod keys;
mod lifecycle;
mod nginx;
mod opaque;
mod pipeline;
mod policies;
mod policy_decisions;
mod probe;
mod readme;
mod refusals;
mod roles;
mod security;
mod serving;
mod sessions;
mod spec;
mod sqlite_ops;
mod startup;
mod store_contract;
mod store_contract_runs;
mod throttling;
mod tokens;
mod users;
