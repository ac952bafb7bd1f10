//! The reads served through the cache (`crate::cache`): one shared entry per question,
//! loaded from storage on a miss, with each signed-in viewer's own marks (favorited,
//! following) read separately, so that no viewer's state reaches another.

use super::Quire;
use crate::cache::{CacheEntry, CacheKey, CacheTag, Cacheable, Load, SharedView, Shown};
use crate::error::{Error, Result};
use crate::ids::{PostId, UserId};
use crate::model::{PageRequest, Post, PostFilter, PostPage, Profile};
use crate::policy;
use crate::ports::Store;
use crate::values::{Slug, TagName, Username};

/// How many posts a list page may hold to be cached: the first pages people and crawlers hit.
const CACHED_PAGE_LIMIT: u32 = 100;
/// Pages past this offset are read from storage every time.
const CACHED_PAGE_OFFSET: u64 = 100;

/// How a post is asked for.
#[derive(Clone, Copy)]
pub(super) enum PostLookup<'a> {
    Slug(&'a Slug),
    Id(PostId),
}

impl<S: Store> Quire<S> {
    async fn fetch<'a>(
        &'a self,
        key: CacheKey,
        load: &'a (dyn Fn() -> Load<'a> + Send + Sync),
    ) -> Result<Option<Cacheable>> {
        self.adapters.cache.cache().fetch(key, load).await
    }

    /// A post as `viewer` sees it (not found: `None`), by slug or id. A published post's
    /// shared view comes from the cache, with the viewer's own marks added (one statement);
    /// on a miss the viewer's read also fills the cache, its marks cleared.
    pub(super) async fn viewed_post(
        &self,
        lookup: PostLookup<'_>,
        viewer: Option<UserId>,
    ) -> Result<Option<Shown<Post>>> {
        let key = match lookup {
            PostLookup::Slug(slug) => CacheKey::post_by_slug(slug.as_str()),
            PostLookup::Id(id) => CacheKey::post_by_id(id.get()),
        };
        let own = Own::default();
        let own = &own;
        let load = move || -> Load<'_> {
            Box::pin(async move {
                let found = match lookup {
                    PostLookup::Slug(slug) => self.store.post_by_slug(slug, viewer).await?,
                    PostLookup::Id(id) => self.store.post(id, viewer).await?,
                };
                let Some(post) = found else { return Ok(None) };
                let shared = policy::may_read_post(None, post.author.id, post.status)
                    .then(|| Cacheable::post(unmarked(post.clone()), self.adapters.clock.now()));
                own.keep(Shown {
                    value: post,
                    shared: shared.as_ref().map(|found| found.shown.clone()),
                });
                Ok(shared)
            })
        };
        let found = self.fetch(key, &load).await?;
        if let Some(post) = own.take() {
            return Ok(Some(post));
        }
        match (found, viewer) {
            (
                Some(Cacheable {
                    entry: CacheEntry::Post(shared),
                    shown,
                }),
                viewer,
            ) => {
                let mut post = Post::clone(&shared);
                if let Some(viewer) = viewer {
                    self.mark_for(viewer, std::slice::from_mut(&mut post))
                        .await?;
                }
                Ok(Some(Shown {
                    value: post,
                    shared: Some(shown),
                }))
            }
            (Some(other), _) => Err(mismatch(&other.entry)),
            (None, None) => Ok(None),
            // Another reader's load found nothing to share: it may be a draft this viewer
            // may see.
            (None, Some(viewer)) => Ok(match lookup {
                PostLookup::Slug(slug) => self.store.post_by_slug(slug, Some(viewer)).await?,
                PostLookup::Id(id) => self.store.post(id, Some(viewer)).await?,
            }
            .map(Shown::personal)),
        }
    }

    /// A page of the public list as `viewer` sees it. The first pages, by tag or author or
    /// neither, come from the cache with the viewer's marks added (one statement); on a miss
    /// the viewer's read also fills the cache, its marks cleared. Other pages (further on, by
    /// favoriting user, the feed) are read from storage.
    pub(super) async fn viewed_page(
        &self,
        filter: &PostFilter,
        page: PageRequest,
        viewer: Option<UserId>,
    ) -> Result<Shown<PostPage>> {
        let cacheable = filter.favorited_by.is_none()
            && filter.followed_by.is_none()
            && filter.language.is_none()
            && filter.author_id.is_none()
            && !filter.drafts
            && !(filter.tag.is_some() && filter.author.is_some())
            && page.limit <= CACHED_PAGE_LIMIT
            && page.offset <= CACHED_PAGE_OFFSET;
        if !cacheable {
            let found = self.store.list_posts(filter, page, viewer).await?;
            let shared = lists_of(filter, &found).map(|lists| {
                SharedView::new(
                    SharedView::page_tags(&found, &lists),
                    self.adapters.clock.now(),
                )
            });
            return Ok(Shown {
                value: found,
                shared,
            });
        }
        let author_key = filter.author.as_ref().map(Username::key);
        let key = CacheKey::posts(
            filter.tag.as_ref().map(TagName::as_str),
            author_key.as_deref(),
            page,
        );
        let own = Own::default();
        let own = &own;
        let load = move || -> Load<'_> {
            Box::pin(async move {
                let found = self.store.list_posts(filter, page, viewer).await?;
                let shared = lists_of(filter, &found).map(|lists| {
                    let mut shared = found.clone();
                    shared.posts = shared.posts.into_iter().map(unmarked).collect();
                    Cacheable::page(shared, &lists, self.adapters.clock.now())
                });
                own.keep(Shown {
                    value: found,
                    shared: shared.as_ref().map(|found| found.shown.clone()),
                });
                Ok(shared)
            })
        };
        let found = self.fetch(key, &load).await?;
        if let Some(found) = own.take() {
            return Ok(found);
        }
        match found {
            Some(Cacheable {
                entry: CacheEntry::Page(shared),
                shown,
            }) => {
                let mut found = PostPage::clone(&shared);
                if let Some(viewer) = viewer {
                    self.mark_for(viewer, &mut found.posts).await?;
                }
                Ok(Shown {
                    value: found,
                    shared: Some(shown),
                })
            }
            Some(other) => Err(mismatch(&other.entry)),
            None => Ok(Shown::personal(
                self.store.list_posts(filter, page, viewer).await?,
            )),
        }
    }

    /// Shared posts as `viewer` sees them: their own favorites and follows marked, in one
    /// statement.
    async fn mark_for(&self, viewer: UserId, posts: &mut [Post]) -> Result<()> {
        if posts.is_empty() {
            return Ok(());
        }
        let ids: Vec<PostId> = posts.iter().map(|post| post.id).collect();
        let mut authors: Vec<UserId> = posts.iter().map(|post| post.author.id).collect();
        authors.sort_unstable_by_key(|id| id.get());
        authors.dedup();
        let marks = self.store.viewer_marks(viewer, &ids, &authors).await?;
        for post in posts {
            marks.apply(post);
        }
        Ok(())
    }

    /// The tags in use, most used first.
    pub(super) async fn public_tags(&self) -> Result<Shown<Vec<TagName>>> {
        let load = move || -> Load<'_> {
            Box::pin(async move {
                let tags = self.store.tags().await?;
                Ok(Some(Cacheable {
                    entry: CacheEntry::Tags(std::sync::Arc::new(tags)),
                    shown: SharedView::new(vec![CacheTag::tags()], self.adapters.clock.now()),
                }))
            })
        };
        match self.fetch(CacheKey::tags(), &load).await? {
            Some(Cacheable {
                entry: CacheEntry::Tags(tags),
                shown,
            }) => Ok(Shown {
                value: Vec::clone(&tags),
                shared: Some(shown),
            }),
            Some(other) => Err(mismatch(&other.entry)),
            None => Err(Error::internal("the tag list loaded as nothing")),
        }
    }

    /// A profile as `viewer` sees it: the shared view from the cache, with whether the
    /// viewer follows them (one statement); on a miss the viewer's read fills the cache.
    pub(super) async fn viewed_profile(
        &self,
        username: &Username,
        viewer: Option<UserId>,
    ) -> Result<Option<Shown<Profile>>> {
        let own = Own::default();
        let own = &own;
        let load = move || -> Load<'_> {
            Box::pin(async move {
                let Some(profile) = self.store.profile(username, viewer).await? else {
                    return Ok(None);
                };
                let shared = Cacheable {
                    shown: SharedView::new(
                        vec![CacheTag::user(profile.id.get())],
                        self.adapters.clock.now(),
                    ),
                    entry: CacheEntry::Profile(std::sync::Arc::new(Profile {
                        following: false,
                        ..profile.clone()
                    })),
                };
                own.keep(Shown {
                    value: profile,
                    shared: Some(shared.shown.clone()),
                });
                Ok(Some(shared))
            })
        };
        let found = self
            .fetch(CacheKey::profile(&username.key()), &load)
            .await?;
        if let Some(profile) = own.take() {
            return Ok(Some(profile));
        }
        match found {
            None => Ok(None),
            Some(Cacheable {
                entry: CacheEntry::Profile(shared),
                shown,
            }) => {
                let mut profile = Profile::clone(&shared);
                if let Some(viewer) = viewer {
                    let followed = self.store.followed_among(viewer, &[profile.id]).await?;
                    profile.following = followed.contains(&profile.id);
                }
                Ok(Some(Shown {
                    value: profile,
                    shared: Some(shown),
                }))
            }
            Some(other) => Err(mismatch(&other.entry)),
        }
    }
}

