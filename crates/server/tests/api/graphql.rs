//! `/graphql`: the guide's query and the email rule, mutations on the same policy as REST,
//! subscriptions fed by writes over `/api`, a fixed statement count for any page size, limits
//! that refuse before anything runs, the GraphiQL page, and the committed SDL.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use quire_core::roles::Roles;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Engine, Reply, TestApp, TestEnv, TestUser, next_frame, on_both_engines};

/// Section 5.3 of the backend guide, exactly as written there.
const GET_USER: &str = "query GetUser($id: ID!) {
  user(id: $id) {
    id
    name
    email
    posts {
      id
      title
      content
    }
  }
}";

async fn gql(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Reply {
    app.post(
        "/graphql",
        token,
        json!({ "query": query, "variables": variables }),
    )
    .await
}

/// The data of a reply that must have no errors.
fn data(reply: &Reply) -> &Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    &reply.body["data"]
}

/// The code of the first error.
fn code(reply: &Reply) -> &str {
    reply.body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {}", reply.body))
}

async fn id_of(app: &TestApp, user: &TestUser) -> String {
    let reply = gql(app, Some(&user.token), "{ me { id } }", json!({})).await;
    data(&reply)["me"]["id"].as_str().unwrap().to_owned()
}

on_both_engines! {
    async fn the_guides_query_shows_email_only_to_its_owner(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let bob = app.register("bob").await;
        let admin = app.user_with_roles("root", Roles::REGISTERED.with(quire_core::roles::Role::Admin)).await;
        app.create_article(&alice, "First light", &["intro"]).await;
        app.create_article(&alice, "Second thoughts", &[]).await;
        let id = id_of(&app, &alice).await;

        let own = gql(&app, Some(&alice.token), GET_USER, json!({ "id": id })).await;
        let user = &data(&own)["user"];
        assert_eq!(user["id"], id.as_str());
        assert_eq!(user["email"], "alice@example.com");
        assert!(user.as_object().unwrap().contains_key("name"), "{user}");
        let posts = user["posts"].as_array().unwrap();
        let titles: Vec<&str> = posts.iter().map(|post| post["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Second thoughts", "First light"]);
        assert_eq!(posts[1]["content"], "# First light\n\nText.");
        assert!(posts.iter().all(|post| post["id"].is_string()));

        for token in [None, Some(bob.token.as_str())] {
            let other = gql(&app, token, GET_USER, json!({ "id": id })).await;
            assert_eq!(other.status, StatusCode::OK);
            let user = &other.body["data"]["user"];
            // Present and null, as the spec asks, not left out.
            assert_eq!(user.get("email"), Some(&Value::Null), "{}", other.body);
            assert_eq!(user["posts"].as_array().unwrap().len(), 2);
            assert_eq!(user["posts"][0]["content"], "# Second thoughts\n\nText.");
            let errors = other.body["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{}", other.body);
            assert_eq!(errors[0]["path"], json!(["user", "email"]));
            assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN");
        }

        let by_admin = gql(&app, Some(&admin.token), GET_USER, json!({ "id": id })).await;
        assert_eq!(data(&by_admin)["user"]["email"], "alice@example.com");

        // The same rule through a post's author, which is batch-loaded.
        let through_post = gql(
            &app,
            None,
            "{ posts(first: 1) { edges { node { author { username email } } } } }",
            json!({}),
        )
        .await;
        assert_eq!(through_post.body["errors"][0]["extensions"]["code"], "FORBIDDEN");
        assert_eq!(
            through_post.body["errors"][0]["path"],
            json!(["posts", "edges", 0, "node", "author", "email"])
        );
        assert_eq!(
            through_post.body["data"]["posts"]["edges"][0]["node"]["author"],
            json!({ "username": "alice", "email": null })
        );

        let missing = gql(&app, None, GET_USER, json!({ "id": "999999" })).await;
        assert_eq!(code(&missing), "NOT_FOUND");
        assert_eq!(missing.body["data"], json!({ "user": null }));
    }

    async fn twenty_posts_cost_the_statements_of_one(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let mut authors = Vec::new();
        for n in 0..4 {
            authors.push(app.register_as(format!("writer{n}")).await);
        }
        let reader = app.register("reader").await;
        for n in 0..20 {
            let article = app
                .create_article(&authors[n % 4], &format!("Post {n}"), &["rust", &format!("t{n}")])
                .await;
            let slug = article["slug"].as_str().unwrap();
            for commenter in [&reader, &authors[(n + 1) % 4]] {
                let reply = app
                    .post(
                        &format!("/api/articles/{slug}/comments"),
                        Some(&commenter.token),
                        json!({ "comment": { "body": format!("on {n}") } }),
                    )
                    .await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            }
        }
        for n in 0..4 {
            let reply = app.post(&format!("/api/profiles/writer{n}/follow"), Some(&reader.token), json!({})).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
        let queries = [
            "query($n: Int) { posts(first: $n) { edges { node { author { name } tags comments(first: 2) { nodes { author { name } } } favoritesCount } } } }",
            "query($n: Int) { posts(first: $n) { edges { node { author { followers(first: 2) { nodes { username } } following(first: 2) { nodes { username } } } comments(first: 2) { nodes { author { followers(first: 2) { nodes { username } } } } } } } } }",
            "query($n: Int) { posts(first: $n) { edges { node { content favorited author { email isActive followedByViewer posts(first: 3) { title content } } comments(first: 1) { nodes { body author { roles } } pageInfo { hasNextPage } } } } totalCount } }",
        ];
        for query in queries {
            let mut counts = Vec::new();
            for n in [1, 20] {
                let before = app.statements();
                let reply = gql(&app, Some(&reader.token), query, json!({ "n": n })).await;
                let spent = app.statements() - before;
                let body = &reply.body;
                let edges = body["data"]["posts"]["edges"].as_array().unwrap_or_else(|| panic!("{body}"));
                assert_eq!(edges.len(), n, "{body}");
                for edge in edges {
                    let comments = &edge["node"]["comments"];
                    let wanted = if comments.get("pageInfo").is_some() { 1 } else { 2 };
                    assert_eq!(comments["nodes"].as_array().unwrap().len(), wanted, "{body}");
                    if let Some(info) = comments.get("pageInfo") {
                        assert_eq!(info["hasNextPage"], true, "{body}");
                    }
                    if let Some(followers) = edge["node"]["author"].get("followers") {
                        assert_eq!(followers["nodes"], json!([{ "username": "reader" }]), "{body}");
                    }
                }
                counts.push(spent);
            }
            assert_eq!(counts[0], counts[1], "{query}: 1 post took {} statements, 20 took {}", counts[0], counts[1]);
            assert!(counts[1] <= 9, "{query}: {} statements", counts[1]);
        }
        // The first query: authenticating, the page with its tags and authors, the comments'
        // posts, the comments with their authors.
        let before = app.statements();
        gql(&app, Some(&reader.token), queries[0], json!({ "n": 20 })).await;
        assert_eq!(app.statements() - before, 4);
    }

    async fn limits_refuse_before_anything_runs(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        app.create_article(&alice, "Only post", &[]).await;

        let mut deep = String::from("title");
        for _ in 0..25 {
            deep = format!("author {{ posts(first: 1) {{ {deep} }} }}");
        }
        let deep = format!("{{ post(id: \"1\") {{ {deep} }} }}");
        let aliases: String = (0..1000).map(|n| format!("a{n}: tags ")).collect();
        let costly = "{ posts(first: 100) { edges { node { author { posts(first: 100) { title } } } } } }";
        // Forty fragments each spreading the next twice: 2^40 fields once inlined.
        let mut bomb = String::from("{ ...F0 }");
        for n in 0..40 {
            bomb.push_str(&format!(" fragment F{n} on Query {{ ...F{next} ...F{next} }}", next = n + 1));
        }
        bomb.push_str(" fragment F40 on Query { tags }");
        let cases = [
            (bomb, "LIMIT_EXCEEDED", "fields"),
            (deep, "LIMIT_EXCEEDED", "nested"),
            (format!("{{ {aliases} }}"), "LIMIT_EXCEEDED", "aliases"),
            (costly.to_owned(), "GRAPHQL_VALIDATION_FAILED", "complex"),
        ];
        for (query, expected, word) in &cases {
            let before = app.statements();
            let reply = gql(&app, None, query, json!({})).await;
            assert_eq!(app.statements(), before, "{word}: statements ran");
            assert_eq!(code(&reply), *expected, "{}", reply.body);
            let message = reply.body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(word), "{message}");
            assert_eq!(reply.body["data"], Value::Null, "{}", reply.body);
        }

        // Batches: a few operations run; too many are refused whole.
        let two = app
            .post("/graphql", None, json!([{ "query": "{ tags }" }, { "query": "{ posts { totalCount } }" }]))
            .await;
        assert_eq!(two.status, StatusCode::OK);
        assert_eq!(two.body[1]["data"]["posts"]["totalCount"], 1, "{}", two.body);
        let many: Vec<Value> = (0..11).map(|_| json!({ "query": "{ tags }" })).collect();
        let refused = app.post("/graphql", None, Value::Array(many)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(code(&refused), "LIMIT_EXCEEDED");

        // Syntax and unknown fields are the client's errors, labelled as such.
        let broken = gql(&app, None, "{ posts { ", json!({})).await;
        assert_eq!(code(&broken), "GRAPHQL_PARSE_FAILED", "{}", broken.body);
        let unknown = gql(&app, None, "{ nonsense }", json!({})).await;
        assert_eq!(code(&unknown), "GRAPHQL_VALIDATION_FAILED", "{}", unknown.body);
        let bad_cursor = gql(&app, None, "{ posts(after: \"zz\") { totalCount } }", json!({})).await;
        assert_eq!(code(&bad_cursor), "BAD_USER_INPUT", "{}", bad_cursor.body);
    }

    async fn authorization_matches_rest(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let bob = app.register("bob").await;
        let admin = app.user_with_roles("root", Roles::REGISTERED.with(quire_core::roles::Role::Admin)).await;
        let created = gql(
            &app,
            Some(&alice.token),
            "mutation { createPost(input: { title: \"Mine\", description: \"d\", content: \"c\", tags: [\"x\"] }) { id slug } }",
            json!({}),
        )
        .await;
        let post = data(&created)["createPost"]["id"].as_str().unwrap().to_owned();
        let slug = data(&created)["createPost"]["slug"].as_str().unwrap().to_owned();

        let update = "mutation($id: ID!) { updatePost(id: $id, input: { title: \"Theirs\" }) { title } }";
        let refused = gql(&app, Some(&bob.token), update, json!({ "id": post })).await;
        assert_eq!(code(&refused), "FORBIDDEN");
        let delete = "mutation($id: ID!) { deletePost(id: $id) }";
        let refused = gql(&app, Some(&bob.token), delete, json!({ "id": post })).await;
        assert_eq!(code(&refused), "FORBIDDEN");
        let anonymous = gql(&app, None, delete, json!({ "id": post })).await;
        assert_eq!(code(&anonymous), "UNAUTHENTICATED");
        let still = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(still.body["article"]["title"], "Mine");

        // Only admins change roles and activation.
        let bob_id = id_of(&app, &bob).await;
        let deactivate = "mutation($id: ID!) { setUserActive(id: $id, active: false) { isActive } }";
        let refused = gql(&app, Some(&alice.token), deactivate, json!({ "id": bob_id })).await;
        assert_eq!(code(&refused), "FORBIDDEN");
        let done = gql(&app, Some(&admin.token), deactivate, json!({ "id": bob_id })).await;
        assert_eq!(data(&done)["setUserActive"]["isActive"], false);

        // A deactivated user's token is refused, not served as anonymous.
        let gone = gql(&app, Some(&bob.token), "{ tags }", json!({})).await;
        assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&gone), "UNAUTHENTICATED");
        let forged = gql(&app, Some("not-a-token"), "{ tags }", json!({})).await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

        let deleted = gql(&app, Some(&alice.token), delete, json!({ "id": post })).await;
        assert_eq!(data(&deleted)["deletePost"], post.as_str());
        let after = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(after.status, StatusCode::NOT_FOUND);
    }

    async fn mutations_do_what_rest_does(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let registered = gql(
            &app,
            None,
            "mutation { register(input: { username: \"carol\", email: \"carol@example.com\", password: \"quiet harbour lantern at dawn\" }) { token user { username email roles } } }",
            json!({}),
        )
        .await;
        let carol = &data(&registered)["register"];
        assert_eq!(carol["user"]["email"], "carol@example.com");
        assert_eq!(carol["user"]["roles"], json!(["reader", "commenter", "author"]));
        let taken = gql(
            &app,
            None,
            "mutation { register(input: { username: \"Carol\", email: \"c2@example.com\", password: \"quiet harbour lantern at dawn\" }) { token } }",
            json!({}),
        )
        .await;
        assert_eq!(code(&taken), "CONFLICT");
        assert!(taken.body["errors"][0]["extensions"]["fields"]["username"].is_array());

        let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { username } } }";
        let wrong = gql(&app, None, login, json!({ "e": "carol@example.com", "p": "nope-nope" })).await;
        assert_eq!(code(&wrong), "UNAUTHENTICATED");
        let signed = gql(&app, None, login, json!({ "e": "carol@example.com", "p": "quiet harbour lantern at dawn" })).await;
        let token = data(&signed)["login"]["token"].as_str().unwrap().to_owned();
        let token = Some(token.as_str());

        let changed = gql(&app, token, "mutation { updateMe(input: { bio: \"Writes.\" }) { bio } }", json!({})).await;
        assert_eq!(data(&changed)["updateMe"]["bio"], "Writes.");
        let cleared = gql(&app, token, "mutation { updateMe(input: { bio: null }) { bio } }", json!({})).await;
        assert_eq!(data(&cleared)["updateMe"]["bio"], Value::Null);

        let blank = gql(
            &app,
            token,
            "mutation { createPost(input: { title: \" \", description: \"d\", content: \"c\" }) { id } }",
            json!({}),
        )
        .await;
        assert_eq!(code(&blank), "BAD_USER_INPUT");
        assert_eq!(blank.body["errors"][0]["extensions"]["fields"]["title"][0], "can't be blank");

        let draft = gql(
            &app,
            token,
            "mutation { createPost(input: { title: \"Draft\", description: \"d\", content: \"c\", status: DRAFT, language: \"en\" }) { id status publishedAt language } }",
            json!({}),
        )
        .await;
        let draft = data(&draft)["createPost"].clone();
        assert_eq!(draft["status"], "DRAFT");
        assert_eq!(draft["publishedAt"], Value::Null);
        let hidden = gql(&app, None, "query($id: ID!) { post(id: $id) { title } }", json!({ "id": draft["id"] })).await;
        assert_eq!(code(&hidden), "NOT_FOUND");
        let drafts = gql(&app, token, "{ posts(drafts: true) { edges { node { title } } } }", json!({})).await;
        assert_eq!(data(&drafts)["posts"]["edges"][0]["node"]["title"], "Draft");
        let published = gql(
            &app,
            token,
            "mutation($id: ID!) { updatePost(id: $id, input: { status: PUBLISHED, tags: [\"news\"], language: null }) { status tags language publishedAt } }",
            json!({ "id": draft["id"] }),
        )
        .await;
        let published = &data(&published)["updatePost"];
        assert_eq!(published["status"], "PUBLISHED");
        assert_eq!(published["tags"], json!(["news"]));
        assert_eq!(published["language"], Value::Null);
        assert!(published["publishedAt"].is_string());

        let dave = app.register("dave").await;
        let dave_token = Some(dave.token.as_str());
        let carol_id = data(&gql(&app, token, "{ me { id } }", json!({})).await)["me"]["id"].clone();
        let followed = gql(&app, dave_token, "mutation($id: ID!) { followUser(id: $id) { username followedByViewer } }", json!({ "id": carol_id })).await;
        assert_eq!(data(&followed)["followUser"]["followedByViewer"], true);
        let feed = gql(&app, dave_token, "{ feed { edges { node { title } } } }", json!({})).await;
        assert_eq!(data(&feed)["feed"]["edges"][0]["node"]["title"], "Draft");
        let followers = gql(&app, None, "query($id: ID!) { user(id: $id) { followers { edges { node { username } } pageInfo { hasNextPage endCursor } } } }", json!({ "id": carol_id })).await;
        assert_eq!(data(&followers)["user"]["followers"]["edges"][0]["node"], json!({ "username": "dave" }));
        assert_eq!(data(&followers)["user"]["followers"]["pageInfo"]["hasNextPage"], false);
        let favorite = gql(&app, dave_token, "mutation($id: ID!) { favoritePost(id: $id) { favorited favoritesCount } }", json!({ "id": draft["id"] })).await;
        assert_eq!(data(&favorite)["favoritePost"], json!({ "favorited": true, "favoritesCount": 1 }));
        let comment = gql(&app, dave_token, "mutation($id: ID!) { addComment(postId: $id, body: \"Nice.\") { id body author { username } } }", json!({ "id": draft["id"] })).await;
        let comment = data(&comment)["addComment"].clone();
        assert_eq!(comment["author"]["username"], "dave");
        let not_yours = gql(&app, token, "mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": comment["id"] })).await;
        assert_eq!(code(&not_yours), "FORBIDDEN");
        let removed = gql(&app, dave_token, "mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": comment["id"] })).await;
        assert_eq!(data(&removed)["deleteComment"], comment["id"]);
        let unfollowed = gql(&app, dave_token, "mutation($id: ID!) { unfollowUser(id: $id) { followedByViewer } }", json!({ "id": carol_id })).await;
        assert_eq!(data(&unfollowed)["unfollowUser"]["followedByViewer"], false);
        let tags = gql(&app, None, "{ tags }", json!({})).await;
        assert_eq!(data(&tags)["tags"], json!(["news"]));
        let by_slug = gql(&app, None, "{ userByUsername(username: \"carol\") { bio posts { title } } }", json!({})).await;
        assert_eq!(data(&by_slug)["userByUsername"]["posts"][0]["title"], "Draft");
    }

    async fn subscribers_hear_of_writes_made_over_rest(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let bob = app.register("bob").await;
        let article = app.create_article(&alice, "Listened to", &[]).await;
        let slug = article["slug"].as_str().unwrap();
        let post_id = data(&gql(&app, None, "query($s: String!) { postBySlug(slug: $s) { id } }", json!({ "s": slug })).await)["postBySlug"]["id"].clone();

        let (mut socket, response) = app.graphql_socket().await;
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        let send = |value: Value| Message::text(value.to_string());
        socket
            .send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", bob.token) } })))
            .await
            .unwrap();
        let next_json = |message: Option<Result<Message, _>>| -> Value {
            match message {
                Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
                other => panic!("unexpected message {other:?}"),
            }
        };
        assert_eq!(next_json(socket.next().await)["type"], "connection_ack");
        socket
            .send(send(json!({ "id": "c", "type": "subscribe", "payload": {
                "query": "subscription($p: ID!) { commentAdded(postId: $p) { body author { username } } }",
                "variables": { "p": post_id },
            } })))
            .await
            .unwrap();
        socket
            .send(send(json!({ "id": "p", "type": "subscribe", "payload": {
                "query": "subscription { postPublished { title author { username } } }",
            } })))
            .await
            .unwrap();
        // A subscription listens once its operation has run, which the protocol does not
        // announce: write until it hears (each write is a fresh event).
        let heard = until_heard(&mut socket, "c", || async {
            let posted = app
                .post(&format!("/api/articles/{slug}/comments"), Some(&alice.token), json!({ "comment": { "body": "Heard?" } }))
                .await;
            assert_eq!(posted.status, StatusCode::CREATED);
        })
        .await;
        assert_eq!(heard["type"], "next", "{heard}");
        assert_eq!(heard["payload"]["data"]["commentAdded"], json!({ "body": "Heard?", "author": { "username": "alice" } }));

        // The first article's own publication may still be on its way (the relay delivers
        // after commit): what matters is that this one is heard.
        let mut heard = Value::Null;
        for _ in 0..5 {
            heard = until_heard(&mut socket, "p", || async {
                app.create_article(&alice, "Fresh", &[]).await;
            })
            .await;
            if heard["payload"]["data"]["postPublished"]["title"] == "Fresh" {
                break;
            }
        }
        assert_eq!(heard["payload"]["data"]["postPublished"]["title"], "Fresh", "{heard}");

        // A bad token closes the connection instead of serving it as anonymous.
        let (mut refused, _) = app.graphql_socket().await;
        refused
            .send(send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer forged" } })))
            .await
            .unwrap();
        match refused.next().await {
            // graphql-transport-ws's "Forbidden", with the reason.
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4403);
                assert!(frame.reason.as_str().contains("token"), "{}", frame.reason);
            }
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn graphiql_is_served_offline_and_queries_work_over_get() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let page = client
        .get(app.url("/graphql"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'")
    );
    let html = page.text().await.unwrap();
    let sources: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
        .collect();
    assert_eq!(sources.len(), 5, "{html}");
    for source in sources {
        assert!(
            source.starts_with("/graphql/assets/"),
            "{source} is not served here"
        );
        for gzip in [true, false] {
            let mut request = client.get(app.url(source));
            if gzip {
                request = request.header("Accept-Encoding", "gzip");
            }
            let asset = request.send().await.unwrap();
            assert_eq!(asset.status(), StatusCode::OK, "{source}");
            let encoded = asset.headers().get("content-encoding").is_some();
            let bytes = asset.bytes().await.unwrap();
            assert!(bytes.len() > 100, "{source}");
            if !gzip {
                assert!(!encoded, "{source}");
                assert!(std::str::from_utf8(&bytes).is_ok(), "{source} is not text");
            }
        }
    }

    let query = app.get("/graphql?query=%7B%20tags%20%7D", None).await;
    assert_eq!(query.body, json!({ "data": { "tags": [] } }));
    let mutation = app
        .get(
            "/graphql?query=mutation%20%7B%20deletePost(id%3A%20%221%22)%20%7D",
            None,
        )
        .await;
    assert_eq!(mutation.status, StatusCode::METHOD_NOT_ALLOWED);
    let form = client
        .post(app.url("/graphql"))
        .header("Content-Type", "text/plain")
        .body(r#"{"query":"{ tags }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let query = "{ __schema { queryType { name } } }";
    let open = TestApp::spawn(Engine::Sqlite).await;
    let reply = gql(&open, None, query, json!({})).await;
    assert_eq!(data(&reply)["__schema"]["queryType"]["name"], "Query");
    // GraphiQL's introspection query is deeper than the depth limit; it still runs.
    let full = gql(&open, None, INTROSPECTION, json!({})).await;
    assert!(data(&full)["__schema"]["types"].as_array().unwrap().len() > 10);

    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.graphql.introspection = false;
    let closed = TestApp::spawn_with(config, env).await;
    let reply = gql(&closed, None, query, json!({})).await;
    assert_eq!(code(&reply), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("introspection"),
        "{}",
        reply.body
    );
    let hidden = gql(
        &closed,
        None,
        "{ __type(name: \"Post\") { name } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&hidden), "GRAPHQL_VALIDATION_FAILED");
    // __typename is not introspection of the schema; it stays.
    let typename = gql(&closed, None, "{ __typename }", json!({})).await;
    assert_eq!(data(&typename)["__typename"], "Query");
    let tags = gql(&closed, None, "{ tags }", json!({})).await;
    assert_eq!(data(&tags)["tags"], json!([]));
}

#[test]
fn the_served_schema_is_the_committed_contract() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../graphql/schema.graphql"
    ))
    .expect("crates/graphql/schema.graphql");
    let served = quire_graphql::sdl::<quire_storage::Db>();
    assert!(
        committed == served,
        "the GraphQL schema changed; review the change and commit it with \
         `cargo run -q -- graphql-schema > crates/graphql/schema.graphql`\n{served}"
    );
}

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = "query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}";

