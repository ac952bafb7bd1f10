//! `/api/articles`, the feed, favorites and `/api/tags`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use quire_core::model::{PageRequest, PostPage};
use quire_core::ports::Store;
use quire_core::service::{Patch, PostDraft, PostUpdate};
use serde::Deserialize;

use super::dto::{ArticleBody, ArticlesBody, Field, TagsBody};
use crate::AppState;
use crate::caching::Caching;
use crate::error::ApiError;
use crate::extract::{CurrentUser, JsonBody, MaybeUser};

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    tag: Option<String>,
    author: Option<String>,
    favorited: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

fn articles(page: PostPage) -> Json<ArticlesBody> {
    Json(ArticlesBody {
        articles: page.posts.into_iter().map(Into::into).collect(),
        articles_count: page.total,
    })
}

pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    viewer: MaybeUser,
    Query(query): Query<ListQuery>,
) -> Result<(Caching, Json<ArticlesBody>), ApiError> {
    let page = PageRequest::parse(query.limit.as_deref(), query.offset.as_deref())?;
    let found = state
        .quire
        .list_posts_shown(
            query.tag.as_deref(),
            query.author.as_deref(),
            query.favorited.as_deref(),
            page,
            viewer.actor(),
        )
        .await?;
    let caching = Caching::of(viewer.actor().is_some(), &found);
    Ok((caching, articles(found.value)))
}

#[derive(Deserialize)]
pub(crate) struct FeedQuery {
    limit: Option<String>,
    offset: Option<String>,
}

pub(crate) async fn feed<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Query(query): Query<FeedQuery>,
) -> Result<Json<ArticlesBody>, ApiError> {
    let page = PageRequest::parse(query.limit.as_deref(), query.offset.as_deref())?;
    let found = state.quire.feed(&current.actor, page).await?;
    Ok(articles(found))
}

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    viewer: MaybeUser,
    Path(slug): Path<String>,
) -> Result<(Caching, Json<ArticleBody>), ApiError> {
    let post = state.quire.post_shown(&slug, viewer.actor()).await?;
    let caching = Caching::of(viewer.actor().is_some(), &post);
    Ok((
        caching,
        Json(ArticleBody {
            article: post.value.into(),
        }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct CreateRequest {
    article: CreateFields,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateFields {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
}

pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<(StatusCode, Json<ArticleBody>), ApiError> {
    let fields = request.article;
    let draft = PostDraft {
        title: fields.title,
        description: fields.description,
        body: fields.body,
        tags: fields.tag_list,
        ..PostDraft::default()
    };
    let post = state.quire.create_post(&current.actor, draft).await?;
    Ok((
        StatusCode::CREATED,
        Json(ArticleBody {
            article: post.into(),
        }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct UpdateRequest {
    article: UpdateFields,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateFields {
    #[serde(default)]
    title: Field<String>,
    #[serde(default)]
    description: Field<String>,
    #[serde(default)]
    body: Field<String>,
    #[serde(default)]
    tag_list: Field<Vec<String>>,
}

pub(crate) async fn update<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path(slug): Path<String>,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> Result<Json<ArticleBody>, ApiError> {
    let fields = request.article;
    let update = PostUpdate {
        title: fields.title.into(),
        description: fields.description.into(),
        body: fields.body.into(),
        tags: fields.tag_list.into(),
        status: Patch::Absent,
        language: Patch::Absent,
        category: Patch::Absent,
        publish_at: Patch::Absent,
        based_on: None,
    };
    let post = state
        .quire
        .update_post(&current.actor, &slug, update)
        .await?;
    Ok(Json(ArticleBody {
        article: post.into(),
    }))
}

pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.quire.delete_post(&current.actor, &slug, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn favorite<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleBody>, ApiError> {
    let post = state.quire.favorite(&current.actor, &slug).await?;
    Ok(Json(ArticleBody {
        article: post.into(),
    }))
}

pub(crate) async fn unfavorite<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleBody>, ApiError> {
    let post = state.quire.unfavorite(&current.actor, &slug).await?;
    Ok(Json(ArticleBody {
        article: post.into(),
    }))
}

pub(crate) async fn tags<S: Store>(
    State(state): State<AppState<S>>,
) -> Result<(Caching, Json<TagsBody>), ApiError> {
    let tags = state.quire.tags_shown().await?;
    let caching = Caching::of(false, &tags);
    Ok((
        caching,
        Json(TagsBody {
            tags: tags
                .value
                .into_iter()
                .map(|tag| tag.as_str().to_owned())
                .collect(),
        }),
    ))
}
