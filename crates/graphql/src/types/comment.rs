//! `Comment`.

use std::marker::PhantomData;

use async_graphql::{ID, Object};
use quire_core::model::Comment;
use quire_core::ports::Store;

use super::UserNode;

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
