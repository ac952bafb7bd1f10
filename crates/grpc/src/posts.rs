//! `PostService` and `CommentService`.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use quire_core::ids::{CommentId, PostId};
use quire_core::model::{CommentWindow, KeysetRequest};
use quire_core::paging::{self, CommentCursor, Cursor};
use quire_core::ports::Store;
use quire_core::service::{
    Patch, PostAddress, PostDraft, PostListing, PostUpdate, Quire, SearchRequest,
};
use quire_core::{Error, Resource};
use quire_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::auth::{actor, caller, viewer};
use crate::error::{OrStatus, status};
use crate::pb::comment_service_server::CommentService;
use crate::pb::post_service_server::PostService;
use crate::{cursor, page_size};
use quire_wire as convert;

pub struct Posts<S> {
    pub quire: Quire<S>,
    pub config: crate::GrpcConfig,
}

pub struct Comments<S> {
    pub quire: Quire<S>,
    pub config: crate::GrpcConfig,
}

/// A stream of messages as a server-streaming call sends them.
pub type Watch<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn post_id(id: i64) -> Result<PostId, Status> {
    PostId::checked(id).ok_or_else(|| status(&Error::NotFound(Resource::Post)))
}

/// An optional text where blank means "remove".
fn removable(value: Option<String>) -> Patch<String> {
    match value {
        None => Patch::Absent,
        Some(text) if text.trim().is_empty() => Patch::Null,
        Some(text) => Patch::Value(text),
    }
}

#[tonic::async_trait]
impl<S: Store> PostService for Posts<S> {
    async fn get_post(
        &self,
        request: Request<pb::GetPostRequest>,
    ) -> Result<Response<pb::Post>, Status> {
        let viewer = viewer(&request);
        let post = match request.into_inner().key {
            Some(pb::get_post_request::Key::PostId(id)) => {
                self.quire
                    .post(PostAddress::Id(post_id(id)?), viewer.as_ref())
                    .await
            }
            Some(pb::get_post_request::Key::Slug(slug)) => {
                self.quire
                    .post(PostAddress::Slug(&slug), viewer.as_ref())
                    .await
            }
            None => return Err(status(&Error::invalid("key", "give post_id or slug"))),
        }
        .or_status()?;
        Ok(Response::new(convert::post(&post)))
    }

    async fn list_posts(
        &self,
        request: Request<pb::ListPostsRequest>,
    ) -> Result<Response<pb::PostList>, Status> {
        let viewer = viewer(&request);
        let message = request.into_inner();
        let page = KeysetRequest {
            limit: page_size(message.page_size)?,
            after: paging::parse_after("cursor", cursor(&message.cursor), Cursor::parse)
                .or_status()?,
            count: message.count,
        };
        let listing = PostListing {
            tag: message.tag.as_deref(),
            author: message.author.as_deref(),
            favorited_by: message.favorited_by.as_deref(),
            language: message.language.as_deref(),
            drafts: message.drafts,
        };
        let found = self
            .quire
            .page_posts(listing, page, viewer.as_ref())
            .await
            .or_status()?;
        Ok(Response::new(pb::PostList {
            items: found.posts.iter().map(convert::post).collect(),
            next_cursor: found.next.map(|cursor| cursor.encode()),
            total: found.total,
        }))
    }

