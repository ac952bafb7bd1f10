use quire_grpc::pb::comment_service_client::CommentServiceClient;
use quire_proto::v1 as pb;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, header, on_both_engines};

on_both_engines! {
async fn comments_are_added_listed_oldest_first_and_deleted(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let reader = app.register("reader").await;
    app.create_article(&author, "Discussed", &[]).await;

    let first = app
        .post(
            "/api/articles/discussed/comments",
            Some(&reader.token),
            json!({ "comment": { "body": "First!" } }),
        )
        .await;
    assert_eq!(first.status, 201);
    let comment = &first.body["comment"];
    assert!(comment["id"].is_i64());
    assert_eq!(comment["body"], "First!");
    assert_eq!(comment["author"]["username"], "reader");
    assert!(comment["createdAt"].as_str().unwrap().ends_with('Z'));
    let second = app
        .post(
            "/api/articles/discussed/comments",
            Some(&author.token),
            json!({ "comment": { "body": "Second" } }),
        )
        .await;
    assert_eq!(second.status, 201);

    app.post(
        "/api/profiles/author/follow",
        Some(&reader.token),
        json!({}),
    )
    .await;
    let listed = app
        .get("/api/articles/discussed/comments", Some(&reader.token))
        .await;
    assert_eq!(listed.status, 200);
    let comments = listed.body["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["body"], "First!");
    assert_eq!(comments[1]["body"], "Second");
    assert_eq!(comments[1]["author"]["following"], true);
    assert_eq!(comments[0]["author"]["following"], false);

    let id = first.body["comment"]["id"].as_i64().unwrap();
    let deleted = app
        .delete(
            &format!("/api/articles/discussed/comments/{id}"),
            Some(&reader.token),
        )
        .await;
    assert_eq!(deleted.status, 204);
    let listed = app.get("/api/articles/discussed/comments", None).await;
    assert_eq!(listed.body["comments"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["comments"][0]["body"], "Second");
}

async fn comment_errors_follow_the_contract_order(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let token = Some(author.token.as_str());
    app.create_article(&author, "Here", &[]).await;
    app.create_article(&author, "There", &[]).await;
    let on_there = app
        .post(
            "/api/articles/there/comments",
            token,
            json!({ "comment": { "body": "elsewhere" } }),
        )
        .await;
    let there_id = on_there.body["comment"]["id"].as_i64().unwrap();

    assert_error(
        &app.post(
            "/api/articles/nope/comments",
            None,
            json!({ "comment": { "body": "x" } }),
        )
        .await,
        401,
        "token",
        "is missing",
    );
    assert_error(
        &app.post(
            "/api/articles/nope/comments",
            token,
            json!({ "comment": { "body": "x" } }),
        )
        .await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.post(
            "/api/articles/here/comments",
            token,
            json!({ "comment": { "body": " " } }),
        )
        .await,
        422,
        "body",
        "can't be blank",
    );
    assert_error(
        &app.get("/api/articles/nope/comments", None).await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.delete("/api/articles/nope/comments/1", token).await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.delete("/api/articles/here/comments/99999", token).await,
        404,
        "comment",
        "not found",
    );
    assert_error(
        &app.delete("/api/articles/here/comments/abc", token).await,
        404,
        "comment",
        "not found",
    );
    // A comment is addressed through its own article only.
    assert_error(
        &app.delete(&format!("/api/articles/here/comments/{there_id}"), token)
            .await,
        404,
        "comment",
        "not found",
    );
    assert_eq!(
        app.get("/api/articles/there/comments", None).await.body["comments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
}

on_both_engines! {
// However many comments a post has, every contract answers them a bounded page at a time,
// oldest first, and says where the next page starts; walking the pages gives each comment
// once.
async fn a_posts_comments_come_a_bounded_page_at_a_time_in_every_contract(engine: Engine) {
    let app = TestApp::spawn_unlimited(engine).await;
    let author = app.register("author").await;
    let reader = app.register("reader").await;
    let bearer = format!("Bearer {}", author.token);
    let created = app
        .request_with(
            Method::POST,
            "/api/v1/posts",
            &[("authorization", bearer.as_str())],
            Some(json!({ "title": "Long thread", "description": "d", "content": "c" })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let post_id = created.body["postId"].as_i64().unwrap();
    let slug = created.body["slug"].as_str().unwrap().to_owned();
    const COMMENTS: usize = 105;
    let path = format!("/api/articles/{slug}/comments");
    for n in 0..COMMENTS {
        let reply = app
            .post(&path, Some(&reader.token), json!({ "comment": { "body": format!("c{n}") } }))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let expected: Vec<String> = (0..COMMENTS).map(|n| format!("c{n}")).collect();
    // A second post, with exactly one small page of comments.
    app.create_article(&author, "Short thread", &[]).await;
    for n in 0..3 {
        let reply = app
            .post("/api/articles/short-thread/comments", Some(&reader.token), json!({ "comment": { "body": format!("s{n}") } }))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let bodies = |items: &Value, field: &str| -> Vec<String> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item[field].as_str().unwrap().to_owned())
            .collect()
    };

    // RealWorld: offset pages, 100 when no limit is sent, a Link to the next page.
    let first = app.get(&path, None).await;
    assert_eq!(first.status, 200);
    assert_eq!(bodies(&first.body["comments"], "body"), expected[..100]);
    let link = header(&first, "link");
    assert_eq!(link, format!("<{path}?limit=100&offset=100>; rel=\"next\""));
    let rest = app.get(&format!("{path}?limit=100&offset=100"), None).await;
    assert_eq!(bodies(&rest.body["comments"], "body"), expected[100..]);
    assert!(rest.headers.get("link").is_none(), "the last page names no next");
    let full_last = app.get(&format!("{path}?limit=5&offset=100"), None).await;
    assert_eq!(bodies(&full_last.body["comments"], "body"), expected[100..]);
    assert!(full_last.headers.get("link").is_none(), "a full last page promises no empty next one");
    let window = app.get(&format!("{path}?limit=3&offset=50"), None).await;
    assert_eq!(bodies(&window.body["comments"], "body"), expected[50..53]);
    assert_eq!(
        header(&window, "link"),
        format!("<{path}?limit=3&offset=53>; rel=\"next\"")
    );
    let capped = app.get(&format!("{path}?limit=5000"), Some(&reader.token)).await;
    assert_eq!(capped.body["comments"].as_array().unwrap().len(), 100);
    let past = app.get(&format!("{path}?offset=5000"), None).await;
    assert_eq!(past.status, 200);
    assert_eq!(past.body["comments"], json!([]));
    assert_error(&app.get(&format!("{path}?limit=0"), None).await, 422, "limit", "must be an integer of at least 1");
    assert_error(&app.get(&format!("{path}?offset=-1"), None).await, 422, "offset", "must be an integer of at least 0");

    // /api/v1: keyset pages of 20 by default, to 100; nextCursor and Link.
    let v1 = format!("/api/v1/posts/{post_id}/comments");
    let page = app.get(&v1, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(bodies(&page.body["items"], "content"), expected[..20]);
    let cursor = page.body["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(header(&page, "link"), format!("<{v1}?cursor={cursor}>; rel=\"next\""));
    // Following each Link, in pages that divide the thread: the last is full and names no next.
    let mut walked = Vec::new();
    let mut pages = 0;
    let mut next = Some(format!("{v1}?limit=35"));
    while let Some(at) = next.take() {
        let page = app.get(&at, Some(&reader.token)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        pages += 1;
        walked.extend(bodies(&page.body["items"], "content"));
        match page.body["nextCursor"].as_str() {
            Some(cursor) => {
                let link = format!("<{v1}?limit=35&cursor={cursor}>; rel=\"next\"");
                assert_eq!(header(&page, "link"), link);
                next = Some(format!("{v1}?limit=35&cursor={cursor}"));
            }
            None => assert!(page.headers.get("link").is_none()),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(walked, expected, "each comment once, in order");
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=garbage"] {
        let refused = app.get(&format!("{v1}?{bad}"), None).await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
    }
    let list = app.get("/api/v1/posts?limit=1", None).await;
    let post_cursor = list.body["nextCursor"].as_str().expect("two posts, pages of one");
    let foreign = app.get(&format!("{v1}?cursor={post_cursor}"), None).await;
    assert_eq!(foreign.status, 400, "a cursor of posts is not one of comments");

    // GraphQL: a Relay connection, 20 by default.
    let query = "query($id: ID!, $first: Int, $after: String) { post(id: $id) { \
                 comments(first: $first, after: $after) { nodes { body } \
                 edges { cursor } pageInfo { hasNextPage endCursor } } } }";
    let graphql = |first: Option<i64>, after: Option<String>| {
        let variables = json!({ "id": post_id.to_string(), "first": first, "after": after });
        let app = &app;
        async move {
            app.post("/graphql", None, json!({ "query": query, "variables": variables })).await
        }
    };
    let reply = graphql(None, None).await;
    let connection = &reply.body["data"]["post"]["comments"];
    assert_eq!(bodies(&connection["nodes"], "body"), expected[..20], "{}", reply.body);
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    let mut walked = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        pages += 1;
        let reply = graphql(Some(35), after.clone()).await;
        let connection = &reply.body["data"]["post"]["comments"];
        walked.extend(bodies(&connection["nodes"], "body"));
        let edges = connection["edges"].as_array().unwrap();
        assert_eq!(connection["pageInfo"]["endCursor"], edges.last().unwrap()["cursor"]);
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!((pages, walked), (3, expected.clone()), "the full last page has no next");
    // First pages of a page of posts come from the batch loader: a thread of exactly the
    // page has no next, a longer one has.
    let batched = app
        .post(
            "/graphql",
            None,
            json!({ "query": "{ posts(first: 2) { nodes { title \
                comments(first: 3) { nodes { body } pageInfo { hasNextPage } } } } }" }),
        )
        .await;
    let nodes = batched.body["data"]["posts"]["nodes"].as_array().unwrap_or_else(|| panic!("{}", batched.body));
    let thread = |title: &str| {
        nodes
            .iter()
            .find(|node| node["title"] == title)
            .map(|node| node["comments"].clone())
            .unwrap_or_else(|| panic!("{title}: {}", batched.body))
    };
    assert_eq!(bodies(&thread("Short thread")["nodes"], "body"), ["s0", "s1", "s2"]);
    assert_eq!(thread("Short thread")["pageInfo"]["hasNextPage"], false);
    assert_eq!(bodies(&thread("Long thread")["nodes"], "body"), expected[..3]);
    assert_eq!(thread("Long thread")["pageInfo"]["hasNextPage"], true);
    let refusal = "query($id: ID!, $first: Int, $after: String) { post(id: $id) { \
                   comments(first: $first, after: $after) { pageInfo { hasNextPage } } } }";
    for (first, after) in [(Some(101), None), (Some(0), None), (None, Some("garbage".to_owned()))] {
        let variables = json!({ "id": post_id.to_string(), "first": first, "after": after });
        let refused = app.post("/graphql", None, json!({ "query": refusal, "variables": variables })).await;
        assert_eq!(refused.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{}", refused.body);
    }

    // gRPC: page_size and cursor, next_cursor.
    let mut comments = CommentServiceClient::new(app.grpc_channel().await);
    let list = |page_size: Option<u32>, cursor: Option<String>| pb::ListCommentsRequest {
        post_id,
        page_size,
        cursor,
    };
    let first = comments.list_comments(list(None, None)).await.unwrap().into_inner();
    assert_eq!(first.items.len(), 20);
    let mut walked = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        pages += 1;
        let page = comments.list_comments(list(Some(35), cursor)).await.unwrap().into_inner();
        walked.extend(page.items.into_iter().map(|item| item.content));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!((pages, walked), (3, expected), "the full last page has no next");
    for (size, cursor) in [(Some(0), None), (Some(101), None), (None, Some("garbage".to_owned()))] {
        let refused = comments.list_comments(list(size, cursor)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    }
}
}
