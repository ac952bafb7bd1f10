//! `/api/articles/{slug}/comments`.

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderName, StatusCode, header};
use quire_core::model::{CommentWindow, PageRequest};
use quire_core::ports::Store;
use serde::Deserialize;

use super::dto::{CommentBody, CommentsBody};
use crate::AppState;
use crate::caching::Caching;
use crate::error::ApiError;
use crate::extract::{CurrentUser, JsonBody, MaybeUser};

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
}

/// `GET /api/articles/{slug}/comments?limit=&offset=`: oldest first, `limit` from 1 to 100
/// (100 when absent, since RealWorld clients do not page comments; above 100 is capped, as
/// article lists cap it). When more follow, a `Link` header (RFC 8288) names the next page.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    viewer: MaybeUser,
    OriginalUri(uri): OriginalUri,
    Path(slug): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<
    (
        Caching,
        Option<[(HeaderName, String); 1]>,
        Json<CommentsBody>,
    ),
    ApiError,
> {
    let page = PageRequest::parse_or(
        query.limit.as_deref(),
        query.offset.as_deref(),
        PageRequest::MAX_LIMIT,
    )?;
    let comments = state
        .quire
        .comments_shown(&slug, CommentWindow::offset(page), viewer.actor())
        .await?;
    let caching = Caching::of(viewer.actor().is_some(), &comments);
    let next = comments.value.next.is_some().then(|| {
        let offset = page.offset.saturating_add(u64::from(page.limit));
        let link = format!(
            "<{}?limit={}&offset={offset}>; rel=\"next\"",
            uri.path(),
            page.limit
        );
        [(header::LINK, link)]
    });
    Ok((
        caching,
        next,
        Json(CommentsBody {
            comments: comments
                .value
                .comments
                .into_iter()
                .map(Into::into)
                .collect(),
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
