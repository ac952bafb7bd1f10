//! Sign-in sessions and their refresh tokens (`quire_core::ports::SessionStore`).

use quire_core::ids::{SessionId, UserId};
use quire_core::model::User;
use quire_core::ports::{RefreshUse, SessionStore, StoredRefreshToken};
use quire_core::time::Timestamp;
use quire_core::{Error, Result};

use crate::db::Db;
use crate::error::db_error;
use crate::rows::{UserRow, user_columns};
use crate::sql::{Sql, on_reader, on_tx, on_writer};

const OPEN: Sql =
    Sql::both("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)");

/// Up to 16 sessions that ended or expired before `$1` (their tokens go with them).
const PRUNE: Sql = Sql {
    sqlite: "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
             WHERE expires_at < $1 OR revoked_at < $1 ORDER BY expires_at LIMIT 16)",
    pg: "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
         WHERE expires_at < $1 OR revoked_at < $1 ORDER BY expires_at LIMIT 16 \
         FOR UPDATE SKIP LOCKED)",
};

const USER_IN_SESSION: Sql = Sql::both(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = $1 AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = $2 \
     AND s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $3)"
));

/// Marks the token used, if it was unused, unexpired and of an open session.
const USE: Sql = Sql::both(
    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
     AND expires_at > $2 AND EXISTS (SELECT 1 FROM sessions s \
       WHERE s.id = refresh_tokens.session_id AND s.revoked_at IS NULL) \
     RETURNING session_id, (SELECT user_id FROM sessions s WHERE s.id = refresh_tokens.session_id)",
);

/// A token that did not pass `USE`: used before, or of an ended session (`Reused`), or
/// expired (`Unknown`).
const FIND: Sql = Sql::both(
    "SELECT r.session_id, s.user_id, r.expires_at > $2 FROM refresh_tokens r \
     JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
);

/// A refresh token for session `$2`, if it is open.
const ADD_REFRESH: Sql = Sql::both(
    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) \
     SELECT $1, id, $3, $4 FROM sessions WHERE id = $2 AND revoked_at IS NULL",
);

const EXTEND: Sql = Sql {
    sqlite: "UPDATE sessions SET expires_at = MAX(expires_at, $2) WHERE id = $1",
    pg: "UPDATE sessions SET expires_at = GREATEST(expires_at, $2) WHERE id = $1",
};

const END: Sql = Sql::both(
    "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
     WHERE id = $1 AND revoked_at IS NULL",
);

const END_ALL: Sql = Sql::both(
    "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
     WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2",
);

fn session_id(text: &str) -> Result<SessionId> {
    SessionId::parse(text).ok_or_else(|| Error::internal(format!("a stored session id {text:?}")))
}

impl Db {
    /// Adds `token` to session `id` inside `tx`; false if the session is not open.
    async fn add_refresh_token(
        &self,
        tx: &mut crate::db::Tx,
        id: SessionId,
        token: &StoredRefreshToken,
    ) -> Result<bool> {
        let added = on_tx!(self, tx, ADD_REFRESH, |ex, sql| {
            sqlx::query(sql)
                .bind(&token.hash)
                .bind(id.to_string())
                .bind(token.issued_at.as_millis())
                .bind(token.expires_at.as_millis())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        Ok(added > 0)
    }
}

impl SessionStore for Db {
    async fn open_session(
        &self,
        id: SessionId,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
        refresh: Option<&StoredRefreshToken>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(self, &mut tx, PRUNE, |ex, sql| {
            sqlx::query(sql)
                .bind(now.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        on_tx!(self, &mut tx, OPEN, |ex, sql| {
            sqlx::query(sql)
                .bind(id.to_string())
                .bind(user.get())
                .bind(now.as_millis())
                .bind(expires_at.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        if let Some(token) = refresh {
            self.add_refresh_token(&mut tx, id, token).await?;
        }
        self.commit(tx).await
    }

    async fn user_in_session(
        &self,
        user: UserId,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<User>> {
        let row: Option<UserRow> = on_reader!(self, USER_IN_SESSION, |ex, sql| {
            sqlx::query_as(sql)
                .bind(user.get())
                .bind(id.to_string())
                .bind(now.as_millis())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(row.map(User::from))
    }

    async fn use_refresh_token(&self, hash: &str, now: Timestamp) -> Result<RefreshUse> {
        let used: Option<(String, i64)> = on_writer!(self, USE, |ex, sql| {
            sqlx::query_as(sql)
                .bind(hash)
                .bind(now.as_millis())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        if let Some((session, user)) = used {
            return Ok(RefreshUse::Fresh {
                session: session_id(&session)?,
                user: UserId::new(user),
            });
        }
        // Read after the update above committed: any connection sees what it saw.
        let found: Option<(String, i64, bool)> = on_reader!(self, FIND, |ex, sql| {
            sqlx::query_as(sql)
                .bind(hash)
                .bind(now.as_millis())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(match found {
            Some((session, user, true)) => RefreshUse::Reused {
                session: session_id(&session)?,
                user: UserId::new(user),
            },
            _ => RefreshUse::Unknown,
        })
    }

    async fn rotate_refresh_token(&self, id: SessionId, next: &StoredRefreshToken) -> Result<bool> {
        let mut tx = self.begin().await?;
        if !self.add_refresh_token(&mut tx, id, next).await? {
            // The session ended meanwhile; dropping the transaction rolls it back.
            return Ok(false);
        }
        on_tx!(self, &mut tx, EXTEND, |ex, sql| {
            sqlx::query(sql)
                .bind(id.to_string())
                .bind(next.expires_at.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn end_session(&self, id: SessionId, at: Timestamp, reason: &str) -> Result<bool> {
        let ended = on_writer!(self, END, |ex, sql| {
            sqlx::query(sql)
                .bind(id.to_string())
                .bind(at.as_millis())
                .bind(reason)
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        Ok(ended > 0)
    }

    async fn end_sessions(
        &self,
        user: UserId,
        except: Option<SessionId>,
        at: Timestamp,
        reason: &str,
    ) -> Result<u64> {
        on_writer!(self, END_ALL, |ex, sql| {
            sqlx::query(sql)
                .bind(user.get())
                .bind(except.map(|id| id.to_string()).unwrap_or_default())
                .bind(at.as_millis())
                .bind(reason)
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)
    }
}
