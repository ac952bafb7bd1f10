//! gRPC with a client generated from the repository's `.proto` files, against the running
//! application: every RPC, the status codes, the same authorization as REST, health,
//! reflection, streams fed by writes over `/api`, deadlines and message sizes.

use std::time::Duration;

use futures::StreamExt;
use quire_core::roles::{Role, Roles};
use quire_grpc::pb::comment_service_client::CommentServiceClient;
use quire_grpc::pb::post_service_client::PostServiceClient;
use quire_grpc::pb::session_service_client::SessionServiceClient;
use quire_grpc::pb::user_service_client::UserServiceClient;
use quire_proto::v1 as pb;
use reqwest::StatusCode;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::helpers::{Engine, TestApp, TestEnv, on_both_engines, signed};

async fn channel(app: &TestApp) -> Channel {
    app.grpc_channel().await
}

/// The health service's answer for the whole server.
pub async fn health(app: &TestApp) -> &'static str {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel(app).await);
    let reply = client
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    match tonic_health::pb::health_check_response::ServingStatus::try_from(reply.status) {
        Ok(tonic_health::pb::health_check_response::ServingStatus::Serving) => "SERVING",
        Ok(tonic_health::pb::health_check_response::ServingStatus::NotServing) => "NOT_SERVING",
        _ => "OTHER",
    }
}

fn new_post(title: &str) -> pb::NewPost {
    pb::NewPost {
        title: Some(title.to_owned()),
        description: Some(format!("about {title}")),
        content: Some(format!("# {title}")),
        tags: vec!["grpc".to_owned()],
        ..Default::default()
    }
}

