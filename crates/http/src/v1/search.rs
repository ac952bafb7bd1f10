//! `GET /api/v1/search`: ranked full-text search over published posts.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use quire_core::ports::Store;
use quire_core::service::{SearchHit, SearchRequest};
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::negotiate::{Format, Representation, Wire};
use super::posts::PostRepr;
use super::problem::V1Error;
use super::proto;
use crate::AppState;
use crate::caching::Caching;

#[derive(Deserialize, Default)]
pub(crate) struct SearchQuery {
    q: Option<String>,
    lang: Option<String>,
    tag: Option<String>,
    author: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// One result: the post as lists show it, its score and a passage of its body.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SearchHitRepr {
    post: PostRepr,
    /// BM25; higher is better, comparable within one search only.
    score: f64,
    /// A passage of the body as HTML: escaped text, the matching words in `<mark>`, `…` where
    /// it was cut. Absent when only the title or description matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
}

/// Search results, best first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SearchResults {
    items: Vec<SearchHitRepr>,
}

impl From<&SearchHit> for SearchHitRepr {
    fn from(hit: &SearchHit) -> Self {
        Self {
            post: PostRepr::from(&hit.post),
            score: hit.score,
            snippet: hit.snippet.clone(),
        }
    }
}

impl Wire for SearchResults {
    type Proto = proto::SearchResults;
    fn proto(&self) -> proto::SearchResults {
        proto::SearchResults {
            items: self
                .items
                .iter()
                .map(|hit| proto::SearchHit {
                    post: Some(hit.post.proto()),
                    score: hit.score,
                    snippet: hit.snippet.clone(),
                })
                .collect(),
        }
    }
}

/// A number in a query string, or a 400 naming the parameter.
fn number(name: &'static str, text: Option<&str>) -> Result<Option<u32>, V1Error> {
    text.map(|text| {
        text.parse::<u32>()
            .map_err(|_| quire_core::Error::malformed(name, "must be a whole number").into())
    })
    .transpose()
}

/// `GET /api/v1/search?q=`.
#[utoipa::path(
    get,
    path = "/api/v1/search",
    operation_id = "searchPosts",
    tag = "posts",
    params(
        ("q" = String, Query, description = "the words to find, as plain text (no query syntax): at most 1000 characters and 32 distinct words; Chinese, Japanese and Korean are matched by character bigrams"),
        ("lang" = Option<String>, Query, description = "only posts in this BCP 47 language"),
        ("tag" = Option<String>, Query, description = "only posts with this tag"),
        ("author" = Option<String>, Query, description = "only posts by this username"),
        ("limit" = Option<u32>, Query, description = "1 to 50, default 20"),
        ("offset" = Option<u32>, Query, description = "results to skip, at most 1000"),
    ),
    responses(
        (status = 200, description = "published posts holding every word, best first (BM25 over title, description and body, titles weighing most)", body = SearchResults),
        (status = 400, description = "no q, or a parameter out of range"),
    )
)]
pub(crate) async fn search<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Query(query): Query<SearchQuery>,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let Some(q) = query.q.as_deref() else {
        return Err(quire_core::Error::malformed("q", "is required").into());
    };
    let request = SearchRequest {
        q,
        language: query.lang.as_deref(),
        tag: query.tag.as_deref(),
        author: query.author.as_deref(),
        limit: number("limit", query.limit.as_deref())?,
        offset: number("offset", query.offset.as_deref())?,
    };
    let hits = state.quire.search(&request, viewer.as_ref()).await?;
    let body = SearchResults {
        items: hits.iter().map(SearchHitRepr::from).collect(),
    };
    Ok(Representation::of(format, "results", &body)?
        .respond(StatusCode::OK, Caching::for_viewer(viewer.is_some())))
}
