//! Entities as use-cases hand them to transports, and the inputs storage needs to change them.

use crate::ids::{CommentId, PostId, UserId};
use crate::paging::Cursor;
use crate::roles::Roles;
use crate::time::Timestamp;
use crate::values::{
    Bio, Body, CommentBody, Description, Email, ImageUrl, PasswordHash, Slug, TagList, TagName,
    Title, Username,
};

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    /// Display name; optional, distinct from the unique username.
    pub name: Option<String>,
    pub bio: Option<Bio>,
    pub image: Option<ImageUrl>,
    pub roles: Roles,
    /// An inactive user cannot log in, and their tokens stop working.
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A user as one viewer may see them: the email and the account's standing only where the
/// policy allows (`policy::may_see_account`). Transports read roles and activity from
/// `account`, never from `user`, so that nobody else learns who is an admin or deactivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub user: User,
    /// `None` when the viewer may not see it.
    pub email: Option<Email>,
    /// `None` when the viewer may not see it.
    pub account: Option<AccountStanding>,
}

/// What an account may do: its roles, and whether it is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountStanding {
    pub roles: Roles,
    pub active: bool,
}

impl AccountStanding {
    pub fn of(user: &User) -> Self {
        Self {
            roles: user.roles,
            active: user.active,
        }
    }
}

/// Which side of a follow a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowDirection {
    /// Who follows the user.
    Followers,
    /// Whom the user follows.
    Following,
}

/// A response kept for replay under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    pub status: u16,
    /// The headers worth replaying (`Content-Type`, `Location`, `ETag`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: the caller runs the request and then records its response. The claim
    /// was made at `at`, which tells it from a later claim of the same key.
    Claimed { at: crate::time::Timestamp },
    /// The same request ran before: here is its response.
    Replay(IdempotentResponse),
    /// The same request is running now.
    InProgress,
    /// The same request's change committed but its answer was never recorded (its process
    /// stopped in between): the caller answers from the aggregate the change created.
    Committed(crate::events::Aggregate),
    /// The key was used for a different request.
    Mismatch,
}

/// A user as others see them, with whether the viewer follows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: UserId,
    pub username: Username,
    pub name: Option<String>,
    pub bio: Option<Bio>,
    pub image: Option<ImageUrl>,
    /// Always false for an anonymous viewer.
    pub following: bool,
}

/// Whether a post is visible to the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostStatus {
    Draft,
    Published,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Draft => "draft",
            PostStatus::Published => "published",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(PostStatus::Draft),
            "published" => Some(PostStatus::Published),
            _ => None,
        }
    }
}

/// A post's body rendered for reading (`quire_content`): sanitized HTML, the table of
/// contents, and the minutes it takes to read. Made once per revision of the body, when it is
/// written, and stored beside it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendering {
    /// Sanitized HTML: no script, event handler or `javascript:` URL.
    pub html: String,
    pub toc: Vec<TocEntry>,
    /// Rounded up; 0 for an empty body.
    pub reading_minutes: u32,
    /// The renderer that made it ([`quire_content::RENDERER_VERSION`]); a rendering made by
    /// another is made again when read.
    #[serde(default)]
    pub renderer: u32,
}

/// One heading of a rendered body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TocEntry {
    /// 1 to 6.
    pub level: u8,
    /// The heading's `id` in [`Rendering::html`].
    pub id: String,
    /// The heading's text, without markup: plain text, to escape where it is put into HTML.
    pub title: String,
}

impl Rendering {
    /// Renders a Markdown body.
    pub fn of(body: &Body) -> Self {
        let rendered = quire_content::render(body.as_str());
        Self {
            html: rendered.html,
            toc: rendered
                .toc
                .into_iter()
                .map(|entry| TocEntry {
                    level: entry.level,
                    id: entry.id,
                    title: entry.title,
                })
                .collect(),
            reading_minutes: rendered.reading_minutes,
            renderer: quire_content::RENDERER_VERSION,
        }
    }

