//! The audit trail as the services write and read it: request-path events (logins, token events)
//! are queued with [`Bouncer::note`]; administrative changes carry theirs into the store's
//! transaction (see [`Bouncer::change_event`]); reads flush the queue first, so a read sees every
//! event of every request already answered by this instance.

use super::Bouncer;
use crate::audit::Origin;
use crate::context::RequestContext;
use crate::error::{AuthFailure, Error, Result};
use crate::model::{AuditEvent, AuditQuery, Outcome};
use crate::{secret, validate};

/// Events a page holds at most.
pub const AUDIT_PAGE: u32 = 50;

/// Why a login failed, as the audit trail records it.
pub fn login_failure(e: &Error) -> &'static str {
    match e {
        Error::InvalidCredentials(AuthFailure::UnknownUser) => "unknown_user",
        Error::InvalidCredentials(AuthFailure::WrongPassword) => "wrong_password",
        Error::InvalidCredentials(AuthFailure::Disabled) => "user_disabled",
        Error::InvalidCredentials(_) => "invalid_credentials",
        Error::TooManyRequests { .. } => "throttled",
        Error::Busy => "busy",
        Error::Unavailable(_) => "unavailable",
        Error::Validation { .. } => "invalid_request",
        _ => "error",
    }
}

/// The username a failed login tried, as the trail may record it: a Bouncer secret typed into the
/// username field (an API key, `curl -u bnc_...:`) keeps only its prefix, like a key listing;
/// something that cannot be a username (a password pasted there) is not recorded.
pub fn tried_username(tried: &str) -> String {
    let secret = [
        secret::API_KEY_PREFIX,
        secret::REFRESH_PREFIX,
        secret::OPAQUE_PREFIX,
        super::CLIENT_SECRET_PREFIX,
    ]
    .iter()
    .any(|p| tried.starts_with(p));
    if secret {
        let prefix: String = tried.chars().take(8).collect();
        return format!("{prefix}… (a secret; redacted)");
    }
    match validate::username(tried) {
        Ok(_) => tried.to_owned(),
        Err(_) => "(not a valid username)".to_owned(),
    }
}

impl Bouncer {
    /// Queues a request-path event (no I/O on the request's path).
    pub fn note(
        &self,
        ctx: Option<&RequestContext>,
        actor: &str,
        action: &str,
        outcome: Outcome,
        subject: Option<&str>,
        reason: Option<&str>,
    ) {
        let origin = ctx.map(Origin::of).unwrap_or_default();
        let event = self
            .audit
            .event(origin, actor, action, outcome, subject, reason);
        self.audit.record(event);
    }

    /// A password login's outcome (`login`, success or failure with its reason; a failure names
    /// the username that was tried), also counted in `bouncer_logins_total`.
    pub fn note_login<T>(
        &self,
        ctx: &RequestContext,
        username: &str,
        via: &str,
        result: &Result<T>,
    ) {
        crate::telemetry::login(via, result.as_ref().err().map(login_failure));
        match result {
            Ok(_) => self.note(
                Some(ctx),
                username,
                "login",
                Outcome::Success,
                Some(via),
                None,
            ),
            Err(e) => self.note(
                Some(ctx),
                &tried_username(username),
                "login",
                Outcome::Failure,
                Some(via),
                Some(login_failure(e)),
            ),
        }
    }

    /// A page of the trail, newest first. Queued events are written first.
    pub async fn audit_events(&self, mut query: AuditQuery) -> Result<Vec<AuditEvent>> {
        self.audit.flush().await?;
        query.limit = query.limit.clamp(1, AUDIT_PAGE + 1);
        Ok(self.store.audit_events(&query).await?)
    }
}
