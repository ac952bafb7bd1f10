//! Cache-aside for the hot reads, with invalidation by tag (surrogate keys).
//!
//! A cached entry is a read model shared by every viewer: the view of a published post, of
//! the first pages of the public lists and of a profile with nobody's marks (a signed-in
//! viewer's favorites and follows are read apart and added), and the tag list. Each entry carries the tags of what it shows (`post:12`, `user:3`, the
//! list it is, `tags`); a committed write invalidates the tags its events name
//! ([`tags_of`]), on every instance (through the event stream) and synchronously on the
//! instance that wrote (through the storage's commit hook), so the writer's next read is never
//! stale.
//!
//! Invalidation works by generation, not by scan: invalidating a tag stamps it with a new
//! generation, and an entry is valid only while none of its tags has a generation newer than
//! the moment its load began. So a load that raced a write (it read the old row, the write
//! committed and invalidated, the load then stored what it read) is never served.

use std::sync::Arc;

use crate::Result;
use crate::events::{DomainEvent, Event, RecentIds};
use crate::model::{PageRequest, Post, PostPage, Profile};
use crate::ports::{BoxFuture, CommitListener};
use crate::time::Timestamp;
use crate::values::TagName;

/// The name an entry is stored under: what was asked, e.g. `post:slug:hello-world`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The anonymous view of the post with this slug.
    pub fn post_by_slug(slug: &str) -> Self {
        Self(format!("post:slug:{slug}"))
    }

    /// The anonymous view of the post with this id.
    pub fn post_by_id(id: i64) -> Self {
        Self(format!("post:id:{id}"))
    }

    /// The tags in use.
    pub fn tags() -> Self {
        Self("tags".to_owned())
    }

    /// The anonymous view of a profile, by the username's case-insensitive key.
    pub fn profile(username_key: &str) -> Self {
        Self(format!("profile:{username_key}"))
    }

    /// A page of the public list, optionally by one tag or one author (by username key).
    pub fn posts(tag: Option<&str>, author_key: Option<&str>, page: PageRequest) -> Self {
        Self(format!(
            "posts:{}:{}:tag={}:author={}",
            page.limit,
            page.offset,
            tag.unwrap_or(""),
            author_key.unwrap_or("")
        ))
    }

    /// A contract's rendered response to an anonymous request, by what identifies it (method,
    /// path, query, and the representation asked for).
    pub fn rendered(request: &str) -> Self {
        Self(format!("http:{request}"))
    }

    /// Whether this names a rendered response: kept in the process only, since the next
    /// instance renders its own as cheaply as it would read one from elsewhere.
    pub fn is_rendered(&self) -> bool {
        self.0.starts_with("http:")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A surrogate key: something an entry shows, by which it is invalidated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheTag(String);

impl CacheTag {
    /// A post (its content, status and favorites count).
    pub fn post(id: i64) -> Self {
        Self(format!("post:{id}"))
    }

    /// A user as others see them: their profile, and their posts' author block.
    pub fn user(id: i64) -> Self {
        Self(format!("user:{id}"))
    }

    /// The public list of every published post: a new post joins it.
    pub fn all_posts() -> Self {
        Self("posts".to_owned())
    }

    /// The public list of published posts with this tag.
    pub fn posts_tagged(tag: &str) -> Self {
        Self(format!("posts:tag:{tag}"))
    }

    /// Every list by tag: a post's update that changed its tags names only the tags it has
    /// now, so the lists of the tags it lost go by this.
    pub fn tag_lists() -> Self {
        Self("posts:tags".to_owned())
    }

    /// The public list of this author's published posts.
    pub fn posts_by(author: i64) -> Self {
        Self(format!("posts:author:{author}"))
    }

    /// The list of tags in use.
    pub fn tags() -> Self {
        Self("tags".to_owned())
    }

    /// The comments on a post.
    pub fn comments_on(post: i64) -> Self {
        Self(format!("comments:post:{post}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A tag read back by its name from where a cache stored it.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }
}

/// A cached read model. Cheap to clone: the value is shared.
#[derive(Debug, Clone)]
pub enum CacheEntry {
    Post(Arc<Post>),
    Page(Arc<PostPage>),
    Tags(Arc<Vec<TagName>>),
    Profile(Arc<Profile>),
    Rendered(Arc<Rendered>),
}

/// A response rendered once for every anonymous reader of a shared view: a contract's
/// serialized representation, with the headers its handler set (media type, validator, `Vary`).
#[derive(Debug)]
pub struct Rendered {
    /// Header names and values, as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The route template that rendered it (`/api/articles/{slug}`), for the log line and
    /// metrics of a request it answers.
    pub route: Option<Arc<str>>,
    /// The transport's own form of `headers`, made when it was rendered so that serving it
    /// parses nothing (an HTTP header map, say); empty where the transport keeps none.
    pub prepared: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// What a load found, with the tags of everything it shows and when it was read. Cheap to
/// clone: the parts are shared.
#[derive(Debug, Clone)]
pub struct Cacheable {
    pub entry: CacheEntry,
    pub shown: SharedView,
}

/// What a shared view depends on: the tags of everything it shows, by which it goes stale (an
/// HTTP response's surrogate keys), and when it was read from storage, after which nothing it
/// shows changed while it stays valid (an HTTP response's `Last-Modified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedView {
    pub tags: Arc<[CacheTag]>,
    pub as_of: Timestamp,
}

impl SharedView {
    /// `tags`, sorted and without repeats, read at `as_of`.
    pub fn new(mut tags: Vec<CacheTag>, as_of: Timestamp) -> Self {
        tags.sort();
        tags.dedup();
        Self {
            tags: tags.into(),
            as_of,
        }
    }

    /// The tags of a post as anyone sees it: itself and its author.
    pub fn post_tags(post: &Post) -> Vec<CacheTag> {
        vec![
            CacheTag::post(post.id.get()),
            CacheTag::user(post.author.id.get()),
        ]
    }

    /// The tags of a page of the list named by `lists`: the lists, and every post on it and
    /// its author.
    pub fn page_tags(page: &PostPage, lists: &[CacheTag]) -> Vec<CacheTag> {
        let mut tags = lists.to_vec();
        for post in &page.posts {
            tags.extend(Self::post_tags(post));
        }
        tags
    }
}

/// A read's result with what a shared copy of it depends on: `shared` is `None` when the value
/// is not the same for everyone (a draft, a list of one reader's favorites), so no shared
/// cache may keep it.
#[derive(Debug, Clone)]
pub struct Shown<T> {
    pub value: T,
    pub shared: Option<SharedView>,
}

impl<T> Shown<T> {
    /// A value only its reader may keep.
    pub fn personal(value: T) -> Self {
        Self {
            value,
            shared: None,
        }
    }

    pub fn into_value(self) -> T {
        self.value
    }
}

impl Cacheable {
    /// A published post, read at `as_of`.
    pub fn post(post: Post, as_of: Timestamp) -> Self {
        let shown = SharedView::new(SharedView::post_tags(&post), as_of);
        Self {
            entry: CacheEntry::Post(Arc::new(post)),
            shown,
        }
    }

    /// A page of a list named by `lists`, read at `as_of`.
    pub fn page(page: PostPage, lists: &[CacheTag], as_of: Timestamp) -> Self {
        let shown = SharedView::new(SharedView::page_tags(&page, lists), as_of);
        Self {
            entry: CacheEntry::Page(Arc::new(page)),
            shown,
        }
    }
}

/// A read to run on a miss: `Ok(None)` when there is nothing to cache (not found, or not
/// shareable), which is not cached.
pub type Load<'a> = BoxFuture<'a, Result<Option<Cacheable>>>;

/// A cache of shared read models, cache-aside.
pub trait Cache: Send + Sync {
    /// The valid entry under `key`, or else what a load (`load()`, a read of storage) finds,
    /// kept for the next reader unless one of its tags was invalidated while it loaded.
    /// Concurrent misses of one key in one process run one load and share its result (single
    /// flight); a reader that shared a load overtaken by an invalidation loads again.
    ///
    /// # Errors
    /// The load's error, unchanged; the cache's own trouble is never an error (it loads).
    fn fetch<'a>(
        &'a self,
        key: CacheKey,
        load: &'a (dyn Fn() -> Load<'a> + Send + Sync),
    ) -> BoxFuture<'a, Result<Option<Cacheable>>>;

    /// Makes every entry showing one of `tags` invalid, at once in this process.
    fn invalidate(&self, tags: &[CacheTag]);

    /// Resolves once the invalidations this process made so far are seen by every instance
    /// that shares the cache, or could not be (bounded by the cache's own timeouts): a
    /// write waits for it before it returns, so its writer reads it fresh anywhere. A cache
    /// of this process alone is settled at once.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }

    /// Which cache this is (`memory`, `redis`, `off`), for logs and metrics.
    fn name(&self) -> &'static str;

    /// Whether the cache works fully, for readiness: a degraded cache still answers every
    /// read (from the database), so it never makes the process unready. A cache with a
    /// dependency asks it (within its call timeout).
    fn health(&self) -> BoxFuture<'_, CacheHealth> {
        Box::pin(std::future::ready(CacheHealth::Up))
    }
}

/// A cache's health, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHealth {
    Up,
    /// Working around a dependency that is down, with the reason.
    Degraded(&'static str),
}

/// No cache: every read loads. For tests that count statements and for `QUIRE_CACHE=off`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

impl Cache for NoCache {
    fn fetch<'a>(
        &'a self,
        _key: CacheKey,
        load: &'a (dyn Fn() -> Load<'a> + Send + Sync),
    ) -> BoxFuture<'a, Result<Option<Cacheable>>> {
        Box::pin(load())
    }

    fn invalidate(&self, _tags: &[CacheTag]) {}

    fn name(&self) -> &'static str {
        "off"
    }
}

