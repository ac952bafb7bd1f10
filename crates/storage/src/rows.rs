//! Row shapes read back from SQL, and their conversion into core entities.

use quire_core::ids::{CommentId, PostId, UserId};
use quire_core::model::{
    Comment, Metadata, Post, PostMeta, PostStatus, Profile, Rendering, SeriesEntry, User,
};
use quire_core::roles::Roles;
use quire_core::time::Timestamp;
use quire_core::values::{
    Bio, Body, CommentBody, Description, Email, ImageUrl, Slug, TagList, TagName, Title, Username,
};
use quire_core::{Error, Result};

/// Columns of `users` that make a [`UserRow`].
macro_rules! user_columns {
    () => {
        "id, username, email, name, bio, image, roles, is_active, created_at, updated_at"
    };
}
pub(crate) use user_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    email: String,
    name: Option<String>,
    bio: Option<String>,
    image: Option<String>,
    roles: i64,
    is_active: bool,
    created_at: i64,
    updated_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId::new(row.id),
            username: Username::from_trusted(row.username),
            email: Email::from_trusted(row.email),
            name: row.name,
            bio: row.bio.map(Bio::from_trusted),
            image: row.image.map(ImageUrl::from_trusted),
            roles: Roles::from_bits(row.roles),
            active: row.is_active,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProfileRow {
    pub(crate) id: i64,
    username: String,
    name: Option<String>,
    bio: Option<String>,
    image: Option<String>,
    following: bool,
}

impl From<ProfileRow> for Profile {
    fn from(row: ProfileRow) -> Self {
        Profile {
            id: UserId::new(row.id),
            username: Username::from_trusted(row.username),
            name: row.name,
            bio: row.bio.map(Bio::from_trusted),
            image: row.image.map(ImageUrl::from_trusted),
            following: row.following,
        }
    }
}

/// A post's tag names as one JSON array, as text.
macro_rules! tag_names {
    (sqlite) => {
        "(SELECT json_group_array(t.name) FROM post_tags pt JOIN tags t ON t.id = pt.tag_id \
         WHERE pt.post_id = p.id)"
    };
    (pg) => {
        "(SELECT COALESCE(json_agg(t.name), '[]'::json)::text FROM post_tags pt \
         JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = p.id)"
    };
}
pub(crate) use tag_names;

/// The function that builds a JSON object from key/value pairs.
macro_rules! json_object {
    (sqlite) => {
        "json_object"
    };
    (pg) => {
        "json_build_object"
    };
}
pub(crate) use json_object;

/// Opens an aggregate into a JSON array (as text, `[]` over no rows); close with
/// [`json_agg_close`]. An `ORDER BY` may stand just before the close.
macro_rules! json_agg_open {
    (sqlite) => {
        "json_group_array("
    };
    (pg) => {
        "COALESCE(json_agg("
    };
}
pub(crate) use json_agg_open;

macro_rules! json_agg_close {
    (sqlite) => {
        ")"
    };
    (pg) => {
        "), '[]'::json)::text"
    };
}
pub(crate) use json_agg_close;

/// Columns of a post (`p`) that make a [`PostRow`] with its tags, its author (`u`) and the
/// viewer's state; binds the viewer id as `$1`. Lists select `NULL` for the body. The tags come
/// as one JSON array per row, so a page and its tags are one statement.
macro_rules! post_columns {
    ($engine:tt, "NULL") => {
        post_columns!(@ $engine, "NULL", "NULL", "NULL")
    };
    ($engine:tt, "p.body") => {
        post_columns!(@ $engine, "p.body", "p.rendered", "p.metadata")
    };
    (@ $engine:tt, $body:literal, $rendered:literal, $metadata:literal) => {
        concat!(
            "p.id, p.slug, p.title, p.description, ",
            $body,
            " AS body, ",
            $rendered,
            " AS rendered, ",
            $metadata,
            " AS metadata, p.status, p.published_at, p.publish_at, p.language, p.category, p.series_name, \
             p.series_position, p.translation_group, ",
            $crate::counters::counter_sum!("post_favorites", "p.id"),
            " AS favorites_count, p.created_at, p.updated_at, ",
            tag_names!($engine),
            " AS tag_names, \
             EXISTS (SELECT 1 FROM favorites fv WHERE fv.user_id = $1 AND fv.post_id = p.id) \
             AS favorited, ",
            author_columns!()
        )
    };
}
pub(crate) use post_columns;

/// One JSON object per post, with the keys of [`PostRow`], over a subquery that selects
/// [`post_columns`]. Lists aggregate these into one array, so a whole page crosses from the
/// database in one row instead of one row per post.
macro_rules! post_json {
    ($engine:tt) => {
        concat!(
            json_object!($engine),
            "('id', id, 'slug', slug, 'title', title, 'description', description, \
             'body', body, 'rendered', rendered, 'metadata', metadata, 'status', status, 'published_at', published_at, \
             'publish_at', publish_at, 'language', language, \
             'category', category, 'series_name', series_name, 'series_position', series_position, \
             'translation_group', translation_group, 'favorites_count', favorites_count, \
             'created_at', created_at, 'updated_at', updated_at, 'tag_names', tag_names, \
             'favorited', favorited, 'author_id', author_id, 'author_username', author_username, \
             'author_name', author_name, 'author_bio', author_bio, 'author_image', author_image, \
             'author_following', author_following)"
        )
    };
}
pub(crate) use post_json;

/// SQL's 0/1 (and JSON's false/true) as a bool.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
    }
    Ok(match serde::Deserialize::deserialize(deserializer)? {
        Flag::Bool(value) => value,
        Flag::Int(value) => value != 0,
    })
}

