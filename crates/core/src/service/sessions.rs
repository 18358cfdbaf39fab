//! Cookie sessions: `POST /auth/login` starts one (a fresh id every time: no fixation), `POST
//! /auth/logout` ends it everywhere. The CSRF token is derived from the session id (one-way), so
//! it needs no storage and no other site can compute it.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Bouncer;
use crate::context::RequestContext;
use crate::error::{Error, Result};
use crate::model::{Session, User};
use crate::principal::{CredentialId, Principal};
use crate::secret;

/// A started session: the cookie's value (secret, HttpOnly), its CSRF token, and the user.
#[derive(Debug, Clone)]
pub struct Login {
    pub session_id: String,
    pub csrf_token: String,
    pub user: User,
    /// How long the cookie should live (the session's absolute end), in seconds.
    pub max_age_s: u64,
}

/// The CSRF token of the session whose cookie value is `session_id`.
pub fn csrf_token(session_id: &str) -> String {
    let d = Sha256::new()
        .chain_update(b"bouncer-csrf:")
        .chain_update(session_id.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
}

impl Bouncer {
    /// Checks the password (the same throttled, per-client check as the password grant) and
    /// starts a session. Unknown user, wrong password and disabled user are the same refusal.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<Login> {
        if !self.settings.auth.sessions_enabled {
            return Err(Error::NotFound("route"));
        }
        let checked = self
            .auth
            .check_password(username, password, ctx.client_ip)
            .await;
        self.note_login(ctx, username, "session", &checked);
        let state = checked?;
        let now = self.clock.now_ms();
        let session_id = secret::generate("");
        let absolute = self.settings.auth.session_absolute;
        let session = Session {
            id: Uuid::now_v7(),
            id_hash: secret::digest(&session_id),
            user_id: state.user.id,
            credential_gen: state.user.credential_gen,
            created_at: now,
            last_seen_at: now,
            expires_at: now + i64::try_from(absolute.as_millis()).unwrap_or(i64::MAX / 4),
        };
        self.store.insert_session(&session).await?;
        Ok(Login {
            csrf_token: csrf_token(&session_id),
            session_id,
            user: state.user.clone(),
            max_age_s: absolute.as_secs(),
        })
    }

    /// Ends the caller's session on every instance. Other credentials have no session to end.
    pub async fn logout(&self, who: &Principal) -> Result<()> {
        let CredentialId::Session(id) = who.credential_id else {
            return Err(Error::validation(
                "credential",
                "only a session can log out; other credentials are revoked instead",
            ));
        };
        self.store.delete_session(id).await?;
        self.auth.invalidate_session(id);
        Ok(())
    }
}