/// GraphQL over HTTP, section 6.4: a request error has no `data`; sent as
/// `application/graphql-response+json` it is a 400, as `application/json` a 200.
#[tokio::test]
async fn request_errors_follow_graphql_over_http() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    for (accept, status, media) in [
        (
            "application/graphql-response+json",
            400,
            "application/graphql-response+json",
        ),
        (
            "application/graphql-response+json, application/json;q=0.9",
            400,
            "application/graphql-response+json",
        ),
        ("application/json", 200, "application/json"),
    ] {
        for query in ["{ nope }", "{ tags ", "{ me { id } }"] {
            let response = app
                .client
                .post(app.url("/graphql"))
                .header("accept", accept)
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap();
            let (got, headers) = (response.status(), response.headers().clone());
            let body: Value = response.json().await.unwrap();
            if query == "{ me { id } }" {
                // A field error during execution is no request error: data, and 200.
                assert_eq!(got, 200, "{body}");
                assert!(body.get("data").is_some(), "{body}");
                continue;
            }
            assert_eq!(got.as_u16(), status, "{accept} {query}: {body}");
            assert!(
                headers["content-type"].to_str().unwrap().starts_with(media),
                "{accept}"
            );
            assert!(body.get("data").is_none(), "{accept} {query}: {body}");
            assert!(
                body["errors"][0]["extensions"]["code"].is_string(),
                "{body}"
            );
        }
    }
}

