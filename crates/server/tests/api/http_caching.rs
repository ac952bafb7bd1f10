//! HTTP caching on every HTTP contract: anonymous reads of published content are shared, with
//! strong validators, `Last-Modified` and surrogate keys, and answer 304; personal reads are
//! private, and responses holding a token are never stored.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::helpers::{Engine, TestApp};

/// A GET with extra request headers: status, headers and the body's length.
async fn get(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, usize) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    (status, headers, bytes.len())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
}

fn keys(headers: &HeaderMap) -> Vec<&str> {
    header(headers, "surrogate-key").split(' ').collect()
}

/// Asserts that `path` is a shared view for anonymous readers, named by `expected` surrogate
/// keys (among others), revalidated with 304 by `ETag` (never by date alone), and private
/// for a signed-in reader. Answers its `ETag`.
async fn assert_shared(app: &TestApp, path: &str, token: &str, expected: &[String]) -> String {
    let (status, headers, _) = get(app, path, None, &[]).await;
    assert_eq!(status, 200, "{path}");
    let control = header(&headers, "cache-control");
    assert!(
        control.starts_with("public, max-age=0, s-maxage=")
            && control.contains("stale-while-revalidate="),
        "{path}: {control}"
    );
    let etag = header(&headers, "etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.len() > 2,
        "{path}: a strong ETag, got {etag}"
    );
    let modified = header(&headers, "last-modified").to_owned();
    httpdate::parse_http_date(&modified).unwrap();
    let named = keys(&headers);
    for key in expected {
        assert!(
            named.contains(&key.as_str()),
            "{path}: {key} not in {named:?}"
        );
    }
    assert_eq!(header(&headers, "xkey"), header(&headers, "surrogate-key"));
    assert_eq!(
        header(&headers, "cache-tag").split(',').collect::<Vec<_>>(),
        named
    );

    let (status, revalidated, length) =
        get(app, path, None, &[("if-none-match", etag.as_str())]).await;
    assert_eq!(status, 304, "{path}: If-None-Match with the current ETag");
    assert_eq!(length, 0);
    assert_eq!(header(&revalidated, "etag"), etag);
    assert_eq!(header(&revalidated, "cache-control"), control);
    let (status, ..) = get(app, path, None, &[("if-none-match", "\"stale\"")]).await;
    assert_eq!(status, 200, "{path}: a stale ETag");
    // A date alone never gets 304: two versions read within one second share it.
    let (status, ..) = get(app, path, None, &[("if-modified-since", modified.as_str())]).await;
    assert_eq!(status, 200, "{path}: If-Modified-Since alone");

    let (status, personal, _) = get(app, path, Some(token), &[]).await;
    assert_eq!(status, 200, "{path}");
    assert_eq!(
        header(&personal, "cache-control"),
        "private, no-cache",
        "{path}"
    );
    assert!(personal.get("surrogate-key").is_none(), "{path}");
    assert!(personal.get("xkey").is_none(), "{path}");
    etag
}