/// The `rendered` column read back. One that does not parse, or that another version of the
/// renderer made, reads as absent, and the body is rendered again when shown.
pub(crate) fn rendering(column: Option<String>) -> Option<Rendering> {
    column
        .and_then(|json| serde_json::from_str::<Rendering>(&json).ok())
        .filter(Rendering::is_current)
}

/// The `metadata` column read back: none for NULL.
fn metadata(post: i64, column: Option<String>) -> Result<Metadata> {
    column.map_or(Ok(Metadata::new()), |json| {
        serde_json::from_str(&json)
            .map_err(|error| Error::internal(format!("metadata of post {post}: {error}")))
    })
}

#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct PostRow {
    pub(crate) id: i64,
    slug: String,
    title: String,
    description: String,
    body: Option<String>,
    /// JSON of a [`Rendering`].
    rendered: Option<String>,
    /// JSON object of a post's [`Metadata`].
    metadata: Option<String>,
    status: String,
    published_at: Option<i64>,
    publish_at: Option<i64>,
    language: Option<String>,
    category: Option<String>,
    series_name: Option<String>,
    series_position: Option<i64>,
    translation_group: Option<i64>,
    favorites_count: i64,
    created_at: i64,
    updated_at: i64,
    /// JSON array of tag names.
    tag_names: String,
    #[serde(deserialize_with = "flag")]
    favorited: bool,
    #[sqlx(flatten)]
    #[serde(flatten)]
    author: AuthorColumns,
}

#[derive(sqlx::FromRow, serde::Deserialize)]
struct AuthorColumns {
    author_id: i64,
    author_username: String,
    author_name: Option<String>,
    author_bio: Option<String>,
    author_image: Option<String>,
    #[serde(deserialize_with = "flag")]
    author_following: bool,
}

impl From<AuthorColumns> for Profile {
    fn from(author: AuthorColumns) -> Self {
        Profile {
            id: UserId::new(author.author_id),
            username: Username::from_trusted(author.author_username),
            name: author.author_name,
            bio: author.author_bio.map(Bio::from_trusted),
            image: author.author_image.map(ImageUrl::from_trusted),
            following: author.author_following,
        }
    }
}

impl PostRow {
    pub(crate) fn into_post(self) -> Result<Post> {
        let tags: Vec<String> = serde_json::from_str(&self.tag_names)
            .map_err(|error| Error::internal(format!("tags of post {}: {error}", self.id)))?;
        let tags = tags.into_iter().map(TagName::from_trusted).collect();
        let status = PostStatus::parse(&self.status).ok_or_else(|| {
            Error::internal(format!("post {} has status {:?}", self.id, self.status))
        })?;
        let series = match (self.series_name, self.series_position) {
            (Some(name), Some(position)) => Some(SeriesEntry { name, position }),
            _ => None,
        };
        Ok(Post {
            id: PostId::new(self.id),
            slug: Slug::from_trusted(self.slug),
            title: Title::from_trusted(self.title),
            description: Description::from_trusted(self.description),
            body: self.body.map(Body::from_trusted),
            rendered: rendering(self.rendered),
            tags: TagList::from_trusted(tags),
            author: self.author.into(),
            favorited: self.favorited,
            // A count is never negative, whatever a counter reads mid-update.
            favorites_count: self.favorites_count.max(0),
            status,
            published_at: self.published_at.map(Timestamp::from_millis),
            publish_at: self.publish_at.map(Timestamp::from_millis),
            meta: PostMeta {
                language: self.language,
                category: self.category,
                series,
                translation_group: self.translation_group,
                metadata: metadata(self.id, self.metadata)?,
            },
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        })
    }
}

#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct CommentRow {
    id: i64,
    post_id: i64,
    body: String,
    created_at: i64,
    updated_at: i64,
    #[sqlx(flatten)]
    #[serde(flatten)]
    author: AuthorColumns,
}

/// One JSON object per comment, with the keys of [`CommentRow`], over a subquery that selects
/// [`comment_columns`]; a post's comments cross from the database as one array in one row.
macro_rules! comment_json {
    ($engine:tt) => {
        concat!(
            json_object!($engine),
            "('id', id, 'post_id', post_id, 'body', body, 'created_at', created_at, \
             'updated_at', updated_at, 'author_id', author_id, 'author_username', author_username, \
             'author_name', author_name, 'author_bio', author_bio, 'author_image', author_image, \
             'author_following', author_following)"
        )
    };
}
pub(crate) use comment_json;

/// Columns of a comment (`c`) that make a [`CommentRow`] with its author (`u`); binds the
/// viewer id once.
macro_rules! comment_columns {
    () => {
        concat!(
            "c.id, c.post_id, c.body, c.created_at, c.updated_at, ",
            author_columns!()
        )
    };
}
pub(crate) use comment_columns;

/// Columns of an author (`u`) that make [`AuthorColumns`]; binds the viewer id once.
macro_rules! author_columns {
    () => {
        "u.id AS author_id, u.username AS author_username, u.name AS author_name, \
         u.bio AS author_bio, u.image AS author_image, \
         EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $1 AND fo.followee_id = u.id) \
         AS author_following"
    };
}
pub(crate) use author_columns;

impl From<CommentRow> for Comment {
    fn from(row: CommentRow) -> Self {
        Comment {
            id: CommentId::new(row.id),
            post_id: PostId::new(row.post_id),
            body: CommentBody::from_trusted(row.body),
            author: row.author.into(),
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        }
    }
}

/// The id a missing viewer binds as: no user has it, so `EXISTS` checks answer false.
pub(crate) fn viewer_id(viewer: Option<UserId>) -> i64 {
    viewer.map_or(0, UserId::get)
}