    async fn search_posts(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResults>, Status> {
        let viewer = viewer(&request);
        let message = request.into_inner();
        let search = SearchRequest {
            q: &message.q,
            language: message.language.as_deref(),
            tag: message.tag.as_deref(),
            author: message.author.as_deref(),
            limit: message.limit,
            offset: message.offset,
        };
        let hits = self
            .quire
            .search(&search, viewer.as_ref())
            .await
            .or_status()?;
        Ok(Response::new(convert::search_results(&hits)))
    }

    async fn get_post_series(
        &self,
        request: Request<pb::PostRef>,
    ) -> Result<Response<pb::SeriesContents>, Status> {
        let viewer = viewer(&request);
        let id = post_id(request.into_inner().post_id)?;
        let series = self
            .quire
            .series_of(PostAddress::Id(id), viewer.as_ref())
            .await
            .or_status()?
            .ok_or_else(|| Status::not_found("the post is in no series"))?;
        Ok(Response::new(convert::series(&series)))
    }

    async fn list_translations(
        &self,
        request: Request<pb::PostRef>,
    ) -> Result<Response<pb::PostLinkList>, Status> {
        let viewer = viewer(&request);
        let id = post_id(request.into_inner().post_id)?;
        let links = self
            .quire
            .translations_of(PostAddress::Id(id), viewer.as_ref())
            .await
            .or_status()?;
        Ok(Response::new(pb::PostLinkList {
            items: links.iter().map(convert::post_link).collect(),
        }))
    }

    async fn create_post(
        &self,
        request: Request<pb::NewPost>,
    ) -> Result<Response<pb::Post>, Status> {
        let actor = actor(&request)?;
        let message = request.into_inner();
        let draft = PostDraft {
            title: message.title,
            description: message.description,
            body: message.content,
            // Protobuf cannot tell an absent list from an empty one: both mean no tags.
            tags: Some(message.tags),
            status: message.status,
            language: message.language,
            category: message.category,
            publish_at: message.publish_at,
        };
        let post = self.quire.create_post(&actor, draft).await.or_status()?;
        Ok(Response::new(convert::post(&post)))
    }

    async fn update_post(
        &self,
        request: Request<pb::UpdatePostRequest>,
    ) -> Result<Response<pb::Post>, Status> {
        let actor = actor(&request)?;
        let message = request.into_inner();
        let update = PostUpdate {
            title: Patch::from(message.title),
            description: Patch::from(message.description),
            body: Patch::from(message.content),
            tags: if message.replace_tags {
                Patch::Value(message.tags)
            } else {
                Patch::Absent
            },
            status: Patch::from(message.status),
            language: removable(message.language),
            category: removable(message.category),
            publish_at: removable(message.publish_at),
            based_on: None,
        };
        let id = post_id(message.post_id)?;
        let post = self
            .quire
            .update_post(&actor, PostAddress::Id(id), update)
            .await
            .or_status()?;
        Ok(Response::new(convert::post(&post)))
    }

    async fn delete_post(
        &self,
        request: Request<pb::PostRef>,
    ) -> Result<Response<pb::Deleted>, Status> {
        let actor = actor(&request)?;
        let id = post_id(request.into_inner().post_id)?;
        self.quire
            .delete_post(&actor, PostAddress::Id(id), None)
            .await
            .or_status()?;
        Ok(Response::new(pb::Deleted {}))
    }

    async fn favorite_post(
        &self,
        request: Request<pb::PostRef>,
    ) -> Result<Response<pb::Post>, Status> {
        let actor = actor(&request)?;
        let id = post_id(request.into_inner().post_id)?;
        let post = self
            .quire
            .favorite(&actor, PostAddress::Id(id))
            .await
            .or_status()?;
        Ok(Response::new(convert::post(&post)))
    }

    async fn unfavorite_post(
        &self,
        request: Request<pb::PostRef>,
    ) -> Result<Response<pb::Post>, Status> {
        let actor = actor(&request)?;
        let id = post_id(request.into_inner().post_id)?;
        let post = self
            .quire
            .unfavorite(&actor, PostAddress::Id(id))
            .await
            .or_status()?;
        Ok(Response::new(convert::post(&post)))
    }

    type WatchPostsStream = Watch<pb::Post>;

    /// Pulled by the client: nothing queues here. A client that reads slower than posts are
    /// published loses the oldest (the event bus's bound), so memory stays bounded.
    async fn watch_posts(
        &self,
        request: Request<pb::WatchPostsRequest>,
    ) -> Result<Response<Self::WatchPostsStream>, Status> {
        let heard = self
            .quire
            .posts_published(caller(&request))
            .map(|post| post.map(|post| convert::post(&post)).or_status());
        Ok(Response::new(self.config.until_stopping(heard)))
    }
}

#[tonic::async_trait]
impl<S: Store> CommentService for Comments<S> {
    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::CommentList>, Status> {
        let viewer = viewer(&request);
        let message = request.into_inner();
        let id = post_id(message.post_id)?;
        let after = paging::parse_after("cursor", cursor(&message.cursor), CommentCursor::parse)
            .or_status()?;
        let window = CommentWindow::after(page_size(message.page_size)?, after);
        let page = self
            .quire
            .comments(PostAddress::Id(id), window, viewer.as_ref())
            .await
            .or_status()?;
        Ok(Response::new(pb::CommentList {
            items: page.comments.iter().map(convert::comment).collect(),
            next_cursor: page.next.map(|cursor| cursor.encode()),
        }))
    }

    async fn add_comment(
        &self,
        request: Request<pb::AddCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let actor = actor(&request)?;
        let message = request.into_inner();
        let id = post_id(message.post_id)?;
        let comment = self
            .quire
            .add_comment(&actor, PostAddress::Id(id), message.content.as_deref())
            .await
            .or_status()?;
        Ok(Response::new(convert::comment(&comment)))
    }

    async fn delete_comment(
        &self,
        request: Request<pb::CommentRef>,
    ) -> Result<Response<pb::Deleted>, Status> {
        let actor = actor(&request)?;
        let id = CommentId::checked(request.into_inner().comment_id)
            .ok_or_else(|| status(&Error::NotFound(Resource::Comment)))?;
        self.quire
            .delete_comment_by_id(&actor, id)
            .await
            .or_status()?;
        Ok(Response::new(pb::Deleted {}))
    }

    type WatchCommentsStream = Watch<pb::Comment>;

    async fn watch_comments(
        &self,
        request: Request<pb::PostRef>,
    ) -> Result<Response<Self::WatchCommentsStream>, Status> {
        let listener = caller(&request);
        let post = post_id(request.into_inner().post_id)?;
        let heard = self
            .quire
            .comments_added(post, listener)
            .await
            .or_status()?
            .map(|comment| {
                comment
                    .map(|comment| convert::comment(&comment))
                    .or_status()
            });
        Ok(Response::new(self.config.until_stopping(heard)))
    }
}
