//! `Post`, and the Relay-style connection that pages through posts.

use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use quire_core::model::{CommentWindow, KeysetPage, Post, PostBody, PostStatus, Rendering};
use quire_core::paging::{self, CommentCursor, Cursor};
use quire_core::ports::Store;
use quire_core::service::PostAddress;
use quire_core::{Error, Resource};

use super::comment::CommentConnection;
use super::{UserNode, cost, page_size};
use crate::context::ContextExt;
use crate::error::{OrGraphql, graphql_error};
use crate::loaders::Loaders;

/// A post; shared, since a page hands the same post to its edge and its node.
pub struct PostNode<S> {
    post: Arc<Post>,
    _store: PhantomData<fn() -> S>,
}

impl<S: Store> PostNode<S> {
    pub fn new(post: impl Into<Arc<Post>>) -> Self {
        Self {
            post: post.into(),
            _store: PhantomData,
        }
    }
}

/// Whether a post is public.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "PostStatus")]
pub enum PostStatusValue {
    Draft,
    Published,
}

impl From<PostStatus> for PostStatusValue {
    fn from(status: PostStatus) -> Self {
        match status {
            PostStatus::Draft => Self::Draft,
            PostStatus::Published => Self::Published,
        }
    }
}

impl PostStatusValue {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => PostStatus::Draft.as_str(),
            Self::Published => PostStatus::Published.as_str(),
        }
    }
}

/// A post's place in a named series, and the series' contents: the same author's published
/// posts of that name in the post's language, in order.
pub struct Series<S> {
    post: Arc<Post>,
    name: String,
    position: i64,
    /// Read once, for whichever of `posts`, `previous` and `next` asks first.
    contents: tokio::sync::OnceCell<Option<quire_core::model::SeriesContents>>,
    _store: PhantomData<fn() -> S>,
}

impl<S: Store> Series<S> {
    async fn contents(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<&quire_core::model::SeriesContents>> {
        let contents = self
            .contents
            .get_or_try_init(|| async {
                ctx.quire::<S>()?
                    .series_of(self.post.id, ctx.viewer())
                    .await
                    .or_graphql()
            })
            .await?;
        Ok(contents.as_ref())
    }
}

#[Object]
impl<S: Store> Series<S> {
    async fn name(&self) -> &str {
        &self.name
    }

    /// The post's own place.
    async fn position(&self) -> i64 {
        self.position
    }

    /// The published posts of the series, in order.
    async fn posts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PostLink>> {
        Ok(self
            .contents(ctx)
            .await?
            .map(|series| series.posts.iter().map(PostLink::from).collect())
            .unwrap_or_default())
    }

