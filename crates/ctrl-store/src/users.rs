//! `users` and `login_sessions`: people who log in to the dashboard.

use crate::db::{self, Row};
use chrono::{DateTime, Utc};
use ctrl_core::Role;
use ctrl_proto::UserInfo;

use crate::{Store, StoreError};

/// A login session, found by the hash of its cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The user it belongs to.
    pub user: UserInfo,
    /// The token every cookie-authenticated write must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The last request made with it.
    pub last_seen_at: DateTime<Utc>,
    /// When it ends whatever happens.
    pub expires_at: DateTime<Utc>,
}

fn user_of(r: &Row) -> Result<UserInfo, StoreError> {
    let role: String = r.get("role")?;
    Ok(UserInfo {
        name: r.get("name")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

impl Store {
    /// Adds a user; false when the name is taken.
    pub async fn add_user(&self, name: &str, password_hash: &str, role: Role) -> Result<bool, StoreError> {
        let now = Utc::now();
        let done = db::query(
            "INSERT INTO users (name, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done == 1)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserInfo>, StoreError> {
        let rows = db::query("SELECT name, role, created_at, updated_at FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_of).collect()
    }

    /// A user and their password hash.
    pub async fn user_with_hash(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        let row =
            db::query("SELECT name, role, created_at, updated_at, password_hash FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((user_of(&r)?, r.get("password_hash")?))).transpose()
    }

    /// Sets a new password hash (and role, when given); ends the user's login sessions.
    /// False when there is no such user.
    pub async fn update_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        role: Option<Role>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = db::query(
            "UPDATE users SET password_hash = COALESCE($2, password_hash), role = COALESCE($3, role),
                updated_at = $4 WHERE name = $1",
        )
        .bind(name)
        .bind(password_hash)
        .bind(role.map(Role::as_str))
        .bind(Utc::now())
        .execute(&mut tx)
        .await?;
        db::query("DELETE FROM login_sessions WHERE user_name = $1").bind(name).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Removes a user, their login sessions, and revokes the tokens they created. False when absent.
    pub async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = db::query("DELETE FROM users WHERE name = $1").bind(name).execute(&mut tx).await?;
        db::query("DELETE FROM login_sessions WHERE user_name = $1").bind(name).execute(&mut tx).await?;
        db::query("UPDATE api_tokens SET revoked_at = $2 WHERE created_by = $1 AND revoked_at IS NULL")
            .bind(name)
            .bind(Utc::now())
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Stores a new session.
    pub async fn add_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf_token: &str,
        address: Option<&str>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        db::query(
            "INSERT INTO login_sessions (id_hash, user_name, csrf_token, address, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(id_hash)
        .bind(user)
        .bind(csrf_token)
        .bind(address)
        .bind(Utc::now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this cookie hash, with its user as they are now.
    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let row = db::query(
            "SELECT u.name, u.role, u.created_at, u.updated_at,
                    s.csrf_token, s.created_at AS s_created, s.last_seen_at, s.expires_at
             FROM login_sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                user: user_of(&r)?,
                csrf_token: r.get("csrf_token")?,
                created_at: r.get("s_created")?,
                last_seen_at: r.get("last_seen_at")?,
                expires_at: r.get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Records activity on a session (idle expiry counts from here).
    pub async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        db::query("UPDATE login_sessions SET last_seen_at = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session (logout, expiry).
    pub async fn remove_session(&self, id_hash: &str) -> Result<(), StoreError> {
        db::query("DELETE FROM login_sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
        Ok(())
    }
}
