//! Accounts, profiles and follows.

use quire_core::ids::UserId;
use quire_core::model::{NewUser, Profile, User, UserChanges};
use quire_core::ports::UserStore;
use quire_core::time::Timestamp;
use quire_core::values::{Email, PasswordHash, Username};
use quire_core::{Error, Resource, Result};

use crate::db::Db;
use crate::error::{db_error, db_error_or_gone};
use crate::rows::{ProfileRow, UserRow, user_columns};

impl UserStore for Db {
    async fn insert_user(&self, user: &NewUser) -> Result<User> {
        self.stmt();
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, \
             roles, is_active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING ",
            user_columns!()
        ))
        .bind(user.username.as_str())
        .bind(user.username.key())
        .bind(user.email.as_str())
        .bind(user.email.key())
        .bind(user.password_hash.as_phc())
        .bind(user.roles.bits())
        .bind(user.at.as_millis())
        .fetch_one(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(row.into())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.stmt();
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.get())
        .fetch_optional(&self.reader)
        .await
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
        self.stmt();
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE email_key = $1"
        ))
        .bind(email.key())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        Ok(row.map(|row| (row.user.into(), PasswordHash::from_phc(row.password_hash))))
    }

    async fn update_user(&self, id: UserId, changes: &UserChanges, at: Timestamp) -> Result<User> {
        self.stmt();
        // COALESCE keeps a column unless a new value is given; bio and image take a flag,
        // because setting them to null is a change too.
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users SET \
             username = COALESCE($2, username), username_key = COALESCE($3, username_key), \
             email = COALESCE($4, email), email_key = COALESCE($5, email_key), \
             password_hash = COALESCE($6, password_hash), \
             bio = CASE WHEN $7 THEN $8 ELSE bio END, \
             image = CASE WHEN $9 THEN $10 ELSE image END, \
             updated_at = MAX($11, updated_at + 1) \
             WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id.get())
        .bind(changes.username.as_ref().map(Username::as_str))
        .bind(changes.username.as_ref().map(Username::key))
        .bind(changes.email.as_ref().map(Email::as_str))
        .bind(changes.email.as_ref().map(Email::key))
        .bind(changes.password_hash.as_ref().map(PasswordHash::as_phc))
        .bind(changes.bio.is_some())
        .bind(
            changes
                .bio
                .as_ref()
                .and_then(|bio| bio.as_ref().map(|bio| bio.as_str())),
        )
        .bind(changes.image.is_some())
        .bind(
            changes
                .image
                .as_ref()
                .and_then(|image| image.as_ref().map(|image| image.as_str())),
        )
        .bind(at.as_millis())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        row.map(User::from).ok_or(Error::NotFound(Resource::User))
    }

    async fn profile(
        &self,
        username: &Username,
        viewer: Option<UserId>,
    ) -> Result<Option<Profile>> {
        self.stmt();
        let row: Option<ProfileRow> = sqlx::query_as(
            "SELECT u.id, u.username, u.name, u.bio, u.image, \
             EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $2 AND fo.followee_id = u.id) \
             AS following \
             FROM users u WHERE u.username_key = $1",
        )
        .bind(username.key())
        .bind(crate::rows::viewer_id(viewer))
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        Ok(row.map(Profile::from))
    }

    async fn follow(&self, follower: UserId, followee: UserId, at: Timestamp) -> Result<()> {
        self.stmt();
        sqlx::query(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(follower.get())
        .bind(followee.get())
        .bind(at.as_millis())
        .execute(&self.writer)
        .await
        .map(drop)
        .map_err(|error| db_error_or_gone(error, Resource::User))
    }

    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<()> {
        self.stmt();
        sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower.get())
            .bind(followee.get())
            .execute(&self.writer)
            .await
            .map(drop)
            .map_err(db_error)
    }
}
