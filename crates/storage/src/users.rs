//! Accounts, profiles and follows.

use quire_core::events::Event;
use quire_core::ids::UserId;
use quire_core::model::{FollowDirection, NewUser, Profile, User, UserChanges};
use quire_core::ports::{Record, UserStore};
use quire_core::time::Timestamp;
use quire_core::values::{Email, PasswordHash, Username};
use quire_core::{Error, Resource, Result};

use crate::db::Db;
use crate::error::{db_error, db_error_or_gone};
use crate::rows::{ProfileRow, UserRow, user_columns};
use crate::sql::{Sql, on_reader, on_tx, on_writer};

const INSERT_USER: Sql = Sql::both(concat!(
    "INSERT INTO users (username, username_key, email, email_key, password_hash, \
     roles, is_active, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
    user_columns!()
));

const USER_BY_ID: Sql = Sql::both(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = $1"
));

const CREDENTIALS_BY_EMAIL: Sql = Sql::both(concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE email_key = $1"
));

const REPLACE_PASSWORD_HASH: Sql =
    Sql::both("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2");

/// One statement for every change to a user (profile, roles, activation), so a change commits
/// whole or not at all. COALESCE keeps a column unless a new value is given; bio and image take
/// a flag, because setting them to null is a change too. `updated_at` always moves forward.
macro_rules! update_user {
    ($greatest:literal) => {
        concat!(
            "UPDATE users SET \
             username = COALESCE($2, username), username_key = COALESCE($3, username_key), \
             email = COALESCE($4, email), email_key = COALESCE($5, email_key), \
             password_hash = COALESCE($6, password_hash), \
             bio = CASE WHEN $7 THEN $8 ELSE bio END, \
             image = CASE WHEN $9 THEN $10 ELSE image END, \
             roles = COALESCE($13, roles), is_active = COALESCE($14, is_active), \
             updated_at = ",
            $greatest,
            "($11, updated_at + 1) WHERE id = $1 \
             AND (CAST($12 AS BIGINT) IS NULL OR updated_at = $12) RETURNING ",
            user_columns!()
        )
    };
}
const UPDATE_USER: Sql = Sql {
    sqlite: update_user!("MAX"),
    pg: update_user!("GREATEST"),
};

const LIST_USERS: Sql = Sql::both(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id > $1 ORDER BY id LIMIT $2"
));

const FOLLOWERS: Sql = Sql::both(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id IN (SELECT follower_id FROM follows WHERE followee_id = $1 \
     AND follower_id > $2) ORDER BY id LIMIT $3"
));

const FOLLOWING: Sql = Sql::both(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id IN (SELECT followee_id FROM follows WHERE follower_id = $1 \
     AND followee_id > $2) ORDER BY id LIMIT $3"
));

const PROFILE: Sql = Sql::both(
    "SELECT u.id, u.username, u.name, u.bio, u.image, \
     EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $2 AND fo.followee_id = u.id) \
     AS following \
     FROM users u WHERE u.username_key = $1",
);

const FOLLOW: Sql = Sql::both(
    "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT DO NOTHING",
);

const UNFOLLOW: Sql = Sql::both("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2");

/// Why an update matched no row: the user is gone, or (with an expected version) changed.
fn missing_or_stale(expected: Option<Timestamp>) -> Error {
    match expected {
        Some(_) => Error::Stale(Resource::User),
        None => Error::NotFound(Resource::User),
    }
}

impl UserStore for Db {
    async fn insert_user(&self, new: &NewUser, record: Record<'_, User>) -> Result<User> {
        let user_identity = &new.identity;
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let row: UserRow = on_tx!(self, &mut tx, INSERT_USER, |ex, sql| {
                sqlx::query_as(sql)
                    .bind(new.username.as_str())
                    .bind(new.username.key())
                    .bind(new.email.as_str())
                    .bind(new.email.key())
                    .bind(new.password_hash.as_phc())
                    .bind(new.roles.bits())
                    .bind(true)
                    .bind(new.at.as_millis())
                    .fetch_one(ex)
                    .await
            })
            .map_err(db_error)?;
            let user = User::from(row);
            if let Some(identity) = user_identity {
                let linked = self
                    .link_identity_in(&mut tx, identity, user.id, new.at)
                    .await?;
                if linked != user.id {
                    return Err(Error::Conflict(quire_core::FieldErrors::single(
                        "identity",
                        "is linked to another account",
                    )));
                }
            }
            self.record(&mut tx, &record(&user)).await?;
            self.commit(tx).await?;
            Ok(user)
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let row: Option<UserRow> = on_reader!(self, USER_BY_ID, |ex, sql| {
            sqlx::query_as(sql).bind(id.get()).fetch_optional(ex).await
        })
        .map_err(db_error)?;
        Ok(row.map(User::from))
    }