/// Invalidates what committed events make stale, in one step.
pub fn invalidate_events(cache: &dyn Cache, events: &[Event]) {
    let mut tags: Vec<CacheTag> = events
        .iter()
        .flat_map(|event| tags_of(&event.kind))
        .collect();
    tags.sort();
    tags.dedup();
    cache.invalidate(&tags);
}

/// How many of this process's own events are remembered so that hearing them again from the
/// stream does not invalidate twice (which would throw away loads begun after the commit).
const REMEMBERED_OWN_EVENTS: usize = 4096;

/// The cache with its invalidation: on this process's own commits (the storage's commit
/// hook), so a write's own next read and every later read here is fresh; and on events heard
/// from the stream, the writes of other instances.
pub struct Caching {
    cache: Arc<dyn Cache>,
    /// The ids of the latest events committed here.
    own: std::sync::Mutex<RecentIds>,
}

impl std::fmt::Debug for Caching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caching")
            .field("cache", &self.cache.name())
            .finish_non_exhaustive()
    }
}

impl Caching {
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        Self {
            cache,
            own: std::sync::Mutex::new(RecentIds::new(REMEMBERED_OWN_EVENTS)),
        }
    }

    pub fn cache(&self) -> &dyn Cache {
        self.cache.as_ref()
    }

    /// Invalidates what an event heard from the stream makes stale, unless this process
    /// committed it (and invalidated then).
    pub fn heard(&self, event: &Event) {
        let own = self
            .own
            .lock()
            .map(|own| own.contains(&event.id))
            .unwrap_or(false);
        if !own {
            invalidate_events(self.cache(), std::slice::from_ref(event));
        }
    }
}

