//! `api_tokens`: bearer tokens for scripts and other machines, stored as hashes.

use crate::db::{self, Row};
use chrono::{DateTime, Utc};
use ctrl_core::Role;
use ctrl_proto::TokenInfo;

use crate::{Store, StoreError};

const COLUMNS: &str = "id, name, role, created_by, created_at, expires_at, revoked_at";

fn token_of(r: &Row) -> Result<TokenInfo, StoreError> {
    let role: String = r.get("role")?;
    Ok(TokenInfo {
        id: r.get("id")?,
        name: r.get("name")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        created_by: r.get("created_by")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        revoked_at: r.get("revoked_at")?,
        token: None,
    })
}

impl Store {
    /// Stores a token's hash; returns it as listed. A hash already stored (even
    /// revoked) is left as it is and returned.
    pub async fn add_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        created_by: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<TokenInfo, StoreError> {
        db::query(
            "INSERT INTO api_tokens (name, token_hash, role, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(name)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(created_by)
        .bind(Utc::now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        let row = db::query(format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_one(&self.pool)
            .await?;
        token_of(&row)
    }

    /// The token with this hash, valid or not.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        let row = db::query(format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_of).transpose()
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = db::query(format!("SELECT {COLUMNS} FROM api_tokens ORDER BY id DESC"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_of).collect()
    }

    /// Revokes a token; the token as it is now, or `None` when there is no such id.
    pub async fn revoke_token(&self, id: i64) -> Result<Option<TokenInfo>, StoreError> {
        db::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(Utc::now())
            .execute(&self.pool)
            .await?;
        let row = db::query(format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_of).transpose()
    }
}
