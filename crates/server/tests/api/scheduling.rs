//! Scheduled publishing: a draft with a future `publishAt` is seen by no one but its author
//! and editors until then, is published at its time through the same write as a manual
//! publish, exactly once however many workers run, and late rather than never when no worker
//! ran at its time.

use std::time::Duration;

use quire_core::roles::{Role, Roles};
use quire_core::time::Timestamp;
use quire_server::app::ProcessRole;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::brokers::outbox;
use crate::helpers::{Engine, TestApp, TestEnv, TestUser, on_both_engines};

/// `now + millis` as RFC 3339, by the wall clock the server reads too.
fn in_millis(millis: i64) -> (Timestamp, String) {
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let at = Timestamp::from_millis(now + millis);
    (at, at.to_rfc3339())
}

fn now_millis() -> i64 {
    in_millis(0).0.as_millis()
}

/// Creates a post through `/api/v1` with `fields`, answering status and body.
async fn create(app: &TestApp, author: &TestUser, fields: Value) -> (StatusCode, Value) {
    let mut body = json!({"title": "Scheduled", "description": "d", "content": "c"});
    for (key, value) in fields.as_object().unwrap() {
        body[key] = value.clone();
    }
    let reply = app
        .client
        .post(app.url("/api/v1/posts"))
        .header("authorization", format!("Bearer {}", author.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    (reply.status(), reply.json().await.unwrap())
}

async fn status_of(app: &TestApp, id: i64, viewer: Option<&TestUser>) -> StatusCode {
    let mut request = app.client.get(app.url(&format!("/api/v1/posts/{id}")));
    if let Some(viewer) = viewer {
        request = request.header("authorization", format!("Bearer {}", viewer.token));
    }
    request.send().await.unwrap().status()
}

/// How many `post.published` events the outbox holds for post `id`.
async fn published_events(database: &str, id: i64) -> usize {
    outbox(database)
        .await
        .iter()
        .filter(|row| row.kind == "post.published" && row.subject == format!("post/{id}"))
        .count()
}

on_both_engines! {
    async fn a_scheduled_post_appears_at_its_time_and_not_before(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let database = env.database_url();
        let app = TestApp::spawn_in(env).await;
        let author = app.register("planner").await;
        let reader = app.register("early").await;
        let editor = app.user_with_roles("editor", Roles::of(&[Role::Editor, Role::Reader])).await;
        let (at, text) = in_millis(2_000);
        let (status, post) = create(&app, &author, json!({"publishAt": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        assert_eq!(post["status"], "draft");
        assert_eq!(post["publishAt"], text);
        let id = post["postId"].as_i64().unwrap();

        // Before its time: its author and editors see it, nobody else does, no list shows it.
        assert_eq!(status_of(&app, id, Some(&author)).await, StatusCode::OK);
        assert_eq!(status_of(&app, id, Some(&editor)).await, StatusCode::OK);
        assert_eq!(status_of(&app, id, Some(&reader)).await, StatusCode::NOT_FOUND);
        assert_eq!(status_of(&app, id, None).await, StatusCode::NOT_FOUND);
        let slug = post["slug"].as_str().unwrap();
        assert_eq!(app.get(&format!("/api/articles/{slug}"), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/articles?author=planner", None).await.body["articlesCount"], 0);

        // Anonymous readers keep asking until they see it; it was published at or after its
        // time, by the server's own clock.
        while status_of(&app, id, None).await != StatusCode::OK {
            assert!(now_millis() < at.as_millis() + 5_000, "the post was not published within 5 s of its time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let served = app.get(&format!("/api/v1/posts/{id}"), None).await.body;
        let published_at = Timestamp::parse_rfc3339(served["publishedAt"].as_str().unwrap()).unwrap();
        assert!(published_at >= at, "published at {published_at}, scheduled for {at}");
        assert_eq!(served["status"], "published");
        assert_eq!(served["publishAt"], Value::Null, "a published post is no longer scheduled");
        // A draft held a suffixed slug; published, it takes the plain one (docs/security.md).
        assert!(slug.starts_with(&format!("{}-", served["slug"].as_str().unwrap())), "{slug}");
        let by_slug = app.get(&format!("/api/articles/{}", served["slug"].as_str().unwrap()), None).await;
        assert_eq!(by_slug.status, StatusCode::OK);
        assert_eq!(app.get("/api/articles?author=planner", None).await.body["articlesCount"], 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(published_events(&database, id).await, 1, "one post.published");
    }
}

on_both_engines! {
    async fn a_schedule_is_checked_changed_and_cancelled(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("checker").await;
        let (_, past) = in_millis(-60_000);
        let (status, body) = create(&app, &author, json!({"publishAt": past})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = create(&app, &author, json!({"publishAt": "tomorrow"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (_, later) = in_millis(3_600_000);
        let (status, body) = create(&app, &author, json!({"publishAt": later, "status": "published"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        let (status, post) = create(&app, &author, json!({"publishAt": later})).await;
        assert_eq!(status, StatusCode::CREATED);
        let id = post["postId"].as_i64().unwrap();
        let patch = |body: Value| {
            app.client
                .patch(app.url(&format!("/api/v1/posts/{id}")))
                .header("authorization", format!("Bearer {}", author.token))
                .header("content-type", "application/merge-patch+json")
                .body(body.to_string())
                .send()
        };
        // Unscheduled: a plain draft again.
        let reply: Value = patch(json!({"publishAt": null})).await.unwrap().json().await.unwrap();
        assert_eq!(reply["publishAt"], Value::Null);
        assert_eq!(reply["status"], "draft");
        // Scheduled again, then published by hand: the schedule goes.
        let reply: Value = patch(json!({"publishAt": later})).await.unwrap().json().await.unwrap();
        assert_eq!(reply["publishAt"], later);
        let reply: Value = patch(json!({"status": "published"})).await.unwrap().json().await.unwrap();
        assert_eq!(reply["status"], "published");
        assert_eq!(reply["publishAt"], Value::Null);
        // A published post cannot be scheduled.
        let refused = patch(json!({"publishAt": later})).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

/// Two instances, each with a scheduler, on one PostgreSQL database: every scheduled post is
/// published once.
#[tokio::test]
#[cfg_attr(
    not(quire_test_postgres),
    ignore = "QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn two_workers_publish_each_scheduled_post_exactly_once() {
    let env = TestEnv::new(Engine::Postgres).await;
    let database = env.database_url();
    let config = env.config();
    let other = TestEnv {
        data: tempfile::tempdir().unwrap(),
        postgres: None,
    };
    let a = TestApp::spawn_with(config.clone(), env).await;
    let b = TestApp::spawn_with(config, other).await;
    let author = a.register("twice").await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let (_, at) = in_millis(3_000 + n * 50);
        let (status, post) = create(
            if n % 2 == 0 { &a } else { &b },
            &author,
            json!({"publishAt": at, "title": format!("Once {n}")}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        ids.push(post["postId"].as_i64().unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for &id in &ids {
        while status_of(&a, id, None).await != StatusCode::OK {
            assert!(
                tokio::time::Instant::now() < deadline,
                "post {id} was not published"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Both schedulers have had every chance to publish twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in ids {
        assert_eq!(
            published_events(&database, id).await,
            1,
            "post {id} was published once"
        );
    }
}

/// With no worker running at a post's time, the post waits; the first worker to start
/// publishes it.
#[tokio::test]
async fn a_worker_that_was_down_at_the_time_publishes_when_it_returns() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let config = env.config();
    let app = TestApp::spawn_as(config.clone(), env, ProcessRole::Api).await;
    let author = app.register("patient").await;
    let (_, at) = in_millis(2_000);
    let (status, post) = create(&app, &author, json!({"publishAt": at})).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let id = post["postId"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(
        status_of(&app, id, None).await,
        StatusCode::NOT_FOUND,
        "no worker, no publishing"
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = quire_server::app::run_worker(config, async move {
        let _ = stopped.await;
    });
    let watch = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while status_of(&app, id, None).await != StatusCode::OK {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the returning worker did not publish the post"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = stop.send(());
    };
    let (worked, ()) = tokio::join!(worker, watch);
    worked.unwrap();
}

/// GraphQL and gRPC take and show `publishAt` too.
#[tokio::test]
async fn graphql_and_grpc_schedule_posts() {
    use quire_grpc::pb::post_service_client::PostServiceClient;
    use quire_proto::v1 as pb;
    let app = TestApp::spawn(Engine::Sqlite).await;
    let author = app.register("multi").await;
    let (_, at) = in_millis(3_600_000);
    let reply = app
        .client
        .post(app.url("/graphql"))
        .header("authorization", format!("Bearer {}", author.token))
        .json(&json!({
            "query": "mutation($i: CreatePostInput!) { createPost(input: $i) { status publishAt } }",
            "variables": {"i": {"title": "Via GraphQL", "description": "d", "content": "c", "publishAt": at}},
        }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        reply["data"]["createPost"],
        json!({"status": "DRAFT", "publishAt": at}),
        "{reply}"
    );

    let mut posts = PostServiceClient::new(app.grpc_channel().await);
    let created = posts
        .create_post(crate::helpers::signed(
            &author.token,
            pb::NewPost {
                title: Some("Via gRPC".into()),
                description: Some("d".into()),
                content: Some("c".into()),
                publish_at: Some(at.clone()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.status, "draft");
    assert_eq!(created.publish_at, Some(at));
}
