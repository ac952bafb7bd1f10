//! Domain events: what happened, recorded by the write that caused it in the same transaction
//! (the outbox), then relayed at least once to whoever listens: subscriptions, streams,
//! sessions that must recheck their rights, webhooks, brokers.
//!
//! On the wire an event is a CloudEvents 1.0 structured JSON message
//! (<https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md>) with
//! quire's extension attributes `schemaversion`, `aggregatetype`, `aggregateid` and
//! `actorid`. Every type and its `data` are documented with a JSON Schema in `docs/events.md`.

use serde::{Deserialize, Serialize};

use crate::ids::{CommentId, PostId, UserId};
use crate::model::{NewComment, NewPost, Post, PostStatus, User};
use crate::time::Timestamp;
use crate::values::TagList;

/// The version of every event type's `data` schema. A change that removes or retypes a field
/// gets a new version; adding an optional field does not, and readers ignore fields they do
/// not know (a worker of the previous release relays what a newer API instance recorded).
pub const SCHEMA_VERSION: u32 = 1;

/// The CloudEvents `source` of every event quire emits.
pub const SOURCE: &str = "quire";

/// An event's identifier: a UUID version 7 (RFC 9562 §5.7), so identifiers sort by creation
/// time. Brokers de-duplicate by it, consumers are idempotent by it, webhooks send it as
/// `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    /// A UUIDv7 from a time (its first 48 bits) and 10 random bytes (the rest, less the
    /// version and variant bits).
    pub fn new(at: Timestamp, random: [u8; 10]) -> Self {
        let millis = u64::try_from(at.as_millis()).unwrap_or(0);
        Self(
            uuid::Builder::from_unix_timestamp_millis(millis, &random)
                .into_uuid()
                .to_string(),
        )
    }

    /// Parses a UUID in its hyphenated form.
    pub fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::try_parse(text)
            .ok()
            .map(|id| Self(id.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The latest event ids seen, at most a fixed number, the oldest forgotten first: for
/// telling repeats apart in a stream delivered at least once.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    order: std::collections::VecDeque<EventId>,
    ids: std::collections::HashSet<EventId>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            order: std::collections::VecDeque::new(),
            ids: std::collections::HashSet::new(),
        }
    }

    /// Remembers `id`; `false` if it was already remembered.
    pub fn insert(&mut self, id: &EventId) -> bool {
        if !self.ids.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id.clone());
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }

    pub fn contains(&self, id: &EventId) -> bool {
        self.ids.contains(id)
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One event: what happened, when, to which aggregate, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub occurred_at: Timestamp,
    /// The user whose request caused it; `None` for the system (a schedule).
    pub actor: Option<UserId>,
    pub kind: DomainEvent,
}

/// The kind of aggregate an event belongs to: events of one aggregate are relayed in the
/// order their changes committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Post(PostId),
    Comment(CommentId),
    User(UserId),
    /// The one audit log, id 1: its entries keep their order.
    AuditLog,
}

impl Aggregate {
    /// The aggregate named by [`Aggregate::kind`] and [`Aggregate::id`]; `None` for an unknown
    /// kind.
    pub fn from_parts(kind: &str, id: i64) -> Option<Self> {
        match kind {
            "post" => Some(Aggregate::Post(PostId::new(id))),
            "comment" => Some(Aggregate::Comment(CommentId::new(id))),
            "user" => Some(Aggregate::User(UserId::new(id))),
            "audit" => Some(Aggregate::AuditLog),
            _ => None,
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Aggregate::Post(_) => "post",
            Aggregate::Comment(_) => "comment",
            Aggregate::User(_) => "user",
            Aggregate::AuditLog => "audit",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Aggregate::Post(id) => id.get(),
            Aggregate::Comment(id) => id.get(),
            Aggregate::User(id) => id.get(),
            Aggregate::AuditLog => 1,
        }
    }
}

/// A post as a consumer needs it without calling back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostData {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub author_id: i64,
    /// BCP 47 language tag, if the post has one.
    pub language: Option<String>,
    pub tags: Vec<String>,
    /// `draft` or `published`.
    pub status: String,
    /// RFC 3339 with milliseconds, UTC; `null` for a draft.
    pub published_at: Option<String>,
}

impl PostData {
    /// A post as it was just inserted with `id`.
    pub fn of_new(id: PostId, post: &NewPost) -> Self {
        Self {
            id: id.get(),
            slug: post.slug.as_str().to_owned(),
            title: post.title.as_str().to_owned(),
            author_id: post.author_id.get(),
            language: post.meta.language.clone(),
            tags: tag_names(&post.tags),
            status: post.status.as_str().to_owned(),
            published_at: (post.status == PostStatus::Published).then(|| post.at.to_rfc3339()),
        }
    }

