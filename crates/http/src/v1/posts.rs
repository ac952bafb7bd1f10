//! `/api/v1/posts` and the caller's favorites.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use quire_core::events::Aggregate;
use quire_core::ids::PostId;
use quire_core::model::{KeysetRequest, Post, PostLink};
use quire_core::paging::{self, Cursor};
use quire_core::ports::Store;
use quire_core::service::{Caller, Patch, PostAddress, PostDraft, PostListing, PostUpdate};
use quire_core::{Error, Resource};
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::idempotency::{self, IdempotencyKey};
use super::negotiate::{
    Format, FromWire, Preconditions, Representation, Wire, body_format, parse_body, parse_patch,
};
use super::problem::V1Error;
use super::proto;
use super::users::location;
use crate::AppState;
use crate::caching::Caching;
use crate::patch::Field;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorRepr {
    user_id: i64,
    username: String,
    name: Option<String>,
    image: Option<String>,
    following: bool,
}

/// A post as `/api/v1` represents it. Lists leave out `content`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostRepr {
    post_id: i64,
    slug: String,
    title: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    tags: Vec<String>,
    #[schema(value_type = super::contract::PostStatusName)]
    status: &'static str,
    #[schema(format = DateTime)]
    published_at: Option<String>,
    language: Option<String>,
    category: Option<String>,
    /// When a scheduled draft will be published; `null` when it is not scheduled.
    #[schema(format = DateTime)]
    publish_at: Option<String>,
    /// The content rendered for reading: sanitized HTML (no script, event handler or
    /// `javascript:` URL). Lists leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<String>,
    /// The content's headings, in order. Lists leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    toc: Option<Vec<TocEntryRepr>>,
    /// Minutes to read the content, rounded up. Lists leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    reading_minutes: Option<u32>,
    author: AuthorRepr,
    favorites_count: i64,
    favorited: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// One heading of a post's rendered content.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TocEntryRepr {
    /// 1 to 6.
    level: u32,
    /// The heading's `id` in `contentHtml`, to link to as `#id`.
    id: String,
    /// Plain text: escape it where it is put into HTML.
    title: String,
}

/// Built from the `quire.v1` message ([`quire_wire::post`]), so JSON, XML and Protobuf carry
/// the same values.
impl From<&Post> for PostRepr {
    fn from(post: &Post) -> Self {
        let message = quire_wire::post(post);
        let author = message.author.unwrap_or_default();
        let toc = message.content_html.is_some().then(|| {
            message
                .toc
                .into_iter()
                .map(|entry| TocEntryRepr {
                    level: entry.level,
                    id: entry.id,
                    title: entry.title,
                })
                .collect()
        });
        Self {
            content_html: message.content_html,
            toc,
            reading_minutes: message.reading_minutes,
            post_id: message.post_id,
            slug: message.slug,
            title: message.title,
            description: message.description,
            content: message.content,
            tags: message.tags,
            status: post.status.as_str(),
            published_at: message.published_at,
            language: message.language,
            category: message.category,
            publish_at: message.publish_at,
            author: AuthorRepr {
                user_id: author.user_id,
                username: author.username,
                name: author.name,
                image: author.image,
                following: author.following,
            },
            favorites_count: message.favorites_count,
            favorited: message.favorited,
            created_at: message.created_at,
            updated_at: message.updated_at,
        }
    }
}

