//! Paging, the same on every contract: every list refuses a malformed or foreign cursor and a
//! page size out of range as its contract's bad input, and no list promises a next page that
//! would be empty.

use quire_grpc::pb::post_service_client::PostServiceClient;
use quire_grpc::pb::user_service_client::UserServiceClient;
use quire_proto::v1 as pb;
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{TestApp, on_both_engines};

async fn channel(app: &TestApp) -> Channel {
    app.grpc_channel().await
}

async fn gql(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.post(
        "/graphql",
        Some(token),
        json!({ "query": query, "variables": variables }),
    )
    .await
    .body
}

on_both_engines! {
async fn every_list_refuses_bad_cursors_and_sizes_as_bad_input(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let token = Some(alice.token.as_str());
    app.create_article(&alice, "One", &[]).await;
    let me = app.get("/api/v1/me", token).await.body["userId"].as_i64().unwrap();
    // A cursor of another kind of list is as foreign as garbage: "u.1" (hex) is how the server
    // writes a user cursor, "p.1700000000000.1" a post cursor.
    let user_cursor = "752e31".to_owned();
    assert_eq!(
        app.get(&format!("/api/v1/users?cursor={user_cursor}"), token).await.status,
        200
    );
    let garbage = ["garbage", "zz", "%00"];

    for list in [
        "/api/v1/posts".to_owned(),
        "/api/v1/me/feed".to_owned(),
        "/api/v1/users".to_owned(),
        format!("/api/v1/users/{me}/followers"),
        format!("/api/v1/users/{me}/following"),
    ] {
        let foreign = if list.contains("/posts") || list.contains("/feed") {
            user_cursor.clone()
        } else {
            "702e313730303030303030303030302e31".to_owned()
        };
        for query in garbage
            .iter()
            .map(|bad| format!("cursor={bad}"))
            .chain([format!("cursor={foreign}"), "limit=0".into(), "limit=101".into(), "limit=x".into()])
        {
            let reply = app.get(&format!("{list}?{query}"), token).await;
            assert_eq!(reply.status, 400, "{list}?{query}: {}", reply.body);
            assert_eq!(reply.body["type"], "/api/v1/problems/bad-query", "{}", reply.body);
            let field = reply.body["errors"][0]["field"].as_str().unwrap_or_default();
            assert!(query.starts_with(field) && !field.is_empty(), "{query}: {}", reply.body);
        }
    }

    let lists = [
        "query($a: String, $n: Int) { posts(first: $n, after: $a) { nodes { id } } }",
        "query($a: String, $n: Int) { feed(first: $n, after: $a) { nodes { id } } }",
        "query($a: String, $n: Int) { me { followers(first: $n, after: $a) { nodes { id } } } }",
        "query($a: String, $n: Int) { me { following(first: $n, after: $a) { nodes { id } } } }",
    ];
    for query in lists {
        for variables in [
            json!({ "a": "garbage" }),
            json!({ "a": "zz" }),
            json!({ "a": if query.contains("follow") { "702e312e31" } else { user_cursor.as_str() } }),
            json!({ "n": 0 }),
            json!({ "n": 500 }),
        ] {
            let body = gql(&app, &alice.token, query, variables.clone()).await;
            assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{query} {variables}: {body}");
        }
    }

    let channel = channel(&app).await;
    let mut posts = PostServiceClient::new(channel.clone());
    let mut users = UserServiceClient::new(channel);
    for request in [
        pb::ListPostsRequest { cursor: Some("garbage".into()), ..Default::default() },
        pb::ListPostsRequest { cursor: Some(user_cursor.clone()), ..Default::default() },
        pb::ListPostsRequest { page_size: Some(0), ..Default::default() },
        pb::ListPostsRequest { page_size: Some(500), ..Default::default() },
    ] {
        let refused = posts.list_posts(request.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{request:?}");
    }
    for request in [
        pb::ListUsersRequest { cursor: Some("garbage".into()), ..Default::default() },
        pb::ListUsersRequest { cursor: Some("702e312e31".into()), ..Default::default() },
        pb::ListUsersRequest { page_size: Some(0), ..Default::default() },
        pb::ListUsersRequest { page_size: Some(500), ..Default::default() },
    ] {
        let refused = users.list_users(request.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{request:?}");
    }
}

async fn no_list_promises_an_empty_page(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    for follower in [&bob, &carol] {
        let reply = app.post("/api/profiles/alice/follow", Some(&follower.token), json!({})).await;
        assert_eq!(reply.status, 200);
    }
    app.create_article(&alice, "One", &[]).await;
    app.create_article(&alice, "Two", &[]).await;
    let token = Some(alice.token.as_str());
    let alice_id = app.get("/api/v1/me", token).await.body["userId"].as_i64().unwrap();

    // Exactly a page's worth: no next cursor, no Link.
    for list in [
        "/api/v1/users?limit=3".to_owned(),
        format!("/api/v1/users/{alice_id}/followers?limit=2"),
        "/api/v1/posts?limit=2".to_owned(),
    ] {
        let reply = app.get(&list, token).await;
        assert_eq!(reply.status, 200, "{list}");
        assert!(reply.body.get("nextCursor").is_none(), "{list}: {}", reply.body);
        assert!(!reply.headers.contains_key("link"), "{list}");
    }
    // One short: a next page, which holds the rest.
    let first = app.get("/api/v1/users?limit=2", token).await;
    let next = first.body["nextCursor"].as_str().unwrap();
    let rest = app.get(&format!("/api/v1/users?limit=2&cursor={next}"), token).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);

    let mut users = UserServiceClient::new(channel(&app).await);
    let all = users
        .list_users(pb::ListUsersRequest { page_size: Some(3), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.items.len(), 3);
    assert_eq!(all.next_cursor, None);
    let first = users
        .list_users(pb::ListUsersRequest { page_size: Some(2), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let rest = users
        .list_users(pb::ListUsersRequest { page_size: Some(2), cursor: first.next_cursor })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);

    let followers = gql(
        &app,
        &alice.token,
        "query($a: String) { me { followers(first: 2, after: $a) { nodes { username } pageInfo { hasNextPage endCursor } } } }",
        json!({}),
    )
    .await;
    let page = &followers["data"]["me"]["followers"];
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{followers}");
    assert!(page["pageInfo"]["endCursor"].is_string(), "a page with edges has an end: {followers}");
    let one = gql(
        &app,
        &alice.token,
        "{ me { followers(first: 1) { nodes { username } pageInfo { hasNextPage endCursor } } } }",
        json!({}),
    )
    .await;
    let page = &one["data"]["me"]["followers"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{one}");
    let after = page["pageInfo"]["endCursor"].as_str().unwrap();
    let two = gql(
        &app,
        &alice.token,
        "query($a: String) { me { followers(first: 1, after: $a) { nodes { username } pageInfo { hasNextPage } } } }",
        json!({ "a": after }),
    )
    .await;
    assert_eq!(two["data"]["me"]["followers"]["nodes"], json!([{ "username": "carol" }]), "{two}");
    assert_eq!(two["data"]["me"]["followers"]["pageInfo"]["hasNextPage"], false);
}
}