    /// A post as loaded.
    pub fn of(post: &Post) -> Self {
        Self {
            id: post.id.get(),
            slug: post.slug.as_str().to_owned(),
            title: post.title.as_str().to_owned(),
            author_id: post.author.id.get(),
            language: post.meta.language.clone(),
            tags: tag_names(&post.tags),
            status: post.status.as_str().to_owned(),
            published_at: post.published_at.map(Timestamp::to_rfc3339),
        }
    }

    pub fn post_id(&self) -> PostId {
        PostId::new(self.id)
    }
}

/// The names of a post's tags, for an event's data.
pub fn tag_names(tags: &TagList) -> Vec<String> {
    tags.as_slice()
        .iter()
        .map(|tag| tag.as_str().to_owned())
        .collect()
}

/// A post changed: what it is now, and its slug before if the change moved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostUpdatedData {
    pub post: PostData,
    /// Which fields the change set (`title`, `description`, `body`, `tags`, `language`,
    /// `category`, `publishAt`, `slug`), in that order.
    pub changed: Vec<String>,
    /// The slug the post had before, when the change gave it a new one.
    pub previous_slug: Option<String>,
}

/// A comment as a consumer needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentData {
    pub id: i64,
    pub post_id: i64,
    pub author_id: i64,
    /// The comment's Markdown text; `null` in `comment.deleted`.
    pub body: Option<String>,
}

impl CommentData {
    pub fn of_new(id: CommentId, comment: &NewComment) -> Self {
        Self {
            id: id.get(),
            post_id: comment.post_id.get(),
            author_id: comment.author_id.get(),
            body: Some(comment.body.as_str().to_owned()),
        }
    }

    pub fn comment_id(&self) -> CommentId {
        CommentId::new(self.id)
    }

    pub fn on_post(&self) -> PostId {
        PostId::new(self.post_id)
    }
}

/// An account as a consumer needs it; no email or other private data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserData {
    pub id: i64,
    pub username: String,
    /// Role names: `reader`, `commenter`, `author`, `editor`, `admin`.
    pub roles: Vec<String>,
    pub active: bool,
}

impl UserData {
    pub fn of(user: &User) -> Self {
        Self {
            id: user.id.get(),
            username: user.username.as_str().to_owned(),
            roles: user
                .roles
                .iter()
                .map(|role| role.as_str().to_owned())
                .collect(),
            active: user.active,
        }
    }

    pub fn user_id(&self) -> UserId {
        UserId::new(self.id)
    }
}

/// A follow between two users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowData {
    pub follower_id: i64,
    pub followee_id: i64,
}

/// A user's favorite of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FavoriteData {
    pub user_id: i64,
    pub post_id: i64,
}

/// Something that happened in the domain, with its data. The serde tag is the CloudEvents
/// `type`, dotted lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DomainEvent {
    /// A post was created (as a draft or published).
    #[serde(rename = "post.created")]
    PostCreated(PostData),
    /// A post's content or metadata changed.
    #[serde(rename = "post.updated")]
    PostUpdated(PostUpdatedData),
    /// A post became visible to everyone: created published, or a draft published.
    #[serde(rename = "post.published")]
    PostPublished(PostData),
    /// A published post went back to draft.
    #[serde(rename = "post.unpublished")]
    PostUnpublished(PostData),
    /// A post was deleted with its comments and favorites; the data is the post as it was.
    #[serde(rename = "post.deleted")]
    PostDeleted(PostData),
    #[serde(rename = "comment.added")]
    CommentAdded(CommentData),
    #[serde(rename = "comment.deleted")]
    CommentDeleted(CommentData),
    #[serde(rename = "user.registered")]
    UserRegistered(UserData),
    /// A user's profile, or their activation back on, changed.
    #[serde(rename = "user.updated")]
    UserUpdated(UserData),
    /// A user's roles changed: what they may do is no longer what it was.
    #[serde(rename = "user.roles_changed")]
    UserRolesChanged(UserData),
    /// A user can no longer sign in; their tokens stop working.
    #[serde(rename = "user.deactivated")]
    UserDeactivated(UserData),
    #[serde(rename = "user.followed")]
    Followed(FollowData),
    #[serde(rename = "user.unfollowed")]
    Unfollowed(FollowData),
    #[serde(rename = "post.favorited")]
    Favorited(FavoriteData),
    #[serde(rename = "post.unfavorited")]
    Unfavorited(FavoriteData),
    /// Something an auditor wants to know happened (`crate::audit`).
    #[serde(rename = "audit.recorded")]
    AuditRecorded(crate::audit::AuditData),
}