fn post_id(text: &str) -> Result<PostId, V1Error> {
    PostId::parse(text).ok_or(V1Error::Core(Error::NotFound(Resource::Post)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    count: Option<String>,
    author: Option<String>,
    tag: Option<String>,
    favorited_by: Option<String>,
    language: Option<String>,
    status: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostList {
    items: Vec<PostRepr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
}

/// The request's query string with `cursor` set to the next page's, as a `Link` value
/// (RFC 8288).
fn next_link(uri: &Uri, cursor: &str) -> String {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("cursor="))
        .collect();
    let mut query = kept.join("&");
    if !query.is_empty() {
        query.push('&');
    }
    format!("<{}?{query}cursor={cursor}>; rel=\"next\"", uri.path())
}

/// `response` with a `Link` to the next page when `next` names its cursor.
pub(crate) fn with_next_link(mut response: Response, uri: &Uri, next: Option<&str>) -> Response {
    let link = next.map(|cursor| next_link(uri, cursor));
    if let Some(value) = link.and_then(|link| HeaderValue::from_str(&link).ok()) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

/// `GET /api/v1/posts`: published posts, newest first, a keyset page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/posts",
    operation_id = "listPosts",
    tag = "posts",
    params(("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor"), ("count" = Option<bool>, Query, description = "true to include the total"), ("author" = Option<String>, Query, description = "an author's username"), ("tag" = Option<String>, Query, description = "a tag"), ("favoritedBy" = Option<String>, Query, description = "a username whose favorites to list"), ("language" = Option<String>, Query, description = "a BCP 47 language tag"), ("status" = Option<super::contract::PostStatusName>, Query, description = "published (the default) or draft: one's own drafts, or anyone's for editors")),
    responses((status = 200, description = "a page of published posts", body = PostList))
)]
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    query: axum::extract::Query<ListQuery>,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let keyset = keyset(&query)?;
    let drafts = match query.status.as_deref() {
        None | Some("published") => false,
        Some("draft") => true,
        Some(_) => return Err(Error::malformed("status", "must be published or draft").into()),
    };
    let listing = PostListing {
        tag: query.tag.as_deref(),
        author: query.author.as_deref(),
        favorited_by: query.favorited_by.as_deref(),
        language: query.language.as_deref(),
        drafts,
    };
    let page = state
        .quire
        .page_posts(listing, keyset, viewer.as_ref())
        .await?;
    let caching = Caching::for_viewer(viewer.is_some());
    page_response(format, &uri, &page, caching)
}

/// Reads `limit`, `cursor` and `count`; anything out of range is a 400 that says so.
fn keyset(query: &ListQuery) -> Result<KeysetRequest, V1Error> {
    let limit = paging::page_size_text("limit", query.limit.as_deref())?;
    let after = paging::parse_after("cursor", query.cursor.as_deref(), Cursor::parse)?;
    let count = match query.count.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::malformed("count", "must be true or false").into()),
    };
    Ok(KeysetRequest {
        limit,
        after,
        count,
    })
}

/// A page of posts with its `Link` to the next page.
fn page_response(
    format: super::negotiate::Format,
    uri: &Uri,
    page: &quire_core::model::KeysetPage,
    caching: Caching,
) -> Result<Response, V1Error> {
    let body = PostList {
        items: page.posts.iter().map(PostRepr::from).collect(),
        next_cursor: page.next.as_ref().map(Cursor::encode),
        total: page.total,
    };
    let response = Representation::of(format, "posts", &body)?.respond(StatusCode::OK, caching);
    Ok(with_next_link(response, uri, body.next_cursor.as_deref()))
}

/// `GET /api/v1/me/feed`: published posts by the authors the caller follows.
#[utoipa::path(
    get,
    path = "/api/v1/me/feed",
    operation_id = "getFeed",
    tag = "posts",
    params(("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor"), ("count" = Option<bool>, Query, description = "true to include the total")),
    security(("bearer" = [])),
    responses((status = 200, description = "a page of posts by followed authors", body = PostList))
)]
pub(crate) async fn feed<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    query: axum::extract::Query<ListQuery>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let page = state.quire.page_feed(&actor, keyset(&query)?).await?;
    page_response(format, &uri, &page, Caching::Private)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TagCloud {
    items: Vec<String>,
}

/// `GET /api/v1/tags`: tags in use, most used first.
#[utoipa::path(
    get,
    path = "/api/v1/tags",
    operation_id = "listTags",
    tag = "posts",
    responses((status = 200, description = "tags in use, most used first", body = TagCloud))
)]
pub(crate) async fn tags<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
) -> Result<Response, V1Error> {
    let tags = state.quire.tags_shown().await?;
    let body = TagCloud {
        items: tags
            .value
            .iter()
            .map(|tag| tag.as_str().to_owned())
            .collect(),
    };
    Ok(Representation::of(format, "tags", &body)?
        .respond(StatusCode::OK, Caching::of(false, &tags)))
}

/// The language a reader asks a post in.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LanguageParams {
    /// A language (BCP 47): the post's version in it, if it has one. Overrides
    /// `Accept-Language`.
    lang: Option<String>,
}