    /// Whether the renderer of this version made it.
    pub fn is_current(&self) -> bool {
        self.renderer == quire_content::RENDERER_VERSION
    }
}

/// A post's place in a named series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesEntry {
    pub name: String,
    pub position: i64,
}

/// Publishing metadata that the RealWorld contract does not carry but the platform does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostMeta {
    /// BCP 47 language tag of the text, such as `en` or `ko`.
    pub language: Option<String>,
    pub category: Option<String>,
    pub series: Option<SeriesEntry>,
    /// Posts that are translations of one another share this group number: the id of the
    /// work's original.
    pub translation_group: Option<i64>,
    /// Frontmatter keys quire has no field for, kept from an import and written back on
    /// export; empty in lists.
    pub metadata: Metadata,
}

/// Keys and JSON values a post carries for its source files (`image`, `aliases`, a theme's
/// own keys), sorted by key.
pub type Metadata = std::collections::BTreeMap<String, serde_json::Value>;

/// Another post, as a link to it: in a series' contents, or a translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostLink {
    pub id: PostId,
    pub slug: Slug,
    pub title: Title,
    /// BCP 47.
    pub language: Option<String>,
    /// Its place in its series, if it has one.
    pub position: Option<i64>,
}

/// A post's series: its name, its published posts in order, and the post's neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesContents {
    pub name: String,
    /// The post's own place.
    pub position: i64,
    pub posts: Vec<PostLink>,
    pub previous: Option<PostLink>,
    pub next: Option<PostLink>,
}

/// A post as shown to one viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub slug: Slug,
    pub title: Title,
    pub description: Description,
    /// `None` in lists, which leave the body out.
    pub body: Option<Body>,
    /// The body rendered, stored with it; `None` in lists, and for a body written before
    /// quire rendered bodies ([`Post::rendering`] renders it then).
    pub rendered: Option<Rendering>,
    pub tags: TagList,
    pub author: Profile,
    pub favorited: bool,
    /// How many users favorited it; never negative.
    pub favorites_count: i64,
    pub status: PostStatus,
    pub published_at: Option<Timestamp>,
    /// When a scheduled draft is to be published; `None` when it is not scheduled.
    pub publish_at: Option<Timestamp>,
    pub meta: PostMeta,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A post's body with its rendering, as read on its own (a list's posts leave both out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBody {
    pub body: Body,
    /// `None` for a body stored before quire rendered bodies.
    pub rendered: Option<Rendering>,
}

impl PostBody {
    /// The body rendered: as stored, or rendered now for a body stored before.
    pub fn rendering(&self) -> std::borrow::Cow<'_, Rendering> {
        match &self.rendered {
            Some(rendered) if rendered.is_current() => std::borrow::Cow::Borrowed(rendered),
            _ => std::borrow::Cow::Owned(Rendering::of(&self.body)),
        }
    }
}

impl Post {
    /// The body rendered: as stored, or rendered now for a body stored before quire rendered
    /// bodies. `None` when the body was left out (lists).
    pub fn rendering(&self) -> Option<std::borrow::Cow<'_, Rendering>> {
        match (&self.rendered, &self.body) {
            (Some(rendered), _) if rendered.is_current() => {
                Some(std::borrow::Cow::Borrowed(rendered))
            }
            (_, Some(body)) => Some(std::borrow::Cow::Owned(Rendering::of(body))),
            (_, None) => None,
        }
    }
}

/// What the policy needs to know about a post before acting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostRef {
    pub id: PostId,
    pub author_id: UserId,
    pub status: PostStatus,
}

/// A comment as shown to one viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: CommentId,
    pub post_id: PostId,
    pub body: CommentBody,
    pub author: Profile,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What the policy needs to know about a comment before deleting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentRef {
    pub id: CommentId,
    pub post_id: PostId,
    pub author_id: UserId,
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub roles: Roles,
    pub at: Timestamp,
    /// The OpenID provider's identity the account is made for, linked in the same
    /// transaction; none for an account made with a password.
    pub identity: Option<Identity>,
}

