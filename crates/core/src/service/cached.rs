//! The anonymous reads served through the cache (`crate::cache`): one entry per question,
//! loaded from storage on a miss.

use super::Quire;
use crate::cache::{CacheEntry, CacheKey, CacheTag, Cacheable, Load};
use crate::error::{Error, Result};
use crate::ids::PostId;
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
    async fn fetch(&self, key: CacheKey, load: Load<'_>) -> Result<Option<CacheEntry>> {
        self.adapters.cache.cache().fetch(key, load).await
    }

    /// The anonymous view of a published post, by slug or id.
    pub(super) async fn public_post(&self, lookup: PostLookup<'_>) -> Result<Option<Post>> {
        let key = match lookup {
            PostLookup::Slug(slug) => CacheKey::post_by_slug(slug.as_str()),
            PostLookup::Id(id) => CacheKey::post_by_id(id.get()),
        };
        let load: Load<'_> = Box::pin(async move {
            let found = match lookup {
                PostLookup::Slug(slug) => self.store.post_by_slug(slug, None).await?,
                PostLookup::Id(id) => self.store.post(id, None).await?,
            };
            Ok(found
                .filter(|post| policy::may_read_post(None, post.author.id, post.status))
                .map(Cacheable::post))
        });
        match self.fetch(key, load).await? {
            None => Ok(None),
            Some(CacheEntry::Post(post)) => Ok(Some(Post::clone(&post))),
            Some(other) => Err(mismatch(&other)),
        }
    }

    /// A page of the public list as an anonymous viewer sees it; the first pages, by tag or
    /// author or neither, come from the cache.
    pub(super) async fn public_page(
        &self,
        filter: &PostFilter,
        page: PageRequest,
    ) -> Result<PostPage> {
        let cacheable = filter.favorited_by.is_none()
            && filter.followed_by.is_none()
            && filter.language.is_none()
            && filter.author_id.is_none()
            && !filter.drafts
            && !(filter.tag.is_some() && filter.author.is_some())
            && page.limit <= CACHED_PAGE_LIMIT
            && page.offset <= CACHED_PAGE_OFFSET;
        if !cacheable {
            return self.store.list_posts(filter, page, None).await;
        }
        let author_key = filter.author.as_ref().map(Username::key);
        let key = CacheKey::posts(
            filter.tag.as_ref().map(TagName::as_str),
            author_key.as_deref(),
            page,
        );
        let load: Load<'_> = Box::pin(async move {
            let found = self.store.list_posts(filter, page, None).await?;
            let list = match (&filter.tag, &filter.author) {
                (Some(tag), _) => CacheTag::posts_tagged(tag.as_str()),
                (None, Some(_)) => match found.posts.first() {
                    Some(post) => CacheTag::posts_by(post.author.id.get()),
                    // Nobody to name the list by: a first post would not invalidate it.
                    None => return Ok(None),
                },
                (None, None) => CacheTag::all_posts(),
            };
            Ok(Some(Cacheable::page(found, list)))
        });
        match self.fetch(key, load).await? {
            Some(CacheEntry::Page(page)) => Ok(PostPage::clone(&page)),
            Some(other) => Err(mismatch(&other)),
            // Not kept (an author without posts): read as any page.
            None => self.store.list_posts(filter, page, None).await,
        }
    }

    /// The tags in use, most used first.
    pub(super) async fn public_tags(&self) -> Result<Vec<TagName>> {
        let load: Load<'_> = Box::pin(async move {
            let tags = self.store.tags().await?;
            Ok(Some(Cacheable {
                entry: CacheEntry::Tags(std::sync::Arc::new(tags)),
                tags: vec![CacheTag::tags()],
            }))
        });
        match self.fetch(CacheKey::tags(), load).await? {
            Some(CacheEntry::Tags(tags)) => Ok(Vec::clone(&tags)),
            Some(other) => Err(mismatch(&other)),
            None => Err(Error::internal("the tag list loaded as nothing")),
        }
    }

    /// A profile as an anonymous viewer sees it.
    pub(super) async fn public_profile(&self, username: &Username) -> Result<Option<Profile>> {
        let load: Load<'_> = Box::pin(async move {
            Ok(self
                .store
                .profile(username, None)
                .await?
                .map(|profile| Cacheable {
                    tags: vec![CacheTag::user(profile.id.get())],
                    entry: CacheEntry::Profile(std::sync::Arc::new(profile)),
                }))
        });
        match self.fetch(CacheKey::profile(&username.key()), load).await? {
            None => Ok(None),
            Some(CacheEntry::Profile(profile)) => Ok(Some(Profile::clone(&profile))),
            Some(other) => Err(mismatch(&other)),
        }
    }
}

/// An entry of another kind than its key names: a bug in the keys, not the reader's fault.
fn mismatch(entry: &CacheEntry) -> Error {
    let kind = match entry {
        CacheEntry::Post(_) => "post",
        CacheEntry::Page(_) => "page",
        CacheEntry::Tags(_) => "tags",
        CacheEntry::Profile(_) => "profile",
    };
    Error::internal(format!(
        "a cache entry of the wrong kind ({kind}) under its key"
    ))
}