/// `GET /api/v1/posts/{id}`: the post, or, when the reader names languages (`?lang=`, else
/// `Accept-Language`), its version that best suits them among its published translations
/// (RFC 4647 lookup), else the one in the site's language, else the post itself. The answer
/// says its language in `Content-Language`.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}",
    operation_id = "getPost",
    tag = "posts",
    params(("id" = i64, Path, description = "the post's id"), LanguageParams),
    responses((status = 200, description = "the post, or its version in the language asked for", body = PostRepr))
)]
pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(params): Query<LanguageParams>,
    headers: HeaderMap,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let from_header = params.lang.is_none();
    let wanted = match params.lang {
        Some(lang) => vec![lang],
        None => accept_language(&headers),
    };
    let chosen = state
        .quire
        .post_in_language(
            post_id(&id)?,
            viewer.as_ref(),
            &wanted,
            state.fallback_language.as_deref(),
        )
        .await?;
    let post = chosen.post;
    let caching = match (chosen.negotiated, viewer.is_some()) {
        (false, signed_in) => Caching::of(signed_in, &post),
        (true, true) => Caching::Private,
        (true, false) => Caching::Public,
    };
    let mut response = Representation::of(format, "post", &PostRepr::from(&post.value))?
        .respond(StatusCode::OK, caching);
    if let Some(language) = post
        .value
        .meta
        .language
        .as_deref()
        .and_then(|language| HeaderValue::from_str(language).ok())
    {
        response
            .headers_mut()
            .insert(header::CONTENT_LANGUAGE, language);
    }
    if from_header {
        // Whether or not this reader named languages, another may: a shared cache must keep
        // their answers apart.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept-Language"));
    }
    Ok(response)
}

/// The language ranges of `Accept-Language` (RFC 9110 §12.5.4), best first; none without
/// the header. Ranges with `q=0` are left out.
fn accept_language(headers: &HeaderMap) -> Vec<String> {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
    else {
        return Vec::new();
    };
    let mut ranges: Vec<(f32, usize, String)> = value
        .split(',')
        .take(32)
        .enumerate()
        .filter_map(|(order, item)| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            // A weight is `q=` (any case) and 0 to 1 (RFC 9110 §12.4.2); one that does not
            // parse drops its range.
            let weight = parts.find_map(|param| {
                let (name, value) = param.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then(|| value.trim())
            });
            let q = match weight {
                None => 1.0,
                Some(value) => value
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))?,
            };
            (q > 0.0 && !range.is_empty()).then(|| (q, order, range.to_owned()))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, range)| range).collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewPost {
    #[schema(required = true, nullable = false)]
    title: Option<String>,
    #[schema(required = true, nullable = false)]
    description: Option<String>,
    #[schema(required = true, nullable = false)]
    content: Option<String>,
    tags: Option<Vec<String>>,
    #[schema(value_type = Option<super::contract::PostStatusName>, nullable = false)]
    status: Option<String>,
    language: Option<String>,
    category: Option<String>,
    /// An RFC 3339 time in the future: the post is a draft until then, and published then.
    #[schema(format = DateTime)]
    publish_at: Option<String>,
}

/// `POST /api/v1/posts`: 201 with the post's `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/posts",
    operation_id = "createPost",
    tag = "posts",
    request_body(content = NewPost, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 201, description = "created", body = PostRepr))
)]
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    idempotency_key: IdempotencyKey,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    idempotency::once(
        &state,
        &idempotency_key,
        Some(&actor),
        "POST /api/v1/posts",
        &body,
        "post",
        || async {
            let input: NewPost = parse_body(body_format(&headers, "application/json")?, &body)?;
            let draft = PostDraft {
                title: input.title,
                description: input.description,
                body: input.content,
                tags: input.tags,
                status: input.status,
                language: input.language,
                category: input.category,
                publish_at: input.publish_at,
            };
            let post = state.quire.create_post(&actor, draft).await?;
            created(format, &post)
        },
        |aggregate| {
            let state = &state;
            async move {
                let Aggregate::Post(id) = aggregate else {
                    return Err(
                        Error::internal("a post's key marked with another aggregate").into(),
                    );
                };
                let post = state.quire.post(PostAddress::Id(id), Some(&actor)).await?;
                created(format, &post)
            }
        },
    )
    .await
}

/// A created post's 201, with its `Location`.
fn created(format: Format, post: &Post) -> Result<Response, V1Error> {
    let path = format!("/api/v1/posts/{}", post.id);
    let response = Representation::of(format, "post", &PostRepr::from(post))?
        .respond(StatusCode::CREATED, Caching::Private);
    Ok(location(response, &path))
}