impl DomainEvent {
    /// Every type name, as documented in `docs/events.md`.
    pub const TYPES: [&'static str; 16] = [
        "post.created",
        "post.updated",
        "post.published",
        "post.unpublished",
        "post.deleted",
        "comment.added",
        "comment.deleted",
        "user.registered",
        "user.updated",
        "user.roles_changed",
        "user.deactivated",
        "user.followed",
        "user.unfollowed",
        "post.favorited",
        "post.unfavorited",
        "audit.recorded",
    ];

    /// The CloudEvents `type`, e.g. `post.published`.
    pub fn type_name(&self) -> &'static str {
        match self {
            DomainEvent::PostCreated(_) => "post.created",
            DomainEvent::PostUpdated(_) => "post.updated",
            DomainEvent::PostPublished(_) => "post.published",
            DomainEvent::PostUnpublished(_) => "post.unpublished",
            DomainEvent::PostDeleted(_) => "post.deleted",
            DomainEvent::CommentAdded(_) => "comment.added",
            DomainEvent::CommentDeleted(_) => "comment.deleted",
            DomainEvent::UserRegistered(_) => "user.registered",
            DomainEvent::UserUpdated(_) => "user.updated",
            DomainEvent::UserRolesChanged(_) => "user.roles_changed",
            DomainEvent::UserDeactivated(_) => "user.deactivated",
            DomainEvent::Followed(_) => "user.followed",
            DomainEvent::Unfollowed(_) => "user.unfollowed",
            DomainEvent::Favorited(_) => "post.favorited",
            DomainEvent::Unfavorited(_) => "post.unfavorited",
            DomainEvent::AuditRecorded(_) => "audit.recorded",
        }
    }

    /// The aggregate the event belongs to. A follow belongs to the follower, a favorite to
    /// the post.
    pub fn aggregate(&self) -> Aggregate {
        match self {
            DomainEvent::PostCreated(post)
            | DomainEvent::PostPublished(post)
            | DomainEvent::PostUnpublished(post)
            | DomainEvent::PostDeleted(post) => Aggregate::Post(post.post_id()),
            DomainEvent::PostUpdated(updated) => Aggregate::Post(updated.post.post_id()),
            DomainEvent::CommentAdded(comment) | DomainEvent::CommentDeleted(comment) => {
                Aggregate::Comment(comment.comment_id())
            }
            DomainEvent::UserRegistered(user)
            | DomainEvent::UserUpdated(user)
            | DomainEvent::UserRolesChanged(user)
            | DomainEvent::UserDeactivated(user) => Aggregate::User(user.user_id()),
            DomainEvent::Followed(follow) | DomainEvent::Unfollowed(follow) => {
                Aggregate::User(UserId::new(follow.follower_id))
            }
            DomainEvent::Favorited(favorite) | DomainEvent::Unfavorited(favorite) => {
                Aggregate::Post(PostId::new(favorite.post_id))
            }
            DomainEvent::AuditRecorded(_) => Aggregate::AuditLog,
        }
    }

    /// The user whose rights may have changed: connections they hold open check again.
    pub fn account_changed(&self) -> Option<UserId> {
        match self {
            DomainEvent::UserUpdated(user)
            | DomainEvent::UserRolesChanged(user)
            | DomainEvent::UserDeactivated(user) => Some(user.user_id()),
            _ => None,
        }
    }
}

/// Why an event could not be read from its wire form.
#[derive(Debug, thiserror::Error)]
#[error("not a quire event: {0}")]
pub struct DecodeError(String);

/// The CloudEvents structured JSON form.
#[derive(Serialize, Deserialize)]
struct Wire {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: String,
    subject: String,
    time: String,
    datacontenttype: String,
    schemaversion: u32,
    aggregatetype: String,
    aggregateid: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actorid: Option<i64>,
    /// Milliseconds since the epoch of `time`, so readers need not parse RFC 3339.
    timemillis: i64,
    data: serde_json::Value,
}

impl Event {
    /// The CloudEvents `subject`: `<aggregate type>/<id>`, e.g. `post/42`.
    pub fn subject(&self) -> String {
        let aggregate = self.kind.aggregate();
        format!("{}/{}", aggregate.kind(), aggregate.id())
    }

    /// The event's data alone, as JSON (what the outbox stores beside the envelope columns).
    pub fn data_json(&self) -> String {
        self.to_json_value()
            .get("data")
            .map_or_else(String::new, ToString::to_string)
    }

    fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.kind).unwrap_or(serde_json::Value::Null)
    }

    /// The CloudEvents structured JSON message.
    pub fn to_json(&self) -> Vec<u8> {
        let aggregate = self.kind.aggregate();
        let data = match self.to_json_value() {
            serde_json::Value::Object(mut tagged) => {
                tagged.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        };
        let wire = Wire {
            specversion: "1.0".to_owned(),
            id: self.id.to_string(),
            source: SOURCE.to_owned(),
            kind: self.kind.type_name().to_owned(),
            subject: self.subject(),
            time: self.occurred_at.to_rfc3339(),
            datacontenttype: "application/json".to_owned(),
            schemaversion: SCHEMA_VERSION,
            aggregatetype: aggregate.kind().to_owned(),
            aggregateid: aggregate.id(),
            actorid: self.actor.map(UserId::get),
            timemillis: self.occurred_at.as_millis(),
            data,
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a message written by [`Event::to_json`].
    ///
    /// # Errors
    /// [`DecodeError`] when the bytes are not such a message, or its type is unknown.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|error| DecodeError(error.to_string()))?;
        Self::from_parts(
            &wire.id,
            &wire.kind,
            wire.timemillis,
            wire.actorid,
            wire.data,
        )
    }

    /// An event from its stored parts: the outbox's columns, or the wire's attributes.
    ///
    /// # Errors
    /// [`DecodeError`] when the id is not a UUID, the type unknown or the data not its shape.
    pub fn from_parts(
        id: &str,
        kind: &str,
        occurred_at_millis: i64,
        actor: Option<i64>,
        data: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let id = EventId::parse(id).ok_or_else(|| DecodeError(format!("event id {id}")))?;
        let tagged = serde_json::json!({ "type": kind, "data": data });
        let kind: DomainEvent =
            serde_json::from_value(tagged).map_err(|error| DecodeError(error.to_string()))?;
        Ok(Self {
            id,
            occurred_at: Timestamp::from_millis(occurred_at_millis),
            actor: actor.map(UserId::new),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment_added() -> Event {
        Event {
            id: EventId::new(Timestamp::from_millis(1_764_000_000_000), [7; 10]),
            occurred_at: Timestamp::from_millis(1_764_000_000_123),
            actor: Some(UserId::new(3)),
            kind: DomainEvent::CommentAdded(CommentData {
                id: 9,
                post_id: 4,
                author_id: 3,
                body: Some("hello".to_owned()),
            }),
        }
    }

    #[test]
    fn an_event_survives_its_wire_form() {
        let event = comment_added();
        let decoded = Event::from_json(&event.to_json()).expect("decodes");
        assert_eq!(decoded, event);
    }

    #[test]
    fn the_wire_form_is_a_cloudevent_with_quire_attributes() {
        let json: serde_json::Value =
            serde_json::from_slice(&comment_added().to_json()).expect("json");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "comment.added");
        assert_eq!(json["subject"], "comment/9");
        assert_eq!(json["time"], "2025-11-24T16:00:00.123Z");
        assert_eq!(json["aggregatetype"], "comment");
        assert_eq!(json["aggregateid"], 9);
        assert_eq!(json["actorid"], 3);
        assert_eq!(json["schemaversion"], 1);
        assert_eq!(json["data"]["postId"], 4);
    }

    #[test]
    fn event_ids_are_uuid_v7_ordered_by_time() {
        let earlier = EventId::new(Timestamp::from_millis(1_000), [255; 10]);
        let later = EventId::new(Timestamp::from_millis(1_001), [0; 10]);
        assert!(earlier < later);
        assert_eq!(earlier.as_str().len(), 36);
        assert_eq!(&earlier.as_str()[14..15], "7");
        assert_eq!(EventId::parse(earlier.as_str()), Some(earlier));
    }

    #[test]
    fn every_type_name_is_listed_once() {
        let mut names = DomainEvent::TYPES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DomainEvent::TYPES.len());
    }

    #[test]
    fn unknown_types_and_shapes_are_refused() {
        let id = EventId::new(Timestamp::from_millis(0), [0; 10]);
        assert!(
            Event::from_parts(id.as_str(), "post.exploded", 0, None, serde_json::json!({}))
                .is_err()
        );
        assert!(
            Event::from_parts(
                id.as_str(),
                "comment.added",
                0,
                None,
                serde_json::json!({"id": 1})
            )
            .is_err()
        );
        assert!(
            Event::from_parts("nope", "comment.added", 0, None, serde_json::json!({})).is_err()
        );
    }
}
