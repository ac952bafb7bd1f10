//! Correct under real concurrency, on both engines: counts, unique keys and slugs hold, a
//! failed write leaves nothing behind, and lost races are retried a bounded number of times.

use futures::future::join_all;
use quire_storage::{Fault, WRITE_ATTEMPTS};
use serde_json::json;

use crate::helpers::{TestApp, TestUser, on_both_engines};

async fn register_many(app: &TestApp, prefix: &str, count: usize) -> Vec<TestUser> {
    join_all((0..count).map(|i| app.register_as(format!("{prefix}{i}")))).await
}

on_both_engines! {
    async fn two_hundred_users_favorite_one_article_at_once(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("author").await;
        app.create_article(&author, "Popular", &[]).await;
        let fans = register_many(&app, "fan", 200).await;

        let replies = join_all(fans.iter().map(|fan| {
            app.post("/api/articles/popular/favorite", Some(&fan.token), json!({}))
        }))
        .await;
        assert!(replies.iter().all(|reply| reply.status == 200));
        let article = app.get("/api/articles/popular", None).await;
        assert_eq!(article.body["article"]["favoritesCount"], 200);

        let replies = join_all(fans.iter().map(|fan| {
            app.delete("/api/articles/popular/favorite", Some(&fan.token))
        }))
        .await;
        assert!(replies.iter().all(|reply| reply.status == 200));
        let article = app.get("/api/articles/popular", None).await;
        assert_eq!(article.body["article"]["favoritesCount"], 0);
        let favorited = app.get("/api/articles?favorited=fan7", None).await;
        assert_eq!(favorited.body["articlesCount"], 0);
    }

    async fn fifty_registrations_of_one_username_give_one_account(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let replies = join_all((0..50).map(|i| {
            app.post(
                "/api/users",
                None,
                json!({"user": {"username": "contested", "email": format!("c{i}@example.com"), "password": "password123"}}),
            )
        }))
        .await;
        let created = replies.iter().filter(|reply| reply.status == 201).count();
        let taken = replies
            .iter()
            .filter(|reply| {
                reply.status == 409 && reply.body["errors"]["username"][0] == "has already been taken"
            })
            .count();
        assert_eq!((created, taken), (1, 49));
    }

    async fn fifty_articles_with_one_title_get_distinct_slugs(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("author").await;
        let replies = join_all((0..50).map(|i| {
            app.post(
                "/api/articles",
                Some(&author.token),
                json!({"article": {"title": "Same title", "description": format!("n{i}"), "body": "b", "tagList": ["same"]}}),
            )
        }))
        .await;
        assert!(replies.iter().all(|reply| reply.status == 201), "all created");
        let mut slugs: Vec<String> = replies
            .iter()
            .map(|reply| reply.body["article"]["slug"].as_str().unwrap().to_owned())
            .collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), 50);
        let listed = app.get("/api/articles?tag=same&limit=100", None).await;
        assert_eq!(listed.body["articlesCount"], 50);
        assert_eq!(listed.body["articles"].as_array().unwrap().len(), 50);
    }

    async fn a_failure_between_an_article_and_its_tags_leaves_neither(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("author").await;
        app.quire.store().inject_fault(Fault::BetweenPostAndTags, 1);
        let reply = app
            .post(
                "/api/articles",
                Some(&author.token),
                json!({"article": {"title": "Half written", "description": "d", "body": "b", "tagList": ["orphan"]}}),
            )
            .await;
        assert_eq!(reply.status, 500);
        assert!(!reply.body.to_string().contains("injected"), "no internal detail leaks");
        assert_eq!(app.get("/api/articles/half-written", None).await.status, 404);
        assert_eq!(app.get("/api/articles?author=author", None).await.body["articlesCount"], 0);
        assert_eq!(app.get("/api/articles", None).await.body["articlesCount"], 0);
        assert_eq!(app.get("/api/tags", None).await.body["tags"], json!([]));

        // The same write succeeds once the fault has passed, with its tags.
        let article = app.create_article(&author, "Half written", &["orphan"]).await;
        assert_eq!(article["tagList"], json!(["orphan"]));
        assert_eq!(app.get("/api/tags", None).await.body["tags"], json!(["orphan"]));
    }

    async fn lost_races_are_retried_a_bounded_number_of_times(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("author").await;
        let store = app.quire.store();

        store.inject_fault(Fault::Busy, WRITE_ATTEMPTS - 1);
        let retried = app
            .post("/api/articles", Some(&author.token), json!({"article": {"title": "Retried", "description": "d", "body": "b"}}))
            .await;
        assert_eq!(retried.status, 201, "{}", retried.body);

        store.inject_fault(Fault::Busy, WRITE_ATTEMPTS);
        let given_up = app
            .post("/api/articles", Some(&author.token), json!({"article": {"title": "Given up", "description": "d", "body": "b"}}))
            .await;
        assert_eq!(given_up.status, 503, "{}", given_up.body);
        assert!(given_up.headers.contains_key("retry-after"));
        assert_eq!(app.get("/api/articles/given-up", None).await.status, 404);
        assert_eq!(app.get("/api/articles", None).await.body["articlesCount"], 1);
    }
}

