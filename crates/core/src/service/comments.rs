//! Comments on posts.

use super::{PostAddress, Quire};
use crate::cache::{CacheTag, SharedView, Shown};
use crate::error::{Error, Resource, Result};
use crate::events::{CommentData, DomainEvent};
use crate::ids::CommentId;
use crate::model::{Comment, CommentRef, CommentWindow, NewComment, PageRequest};
use crate::paging::CommentPage;
use crate::policy::{self, Actor};
use crate::ports::Store;
use crate::values::CommentBody;

impl<S: Store> Quire<S> {
    /// Adds the actor's comment to a post.
    #[tracing::instrument(skip_all)]
    pub async fn add_comment<'a>(
        &self,
        actor: &Actor,
        post: impl Into<PostAddress<'a>>,
        body: Option<&str>,
    ) -> Result<Comment> {
        let post = self.visible_post(post.into(), Some(actor)).await?;
        if !policy::may_comment(actor) {
            return Err(Error::Forbidden(Resource::Comment));
        }
        let body = CommentBody::parse(body.unwrap_or(""))
            .map_err(|message| Error::invalid("body", message))?;
        let new = NewComment {
            post_id: post.id,
            author_id: actor.user_id,
            body,
            at: self.adapters.clock.now(),
        };
        let record = |id: &CommentId| {
            let data = CommentData::of_new(*id, &new);
            vec![self.event(Some(actor.user_id), DomainEvent::CommentAdded(data))]
        };
        let id = self.store.insert_comment(&new, &record).await?;
        self.store
            .comment(id, Some(actor.user_id))
            .await?
            .ok_or(Error::NotFound(Resource::Comment))
    }

    /// A window of a post's comments, oldest first, and where the next page starts.
    pub async fn comments<'a>(
        &self,
        post: impl Into<PostAddress<'a>>,
        window: CommentWindow,
        viewer: Option<&Actor>,
    ) -> Result<CommentPage> {
        self.comments_shown(post, window, viewer)
            .await
            .map(Shown::into_value)
    }

    /// [`Quire::comments`], with what a shared copy of them depends on: the post, its
    /// comments and the authors shown (none when the post is not published). `window.limit`
    /// is capped at [`PageRequest::MAX_LIMIT`].
    pub async fn comments_shown<'a>(
        &self,
        post: impl Into<PostAddress<'a>>,
        window: CommentWindow,
        viewer: Option<&Actor>,
    ) -> Result<Shown<CommentPage>> {
        let post = self.visible_post(post.into(), viewer).await?;
        let size = window.limit.clamp(1, PageRequest::MAX_LIMIT);
        // One more than the page, to tell whether another follows.
        let fetch = CommentWindow {
            limit: size + 1,
            ..window
        };
        let fetched = self
            .store
            .comments(post.id, fetch, viewer.map(|actor| actor.user_id))
            .await?;
        let page = CommentPage::of(fetched, size);
        let shared = policy::may_read_post(None, post.author_id, post.status).then(|| {
            let mut tags = vec![
                CacheTag::post(post.id.get()),
                CacheTag::comments_on(post.id.get()),
            ];
            tags.extend(
                page.comments
                    .iter()
                    .map(|comment| CacheTag::user(comment.author.id.get())),
            );
            SharedView::new(tags, self.adapters.clock.now())
        });
        Ok(Shown {
            value: page,
            shared,
        })
    }

    /// Deletes a comment of a post.
    #[tracing::instrument(skip_all)]
    pub async fn delete_comment<'a>(
        &self,
        actor: &Actor,
        post: impl Into<PostAddress<'a>>,
        id: &str,
    ) -> Result<()> {
        let post = self.visible_post(post.into(), Some(actor)).await?;
        let not_found = || Error::NotFound(Resource::Comment);
        let id = CommentId::parse(id).ok_or_else(not_found)?;
        let comment = self
            .store
            .comment_ref(id)
            .await?
            .filter(|c| c.post_id == post.id)
            .ok_or_else(not_found)?;
        if !policy::may_delete_comment(actor, comment.author_id) {
            return Err(Error::Forbidden(Resource::Comment));
        }
        self.remove_comment(actor, &comment).await
    }

    /// Deletes a comment the actor may delete, recording `comment.deleted`.
    async fn remove_comment(&self, actor: &Actor, comment: &CommentRef) -> Result<()> {
        let data = CommentData {
            id: comment.id.get(),
            post_id: comment.post_id.get(),
            author_id: comment.author_id.get(),
            body: None,
        };
        let events = [self.event(Some(actor.user_id), DomainEvent::CommentDeleted(data))];
        self.store.delete_comment(comment.id, &events).await
    }

    /// A comment by id, if the viewer may see its post.
    pub async fn comment(&self, id: CommentId, viewer: Option<&Actor>) -> Result<Comment> {
        let not_found = || Error::NotFound(Resource::Comment);
        let found = self.store.comment_ref(id).await?.ok_or_else(not_found)?;
        self.visible_post(PostAddress::Id(found.post_id), viewer)
            .await
            .map_err(|_| not_found())?;
        self.store
            .comment(id, viewer.map(|actor| actor.user_id))
            .await?
            .ok_or_else(not_found)
    }

    /// Deletes a comment addressed by its id alone.
    #[tracing::instrument(skip_all)]
    pub async fn delete_comment_by_id(&self, actor: &Actor, id: CommentId) -> Result<()> {
        let not_found = || Error::NotFound(Resource::Comment);
        let comment = self.store.comment_ref(id).await?.ok_or_else(not_found)?;
        self.visible_post(PostAddress::Id(comment.post_id), Some(actor))
            .await
            .map_err(|_| not_found())?;
        if !policy::may_delete_comment(actor, comment.author_id) {
            return Err(Error::Forbidden(Resource::Comment));
        }
        self.remove_comment(actor, &comment).await
    }
}