/// The lists a page of the public list is on, by which it goes stale when a post joins:
/// `None` for a list no event names (by favoriting user, by follower, drafts, or by an author
/// with no posts yet, whose id the page does not tell).
fn lists_of(filter: &PostFilter, found: &PostPage) -> Option<Vec<CacheTag>> {
    if filter.favorited_by.is_some() || filter.followed_by.is_some() || filter.drafts {
        return None;
    }
    let mut lists = Vec::new();
    if let Some(tag) = &filter.tag {
        lists.push(CacheTag::posts_tagged(tag.as_str()));
        lists.push(CacheTag::tag_lists());
    }
    if let Some(author) = filter.author_id {
        lists.push(CacheTag::posts_by(author.get()));
    } else if filter.author.is_some() {
        lists.push(CacheTag::posts_by(found.posts.first()?.author.id.get()));
    }
    if lists.is_empty() {
        // All posts, or by language only: every new post is on `posts`.
        lists.push(CacheTag::all_posts());
    }
    Some(lists)
}

/// What a load read for its own reader, viewer marks and all, when this reader's load was
/// the one that ran (single flight runs one of the concurrent loads).
struct Own<T>(std::sync::Mutex<Option<T>>);

impl<T> Default for Own<T> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(None))
    }
}

impl<T> Own<T> {
    fn keep(&self, value: T) {
        if let Ok(mut own) = self.0.lock() {
            *own = Some(value);
        }
    }

    fn take(&self) -> Option<T> {
        self.0.lock().ok().and_then(|mut own| own.take())
    }
}

/// The shared view of a post: nobody's marks.
fn unmarked(mut post: Post) -> Post {
    post.favorited = false;
    post.author.following = false;
    post
}

/// An entry of another kind than its key names: a bug in the keys, not the reader's fault.
fn mismatch(entry: &CacheEntry) -> Error {
    let kind = match entry {
        CacheEntry::Post(_) => "post",
        CacheEntry::Page(_) => "page",
        CacheEntry::Tags(_) => "tags",
        CacheEntry::Profile(_) => "profile",
        CacheEntry::Rendered(_) => "rendered response",
    };
    Error::internal(format!(
        "a cache entry of the wrong kind ({kind}) under its key"
    ))
}
