//! `/api/articles/{slug}/comments`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use quire_core::ports::Store;
use serde::Deserialize;

use super::dto::{CommentBody, CommentsBody};
use crate::AppState;
use crate::caching::Caching;
use crate::error::ApiError;
use crate::extract::{CurrentUser, JsonBody, MaybeUser};

pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    viewer: MaybeUser,
    Path(slug): Path<String>,
) -> Result<(Caching, Json<CommentsBody>), ApiError> {
    let comments = state.quire.comments_shown(&slug, viewer.actor()).await?;
    let caching = Caching::of(viewer.actor().is_some(), &comments);
    Ok((
        caching,
        Json(CommentsBody {
            comments: comments.value.into_iter().map(Into::into).collect(),
        }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct CreateRequest {
    comment: CreateFields,
}

#[derive(Deserialize)]
struct CreateFields {
    body: Option<String>,
}

pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path(slug): Path<String>,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<(StatusCode, Json<CommentBody>), ApiError> {
    let comment = state
        .quire
        .add_comment(&current.actor, &slug, request.comment.body.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CommentBody {
            comment: comment.into(),
        }),
    ))
}

pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path((slug, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .quire
        .delete_comment(&current.actor, &slug, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