/// The whole editable representation, for `PUT`: absent fields are emptied (`status` is
/// kept). The read-only fields of a post's representation (`postId`, `slug`, `author`,
/// counts, times) are ignored, so a representation read with GET can be changed and PUT back.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostReplacement {
    #[schema(required = true, nullable = false)]
    title: Option<String>,
    #[schema(required = true, nullable = false)]
    description: Option<String>,
    #[schema(required = true, nullable = false)]
    content: Option<String>,
    tags: Option<Vec<String>>,
    /// `draft` or `published`; absent keeps the post's.
    #[schema(value_type = Option<super::contract::PostStatusName>, nullable = false)]
    status: Option<String>,
    language: Option<String>,
    category: Option<String>,
    /// A time in the future schedules the draft; absent unschedules it.
    #[schema(format = DateTime)]
    publish_at: Option<String>,
}

/// A merge patch (RFC 7396) of a post's editable fields.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PostPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false)]
    title: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false)]
    description: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false)]
    content: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    tags: Field<Vec<String>>,
    /// `draft` or `published`: publishes a draft, or takes a post back to draft.
    #[serde(default)]
    #[schema(value_type = Option<super::contract::PostStatusName>, nullable = false)]
    status: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    language: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    category: Field<String>,
    /// A time in the future schedules the draft; null unschedules it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    publish_at: Field<String>,
}

/// Applies `update` to post `id` if `If-Match` still names the caller's copy.
async fn change<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    format: Format,
    preconditions: &Preconditions,
    id: &str,
    update: impl FnOnce() -> Result<PostUpdate, V1Error>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = post_id(id)?;
    let current = state.quire.post(id, Some(&actor)).await?;
    Representation::of(format, "post", &PostRepr::from(&current))?.check_if_match(preconditions)?;
    let mut update = update()?;
    // With If-Match, the write itself checks that nobody changed the post since it was read,
    // so two editors cannot overwrite each other between the check and the write.
    if preconditions.has_if_match() {
        update.based_on = Some(current.updated_at);
    }
    let post = state.quire.update_post(&actor, id, update).await?;
    Ok(Representation::of(format, "post", &PostRepr::from(&post))?
        .respond(StatusCode::OK, Caching::Private))
}

/// `PUT /api/v1/posts/{id}`: replaces title, description, content and tags at once; sending
/// the same twice leaves one state.
#[utoipa::path(
    put,
    path = "/api/v1/posts/{id}",
    operation_id = "replacePost",
    tag = "posts",
    params(("id" = i64, Path, description = "the post's id")),
    request_body(content = PostReplacement, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 200, description = "replaced", body = PostRepr))
)]
pub(crate) async fn replace<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    format: Format,
    preconditions: Preconditions,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, V1Error> {
    change(&state, &caller, format, &preconditions, &id, || {
        let input: PostReplacement = parse_body(body_format(&headers, "application/json")?, &body)?;
        let required = |value: Option<String>| value.map_or(Patch::Null, Patch::Value);
        Ok(PostUpdate {
            title: required(input.title),
            description: required(input.description),
            body: required(input.content),
            tags: Patch::Value(input.tags.unwrap_or_default()),
            status: input.status.map_or(Patch::Absent, Patch::Value),
            language: input.language.map_or(Patch::Null, Patch::Value),
            category: input.category.map_or(Patch::Null, Patch::Value),
            publish_at: input.publish_at.map_or(Patch::Null, Patch::Value),
            based_on: None,
        })
    })
    .await
}

/// `PATCH /api/v1/posts/{id}` with `application/merge-patch+json`.
#[utoipa::path(
    patch,
    path = "/api/v1/posts/{id}",
    operation_id = "patchPost",
    tag = "posts",
    params(("id" = i64, Path, description = "the post's id")),
    request_body(content = PostPatch, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses((status = 200, description = "changed", body = PostRepr))
)]
pub(crate) async fn patch<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    format: Format,
    preconditions: Preconditions,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, V1Error> {
    change(&state, &caller, format, &preconditions, &id, || {
        let input: PostPatch = parse_patch(
            body_format(&headers, "application/merge-patch+json")?,
            &body,
        )?;
        Ok(PostUpdate {
            title: input.title.into(),
            description: input.description.into(),
            body: input.content.into(),
            // In a merge patch, null removes the member: no tags.
            tags: match input.tags {
                Field::Null => Patch::Value(Vec::new()),
                tags => tags.into(),
            },
            language: input.language.into(),
            category: input.category.into(),
            publish_at: input.publish_at.into(),
            status: input.status.into(),
            based_on: None,
        })
    })
    .await
}

