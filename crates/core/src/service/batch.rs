//! Reads by many keys at once, for transports that resolve a graph of entities: each is a
//! fixed number of statements however many keys it gets, and each applies the same policy
//! as the one-at-a-time reads.

use std::collections::HashMap;

use super::Quire;
use crate::error::Result;
use crate::ids::{PostId, UserId};
use crate::model::{Comment, FollowDirection, PageRequest, Post, PostBody, UserView};
use crate::paging::{CommentPage, UserPage};
use crate::policy::{self, Actor};
use crate::ports::Store;

impl<S: Store> Quire<S> {
    /// Users by id, as the viewer may see them; unknown ids are left out.
    pub async fn users_by_ids(
        &self,
        ids: &[UserId],
        viewer: Option<&Actor>,
    ) -> Result<Vec<UserView>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let users = self.store.users_by_ids(ids).await?;
        Ok(users
            .into_iter()
            .map(|user| self.view_of(user, viewer))
            .collect())
    }

    /// Which of `ids` the actor follows.
    pub async fn followed_among(&self, actor: &Actor, ids: &[UserId]) -> Result<Vec<UserId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.store.followed_among(actor.user_id, ids).await
    }

    /// The bodies of the posts the viewer may read, by post id.
    pub async fn post_bodies(
        &self,
        ids: &[PostId],
        viewer: Option<&Actor>,
    ) -> Result<Vec<(PostId, PostBody)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let bodies = self.store.post_bodies(ids).await?;
        Ok(bodies
            .into_iter()
            .filter(|(post, _)| policy::may_read_post(viewer, post.author_id, post.status))
            .map(|(post, body)| (post.id, body))
            .collect())
    }

    /// Each author's newest published posts, at most `per_author` (capped like any page)
    /// each, without bodies.
    pub async fn posts_by_authors(
        &self,
        authors: &[UserId],
        per_author: u32,
        viewer: Option<&Actor>,
    ) -> Result<Vec<Post>> {
        if authors.is_empty() || per_author == 0 {
            return Ok(Vec::new());
        }
        let per_author = per_author.min(PageRequest::MAX_LIMIT);
        let posts = self
            .store
            .posts_by_authors(authors, per_author, viewer.map(|actor| actor.user_id))
            .await?;
        Ok(posts
            .into_iter()
            .filter(|post| policy::may_read_post(viewer, post.author.id, post.status))
            .collect())
    }

    /// The first page of `size` (capped like any page) followers or followees of each user,
    /// as the viewer may see them: one statement for them all.
    pub async fn follow_lists(
        &self,
        users: &[UserId],
        direction: FollowDirection,
        size: u32,
        viewer: Option<&Actor>,
    ) -> Result<HashMap<UserId, UserPage>> {
        let size = size.min(PageRequest::MAX_LIMIT);
        if users.is_empty() || size == 0 {
            return Ok(HashMap::new());
        }
        // One more than the page, to tell whether another follows.
        let members = self.store.follow_lists(users, direction, size + 1).await?;
        let mut fetched: HashMap<UserId, Vec<UserView>> =
            users.iter().map(|user| (*user, Vec::new())).collect();
        for (subject, user) in members {
            fetched
                .entry(subject)
                .or_default()
                .push(self.view_of(user, viewer));
        }
        Ok(fetched
            .into_iter()
            .map(|(subject, views)| (subject, UserPage::of(views, size)))
            .collect())
    }

    /// The first page of `size` (capped like any page) comments of each post the viewer may
    /// read, oldest first: one statement for them all. Posts the viewer may not read are left
    /// out.
    pub async fn comments_of_posts(
        &self,
        posts: &[PostId],
        size: u32,
        viewer: Option<&Actor>,
    ) -> Result<HashMap<PostId, CommentPage>> {
        let size = size.min(PageRequest::MAX_LIMIT);
        if posts.is_empty() || size == 0 {
            return Ok(HashMap::new());
        }
        let readable: Vec<PostId> = self
            .store
            .post_refs(posts)
            .await?
            .into_iter()
            .filter(|post| policy::may_read_post(viewer, post.author_id, post.status))
            .map(|post| post.id)
            .collect();
        if readable.is_empty() {
            return Ok(HashMap::new());
        }
        // One more than the page, to tell whether another follows.
        let comments = self
            .store
            .comments_of_posts(&readable, size + 1, viewer.map(|actor| actor.user_id))
            .await?;
        let mut fetched: HashMap<PostId, Vec<Comment>> =
            readable.iter().map(|post| (*post, Vec::new())).collect();
        for comment in comments {
            fetched.entry(comment.post_id).or_default().push(comment);
        }
        Ok(fetched
            .into_iter()
            .map(|(post, comments)| (post, CommentPage::of(comments, size)))
            .collect())
    }
}
