//! Rights checked at every act, the same on every contract: a GraphQL WebSocket or a gRPC
//! stream that outlives a deactivation, a demotion or its token's expiry loses what the caller
//! may no longer do or see; every time claim of a token is enforced on all four contracts; a
//! refused user change leaves nothing changed; and one operation by one caller has one outcome
//! whichever contract carries it.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use quire_core::roles::{Role, Roles};
use quire_grpc::pb::comment_service_client::CommentServiceClient;
use quire_grpc::pb::post_service_client::PostServiceClient;
use quire_grpc::pb::session_service_client::SessionServiceClient;
use quire_grpc::pb::user_service_client::UserServiceClient;
use quire_proto::v1 as pb;
use quire_server::adapters::SigningAlgorithm;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tonic::Code;
use tonic::transport::Channel;

use crate::graphql::until_heard;
use crate::helpers::{GraphqlSocket, Reply, TestApp, TestEnv, TestUser, on_both_engines, signed};

type Socket = GraphqlSocket;

/// A graphql-transport-ws connection, acknowledged, signed in with `token`.
async fn socket(app: &TestApp, token: &str) -> Socket {
    let (mut socket, _) = app.graphql_socket().await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    socket
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    let message = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next text message, as JSON, within two seconds.
async fn next_json(socket: &mut Socket) -> Value {
    match tokio::time::timeout(Duration::from_secs(2), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Waits (up to `within`) for the server to close the connection, and answers its code. A
/// subscription may first be told that its caller is no longer signed in; nothing else may
/// come.
async fn close_code(socket: &mut Socket, within: Duration) -> u16 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return u16::from(frame.code),
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                // A `next` carries its errors in `payload.errors`, an `error` message in `payload`.
                let refused = message["payload"]["errors"][0]["extensions"]["code"]
                    == "UNAUTHENTICATED"
                    || message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED";
                assert!(
                    refused || message["type"] == "complete",
                    "unexpected message {text}"
                );
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub(crate) async fn id_of(app: &TestApp, user: &TestUser) -> i64 {
    let me = app.get("/api/v1/me", Some(&user.token)).await;
    me.body["userId"].as_i64().unwrap()
}

pub(crate) async fn patch_user(app: &TestApp, admin: &TestUser, id: i64, body: Value) -> Reply {
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&admin.token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

async fn channel(app: &TestApp) -> Channel {
    app.grpc_channel().await
}

/// A token signed with the server's own HS256 key (the app runs with
/// `QUIRE_JWT_ALGORITHM=HS256`) for user `sub`, with the time claims given in seconds relative
/// to now (the server's wall clock, which the test shares).
#[allow(clippy::disallowed_methods)]
fn forge(app: &TestApp, sub: i64, sid: &str, iat: i64, nbf: i64, exp: i64) -> String {
    let key = std::fs::read_to_string(app.env.data.path().join("jwt-secret")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({
        "sub": sub.to_string(), "sid": sid, "iss": "quire", "aud": "quire",
        "iat": now + iat, "nbf": now + nbf, "exp": now + exp,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.trim().as_bytes()),
    )
    .unwrap()
}

/// The status each contract answers `token` with for reading the caller's own account.
pub(crate) async fn outcome_everywhere(app: &TestApp, token: &str) -> [u16; 4] {
    let realworld = app.get("/api/user", Some(token)).await.status.as_u16();
    let v1 = app.get("/api/v1/me", Some(token)).await.status.as_u16();
    let graphql = app
        .post("/graphql", Some(token), json!({ "query": "{ me { id } }" }))
        .await
        .status
        .as_u16();
    let mut users = UserServiceClient::new(channel(app).await);
    let grpc = match users
        .get_user(signed(
            token,
            pb::GetUserRequest {
                key: Some(pb::get_user_request::Key::Username("nobody".to_owned())),
            },
        ))
        .await
    {
        Err(status) if status.code() == Code::Unauthenticated => 401,
        Err(status) if status.code() == Code::NotFound => 200,
        other => panic!("unexpected {other:?}"),
    };
    [realworld, v1, graphql, grpc]
}

on_both_engines! {
async fn a_deactivated_user_loses_an_open_socket_and_stream(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app
        .user_with_roles("admin", Roles::of(&[Role::Reader, Role::Admin]))
        .await;
    let bob = app.register("bob").await;
    let bob_id = id_of(&app, &bob).await;
    let mut socket = socket(&app, &bob.token).await;
    subscribe(&mut socket, "p", "subscription { postPublished { title } }", json!({})).await;
    let mut posts = PostServiceClient::new(channel(&app).await);
    let mut watch = posts
        .watch_posts(signed(&bob.token, pb::WatchPostsRequest {}))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let deactivated = patch_user(&app, &admin, bob_id, json!({ "isActive": false })).await;
    assert_eq!(deactivated.status, 200, "{}", deactivated.body);

    // graphql-transport-ws's Forbidden, without waiting for the token to expire.
    assert_eq!(close_code(&mut socket, Duration::from_secs(3)).await, 4403);
    let ended = tokio::time::timeout(Duration::from_secs(3), watch.next())
        .await
        .expect("the stream ends at once");
    match ended {
        Some(Err(status)) => assert_eq!(status.code(), Code::Unauthenticated, "{status:?}"),
        other => panic!("expected UNAUTHENTICATED, got {other:?}"),
    }
}

async fn a_demoted_admin_cannot_act_on_an_open_socket(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let root = app
        .user_with_roles("root", Roles::of(&[Role::Reader, Role::Admin]))
        .await;
    let deputy = app
        .user_with_roles("deputy", Roles::of(&[Role::Reader, Role::Admin]))
        .await;
    let deputy_id = id_of(&app, &deputy).await;
    let mut socket = socket(&app, &deputy.token).await;

    let demoted = patch_user(&app, &root, deputy_id, json!({ "roles": ["reader"] })).await;
    assert_eq!(demoted.status, 200, "{}", demoted.body);

    // The same connection, the same token: the mutation runs as the deputy is now, or the
    // socket has already closed because their roles changed. Either way nothing changes.
    subscribe(
        &mut socket,
        "m",
        "mutation($id: ID!) { setUserRoles(id: $id, roles: [\"admin\"]) { roles } }",
        json!({ "id": deputy_id.to_string() }),
    )
    .await;
    match tokio::time::timeout(Duration::from_secs(3), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => {
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            let code = &answer["payload"]["errors"][0]["extensions"]["code"];
            assert!(code == "FORBIDDEN" || code == "UNAUTHENTICATED", "{answer}");
            assert!(answer["payload"]["data"].is_null(), "{answer}");
        }
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected a refusal or a close, got {other:?}"),
    }
    let now = app.get(&format!("/api/v1/users/{deputy_id}"), Some(&root.token)).await;
    assert_eq!(now.body["roles"], json!(["reader"]), "{}", now.body);
}

async fn a_demoted_editor_stops_hearing_of_drafts(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let root = app
        .user_with_roles("root", Roles::of(&[Role::Reader, Role::Admin]))
        .await;
    let editor = app
        .user_with_roles("editor", Roles::of(&[Role::Reader, Role::Editor]))
        .await;
    let editor_id = id_of(&app, &editor).await;
    let author = app.register("author").await;
    let draft = app
        .client
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&author.token)
        .json(&json!({ "title": "Unpublished", "description": "d", "content": "c", "status": "draft" }))
        .send()
        .await
        .unwrap();
    assert_eq!(draft.status(), 201);
    let draft: Value = draft.json().await.unwrap();
    let post_id = draft["postId"].clone();
    let comment = |body: &'static str| {
        let app = &app;
        let author = &author;
        let post_id = post_id.clone();
        async move {
            let reply = app
                .client
                .post(app.url(&format!("/api/v1/posts/{post_id}/comments")))
                .bearer_auth(&author.token)
                .json(&json!({ "content": body }))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 201);
        }
    };

    let mut socket = socket(&app, &editor.token).await;
    subscribe(
        &mut socket,
        "c",
        "subscription($p: ID!) { commentAdded(postId: $p) { body } }",
        json!({ "p": post_id.to_string() }),
    )
    .await;
    let mut comments = CommentServiceClient::new(channel(&app).await);
    let mut watch = comments
        .watch_comments(signed(&editor.token, pb::PostRef { post_id: post_id.as_i64().unwrap() }))
        .await
        .unwrap()
        .into_inner();
    let heard = until_heard(&mut socket, "c", || comment("seen while an editor")).await;
    assert_eq!(heard["payload"]["data"]["commentAdded"]["body"], "seen while an editor", "{heard}");
    let streamed = tokio::time::timeout(Duration::from_secs(2), watch.next()).await.unwrap();
    assert_eq!(streamed.unwrap().unwrap().content, "seen while an editor");
    // Let what the editor may still hear arrive before the demotion.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), socket.next()).await {}
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(300), watch.next()).await {}

    let demoted = patch_user(&app, &root, editor_id, json!({ "roles": ["reader"] })).await;
    assert_eq!(demoted.status, 200);
    comment("not for readers").await;
    // The subscription ends (its subscriber's roles changed) and the socket closes; the
    // comment on the draft never arrives, on either contract.
    assert_eq!(close_code(&mut socket, Duration::from_secs(3)).await, 4403);
    match tokio::time::timeout(Duration::from_secs(3), watch.next()).await {
        Ok(Some(Err(status))) => assert_eq!(status.code(), Code::Unauthenticated, "{status:?}"),
        other => panic!("expected the stream to end with UNAUTHENTICATED, got {other:?}"),
    }
}

async fn a_token_that_expires_closes_the_socket_and_ends_the_stream(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let mut config = env.config();
    // Long enough to open both connections on a slow machine; the test then waits it out.
    config.jwt.ttl_secs = 8;
    let app = TestApp::spawn_with(config, env).await;
    let bob = app.register("bob").await;
    let mut socket = socket(&app, &bob.token).await;
    let mut posts = PostServiceClient::new(channel(&app).await);
    let mut watch = posts
        .watch_posts(signed(&bob.token, pb::WatchPostsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(close_code(&mut socket, Duration::from_secs(15)).await, 4403);
    match tokio::time::timeout(Duration::from_secs(5), watch.next()).await {
        Ok(Some(Err(status))) => assert_eq!(status.code(), Code::Unauthenticated),
        other => panic!("expected UNAUTHENTICATED, got {other:?}"),
    }
}

async fn every_time_claim_is_enforced_on_every_contract(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let mut config = env.config();
    config.jwt.algorithm = SigningAlgorithm::HS256;
    let app = TestApp::spawn_with(config, env).await;
    let bob = app.register("bob").await;
    let id = id_of(&app, &bob).await;
    let sid = crate::helpers::claims_of(&bob.token)["sid"].as_str().unwrap().to_owned();
    let forge = |iat, nbf, exp| forge(&app, id, &sid, iat, nbf, exp);
    let valid = forge(0, 0, 600);
    assert_eq!(outcome_everywhere(&app, &valid).await, [200; 4]);
    for (why, token) in [
        ("nbf in the future", forge(0, 600, 3600)),
        ("iat in the future", forge(86_400, 0, 90_000)),
        ("expired", forge(-600, -600, -1)),
    ] {
        assert_eq!(outcome_everywhere(&app, &token).await, [401; 4], "{why}");
    }
}

async fn a_refused_user_change_changes_nothing(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app
        .user_with_roles("admin", Roles::of(&[Role::Reader, Role::Admin]))
        .await;
    let admin_id = id_of(&app, &admin).await;
    let other = app.register("other").await;
    let before = app.get("/api/v1/me", Some(&admin.token)).await.body;

    // The roles come first in the body; the email fails last.
    let taken = patch_user(&app, &admin, admin_id, json!({ "roles": ["admin", "editor"], "isActive": true, "bio": "changed", "email": other.email })).await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    let invalid = patch_user(&app, &admin, admin_id, json!({ "roles": ["admin", "author"], "username": "renamed", "email": "not an email" })).await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let bad_role = patch_user(&app, &admin, admin_id, json!({ "bio": "changed", "roles": ["admin", "overlord"] })).await;
    assert_eq!(bad_role.status, 422, "{}", bad_role.body);
    assert_eq!(app.get("/api/v1/me", Some(&admin.token)).await.body, before);

    // GraphQL and gRPC: a valid username with a taken email changes neither.
    let graphql = app
        .post("/graphql", Some(&admin.token), json!({
            "query": "mutation($e: String!) { updateMe(input: { username: \"renamed\", email: $e }) { username } }",
            "variables": { "e": other.email },
        }))
        .await;
    assert_eq!(graphql.body["errors"][0]["extensions"]["code"], "CONFLICT", "{}", graphql.body);
    let mut users = UserServiceClient::new(channel(&app).await);
    let refused = users
        .update_user(signed(&admin.token, pb::UpdateUserRequest {
            user_id: admin_id,
            username: Some("renamed".to_owned()),
            email: Some(other.email.clone()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    assert_eq!(app.get("/api/v1/me", Some(&admin.token)).await.body, before);
}

async fn one_operation_has_one_outcome_on_every_contract(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let bob_id = id_of(&app, &bob).await;
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

    // A presented token that does not verify is refused on every route of /api/v1, GraphQL
    // and gRPC, whether or not the operation needs a caller.
    for path in ["/api/v1/tags", "/api/v1/posts", "/api/v1/users"] {
        assert_eq!(app.get(path, Some(forged)).await.status, 401, "{path}");
    }
    let credentials = json!({ "email": alice.email, "password": "password123" });
    let v1_sign_in = app
        .client
        .post(app.url("/api/v1/sessions"))
        .bearer_auth(forged)
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(v1_sign_in.status(), 401);
    let graphql_sign_in = app
        .post("/graphql", Some(forged), json!({
            "query": "mutation($e: String!) { login(email: $e, password: \"password123\") { token } }",
            "variables": { "e": alice.email },
        }))
        .await;
    assert_eq!(graphql_sign_in.status, 401);
    let mut sessions = SessionServiceClient::new(channel(&app).await);
    let grpc_sign_in = sessions
        .log_in(signed(forged, pb::Credentials {
            email: Some(alice.email.clone()),
            password: Some("password123".to_owned()),
        }))
        .await
        .unwrap_err();
    assert_eq!(grpc_sign_in.code(), Code::Unauthenticated);
    // The documented exception: RealWorld's /api, whose front ends send a stored token with
    // every request, signs in and reads as anonymous past a bad one.
    let realworld = app
        .post("/api/users/login", Some(forged), json!({ "user": credentials }))
        .await;
    assert_eq!(realworld.status, 200, "{}", realworld.body);
    assert_eq!(app.get("/api/tags", Some(forged)).await.status, 200);

    // An empty change of someone else's account is forbidden everywhere; of one's own, invalid.
    assert_eq!(patch_user(&app, &alice, bob_id, json!({})).await.status, 403);
    let mut users = UserServiceClient::new(channel(&app).await);
    let other = users
        .update_user(signed(&alice.token, pb::UpdateUserRequest { user_id: bob_id, ..Default::default() }))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    // Permission comes before input: a null role list from a non-admin is forbidden, not invalid.
    assert_eq!(patch_user(&app, &alice, bob_id, json!({ "roles": null })).await.status, 403);
    let alice_id = id_of(&app, &alice).await;
    assert_eq!(patch_user(&app, &alice, alice_id, json!({})).await.status, 422);
    assert_eq!(patch_user(&app, &alice, alice_id, json!({ "isActive": null })).await.status, 403);
    let own = users
        .update_user(signed(&alice.token, pb::UpdateUserRequest { user_id: alice_id, ..Default::default() }))
        .await
        .unwrap_err();
    assert_eq!(own.code(), Code::InvalidArgument);
    let graphql_own = app
        .post("/graphql", Some(&alice.token), json!({ "query": "mutation { updateMe(input: {}) { username } }" }))
        .await;
    assert_eq!(graphql_own.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{}", graphql_own.body);
    assert_eq!(app.put("/api/user", Some(&alice.token), json!({ "user": {} })).await.status, 422);
}

async fn error_fields_carry_each_contracts_own_names(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let long_tag = "t".repeat(200);
    // RealWorld: an article's text is `body`, its tags `tagList`.
    let realworld = app
        .post("/api/articles", Some(&alice.token), json!({ "article": { "title": "T", "description": "D", "body": "", "tagList": [long_tag] } }))
        .await;
    assert_eq!(realworld.status, 422);
    assert!(realworld.body["errors"]["body"].is_array(), "{}", realworld.body);
    assert!(realworld.body["errors"]["tagList"].is_array(), "{}", realworld.body);
    // /api/v1 and GraphQL: `content` and `tags`.
    let v1 = app
        .client
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&alice.token)
        .json(&json!({ "title": "T", "description": "D", "content": "", "tags": [long_tag] }))
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 422);
    let v1: Value = v1.json().await.unwrap();
    let fields: Vec<&str> = v1["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["content", "tags"], "{v1}");
    let graphql = app
        .post("/graphql", Some(&alice.token), json!({
            "query": "mutation($t: [String!]!) { createPost(input: { title: \"T\", description: \"D\", content: \"\", tags: $t }) { id } }",
            "variables": { "t": [long_tag] },
        }))
        .await;
    let extensions = &graphql.body["errors"][0]["extensions"];
    assert!(extensions["fields"]["content"].is_array(), "{}", graphql.body);
    assert!(extensions["fields"]["tags"].is_array(), "{}", graphql.body);
    // A comment's text: `body` on RealWorld and GraphQL, `content` on /api/v1 and gRPC.
    app.create_article(&alice, "Open", &[]).await;
    let comment = app
        .post("/api/articles/open/comments", Some(&alice.token), json!({ "comment": { "body": "" } }))
        .await;
    assert!(comment.body["errors"]["body"].is_array(), "{}", comment.body);
}
}
