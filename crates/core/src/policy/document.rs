//! The policy document: what `PUT /policies/{name}` takes and `GET` answers, field for field as
//! the contract names them. Checked and compiled by [`super::CompiledPolicy::compile`].

use jiff::civil::Weekday;
use serde::{Deserialize, Serialize};

use crate::principal::CredentialKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The permissions can be used only while the conditions hold.
    Allow,
    /// The permissions are refused while the conditions hold.
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// A credential kind as policies name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    Jwt,
    Opaque,
    Basic,
    ApiKey,
    Session,
    Client,
}

impl From<CredentialKind> for KindName {
    fn from(k: CredentialKind) -> Self {
        match k {
            CredentialKind::Jwt => KindName::Jwt,
            CredentialKind::Opaque => KindName::Opaque,
            CredentialKind::Basic => KindName::Basic,
            CredentialKind::ApiKey => KindName::ApiKey,
            CredentialKind::Session => KindName::Session,
            CredentialKind::Client => KindName::Client,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub(super) fn bit(self) -> u8 {
        1 << (self as u8)
    }
    pub(super) fn of(w: Weekday) -> Day {
        match w {
            Weekday::Monday => Day::Mon,
            Weekday::Tuesday => Day::Tue,
            Weekday::Wednesday => Day::Wed,
            Weekday::Thursday => Day::Thu,
            Weekday::Friday => Day::Fri,
            Weekday::Saturday => Day::Sat,
            Weekday::Sunday => Day::Sun,
        }
    }
}

/// `{"start": "09:00", "end": "17:30"}`: start inclusive, end exclusive, local time of the policy's
/// zone. A window whose end is before its start crosses midnight (`22:00`–`06:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// `HH:MM` (24-hour clock).
    pub start: String,
    /// `HH:MM`; `24:00` is the end of the day.
    pub end: String,
}

/// Every condition is optional; all present ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// IANA time zone of the windows and weekdays (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_windows: Option<Vec<TimeWindow>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<Day>>,
    /// RFC 3339, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// RFC 3339, exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// CIDR ranges (IPv4 or IPv6) the client address must be in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ips: Option<Vec<String>>,
    /// CIDR ranges the client address must not be in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_client_ips: Option<Vec<String>>,
    /// The login behind the credential happened at most this many seconds ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auth_age_s: Option<u64>,
}

/// What `PUT /policies/{name}` takes and `GET` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub effect: Effect,
    /// Permissions the policy governs (wildcards allowed).
    pub permissions: Vec<String>,
    /// Applies only to subjects holding one of these roles (absent: everyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Applies only to these credential kinds (absent: every kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_kinds: Option<Vec<KindName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Conditions>,
}

/// A stored policy: its name and document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub document: PolicyDocument,
}
