//! Sign-ins through OpenID providers and the identities they link to accounts
//! (`quire_core::ports::OpenIdStore`; migration 0018).

use quire_core::Result;
use quire_core::events::Event;
use quire_core::ids::UserId;
use quire_core::model::{Identity, User};
use quire_core::ports::{OpenIdSignIn, OpenIdStore};
use quire_core::time::Timestamp;
use quire_core::values::PasswordHash;

use crate::db::{Db, Tx};
use crate::error::{db_error, db_error_or_gone};
use crate::rows::{UserRow, user_columns};
use crate::sql::{Sql, on_reader, on_tx, on_writer};

const SAVE: Sql = Sql::both(
    "INSERT INTO openid_sign_ins \
     (state_hash, provider, nonce, pkce_verifier, browser_hash, started_at) \
     VALUES ($1, $2, $3, $4, $5, $6)",
);

/// Up to 64 expired sign-ins at a time, so one start never does unbounded work.
const PRUNE: Sql = Sql {
    sqlite: "DELETE FROM openid_sign_ins WHERE state_hash IN (SELECT state_hash \
             FROM openid_sign_ins WHERE started_at < $1 ORDER BY started_at LIMIT 64)",
    pg: "DELETE FROM openid_sign_ins WHERE state_hash IN (SELECT state_hash \
         FROM openid_sign_ins WHERE started_at < $1 ORDER BY started_at LIMIT 64 \
         FOR UPDATE SKIP LOCKED)",
};

const TAKE: Sql = Sql::both(
    "DELETE FROM openid_sign_ins WHERE state_hash = $1 \
     RETURNING state_hash, provider, nonce, pkce_verifier, browser_hash, started_at",
);

const USER_BY_IDENTITY: Sql = Sql::both(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = (SELECT user_id FROM user_identities \
     WHERE issuer = $1 AND subject = $2)"
));

const LINK: Sql = Sql::both(
    "INSERT INTO user_identities (issuer, subject, provider, user_id, linked_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, subject) DO NOTHING",
);

const LINKED_TO: Sql =
    Sql::both("SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2");

const HAS_IDENTITY_FROM: Sql =
    Sql::both("SELECT EXISTS (SELECT 1 FROM user_identities WHERE user_id = $1 AND issuer = $2)");

const SET_PASSWORD_HASH: Sql = Sql::both("UPDATE users SET password_hash = $2 WHERE id = $1");

type SignInRow = (String, String, String, String, String, i64);

impl Db {
    /// Links `identity` to `user` in `tx` (nothing if it is linked already), and answers the
    /// account it is linked to.
    pub(crate) async fn link_identity_in(
        &self,
        tx: &mut Tx,
        identity: &Identity,
        user: UserId,
        at: Timestamp,
    ) -> Result<UserId> {
        on_tx!(self, tx, LINK, |ex, sql| {
            sqlx::query(sql)
                .bind(&identity.issuer)
                .bind(&identity.subject)
                .bind(&identity.provider)
                .bind(user.get())
                .bind(at.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(|error| db_error_or_gone(error, quire_core::Resource::User))?;
        let linked: i64 = on_tx!(self, tx, LINKED_TO, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(&identity.issuer)
                .bind(&identity.subject)
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(UserId::new(linked))
    }
}

impl OpenIdStore for Db {
    async fn save_openid_sign_in(
        &self,
        sign_in: &OpenIdSignIn,
        expired_before: Timestamp,
    ) -> Result<()> {
        on_writer!(self, PRUNE, |ex, sql| {
            sqlx::query(sql)
                .bind(expired_before.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        on_writer!(self, SAVE, |ex, sql| {
            sqlx::query(sql)
                .bind(&sign_in.state_hash)
                .bind(&sign_in.provider)
                .bind(&sign_in.nonce)
                .bind(&sign_in.pkce_verifier)
                .bind(&sign_in.browser_hash)
                .bind(sign_in.started_at.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }

    async fn take_openid_sign_in(&self, state_hash: &str) -> Result<Option<OpenIdSignIn>> {
        let row: Option<SignInRow> = on_writer!(self, TAKE, |ex, sql| {
            sqlx::query_as(sql)
                .bind(state_hash)
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(row.map(
            |(state_hash, provider, nonce, pkce_verifier, browser_hash, started_at)| OpenIdSignIn {
                state_hash,
                provider,
                nonce,
                pkce_verifier,
                browser_hash,
                started_at: Timestamp::from_millis(started_at),
            },
        ))
    }

    async fn user_by_identity(&self, identity: &Identity) -> Result<Option<User>> {
        let row: Option<UserRow> = on_reader!(self, USER_BY_IDENTITY, |ex, sql| {
            sqlx::query_as(sql)
                .bind(&identity.issuer)
                .bind(&identity.subject)
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(row.map(User::from))
    }

    async fn has_identity_from(&self, user: UserId, issuer: &str) -> Result<bool> {
        on_reader!(self, HAS_IDENTITY_FROM, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(user.get())
                .bind(issuer)
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)
    }

    async fn link_identity(
        &self,
        identity: &Identity,
        user: UserId,
        password_hash: &PasswordHash,
        at: Timestamp,
        events: &[Event],
    ) -> Result<UserId> {
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let linked = self.link_identity_in(&mut tx, identity, user, at).await?;
            if linked == user {
                on_tx!(self, &mut tx, SET_PASSWORD_HASH, |ex, sql| {
                    sqlx::query(sql)
                        .bind(user.get())
                        .bind(password_hash.as_phc())
                        .execute(ex)
                        .await
                        .map(drop)
                })
                .map_err(db_error)?;
                self.record(&mut tx, events).await?;
            }
            self.commit(tx).await?;
            Ok(linked)
        })
        .await
    }
}