impl CommitListener for Caching {
    fn committed(&self, events: &[Event]) {
        invalidate_events(self.cache(), events);
        if let Ok(mut own) = self.own.lock() {
            for event in events {
                own.insert(&event.id);
            }
        }
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        self.cache.settled()
    }
}

/// The tags whose entries an event makes stale. Follows change nothing an anonymous view
/// shows, so they invalidate nothing.
pub fn tags_of(event: &DomainEvent) -> Vec<CacheTag> {
    use DomainEvent as E;
    match event {
        E::PostCreated(post)
        | E::PostPublished(post)
        | E::PostUnpublished(post)
        | E::PostDeleted(post) => post_tags(post),
        E::PostUpdated(update) => {
            let mut tags = post_tags(&update.post);
            if update.changed.iter().any(|field| field == "tags") {
                tags.push(CacheTag::tag_lists());
            }
            tags
        }
        E::Favorited(favorite) | E::Unfavorited(favorite) => {
            vec![CacheTag::post(favorite.post_id)]
        }
        E::UserRegistered(user)
        | E::UserUpdated(user)
        | E::UserRolesChanged(user)
        | E::UserDeactivated(user) => vec![CacheTag::user(user.id)],
        E::CommentAdded(comment) | E::CommentDeleted(comment) => {
            vec![CacheTag::comments_on(comment.post_id)]
        }
        E::Followed(_) | E::Unfollowed(_) | E::AuditRecorded(_) => Vec::new(),
    }
}