#[tokio::test]
async fn anonymous_reads_of_published_content_are_shared_and_revalidated() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let article = app.create_article(&alice, "Shared", &["rust"]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let reply = app.get(&format!("/api/articles/{slug}"), None).await;
    assert_eq!(reply.status, 200);
    let comment = app
        .post(
            &format!("/api/articles/{slug}/comments"),
            Some(&bob.token),
            json!({"comment": {"body": "Nice"}}),
        )
        .await;
    assert_eq!(comment.status, 201, "{}", comment.body);
    let v1 = app.get("/api/v1/posts?author=alice", None).await;
    let id = v1.body["items"][0]["postId"].as_i64().unwrap();
    let alice_id = v1.body["items"][0]["author"]["userId"].as_i64().unwrap();
    let post_key = format!("post:{id}");

    let article_etag = assert_shared(
        &app,
        &format!("/api/articles/{slug}"),
        &bob.token,
        std::slice::from_ref(&post_key),
    )
    .await;
    assert_shared(
        &app,
        "/api/articles",
        &bob.token,
        &["posts".to_owned(), post_key.clone()],
    )
    .await;
    assert_shared(
        &app,
        "/api/articles?tag=rust",
        &bob.token,
        &["posts:tag:rust".to_owned(), post_key.clone()],
    )
    .await;
    let by_author = assert_shared(
        &app,
        "/api/articles?author=alice",
        &bob.token,
        std::slice::from_ref(&post_key),
    )
    .await;
    assert!(!by_author.is_empty());
    assert_shared(&app, "/api/tags", &bob.token, &["tags".to_owned()]).await;
    assert_shared(
        &app,
        "/api/profiles/alice",
        &bob.token,
        &[format!("user:{alice_id}")],
    )
    .await;
    assert_shared(
        &app,
        &format!("/api/articles/{slug}/comments"),
        &bob.token,
        &[format!("comments:post:{id}"), post_key.clone()],
    )
    .await;
    assert_shared(
        &app,
        &format!("/api/v1/posts/{id}"),
        &bob.token,
        std::slice::from_ref(&post_key),
    )
    .await;
    assert_shared(&app, "/api/v1/tags", &bob.token, &["tags".to_owned()]).await;
    assert_shared(
        &app,
        &format!("/api/v1/posts/{id}/comments"),
        &bob.token,
        &[format!("comments:post:{id}")],
    )
    .await;

    // A change gives a new validator: the old one no longer gets 304.
    let reply = app
        .put(
            &format!("/api/articles/{slug}"),
            Some(&alice.token),
            json!({"article": {"description": "changed"}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (status, headers, _) = get(
        &app,
        &format!("/api/articles/{slug}"),
        None,
        &[("if-none-match", article_etag.as_str())],
    )
    .await;
    assert_eq!(status, 200, "the post changed");
    assert_ne!(header(&headers, "etag"), article_etag);
}

#[tokio::test]
async fn personal_and_unnamed_reads_are_never_shared() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let article = app.create_article(&alice, "Liked", &[]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let reply = app
        .post(
            &format!("/api/articles/{slug}/favorite"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);

    // A token is never stored, by anyone.
    let (status, headers, _) = get(&app, "/api/user", Some(&alice.token), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), "no-store");
    let login = app
        .client
        .post(app.url("/api/users/login"))
        .json(&json!({"user": {"email": "alice@example.com", "password": "password123"}}))
        .send()
        .await
        .unwrap();
    if login.status() == 200 {
        assert_eq!(header(login.headers(), "cache-control"), "no-store");
    }

    // A draft is its author's alone.
    let draft = app.create_draft(&alice, "Secret").await;
    let id = draft["postId"].as_i64().unwrap();
    let (status, headers, _) = get(
        &app,
        &format!("/api/v1/posts/{id}"),
        Some(&alice.token),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), "private, no-cache");
    assert!(headers.get("surrogate-key").is_none());

    // A list no event names (by favoriting user) is public but revalidated every time, and
    // still answers 304 by its ETag.
    let path = "/api/articles?favorited=bob";
    let (status, headers, _) = get(&app, path, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), "public, no-cache");
    assert!(headers.get("surrogate-key").is_none());
    let etag = header(&headers, "etag").to_owned();
    let (status, ..) = get(&app, path, None, &[("if-none-match", etag.as_str())]).await;
    assert_eq!(status, 304);

    // Errors carry no caching headers of a view.
    let (status, headers, _) = get(&app, "/api/articles/no-such-post", None, &[]).await;
    assert_eq!(status, 404);
    assert!(headers.get("surrogate-key").is_none());
    assert!(headers.get("etag").is_none());
}

#[tokio::test]
async fn graphql_reads_over_get_are_revalidated_and_personal_ones_private() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let alice = app.register("alice").await;
    app.create_article(&alice, "Queried", &["gql"]).await;
    let path = "/graphql?query=%7Bposts(first%3A5)%7Bedges%7Bnode%7Bslug%7D%7D%7D%7D";
    let (status, headers, _) = get(&app, path, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), "public, no-cache");
    let etag = header(&headers, "etag").to_owned();
    let (status, _, length) = get(&app, path, None, &[("if-none-match", etag.as_str())]).await;
    assert_eq!((status, length), (StatusCode::NOT_MODIFIED, 0));
    let (status, headers, _) = get(&app, path, Some(&alice.token), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), "private, no-cache");
    // A write over POST is not a read: no caching headers of one.
    let reply = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ posts(first: 1) { edges { node { slug } } } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().get("etag").is_none());
}