/// Performs `write` until the subscription `id` hears of it (at most 20 times, half a second
/// apart), and answers what it heard; messages for other subscriptions are passed over.
pub async fn until_heard<S, W, F>(socket: &mut S, id: &str, mut write: W) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    W: FnMut() -> F,
    F: std::future::Future<Output = ()>,
{
    for _ in 0..20 {
        write().await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout_at(deadline, socket.next()).await
        {
            let message: Value = serde_json::from_str(text.as_str()).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    }
    panic!("subscription {id} heard nothing after 20 writes");
}

/// graphql-transport-ws: a subscribe that fails validation gets one `error` message (no
/// `next`, no `complete`); a subscribe with an id already running closes with 4409.
#[tokio::test]
async fn subscriptions_follow_graphql_transport_ws() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let (mut socket, _) = app.graphql_socket().await;
    let send = |value: Value| Message::text(value.to_string());
    socket
        .send(send(json!({ "type": "connection_init" })))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket).await["type"], "connection_ack");
    socket
        .send(send(json!({ "id": "bad", "type": "subscribe", "payload": { "query": "subscription { nope }" } })))
        .await
        .unwrap();
    let subscribe = json!({ "id": "p", "type": "subscribe", "payload": { "query": "subscription { postPublished { title } }" } });
    socket.send(send(subscribe.clone())).await.unwrap();
    let refused = next_frame(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "bad");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{refused}"
    );
    socket.send(send(subscribe)).await.unwrap();
    // Nothing about "bad" comes after its error (no complete): the next frame is the close.
    assert_eq!(next_frame(&mut socket).await, json!({ "close": 4409 }));
}

/// A credential that is not a string is refused, not served as anonymous; binary frames are
/// held to the same protocol rules as text.
#[tokio::test]
async fn sockets_refuse_odd_credentials_and_hold_binary_frames_to_the_protocol() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let connect = || async { app.graphql_socket().await.0 };
    for payload in [
        json!({ "Authorization": 123 }),
        json!({ "Token": ["x"] }),
        json!({ "TOKEN": "forged" }),
    ] {
        let mut socket = connect().await;
        socket
            .send(Message::text(
                json!({ "type": "connection_init", "payload": payload }).to_string(),
            ))
            .await
            .unwrap();
        assert_eq!(
            next_frame(&mut socket).await,
            json!({ "close": 4403 }),
            "{payload}"
        );
    }
    let mut socket = connect().await;
    socket
        .send(Message::text(
            json!({ "type": "connection_init" }).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket).await["type"], "connection_ack");
    let subscribe = json!({ "id": "b", "type": "subscribe", "payload": { "query": "subscription { postPublished { title } }" } });
    socket
        .send(Message::binary(subscribe.to_string().into_bytes()))
        .await
        .unwrap();
    socket
        .send(Message::binary(subscribe.to_string().into_bytes()))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket).await, json!({ "close": 4409 }));
}