/// A post's own tag, and the lists it is (or was, or now is) on. Lists it left show it, so
/// they carry its own tag; the lists named here are the ones it may have joined.
fn post_tags(post: &crate::events::PostData) -> Vec<CacheTag> {
    let mut tags = vec![
        CacheTag::post(post.id),
        CacheTag::all_posts(),
        CacheTag::posts_by(post.author_id),
        CacheTag::tags(),
    ];
    tags.extend(post.tags.iter().map(|tag| CacheTag::posts_tagged(tag)));
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{FavoriteData, FollowData, PostData, PostUpdatedData, UserData};

    fn post() -> PostData {
        PostData {
            id: 7,
            slug: "hello".to_owned(),
            title: "Hello".to_owned(),
            author_id: 3,
            language: None,
            tags: vec!["rust".to_owned(), "db".to_owned()],
            status: "published".to_owned(),
            published_at: None,
        }
    }

    fn names(tags: Vec<CacheTag>) -> Vec<String> {
        let mut names: Vec<String> = tags.into_iter().map(|tag| tag.0).collect();
        names.sort();
        names
    }

    #[test]
    fn a_post_change_stales_the_post_its_lists_and_the_tag_list() {
        let expected = [
            "post:7",
            "posts",
            "posts:author:3",
            "posts:tag:db",
            "posts:tag:rust",
            "tags",
        ];
        assert_eq!(
            names(tags_of(&DomainEvent::PostPublished(post()))),
            expected
        );
        let update = PostUpdatedData {
            post: post(),
            changed: vec!["title".to_owned()],
            previous_slug: Some("old".to_owned()),
        };
        assert_eq!(names(tags_of(&DomainEvent::PostUpdated(update))), expected);
        // Tags it lost are not in the event: every tag's list goes.
        let update = PostUpdatedData {
            post: post(),
            changed: vec!["tags".to_owned()],
            previous_slug: None,
        };
        let mut with_tag_lists: Vec<&str> = expected.to_vec();
        with_tag_lists.push("posts:tags");
        with_tag_lists.sort_unstable();
        assert_eq!(
            names(tags_of(&DomainEvent::PostUpdated(update))),
            with_tag_lists
        );
        assert_eq!(names(tags_of(&DomainEvent::PostDeleted(post()))), expected);
    }

    #[test]
    fn a_favorite_stales_the_post_and_a_profile_change_the_user() {
        let favorite = FavoriteData {
            user_id: 1,
            post_id: 7,
        };
        assert_eq!(
            names(tags_of(&DomainEvent::Favorited(favorite))),
            ["post:7"]
        );
        let user = UserData {
            id: 3,
            username: "jake".to_owned(),
            roles: Vec::new(),
            active: true,
        };
        assert_eq!(names(tags_of(&DomainEvent::UserUpdated(user))), ["user:3"]);
        let follow = FollowData {
            follower_id: 1,
            followee_id: 3,
        };
        assert!(tags_of(&DomainEvent::Followed(follow)).is_empty());
        let comment = crate::events::CommentData {
            id: 5,
            post_id: 7,
            author_id: 1,
            body: None,
        };
        assert_eq!(
            names(tags_of(&DomainEvent::CommentDeleted(comment))),
            ["comments:post:7"]
        );
    }

    #[test]
    fn a_page_is_tagged_by_its_list_and_everything_on_it() {
        let page = PostPage {
            posts: Vec::new(),
            total: 0,
        };
        let cached = Cacheable::page(
            page,
            &[CacheTag::tag_lists(), CacheTag::posts_tagged("rust")],
            Timestamp::from_millis(0),
        );
        assert_eq!(
            names(cached.shown.tags.to_vec()),
            ["posts:tag:rust", "posts:tags"]
        );
    }
}
