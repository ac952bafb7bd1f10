//! `/api/v1/posts/{id}/comments` and `/api/v1/comments/{id}`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use quire_core::events::Aggregate;
use quire_core::ids::{CommentId, PostId};
use quire_core::model::{Comment, CommentWindow};
use quire_core::paging::{self, CommentCursor};
use quire_core::ports::Store;
use quire_core::{Error, Resource};
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::idempotency::{self, IdempotencyKey};
use super::negotiate::{
    Format, FromWire, Preconditions, Representation, Wire, body_format, parse_body,
};
use super::posts::with_next_link;
use super::problem::V1Error;
use super::proto;
use super::users::location;
use crate::AppState;
use crate::caching::Caching;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentAuthor {
    user_id: i64,
    username: String,
    image: Option<String>,
    following: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentRepr {
    comment_id: i64,
    post_id: i64,
    content: String,
    author: CommentAuthor,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// Built from the `quire.v1` message ([`quire_wire::comment`]), so JSON, XML and Protobuf
/// carry the same values.
impl From<&Comment> for CommentRepr {
    fn from(comment: &Comment) -> Self {
        let message = quire_wire::comment(comment);
        let author = message.author.unwrap_or_default();
        Self {
            comment_id: message.comment_id,
            post_id: message.post_id,
            content: message.content,
            author: CommentAuthor {
                user_id: author.user_id,
                username: author.username,
                image: author.image,
                following: author.following,
            },
            created_at: message.created_at,
            updated_at: message.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentList {
    items: Vec<CommentRepr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

fn post_id(text: &str) -> Result<PostId, V1Error> {
    PostId::parse(text).ok_or(V1Error::Core(Error::NotFound(Resource::Post)))
}

fn comment_id(text: &str) -> Result<CommentId, V1Error> {
    CommentId::parse(text).ok_or(V1Error::Core(Error::NotFound(Resource::Comment)))
}

/// `GET /api/v1/posts/{id}/comments`: oldest first, a keyset page at a time, with a `Link`
/// (RFC 8288) to the next page when one follows.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}/comments",
    operation_id = "listComments",
    tag = "comments",
    params(("id" = i64, Path, description = "the post's id"), ("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor")),
    responses((status = 200, description = "a page of the post's comments, oldest first", body = CommentList))
)]
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let limit = paging::page_size_text("limit", query.limit.as_deref())?;
    let after = paging::parse_after("cursor", query.cursor.as_deref(), CommentCursor::parse)?;
    let comments = state
        .quire
        .comments_shown(
            post_id(&id)?,
            CommentWindow::after(limit, after),
            viewer.as_ref(),
        )
        .await?;
    let next = comments.value.next.map(|cursor| cursor.encode());
    let body = CommentList {
        items: comments
            .value
            .comments
            .iter()
            .map(CommentRepr::from)
            .collect(),
        next_cursor: next.clone(),
    };
    let caching = Caching::of(viewer.is_some(), &comments);
    let response = Representation::of(format, "comments", &body)?.respond(StatusCode::OK, caching);
    Ok(with_next_link(response, &uri, next.as_deref()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewComment {
    #[schema(required = true, nullable = false)]
    content: Option<String>,
}

/// `POST /api/v1/posts/{id}/comments`: 201 with the comment's `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/posts/{id}/comments",
    operation_id = "addComment",
    tag = "comments",
    params(("id" = i64, Path, description = "the post's id")),
    request_body(content = NewComment, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 201, description = "added", body = CommentRepr))
)]
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    idempotency_key: IdempotencyKey,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let post = post_id(&id)?;
    let operation = format!("POST /api/v1/posts/{post}/comments");
    idempotency::once(
        &state,
        &idempotency_key,
        Some(&actor),
        &operation,
        &body,
        "comment",
        || async {
            let input: NewComment = parse_body(body_format(&headers, "application/json")?, &body)?;
            let comment = state
                .quire
                .add_comment(&actor, post, input.content.as_deref())
                .await?;
            created(format, &comment)
        },
        |aggregate| {
            let state = &state;
            async move {
                let Aggregate::Comment(id) = aggregate else {
                    return Err(
                        Error::internal("a comment's key marked with another aggregate").into(),
                    );
                };
                let comment = state.quire.comment(id, Some(&actor)).await?;
                created(format, &comment)
            }
        },
    )
    .await
}

/// An added comment's 201, with its `Location`.
fn created(format: Format, comment: &Comment) -> Result<Response, V1Error> {
    let path = format!("/api/v1/comments/{}", comment.id);
    let response = Representation::of(format, "comment", &CommentRepr::from(comment))?
        .respond(StatusCode::CREATED, Caching::Private);
    Ok(location(response, &path))
}

/// `GET /api/v1/comments/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/comments/{id}",
    operation_id = "getComment",
    tag = "comments",
    params(("id" = i64, Path, description = "the comment's id")),
    responses((status = 200, description = "the comment", body = CommentRepr))
)]
pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let comment = state
        .quire
        .comment(comment_id(&id)?, viewer.as_ref())
        .await?;
    let caching = Caching::for_viewer(viewer.is_some());
    Ok(
        Representation::of(format, "comment", &CommentRepr::from(&comment))?
            .respond(StatusCode::OK, caching),
    )
}

/// `DELETE /api/v1/comments/{id}`: 204, then 404.
#[utoipa::path(
    delete,
    path = "/api/v1/comments/{id}",
    operation_id = "deleteComment",
    tag = "comments",
    params(("id" = i64, Path, description = "the comment's id")),
    security(("bearer" = [])),
    responses((status = 204, description = "deleted"))
)]
pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    preconditions: Preconditions,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = comment_id(&id)?;
    if preconditions.has_if_match() {
        let current = state.quire.comment(id, Some(&actor)).await?;
        Representation::of(format, "comment", &CommentRepr::from(&current))?
            .check_if_match(&preconditions)?;
    }
    state.quire.delete_comment_by_id(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl Wire for CommentRepr {
    type Proto = proto::Comment;
    fn proto(&self) -> proto::Comment {
        proto::Comment {
            comment_id: self.comment_id,
            post_id: self.post_id,
            content: self.content.clone(),
            author: Some(proto::Author {
                user_id: self.author.user_id,
                username: self.author.username.clone(),
                name: None,
                image: self.author.image.clone(),
                following: self.author.following,
            }),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

impl Wire for CommentList {
    type Proto = proto::CommentList;
    fn proto(&self) -> proto::CommentList {
        proto::CommentList {
            items: self.items.iter().map(Wire::proto).collect(),
            next_cursor: self.next_cursor.clone(),
        }
    }
}

impl FromWire for NewComment {
    type Proto = proto::NewComment;
    fn from_proto(message: proto::NewComment) -> Self {
        Self {
            content: message.content,
        }
    }
}