/// An account's identity at an OpenID provider: the issuer and the subject (`sub`) it gives
/// the account, unique per issuer and never reassigned (OpenID Connect Core 1.0 sections 2 and
/// 5.7), so an identity is keyed by both; `provider` is the configured name it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub provider: String,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub password_hash: Option<PasswordHash>,
    /// `Some(None)` clears the bio.
    pub bio: Option<Option<Bio>>,
    /// `Some(None)` clears the image.
    pub image: Option<Option<ImageUrl>>,
    /// New roles (an admin's change).
    pub roles: Option<Roles>,
    /// New activation (an admin's change).
    pub active: Option<bool>,
    /// Write only if the user's `updated_at` is still this.
    pub expected_updated_at: Option<Timestamp>,
}

/// A post's entry in the search index: its terms with their field-weighted frequencies
/// (`quire_content::search::document`).
pub type SearchDocument = quire_content::search::Document;

/// A changed post's new index entry, made from the post as it was at `made_from` (its
/// `updated_at`) with the change applied. Should another write come between, the store makes
/// the entry again from the post as the write leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub document: SearchDocument,
    pub made_from: Timestamp,
}

/// The search index's entry for a post with this title, description and Markdown body.
pub fn search_document(title: &Title, description: &Description, body: &str) -> SearchDocument {
    quire_content::search::document(
        title.as_str(),
        description.as_str(),
        &quire_content::markdown::plain_text(body),
    )
}

/// A post to insert, with its tags, in one transaction.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub slug: Slug,
    pub title: Title,
    pub description: Description,
    pub body: Body,
    /// `body` rendered.
    pub rendered: Rendering,
    /// The post's entry in the search index.
    pub search: SearchDocument,
    pub tags: TagList,
    pub author_id: UserId,
    pub status: PostStatus,
    /// A draft scheduled to be published at this time.
    pub publish_at: Option<Timestamp>,
    pub meta: PostMeta,
    pub at: Timestamp,
}

/// Changes to a post; `None` leaves a field as it is. `tags` replaces the whole set.
#[derive(Debug, Clone)]
pub struct PostChanges {
    pub slug: Option<Slug>,
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub body: Option<Body>,
    /// The new body rendered: set exactly when `body` is.
    pub rendered: Option<Rendering>,
    /// The post's new entry in the search index: set when its title, description or body
    /// changes.
    pub search: Option<IndexEntry>,
    pub tags: Option<TagList>,
    /// Publishing a draft (it gets `updated_at` as its publish time) or taking a post back
    /// to draft; every counter follows in the same transaction.
    pub status: Option<PostStatus>,
    /// `Some(None)` removes the language.
    pub language: Option<Option<String>>,
    /// `Some(None)` removes the category.
    pub category: Option<Option<String>>,
    /// `Some(Some(at))` schedules the draft for `at`; `Some(None)` unschedules it. Publishing
    /// unschedules too.
    pub publish_at: Option<Option<Timestamp>>,
    /// The time a published post (or one this change publishes) was published, when it is
    /// not now: an import's date. Ignored for a draft.
    pub published_at: Option<Timestamp>,
    /// `Some(None)` takes the post out of its series.
    pub series: Option<Option<SeriesEntry>>,
    /// `Some(None)` unlinks the post from its translations.
    pub translation_group: Option<Option<i64>>,
    /// Replaces the whole set.
    pub metadata: Option<Metadata>,
    pub updated_at: Timestamp,
    /// Write only if the post's `updated_at` is still this.
    pub expected_updated_at: Option<Timestamp>,
}

impl PostChanges {
    /// No change, at `updated_at`.
    pub fn at(updated_at: Timestamp) -> Self {
        Self {
            slug: None,
            title: None,
            description: None,
            body: None,
            rendered: None,
            search: None,
            tags: None,
            status: None,
            language: None,
            category: None,
            publish_at: None,
            published_at: None,
            series: None,
            translation_group: None,
            metadata: None,
            updated_at,
            expected_updated_at: None,
        }
    }
}

