//! Access objects: users, API tokens, the audit log, and who is asking.

use chrono::{DateTime, Utc};
use ctrl_core::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    /// Login name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// When the user was added.
    pub created_at: DateTime<Utc>,
    /// When the password or role last changed.
    pub updated_at: DateTime<Utc>,
}

/// An API token (never its hash; the value only in the answer that created it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Its id, for revoking.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Who created it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The token itself: only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl TokenInfo {
    /// Whether it authenticates at `now`.
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Entry number (in order).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a user name, `token:<name>`, or `local` (the unix socket).
    pub actor: String,
    /// What: `login`, `login_failed`, `logout`, `start`, `stop`, `restart`, `reload`,
    /// `user_added`, `user_removed`, `token_created`, `token_revoked`, `forbidden`, …
    pub action: String,
    /// On what (a service, a user, a token).
    pub target: Option<String>,
    /// From which address (TCP clients).
    pub address: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub result: String,
    /// More words, when useful.
    pub detail: Option<String>,
}

/// Who the request is authenticated as: `{user, role, csrf_token}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// The user name (or `token:<name>`, `local`).
    pub user: String,
    /// Their role.
    pub role: Role,
    /// Echo it in `X-CSRF-Token` on every write made with the session cookie (absent for tokens).
    pub csrf_token: Option<String>,
}
