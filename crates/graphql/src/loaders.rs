//! Batch loaders: the keys a level of the query asks for are gathered and read in one
//! statement (see `quire_core::ports::BatchStore`), so a page of twenty posts costs what a
//! page of one does. Loaders are made per request (they answer as one viewer) and cache
//! nothing across requests.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use quire_core::Error;
use quire_core::ids::{PostId, UserId};
use quire_core::model::{FollowDirection, Post, PostBody, UserView};
use quire_core::paging::{CommentPage, UserPage};
use quire_core::policy::Actor;
use quire_core::ports::Store;
use quire_core::service::Quire;

/// The loaders of one request, as one viewer.
pub struct Loaders<S> {
    pub users: DataLoader<Users<S>>,
    pub follows: DataLoader<Follows<S>>,
    pub bodies: DataLoader<Bodies<S>>,
    pub comments: DataLoader<Comments<S>>,
    pub author_posts: DataLoader<AuthorPosts<S>>,
    pub follow_lists: DataLoader<FollowLists<S>>,
}

impl<S: Store> Loaders<S> {
    pub fn new(quire: &Quire<S>, viewer: Option<Actor>) -> Self {
        let of = |quire: &Quire<S>| Shared {
            quire: quire.clone(),
            viewer,
        };
        Self {
            users: loader(Users(of(quire))),
            follows: loader(Follows(of(quire))),
            bodies: loader(Bodies(of(quire))),
            comments: loader(Comments(of(quire))),
            author_posts: loader(AuthorPosts(of(quire))),
            follow_lists: loader(FollowLists(of(quire))),
        }
    }
}

/// A loader whose batches run as tasks of the current request's span.
fn loader<T: Send + Sync + 'static>(inner: T) -> DataLoader<T> {
    DataLoader::new(inner, |batch| {
        tokio::spawn(tracing::Instrument::in_current_span(batch))
    })
}

/// What every loader holds.
pub struct Shared<S> {
    quire: Quire<S>,
    viewer: Option<Actor>,
}

type Loaded<K, V> = Result<HashMap<K, V>, Arc<Error>>;

/// Users by id, as the viewer may see them.
pub struct Users<S>(Shared<S>);

impl<S: Store> Loader<UserId> for Users<S> {
    type Value = UserView;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[UserId]) -> Loaded<UserId, UserView> {
        let users = self
            .0
            .quire
            .users_by_ids(keys, self.0.viewer.as_ref())
            .await?;
        Ok(users.into_iter().map(|view| (view.user.id, view)).collect())
    }
}

/// Whether the viewer follows each user.
pub struct Follows<S>(Shared<S>);

impl<S: Store> Loader<UserId> for Follows<S> {
    type Value = bool;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[UserId]) -> Loaded<UserId, bool> {
        let Some(viewer) = &self.0.viewer else {
            return Ok(keys.iter().map(|key| (*key, false)).collect());
        };
        let followed = self.0.quire.followed_among(viewer, keys).await?;
        Ok(keys
            .iter()
            .map(|key| (*key, followed.contains(key)))
            .collect())
    }
}

/// Post bodies (lists leave them out).
pub struct Bodies<S>(Shared<S>);

impl<S: Store> Loader<PostId> for Bodies<S> {
    type Value = Arc<PostBody>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[PostId]) -> Loaded<PostId, Arc<PostBody>> {
        let bodies = self
            .0
            .quire
            .post_bodies(keys, self.0.viewer.as_ref())
            .await?;
        Ok(bodies
            .into_iter()
            .map(|(id, body)| (id, Arc::new(body)))
            .collect())
    }
}

/// The first page of each post's comments, oldest first: keyed by post and page size.
pub struct Comments<S>(Shared<S>);

impl<S: Store> Loader<(PostId, u32)> for Comments<S> {
    type Value = CommentPage;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[(PostId, u32)]) -> Loaded<(PostId, u32), CommentPage> {
        // One statement per distinct page size; a query asks for one or two.
        let mut loaded = HashMap::with_capacity(keys.len());
        for size in sizes(keys.iter().map(|(_, size)| *size)) {
            let posts: Vec<PostId> = keys
                .iter()
                .filter(|(_, wanted)| *wanted == size)
                .map(|(post, _)| *post)
                .collect();
            let pages = self
                .0
                .quire
                .comments_of_posts(&posts, size, self.0.viewer.as_ref())
                .await?;
            loaded.extend(pages.into_iter().map(|(post, page)| ((post, size), page)));
        }
        Ok(loaded)
    }
}

/// The distinct page sizes asked for, in order.
fn sizes(asked: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut sizes: Vec<u32> = asked.collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// An author's newest published posts: keyed by author and how many.
pub struct AuthorPosts<S>(Shared<S>);

impl<S: Store> Loader<(UserId, u32)> for AuthorPosts<S> {
    type Value = Vec<Post>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[(UserId, u32)]) -> Loaded<(UserId, u32), Vec<Post>> {
        // One statement per distinct page size; a query asks for one or two.
        let mut loaded = HashMap::with_capacity(keys.len());
        for size in sizes(keys.iter().map(|(_, size)| *size)) {
            let authors: Vec<UserId> = keys
                .iter()
                .filter(|(_, wanted)| *wanted == size)
                .map(|(author, _)| *author)
                .collect();
            let posts = self
                .0
                .quire
                .posts_by_authors(&authors, size, self.0.viewer.as_ref())
                .await?;
            for author in &authors {
                loaded.insert((*author, size), Vec::new());
            }
            for post in posts {
                loaded
                    .entry((post.author.id, size))
                    .or_insert_with(Vec::new)
                    .push(post);
            }
        }
        Ok(loaded)
    }
}

/// The first page of a user's followers (`true`) or followees (`false`): keyed by user,
/// side and page size.
pub struct FollowLists<S>(Shared<S>);

pub type FollowListKey = (UserId, bool, u32);

impl<S: Store> Loader<FollowListKey> for FollowLists<S> {
    type Value = UserPage;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[FollowListKey]) -> Loaded<FollowListKey, UserPage> {
        // One statement per side and page size; a query asks for one or two.
        let mut kinds: Vec<(bool, u32)> =
            keys.iter().map(|(_, side, size)| (*side, *size)).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut loaded: HashMap<FollowListKey, UserPage> = HashMap::new();
        for (followers, size) in kinds {
            let users: Vec<UserId> = keys
                .iter()
                .filter(|(_, side, wanted)| (*side, *wanted) == (followers, size))
                .map(|(user, ..)| *user)
                .collect();
            let direction = if followers {
                FollowDirection::Followers
            } else {
                FollowDirection::Following
            };
            let pages = self
                .0
                .quire
                .follow_lists(&users, direction, size, self.0.viewer.as_ref())
                .await?;
            for (subject, page) in pages {
                loaded.insert((subject, followers, size), page);
            }
        }
        Ok(loaded)
    }
}