    async fn credentials_by_email(&self, email: &Email) -> Result<Option<(User, PasswordHash)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Row> = on_reader!(self, CREDENTIALS_BY_EMAIL, |ex, sql| {
            sqlx::query_as(sql)
                .bind(email.key())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(row.map(|row| (row.user.into(), PasswordHash::from_phc(row.password_hash))))
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool> {
        let stored = on_writer!(self, REPLACE_PASSWORD_HASH, |ex, sql| {
            sqlx::query(sql)
                .bind(id.get())
                .bind(old.as_phc())
                .bind(new.as_phc())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        Ok(stored > 0)
    }

    async fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        at: Timestamp,
        record: Record<'_, User>,
    ) -> Result<User> {
        let bio = changes
            .bio
            .as_ref()
            .map(|bio| bio.as_ref().map(|bio| bio.as_str()));
        let image = changes
            .image
            .as_ref()
            .map(|image| image.as_ref().map(|image| image.as_str()));
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let row: Option<UserRow> = on_tx!(self, &mut tx, UPDATE_USER, |ex, sql| {
                sqlx::query_as(sql)
                    .bind(id.get())
                    .bind(changes.username.as_ref().map(Username::as_str))
                    .bind(changes.username.as_ref().map(Username::key))
                    .bind(changes.email.as_ref().map(Email::as_str))
                    .bind(changes.email.as_ref().map(Email::key))
                    .bind(changes.password_hash.as_ref().map(PasswordHash::as_phc))
                    .bind(bio.is_some())
                    .bind(bio.flatten())
                    .bind(image.is_some())
                    .bind(image.flatten())
                    .bind(at.as_millis())
                    .bind(changes.expected_updated_at.map(|at| at.as_millis()))
                    .bind(changes.roles.map(|roles| roles.bits()))
                    .bind(changes.active)
                    .fetch_optional(ex)
                    .await
            })
            .map_err(db_error)?;
            let user = row
                .map(User::from)
                .ok_or(missing_or_stale(changes.expected_updated_at))?;
            self.record(&mut tx, &record(&user)).await?;
            self.commit(tx).await?;
            Ok(user)
        })
        .await
    }

    async fn profile(
        &self,
        username: &Username,
        viewer: Option<UserId>,
    ) -> Result<Option<Profile>> {
        let row: Option<ProfileRow> = on_reader!(self, PROFILE, |ex, sql| {
            sqlx::query_as(sql)
                .bind(username.key())
                .bind(crate::rows::viewer_id(viewer))
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(row.map(Profile::from))
    }

    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = on_reader!(self, LIST_USERS, |ex, sql| {
            sqlx::query_as(sql)
                .bind(after.map_or(0, UserId::get))
                .bind(i64::from(limit))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn follow_list(
        &self,
        user: UserId,
        direction: FollowDirection,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<User>> {
        let stmt = match direction {
            FollowDirection::Followers => FOLLOWERS,
            FollowDirection::Following => FOLLOWING,
        };
        let rows: Vec<UserRow> = on_reader!(self, stmt, |ex, sql| {
            sqlx::query_as(sql)
                .bind(user.get())
                .bind(after.map_or(0, UserId::get))
                .bind(i64::from(limit))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn follow(
        &self,
        follower: UserId,
        followee: UserId,
        at: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let binds = [follower.get(), followee.get(), at.as_millis()];
        self.change_recording(FOLLOW, &binds, events, |error| {
            db_error_or_gone(error, Resource::User)
        })
        .await
    }

    async fn unfollow(&self, follower: UserId, followee: UserId, events: &[Event]) -> Result<()> {
        let binds = [follower.get(), followee.get()];
        self.change_recording(UNFOLLOW, &binds, events, db_error)
            .await
    }
}