    /// The post before this one in the series.
    async fn previous(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PostLink>> {
        Ok(self
            .contents(ctx)
            .await?
            .and_then(|series| series.previous.as_ref().map(PostLink::from)))
    }

    /// The post after this one in the series.
    async fn next(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PostLink>> {
        Ok(self
            .contents(ctx)
            .await?
            .and_then(|series| series.next.as_ref().map(PostLink::from)))
    }
}

/// Another post, as a link to it: in a series, or a translation.
#[derive(SimpleObject)]
pub struct PostLink {
    pub id: ID,
    pub slug: String,
    pub title: String,
    /// BCP 47.
    pub language: Option<String>,
    /// Its place in its series.
    pub position: Option<i64>,
}

impl From<&quire_core::model::PostLink> for PostLink {
    fn from(link: &quire_core::model::PostLink) -> Self {
        Self {
            id: ID(link.id.get().to_string()),
            slug: link.slug.as_str().to_owned(),
            title: link.title.as_str().to_owned(),
            language: link.language.clone(),
            position: link.position,
        }
    }
}

/// One heading of a post's rendered body.
#[derive(SimpleObject)]
pub struct TocEntry {
    /// 1 to 6.
    pub level: i32,
    /// The heading's `id` in `contentHtml`, to link to as `#id`.
    pub id: String,
    /// Plain text: escape it where it is put into HTML.
    pub title: String,
}

impl<S: Store> PostNode<S> {
    /// The body as read on its own, when the post came from a list (batched per request).
    async fn body(&self, ctx: &Context<'_>) -> async_graphql::Result<Arc<PostBody>> {
        ctx.data::<Loaders<S>>()?
            .bodies
            .load_one(self.post.id)
            .await
            .or_graphql()?
            .ok_or_else(|| graphql_error(&Error::NotFound(Resource::Post)))
    }

    async fn rendering(&self, ctx: &Context<'_>) -> async_graphql::Result<Rendering> {
        if let Some(rendering) = self.post.rendering() {
            return Ok(rendering.into_owned());
        }
        Ok(self.body(ctx).await?.rendering().into_owned())
    }
}

#[Object(name = "Post")]
impl<S: Store> PostNode<S> {
    async fn id(&self) -> ID {
        ID(self.post.id.get().to_string())
    }

    async fn slug(&self) -> &str {
        self.post.slug.as_str()
    }

    async fn title(&self) -> &str {
        self.post.title.as_str()
    }

    async fn description(&self) -> &str {
        self.post.description.as_str()
    }

    /// The Markdown body.
    async fn content(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        if let Some(body) = &self.post.body {
            return Ok(body.as_str().to_owned());
        }
        Ok(self.body(ctx).await?.body.as_str().to_owned())
    }

    /// The body rendered for reading: sanitized HTML, with no script, event handler or
    /// `javascript:` URL.
    async fn content_html(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.rendering(ctx).await?.html)
    }

    /// The body's headings, in order.
    async fn toc(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TocEntry>> {
        Ok(self
            .rendering(ctx)
            .await?
            .toc
            .into_iter()
            .map(|entry| TocEntry {
                level: i32::from(entry.level),
                id: entry.id,
                title: entry.title,
            })
            .collect())
    }

    /// Minutes to read the body, rounded up.
    async fn reading_minutes(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let minutes = self.rendering(ctx).await?.reading_minutes;
        Ok(i32::try_from(minutes).unwrap_or(i32::MAX))
    }

    async fn tags(&self) -> Vec<&str> {
        self.post
            .tags
            .as_slice()
            .iter()
            .map(|tag| tag.as_str())
            .collect()
    }

    async fn author(&self) -> UserNode<S> {
        UserNode::profile(self.post.author.clone())
    }

    /// Its comments, oldest first: a Relay connection.
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<CommentConnection<S>> {
        let after =
            paging::parse_after("after", after.as_deref(), CommentCursor::parse).or_graphql()?;
        let size = page_size(first)?;
        let page = if after.is_none() {
            // First pages are batch-loaded: the comments of a page of posts are one statement.
            ctx.data::<Loaders<S>>()?
                .comments
                .load_one((self.post.id, size))
                .await
                .or_graphql()?
                .unwrap_or_default()
        } else {
            ctx.quire::<S>()?
                .comments(
                    PostAddress::Id(self.post.id),
                    CommentWindow::after(size, after),
                    ctx.viewer(),
                )
                .await
                .or_graphql()?
        };
        Ok(CommentConnection::new(page))
    }

    async fn favorites_count(&self) -> i64 {
        self.post.favorites_count
    }

    /// Whether the viewer has favorited it; false when anonymous.
    async fn favorited(&self) -> bool {
        self.post.favorited
    }

    async fn status(&self) -> PostStatusValue {
        self.post.status.into()
    }

    /// BCP 47 tag of the text's language.
    async fn language(&self) -> Option<&str> {
        self.post.meta.language.as_deref()
    }

    async fn category(&self) -> Option<&str> {
        self.post.meta.category.as_deref()
    }

    async fn series(&self) -> Option<Series<S>> {
        self.post.meta.series.as_ref().map(|series| Series {
            post: Arc::clone(&self.post),
            name: series.name.clone(),
            position: series.position,
            contents: tokio::sync::OnceCell::new(),
            _store: PhantomData,
        })
    }

    /// The post's published versions in other languages, by language.
    async fn translations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PostLink>> {
        if self.post.meta.translation_group.is_none() {
            return Ok(Vec::new());
        }
        let links = ctx
            .quire::<S>()?
            .translations_of(self.post.id, ctx.viewer())
            .await
            .or_graphql()?;
        Ok(links.iter().map(PostLink::from).collect())
    }

    /// Posts that translate one another share this number.
    async fn translation_group(&self) -> Option<ID> {
        self.post
            .meta
            .translation_group
            .map(|group| ID(group.to_string()))
    }

    /// Null for drafts.
    async fn published_at(&self) -> Option<String> {
        self.post.published_at.map(|at| at.to_rfc3339())
    }

    /// When a scheduled draft will be published; null when it is not scheduled.
    async fn publish_at(&self) -> Option<String> {
        self.post.publish_at.map(|at| at.to_rfc3339())
    }

    async fn created_at(&self) -> String {
        self.post.created_at.to_rfc3339()
    }

    async fn updated_at(&self) -> String {
        self.post.updated_at.to_rfc3339()
    }
}

/// Where a page that starts after `post` starts: its place in the order lists use (publish
/// time, or creation time for drafts, then id).
fn cursor_of(post: &Post) -> String {
    Cursor {
        at: post.published_at.unwrap_or(post.created_at),
        id: post.id,
    }
    .encode()
}

pub struct PostEdge<S> {
    node: PostNode<S>,
}

#[Object(name = "PostEdge")]
impl<S: Store> PostEdge<S> {
    /// Where the page after this post starts.
    async fn cursor(&self) -> String {
        cursor_of(&self.node.post)
    }

    async fn node(&self) -> &PostNode<S> {
        &self.node
    }
}

/// Where a page starts and ends, and whether pages lie beyond it (Relay's cursor connections
/// specification). Lists page forward only, so `hasPreviousPage` is always false.
#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    /// The first edge's cursor; null for an empty page.
    pub start_cursor: Option<String>,
    /// The last edge's cursor, to pass as `after` for the next page; null for an empty page.
    pub end_cursor: Option<String>,
}

pub struct PostConnection<S> {
    posts: Vec<Arc<Post>>,
    next: Option<Cursor>,
    total: Option<u64>,
    _store: PhantomData<fn() -> S>,
}

impl<S: Store> PostConnection<S> {
    pub fn new(page: KeysetPage) -> Self {
        Self {
            posts: page.posts.into_iter().map(Arc::new).collect(),
            next: page.next,
            total: page.total,
            _store: PhantomData,
        }
    }
}

#[Object(name = "PostConnection")]
impl<S: Store> PostConnection<S> {
    async fn edges(&self) -> Vec<PostEdge<S>> {
        self.posts
            .iter()
            .map(|post| PostEdge {
                node: PostNode::new(Arc::clone(post)),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<PostNode<S>> {
        self.posts
            .iter()
            .map(|post| PostNode::new(Arc::clone(post)))
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.next.is_some(),
            has_previous_page: false,
            start_cursor: self.posts.first().map(|post| cursor_of(post)),
            end_cursor: self.posts.last().map(|post| cursor_of(post)),
        }
    }

    /// How many posts match in all.
    async fn total_count(&self) -> Option<u64> {
        self.total
    }
}

/// One search result: the post, its score and a passage of its body.
pub struct SearchHitNode<S> {
    node: PostNode<S>,
    score: f64,
    snippet: Option<String>,
}

impl<S: Store> SearchHitNode<S> {
    pub fn new(hit: quire_core::service::SearchHit) -> Self {
        Self {
            node: PostNode::new(hit.post),
            score: hit.score,
            snippet: hit.snippet,
        }
    }
}

#[Object(name = "SearchHit")]
impl<S: Store> SearchHitNode<S> {
    /// The post, as lists show it (without its body).
    async fn post(&self) -> &PostNode<S> {
        &self.node
    }

    /// BM25; higher is better, comparable within one search only.
    async fn score(&self) -> f64 {
        self.score
    }

    /// A passage of the body as HTML: escaped text, the matching words in `<mark>`, `…` where
    /// it was cut. Null when only the title or description matched.
    async fn snippet(&self) -> Option<&str> {
        self.snippet.as_deref()
    }
}
