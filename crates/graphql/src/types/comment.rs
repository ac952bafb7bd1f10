//! `Comment`.

use std::marker::PhantomData;

use async_graphql::{ID, Object};
use quire_core::model::Comment;
use quire_core::paging::{CommentCursor, CommentPage};
use quire_core::ports::Store;

use super::UserNode;
use super::post::PageInfo;

pub struct CommentNode<S> {
    comment: Comment,
    _store: PhantomData<fn() -> S>,
}

impl<S: Store> CommentNode<S> {
    pub fn new(comment: Comment) -> Self {
        Self {
            comment,
            _store: PhantomData,
        }
    }
}

#[Object(name = "Comment")]
impl<S: Store> CommentNode<S> {
    async fn id(&self) -> ID {
        ID(self.comment.id.get().to_string())
    }

    async fn post_id(&self) -> ID {
        ID(self.comment.post_id.get().to_string())
    }

    async fn body(&self) -> &str {
        self.comment.body.as_str()
    }

    async fn author(&self) -> UserNode<S> {
        UserNode::profile(self.comment.author.clone())
    }

    async fn created_at(&self) -> String {
        self.comment.created_at.to_rfc3339()
    }

    async fn updated_at(&self) -> String {
        self.comment.updated_at.to_rfc3339()
    }
}

/// A page of a post's comments, oldest first, as a Relay connection.
pub struct CommentConnection<S> {
    page: CommentPage,
    _store: PhantomData<fn() -> S>,
}

impl<S: Store> CommentConnection<S> {
    pub fn new(page: CommentPage) -> Self {
        Self {
            page,
            _store: PhantomData,
        }
    }
}

pub struct CommentEdge<S> {
    node: CommentNode<S>,
    cursor: String,
}

#[Object(name = "CommentEdge")]
impl<S: Store> CommentEdge<S> {
    /// Where the page after this comment starts.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    async fn node(&self) -> &CommentNode<S> {
        &self.node
    }
}

fn cursor_of(comment: &Comment) -> String {
    CommentCursor(comment.id).encode()
}

#[Object(name = "CommentConnection")]
impl<S: Store> CommentConnection<S> {
    async fn edges(&self) -> Vec<CommentEdge<S>> {
        self.page
            .comments
            .iter()
            .map(|comment| CommentEdge {
                cursor: cursor_of(comment),
                node: CommentNode::new(comment.clone()),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<CommentNode<S>> {
        self.page
            .comments
            .iter()
            .cloned()
            .map(CommentNode::new)
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.next.is_some(),
            has_previous_page: false,
            start_cursor: self.page.comments.first().map(cursor_of),
            end_cursor: self.page.comments.last().map(cursor_of),
        }
    }
}