/// A comment to insert.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub post_id: PostId,
    pub author_id: UserId,
    pub body: CommentBody,
    pub at: Timestamp,
}

/// Which published posts a list holds. Filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilter {
    pub tag: Option<TagName>,
    pub author: Option<Username>,
    pub favorited_by: Option<Username>,
    /// Posts by the authors this user follows: the feed.
    pub followed_by: Option<UserId>,
    /// Posts in this language (a BCP 47 tag, compared exactly).
    pub language: Option<String>,
    /// Posts by this author (by id, where the caller already knows it).
    pub author_id: Option<UserId>,
    /// Drafts instead of published posts, newest created first.
    pub drafts: bool,
}

/// A keyset page: newest first, starting after a cursor. Page N costs what page 1 costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysetRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
    /// Whether to count every match too (it costs a count where no counter serves).
    pub count: bool,
}

/// A keyset page of posts, the cursor of the next page if there is one, and the total if
/// asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetPage {
    pub posts: Vec<Post>,
    pub next: Option<Cursor>,
    pub total: Option<u64>,
}

/// A window into a list, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub offset: u64,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = crate::paging::DEFAULT_PAGE_SIZE;
    pub const MAX_LIMIT: u32 = crate::paging::MAX_PAGE_SIZE;
}

/// Which of a post's comments to read, oldest first: at most `limit`, after the comment
/// `after` (a keyset page, as `/api/v1`, GraphQL and gRPC page) and then skipping `offset`
/// (RealWorld's offset pages). Either costs an index range on `(post_id, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentWindow {
    pub limit: u32,
    pub after: Option<CommentId>,
    pub offset: u64,
}

impl CommentWindow {
    /// A keyset page of `limit` after `cursor` (from the start without one).
    pub fn after(limit: u32, cursor: Option<crate::paging::CommentCursor>) -> Self {
        Self {
            limit,
            after: cursor.map(|cursor| cursor.0),
            offset: 0,
        }
    }

    /// RealWorld's window: `limit` comments from the `offset`th.
    pub fn offset(page: PageRequest) -> Self {
        Self {
            limit: page.limit,
            after: None,
            offset: page.offset,
        }
    }
}

/// One viewer's own marks on shared content (`BatchStore::viewer_marks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerMarks {
    /// Posts the viewer favorited.
    pub favorited: Vec<PostId>,
    /// Users the viewer follows.
    pub following: Vec<UserId>,
}

impl ViewerMarks {
    /// `post` as this viewer sees it: favorited or not, its author followed or not.
    pub fn apply(&self, post: &mut Post) {
        post.favorited = self.favorited.contains(&post.id);
        post.author.following = self.following.contains(&post.author.id);
    }
}

/// One page of posts and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPage {
    pub posts: Vec<Post>,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_stored_without_its_rendering_is_rendered_when_read() {
        let body = Body::parse("# Old\n\nWritten before rendering.").unwrap();
        let stored = PostBody {
            body: body.clone(),
            rendered: None,
        };
        assert_eq!(stored.rendering().into_owned(), Rendering::of(&body));
        assert!(
            stored
                .rendering()
                .html
                .contains("<h1 id=\"user-content-old\">Old</h1>")
        );
        let kept = Rendering {
            html: "<p>kept</p>".to_owned(),
            toc: Vec::new(),
            reading_minutes: 1,
            renderer: quire_content::RENDERER_VERSION,
        };
        let stored = PostBody {
            body,
            rendered: Some(kept.clone()),
        };
        assert_eq!(
            stored.rendering().into_owned(),
            kept,
            "a stored rendering is used as is"
        );
        let older = PostBody {
            body: stored.body.clone(),
            rendered: Some(Rendering {
                renderer: 0,
                ..kept
            }),
        };
        assert_eq!(
            older.rendering().into_owned(),
            Rendering::of(&older.body),
            "another renderer's output is made again"
        );
    }
}