on_both_engines! {
    async fn a_generated_client_does_what_rest_does(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let channel = channel(&app).await;
        let mut users = UserServiceClient::new(channel.clone());
        let mut sessions = SessionServiceClient::new(channel.clone());
        let mut posts = PostServiceClient::new(channel.clone());
        let mut comments = CommentServiceClient::new(channel.clone());

        let registered = users
            .register(pb::NewUser {
                username: Some("gina".into()),
                email: Some("gina@example.com".into()),
                password: Some("quiet harbour lantern at dawn".into()),
            })
            .await
            .unwrap()
            .into_inner();
        let me = registered.user.unwrap();
        assert_eq!(me.email.as_deref(), Some("gina@example.com"));
        let token = sessions
            .log_in(pb::Credentials {
                email: Some("gina@example.com".into()),
                password: Some("quiet harbour lantern at dawn".into()),
            })
            .await
            .unwrap()
            .into_inner()
            .token;

        let created = posts.create_post(signed(&token, new_post("Over the wire"))).await.unwrap().into_inner();
        assert_eq!(created.author.as_ref().unwrap().username, "gina");
        let by_id = posts
            .get_post(pb::GetPostRequest { key: Some(pb::get_post_request::Key::PostId(created.post_id)) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(by_id.title, "Over the wire");
        assert_eq!(by_id.content.as_deref(), Some("# Over the wire"));
        let by_slug = posts
            .get_post(pb::GetPostRequest { key: Some(pb::get_post_request::Key::Slug(created.slug.clone())) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(by_slug.post_id, created.post_id);
        let listed = posts
            .list_posts(pb::ListPostsRequest { tag: Some("grpc".into()), count: true, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].post_id, created.post_id);
        assert_eq!(listed.total, Some(1));

        // Paging with cursors, as /api/v1 does.
        posts.create_post(signed(&token, new_post("Second"))).await.unwrap();
        let first = posts
            .list_posts(pb::ListPostsRequest { page_size: Some(1), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        let second = posts
            .list_posts(pb::ListPostsRequest { page_size: Some(1), cursor: first.next_cursor.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first.items[0].title, "Second");
        assert_eq!(second.items[0].title, "Over the wire");
        assert_eq!(second.next_cursor, None);
        let bad_cursor = posts
            .list_posts(pb::ListPostsRequest { cursor: Some("zz".into()), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(bad_cursor.code(), Code::InvalidArgument);

        let updated = posts
            .update_post(signed(&token, pb::UpdatePostRequest {
                post_id: created.post_id,
                title: Some("Over the wire, again".into()),
                tags: vec!["grpc".into(), "rpc".into()],
                replace_tags: true,
                language: Some("en".into()),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(updated.title, "Over the wire, again");
        assert_eq!(updated.tags, ["grpc", "rpc"]);
        assert_eq!(updated.language.as_deref(), Some("en"));

        // A reader favorites, follows and comments.
        let reader = app.register("reader").await;
        let favorited = posts.favorite_post(signed(&reader.token, pb::PostRef { post_id: created.post_id })).await.unwrap().into_inner();
        assert!(favorited.favorited);
        assert_eq!(favorited.favorites_count, 1);
        let unfavorited = posts.unfavorite_post(signed(&reader.token, pb::PostRef { post_id: created.post_id })).await.unwrap().into_inner();
        assert_eq!(unfavorited.favorites_count, 0);
        let followed = users.follow(signed(&reader.token, pb::UserRef { user_id: me.user_id })).await.unwrap().into_inner();
        assert_eq!(followed.username, "gina");
        assert_eq!(followed.email, None, "the email is only for gina and admins");
        users.unfollow(signed(&reader.token, pb::UserRef { user_id: me.user_id })).await.unwrap();
        let comment = comments
            .add_comment(signed(&reader.token, pb::AddCommentRequest { post_id: created.post_id, content: Some("Nice.".into()) }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(comment.author.as_ref().unwrap().username, "reader");
        let listed = comments.list_comments(pb::ListCommentsRequest { post_id: created.post_id, ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(listed.items.len(), 1);
        let not_hers = comments
            .delete_comment(signed(&token, pb::CommentRef { comment_id: comment.comment_id }))
            .await
            .unwrap_err();
        assert_eq!(not_hers.code(), Code::PermissionDenied);
        comments.delete_comment(signed(&reader.token, pb::CommentRef { comment_id: comment.comment_id })).await.unwrap();

        // Users: read, list, change.
        let read = users
            .get_user(pb::GetUserRequest { key: Some(pb::get_user_request::Key::Username("gina".into())) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.user_id, me.user_id);
        assert_eq!(read.email, None);
        let own = users
            .get_user(signed(&token, pb::GetUserRequest { key: Some(pb::get_user_request::Key::UserId(me.user_id)) }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(own.email.as_deref(), Some("gina@example.com"), "gina sees her own email");
        let page = users.list_users(pb::ListUsersRequest { page_size: Some(1), ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(page.items.len(), 1);
        let rest = users.list_users(pb::ListUsersRequest { cursor: page.next_cursor, ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(rest.items[0].username, "reader");
        let changed = users
            .update_user(signed(&token, pb::UpdateUserRequest { user_id: me.user_id, bio: Some("Writes.".into()), ..Default::default() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(changed.bio.as_deref(), Some("Writes."));
        let cleared = users
            .update_user(signed(&token, pb::UpdateUserRequest { user_id: me.user_id, bio: Some(String::new()), ..Default::default() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cleared.bio, None);

        // Errors, mapped once.
        let invalid = posts
            .create_post(signed(&token, pb::NewPost { title: Some(" ".into()), ..Default::default() }))
            .await
            .unwrap_err();
        assert_eq!(invalid.code(), Code::InvalidArgument);
        let details = invalid.get_error_details();
        let fields: Vec<&str> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["content", "description", "title"]);
        let taken = users
            .register(pb::NewUser { username: Some("Gina".into()), email: Some("g2@example.com".into()), password: Some("quiet harbour lantern at dawn".into()) })
            .await
            .unwrap_err();
        assert_eq!(taken.code(), Code::AlreadyExists);
        let missing = posts.get_post(pb::GetPostRequest { key: Some(pb::get_post_request::Key::PostId(999_999)) }).await.unwrap_err();
        assert_eq!(missing.code(), Code::NotFound);
        let anonymous = posts.create_post(new_post("Nobody")).await.unwrap_err();
        assert_eq!(anonymous.code(), Code::Unauthenticated);
        let wrong = sessions
            .log_in(pb::Credentials { email: Some("gina@example.com".into()), password: Some("wrong-password".into()) })
            .await
            .unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated);

        // Admins set roles and deactivate; a deactivated user's token stops working.
        let admin = app.user_with_roles("root", Roles::REGISTERED.with(Role::Admin)).await;
        let refused = users
            .set_roles(signed(&token, pb::SetRolesRequest { user_id: me.user_id, roles: vec!["admin".into()] }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let roles = users
            .set_roles(signed(&admin.token, pb::SetRolesRequest { user_id: me.user_id, roles: vec!["reader".into()] }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(roles.roles, ["reader"]);
        let readers_cannot_write = posts.create_post(signed(&token, new_post("Not allowed"))).await.unwrap_err();
        assert_eq!(readers_cannot_write.code(), Code::PermissionDenied);
        let deactivated = users
            .deactivate_user(signed(&admin.token, pb::UserRef { user_id: me.user_id }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(deactivated.is_active, Some(false), "an admin sees it");
        let gone = posts.list_posts(signed(&token, pb::ListPostsRequest::default())).await.unwrap_err();
        assert_eq!(gone.code(), Code::Unauthenticated);

        // Admins may remove anyone's post, as over REST.
        posts.delete_post(signed(&admin.token, pb::PostRef { post_id: created.post_id })).await.unwrap();
        let gone = posts.get_post(pb::GetPostRequest { key: Some(pb::get_post_request::Key::PostId(created.post_id)) }).await.unwrap_err();
        assert_eq!(gone.code(), Code::NotFound);
    }

    async fn someone_elses_post_cannot_be_deleted(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let bob = app.register("bob").await;
        let article = app.create_article(&alice, "Hers", &[]).await;
        let mut posts = PostServiceClient::new(channel(&app).await);
        let found = posts
            .get_post(pb::GetPostRequest { key: Some(pb::get_post_request::Key::Slug(article["slug"].as_str().unwrap().into())) })
            .await
            .unwrap()
            .into_inner();
        let refused = posts.delete_post(signed(&bob.token, pb::PostRef { post_id: found.post_id })).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let refused = posts
            .update_post(signed(&bob.token, pb::UpdatePostRequest { post_id: found.post_id, title: Some("His".into()), ..Default::default() }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let still = app.get(&format!("/api/articles/{}", article["slug"].as_str().unwrap()), None).await;
        assert_eq!(still.status, StatusCode::OK);
        assert_eq!(still.body["article"]["title"], "Hers");
        posts.delete_post(signed(&alice.token, pb::PostRef { post_id: found.post_id })).await.unwrap();
    }

    async fn streams_hear_of_writes_made_over_rest(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let channel = channel(&app).await;
        let mut posts = PostServiceClient::new(channel.clone());
        let mut watching = posts.watch_posts(pb::WatchPostsRequest {}).await.unwrap().into_inner();
        // The stream is open once its headers have come; give the subscription a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let article = app.create_article(&alice, "Streamed", &["live"]).await;
        let heard = tokio::time::timeout(Duration::from_secs(1), watching.next())
            .await
            .expect("no post within a second")
            .unwrap()
            .unwrap();
        assert_eq!(heard.title, "Streamed");
        assert_eq!(heard.tags, ["live"]);

        let mut comments = CommentServiceClient::new(channel);
        let mut listening = comments.watch_comments(pb::PostRef { post_id: heard.post_id }).await.unwrap().into_inner();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let slug = article["slug"].as_str().unwrap();
        let reply = app
            .post(&format!("/api/articles/{slug}/comments"), Some(&alice.token), serde_json::json!({ "comment": { "body": "Live." } }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        let heard = tokio::time::timeout(Duration::from_secs(1), listening.next())
            .await
            .expect("no comment within a second")
            .unwrap()
            .unwrap();
        assert_eq!(heard.content, "Live.");
        let unknown = comments.watch_comments(pb::PostRef { post_id: 999_999 }).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);
    }
}

#[tokio::test]
async fn health_reflection_and_a_port_of_its_own() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.grpc.listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::spawn_with(config, env).await;
    assert_eq!(health(&app).await, "SERVING");

    // Reflection lists every service, so tools need no .proto files.
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel(&app).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("not a service list: {reply:?}");
    };
    let mut names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    names.sort();
    for expected in quire_grpc::SERVICES
        .iter()
        .chain(&["grpc.health.v1.Health"])
    {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }

    // A miss is answered on the stream (an error_response), and the stream goes on: the next
    // request, for a symbol that exists, gets its file and the files that file imports.
    let ask = |symbol: &str| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
    };
    let mut replies = reflection
        .server_reflection_info(futures::stream::iter([
            ask("quire.v1.NoSuchThing"),
            ask("quire.v1.PostService.GetPost"),
        ]))
        .await
        .unwrap()
        .into_inner();
    match replies.next().await.unwrap().unwrap().message_response {
        Some(MessageResponse::ErrorResponse(error)) => {
            assert_eq!(error.error_code, Code::NotFound as i32);
        }
        other => panic!("expected an error_response, got {other:?}"),
    }
    match replies.next().await.unwrap().unwrap().message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => {
            assert!(files.file_descriptor_proto.len() >= 2, "with its imports");
        }
        other => panic!("expected the file, got {other:?}"),
    }
    assert!(
        replies.next().await.is_none(),
        "the stream ends with the client's"
    );

    // The separate port serves the same services, and only them.
    let grpc_address = app.grpc_address.expect("a gRPC listener");
    let own = Channel::from_shared(format!("http://{grpc_address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut posts = PostServiceClient::new(own);
    let listed = posts
        .list_posts(pb::ListPostsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.items.is_empty());
}

#[tokio::test]
async fn deadlines_stop_the_work_and_messages_are_bounded() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let author = app.register("author").await;
    let mut posts = PostServiceClient::new(channel(&app).await);

    // Four busy answers make the write retry for about 150 ms; the deadline passes first,
    // and the write, dropped with the call, never happens.
    app.quire
        .store()
        .inject_fault(quire_storage::Fault::Busy, 4);
    let mut request = signed(&author.token, new_post("Too late"));
    request.set_timeout(Duration::from_millis(40));
    let late = posts.create_post(request).await.unwrap_err();
    // The client stops waiting at its deadline too; whichever side speaks first, the call fails.
    assert!(
        matches!(late.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{late:?}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let listed = posts
        .list_posts(pb::ListPostsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.items.is_empty(), "the dropped write happened anyway");

    // The server's own deadline check, seen without the client's.
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    app.quire
        .store()
        .inject_fault(quire_storage::Fault::Busy, 4);
    let body = {
        use prost::Message;
        let message = new_post("Raw").encode_to_vec();
        let mut framed = vec![0u8];
        framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(&message);
        framed
    };
    let raw = client
        .post(app.url("/quire.v1.PostService/CreatePost"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "40m")
        .header("authorization", format!("Bearer {}", author.token))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");

    // A message over the size limit is refused, not read.
    let huge = pb::NewPost {
        content: Some("x".repeat(2 * 1024 * 1024)),
        ..new_post("Huge")
    };
    let mut big_client =
        PostServiceClient::new(channel(&app).await).max_encoding_message_size(usize::MAX);
    let refused = big_client
        .create_post(signed(&author.token, huge))
        .await
        .unwrap_err();
    // tonic's code for a message over the decoding limit.
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    assert!(refused.message().contains("too large"), "{refused:?}");
}

#[tokio::test]
async fn open_streams_end_when_the_server_drains() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let (mut server, address, _) =
        crate::durability::start_with(&env, &[("QUIRE_SHUTDOWN_GRACE_SECS", "20")]).await;
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut posts = PostServiceClient::new(channel.clone());
    let mut watching = posts
        .watch_posts(pb::WatchPostsRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let mut health_watch = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        health_watch.next().await.is_some(),
        "the first health status"
    );

    let pid = server.id().unwrap().to_string();
    let terminated_at = std::time::Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("exits well within the 20 s grace, streams notwithstanding")
        .unwrap();
    assert!(status.success());
    assert!(
        terminated_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        terminated_at.elapsed()
    );
    // Both streams ended (cleanly, or with the connection), rather than hanging.
    let ended = tokio::time::timeout(Duration::from_secs(2), watching.next()).await;
    assert!(matches!(ended, Ok(None) | Ok(Some(Err(_)))), "{ended:?}");
}