on_both_engines! {
    async fn a_change_based_on_an_old_version_writes_nothing(engine: Engine) {
        use quire_core::Error;
        use quire_core::service::{Patch, PostUpdate};
        let app = TestApp::spawn(engine).await;
        let author = app.register("author").await;
        let actor = app.actor_of(&author).await;
        app.create_article(&author, "Versioned", &[]).await;
        let read = app.quire.post("versioned", Some(&actor)).await.unwrap();
        // Another editor's change lands between this editor's read and write.
        app.put("/api/articles/versioned", Some(&author.token), json!({"article": {"body": "theirs"}})).await;
        let mine = PostUpdate {
            body: Patch::Value("mine".to_owned()),
            based_on: Some(read.updated_at),
            ..PostUpdate::default()
        };
        let result = app.quire.update_post(&actor, "versioned", mine).await;
        assert!(matches!(result, Err(Error::Stale(_))), "{result:?}");
        // The write itself carries the check too, for the race between a check and a write.
        use quire_core::ports::PostStore;
        let changes = quire_core::model::PostChanges {
            slug: None,
            title: None,
            description: None,
            body: Some(quire_core::values::Body::parse("mine").unwrap()),
            tags: None,
            status: None,
            language: None,
            category: None,
            updated_at: read.updated_at,
            expected_updated_at: Some(read.updated_at),
        };
        let written = app.quire.store().update_post(read.id, &changes).await;
        assert!(matches!(written, Err(Error::Stale(_))), "{written:?}");
        let deleted = app.quire.store().delete_post(read.id, Some(read.updated_at)).await;
        assert!(matches!(deleted, Err(Error::Stale(_))), "{deleted:?}");
        let now = app.get("/api/articles/versioned", None).await;
        assert_eq!(now.body["article"]["body"], "theirs", "nothing was overwritten or deleted");
    }
}

on_both_engines! {
    async fn an_account_change_based_on_an_old_version_writes_nothing(engine: Engine) {
        use quire_core::Error;
        use quire_core::model::UserChanges;
        use quire_core::ports::UserStore;
        use quire_core::values::Bio;
        let app = TestApp::spawn(engine).await;
        let user = app.register("versioned").await;
        let actor = app.actor_of(&user).await;
        let read = app.quire.me(&actor).await.unwrap();
        app.put("/api/user", Some(&user.token), json!({"user": {"bio": "theirs"}})).await;
        let mine = UserChanges {
            bio: Some(Bio::parse("mine").unwrap()),
            expected_updated_at: Some(read.updated_at),
            ..UserChanges::default()
        };
        let written = app.quire.store().update_user(read.id, &mine, read.updated_at).await;
        assert!(matches!(written, Err(Error::Stale(_))), "{written:?}");
        assert_eq!(app.get("/api/user", Some(&user.token)).await.body["user"]["bio"], "theirs");
    }
}