/// `DELETE /api/v1/posts/{id}`: 204, then 404 for the same request.
#[utoipa::path(
    delete,
    path = "/api/v1/posts/{id}",
    operation_id = "deletePost",
    tag = "posts",
    params(("id" = i64, Path, description = "the post's id")),
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
    let id = post_id(&id)?;
    // With If-Match, the version checked is also the version the delete requires.
    let mut based_on = None;
    if preconditions.has_if_match() {
        let current = state.quire.post(id, Some(&actor)).await?;
        Representation::of(format, "post", &PostRepr::from(&current))?
            .check_if_match(&preconditions)?;
        based_on = Some(current.updated_at);
    }
    state.quire.delete_post(&actor, id, based_on).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/v1/me/favorites/{postId}`: idempotent, 204.
#[utoipa::path(
    put,
    path = "/api/v1/me/favorites/{post_id}",
    operation_id = "favoritePost",
    tag = "posts",
    params(("post_id" = i64, Path, description = "the post")),
    security(("bearer" = [])),
    responses((status = 204, description = "a favorite"))
)]
pub(crate) async fn favorite<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    state.quire.favorite(&actor, post_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/me/favorites/{postId}`: idempotent, 204.
#[utoipa::path(
    delete,
    path = "/api/v1/me/favorites/{post_id}",
    operation_id = "unfavoritePost",
    tag = "posts",
    params(("post_id" = i64, Path, description = "the post")),
    security(("bearer" = [])),
    responses((status = 204, description = "not a favorite"))
)]
pub(crate) async fn unfavorite<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    state.quire.unfavorite(&actor, post_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl Wire for PostRepr {
    type Proto = proto::Post;
    fn proto(&self) -> proto::Post {
        proto::Post {
            post_id: self.post_id,
            slug: self.slug.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            content: self.content.clone(),
            tags: self.tags.clone(),
            status: self.status.to_owned(),
            published_at: self.published_at.clone(),
            language: self.language.clone(),
            category: self.category.clone(),
            publish_at: self.publish_at.clone(),
            content_html: self.content_html.clone(),
            toc: self
                .toc
                .iter()
                .flatten()
                .map(|entry| proto::TocEntry {
                    level: entry.level,
                    id: entry.id.clone(),
                    title: entry.title.clone(),
                })
                .collect(),
            reading_minutes: self.reading_minutes,
            author: Some(self.author.proto()),
            favorites_count: self.favorites_count,
            favorited: self.favorited,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

impl AuthorRepr {
    fn proto(&self) -> proto::Author {
        proto::Author {
            user_id: self.user_id,
            username: self.username.clone(),
            name: self.name.clone(),
            image: self.image.clone(),
            following: self.following,
        }
    }
}

impl Wire for PostList {
    type Proto = proto::PostList;
    fn proto(&self) -> proto::PostList {
        proto::PostList {
            items: self.items.iter().map(Wire::proto).collect(),
            next_cursor: self.next_cursor.clone(),
            total: self.total,
        }
    }
}

impl Wire for TagCloud {
    type Proto = proto::TagList;
    fn proto(&self) -> proto::TagList {
        proto::TagList {
            items: self.items.clone(),
        }
    }
}

impl FromWire for NewPost {
    type Proto = proto::NewPost;
    fn from_proto(message: proto::NewPost) -> Self {
        Self {
            title: message.title,
            description: message.description,
            content: message.content,
            // Protobuf cannot tell an absent list from an empty one: both mean no tags.
            tags: Some(message.tags),
            status: message.status,
            language: message.language,
            category: message.category,
            publish_at: message.publish_at,
        }
    }
}

impl FromWire for PostReplacement {
    type Proto = proto::PostReplacement;
    fn from_proto(message: proto::PostReplacement) -> Self {
        Self {
            title: message.title,
            description: message.description,
            content: message.content,
            tags: Some(message.tags),
            status: message.status,
            language: message.language,
            category: message.category,
            publish_at: message.publish_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_keep_the_query_and_replace_the_cursor() {
        let cursor = Cursor {
            at: quire_core::time::Timestamp::from_millis(5),
            id: PostId::new(7),
        };
        let uri: Uri = "/api/v1/posts?tag=rust&cursor=old&limit=2".parse().unwrap();
        let link = next_link(&uri, &cursor.encode());
        assert_eq!(
            link,
            format!(
                "</api/v1/posts?tag=rust&limit=2&cursor={}>; rel=\"next\"",
                cursor.encode()
            )
        );
        let bare: Uri = "/api/v1/posts".parse().unwrap();
        assert_eq!(
            next_link(&bare, &cursor.encode()),
            format!("</api/v1/posts?cursor={}>; rel=\"next\"", cursor.encode())
        );
    }
}

/// Another post, as a link to it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostLinkRepr {
    post_id: i64,
    slug: String,
    title: String,
    /// BCP 47.
    language: Option<String>,
    /// Its place in its series.
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<i64>,
}

impl From<&PostLink> for PostLinkRepr {
    fn from(link: &PostLink) -> Self {
        Self {
            post_id: link.id.get(),
            slug: link.slug.as_str().to_owned(),
            title: link.title.as_str().to_owned(),
            language: link.language.clone(),
            position: link.position,
        }
    }
}

impl Wire for PostLinkRepr {
    type Proto = proto::PostLink;
    fn proto(&self) -> proto::PostLink {
        proto::PostLink {
            post_id: self.post_id,
            slug: self.slug.clone(),
            title: self.title.clone(),
            language: self.language.clone(),
            position: self.position,
        }
    }
}

/// A post's series: its published posts in order, and the post's neighbours.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SeriesRepr {
    name: String,
    /// The post's own place.
    position: i64,
    posts: Vec<PostLinkRepr>,
    previous: Option<PostLinkRepr>,
    next: Option<PostLinkRepr>,
}

impl Wire for SeriesRepr {
    type Proto = proto::SeriesContents;
    fn proto(&self) -> proto::SeriesContents {
        proto::SeriesContents {
            name: self.name.clone(),
            position: self.position,
            posts: self.posts.iter().map(Wire::proto).collect(),
            previous: self.previous.as_ref().map(Wire::proto),
            next: self.next.as_ref().map(Wire::proto),
        }
    }
}

/// The other versions of a post, in other languages.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TranslationList {
    items: Vec<PostLinkRepr>,
}

impl Wire for TranslationList {
    type Proto = proto::PostLinkList;
    fn proto(&self) -> proto::PostLinkList {
        proto::PostLinkList {
            items: self.items.iter().map(Wire::proto).collect(),
        }
    }
}

/// Anonymous reads of links are public but not kept: no event names every post they show.
fn link_caching(signed_in: bool) -> Caching {
    if signed_in {
        Caching::Private
    } else {
        Caching::Public
    }
}

/// `GET /api/v1/posts/{id}/series`.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}/series",
    operation_id = "getPostSeries",
    tag = "posts",
    params(("id" = i64, Path, description = "the post's id")),
    responses(
        (status = 200, description = "the series: the same author's published posts of that name in the post's language, in order, and the post's previous and next", body = SeriesRepr),
        (status = 404, description = "no such post, or it is in no series"),
    )
)]
pub(crate) async fn series<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let Some(series) = state
        .quire
        .series_of(post_id(&id)?, viewer.as_ref())
        .await?
    else {
        return Err(super::problem::Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "the post is in no series",
        )
        .into());
    };
    let body = SeriesRepr {
        name: series.name,
        position: series.position,
        posts: series.posts.iter().map(PostLinkRepr::from).collect(),
        previous: series.previous.as_ref().map(PostLinkRepr::from),
        next: series.next.as_ref().map(PostLinkRepr::from),
    };
    Ok(Representation::of(format, "series", &body)?
        .respond(StatusCode::OK, link_caching(viewer.is_some())))
}

/// `GET /api/v1/posts/{id}/translations`.
#[utoipa::path(
    get,
    path = "/api/v1/posts/{id}/translations",
    operation_id = "listPostTranslations",
    tag = "posts",
    params(("id" = i64, Path, description = "the post's id")),
    responses((status = 200, description = "the post's published versions in other languages, by language", body = TranslationList))
)]
pub(crate) async fn translations<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let links = state
        .quire
        .translations_of(post_id(&id)?, viewer.as_ref())
        .await?;
    let body = TranslationList {
        items: links.iter().map(PostLinkRepr::from).collect(),
    };
    Ok(Representation::of(format, "translations", &body)?
        .respond(StatusCode::OK, link_caching(viewer.is_some())))
}
