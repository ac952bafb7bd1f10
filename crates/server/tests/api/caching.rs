//! The cache of anonymous reads: one statement for many concurrent misses, and no stale or
//! personal value after any kind of write.

use serde_json::{Value, json};

use crate::helpers::{TestApp, on_both_engines};

/// The article at `slug` as an anonymous reader gets it.
async fn anonymous_article(app: &TestApp, slug: &str) -> Value {
    let reply = app.get(&format!("/api/articles/{slug}"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["article"].clone()
}

/// The first page of a list as an anonymous reader gets it.
async fn anonymous_list(app: &TestApp, query: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/articles?{query}"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["articles"].as_array().unwrap().clone()
}

fn slugs(articles: &[Value]) -> Vec<&str> {
    articles
        .iter()
        .map(|a| a["slug"].as_str().unwrap())
        .collect()
}

/// Reads every cached view once, so that the next reads are hits unless invalidated.
async fn warm(app: &TestApp, slug: &str) {
    anonymous_article(app, slug).await;
    for query in ["", "tag=old", "tag=new", "author=alice"] {
        anonymous_list(app, query).await;
    }
    app.get("/api/tags", None).await;
    app.get("/api/profiles/alice", None).await;
}

on_both_engines! {
async fn sixty_four_concurrent_misses_of_one_post_cost_one_statement(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("alice").await;
    let article = app.create_article(&author, "Cold", &["a"]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let path = format!("/api/articles/{slug}");

    let before = app.statements();
    let reads = (0..64).map(|_| app.get(&path, None));
    let replies = futures::future::join_all(reads).await;
    let after = app.statements();
    assert!(replies.iter().all(|reply| reply.status == 200));
    assert!(replies.iter().all(|reply| reply.body["article"]["title"] == "Cold"));
    assert_eq!(after - before, 1, "64 concurrent misses of one key");

    // Warm: no statement at all.
    let before = app.statements();
    for _ in 0..10 {
        assert_eq!(app.get(&path, None).await.status, 200);
        assert_eq!(app.get("/api/articles", None).await.status, 200);
        assert_eq!(app.get("/api/tags", None).await.status, 200);
        assert_eq!(app.get("/api/profiles/alice", None).await.status, 200);
    }
    let warm = app.statements() - before;
    assert!(warm <= 4, "ten rounds of warm reads ran {warm} statements");
}

async fn anonymous_reads_are_fresh_after_every_kind_of_write(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.create_article(&alice, "First", &["old"]).await;
    let slug = first["slug"].as_str().unwrap().to_owned();
    // Warm every cached read.
    warm(&app, &slug).await;

    // An update: the post, every list it is on, and a tag it joined.
    let reply = app
        .put(
            &format!("/api/articles/{slug}"),
            Some(&alice.token),
            json!({"article": {"body": "changed", "tagList": ["old", "new"]}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(anonymous_article(&app, &slug).await["body"], "changed");
    assert_eq!(slugs(&anonymous_list(&app, "tag=new").await), [slug.as_str()]);
    let tags = app.get("/api/tags", None).await.body["tags"].clone();
    assert!(tags.as_array().unwrap().contains(&json!("new")), "{tags}");
    warm(&app, &slug).await;

    // A favorite: the count everywhere, and nobody else's `favorited`.
    let reply = app
        .post(&format!("/api/articles/{slug}/favorite"), Some(&bob.token), json!({}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let seen = anonymous_article(&app, &slug).await;
    assert_eq!((seen["favoritesCount"].clone(), seen["favorited"].clone()), (json!(1), json!(false)));
    let listed = &anonymous_list(&app, "").await[0];
    assert_eq!((listed["favoritesCount"].clone(), listed["favorited"].clone()), (json!(1), json!(false)));
    let as_alice = app.get(&format!("/api/articles/{slug}"), Some(&alice.token)).await;
    assert_eq!(as_alice.body["article"]["favorited"], false);
    let as_bob = app.get(&format!("/api/articles/{slug}"), Some(&bob.token)).await;
    assert_eq!(as_bob.body["article"]["favorited"], true);

    // Following the author shows to the follower only.
    app.post("/api/profiles/alice/follow", Some(&bob.token), json!({})).await;
    assert_eq!(anonymous_article(&app, &slug).await["author"]["following"], false);
    let profile = app.get("/api/profiles/alice", None).await;
    assert_eq!(profile.body["profile"]["following"], false);
    // Signed-in readers get the shared entries with their own marks, and only theirs.
    for (reader, favorited, following) in [(&bob, true, true), (&alice, false, false)] {
        let token = Some(reader.token.as_str());
        let post = app.get(&format!("/api/articles/{slug}"), token).await.body["article"].clone();
        assert_eq!((post["favorited"].clone(), post["author"]["following"].clone()), (json!(favorited), json!(following)), "{}", reader.username);
        for query in ["", "tag=old", "author=alice"] {
            let listed = app.get(&format!("/api/articles?{query}"), token).await.body["articles"][0].clone();
            assert_eq!(listed["slug"], slug.as_str());
            assert_eq!((listed["favorited"].clone(), listed["author"]["following"].clone(), listed["favoritesCount"].clone()), (json!(favorited), json!(following), json!(1)), "{query} for {}", reader.username);
        }
        let profile = app.get("/api/profiles/alice", token).await.body["profile"].clone();
        assert_eq!(profile["following"], following);
    }
    assert_eq!(anonymous_list(&app, "").await[0]["favorited"], false);
    assert_eq!(anonymous_list(&app, "").await[0]["author"]["following"], false);

    // A profile change: the profile and the author block of every post and list.
    let reply = app
        .put("/api/user", Some(&alice.token), json!({"user": {"bio": "new bio"}}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.get("/api/profiles/alice", None).await.body["profile"]["bio"], "new bio");
    assert_eq!(anonymous_article(&app, &slug).await["author"]["bio"], "new bio");
    assert_eq!(anonymous_list(&app, "author=alice").await[0]["author"]["bio"], "new bio");
    warm(&app, &slug).await;

    // A new post joins the lists at once.
    let second = app.create_article(&alice, "Second", &["old"]).await;
    let second = second["slug"].as_str().unwrap().to_owned();
    assert_eq!(slugs(&anonymous_list(&app, "").await), [second.as_str(), slug.as_str()]);
    assert_eq!(slugs(&anonymous_list(&app, "tag=old").await), [second.as_str(), slug.as_str()]);
    assert_eq!(slugs(&anonymous_list(&app, "author=alice").await), [second.as_str(), slug.as_str()]);

    // A tag taken off a post leaves that tag's lists, even pages the post is not on.
    let page = app.get("/api/articles?tag=old&limit=1", None).await.body.clone();
    assert_eq!((page["articles"][0]["slug"].clone(), page["articlesCount"].clone()), (json!(second), json!(2)));
    let reply = app
        .put(
            &format!("/api/articles/{slug}"),
            Some(&alice.token),
            json!({"article": {"tagList": ["new"]}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let page = app.get("/api/articles?tag=old&limit=1", None).await.body.clone();
    assert_eq!((page["articles"][0]["slug"].clone(), page["articlesCount"].clone()), (json!(second), json!(1)));

    // A deletion leaves nothing behind.
    let reply = app.delete(&format!("/api/articles/{slug}"), Some(&alice.token)).await;
    assert!(reply.status.is_success(), "{}", reply.body);
    assert_eq!(app.get(&format!("/api/articles/{slug}"), None).await.status, 404);
    assert_eq!(slugs(&anonymous_list(&app, "").await), [second.as_str()]);
    assert_eq!(slugs(&anonymous_list(&app, "tag=new").await), Vec::<&str>::new());
    let tags = app.get("/api/tags", None).await.body["tags"].clone();
    assert!(!tags.as_array().unwrap().contains(&json!("new")), "{tags}");
}
}

/// Two instances on one PostgreSQL, events over NATS: a write through A reaches B's cache as
/// its event arrives. Prints how long B took to converge.
#[tokio::test]
#[cfg_attr(
    not(all(quire_test_nats, quire_test_postgres)),
    ignore = "QUIRE_TEST_NATS_URL or QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn another_instance_converges_after_a_write() {
    use crate::helpers::{Engine, TestEnv};
    let nats = std::env::var("QUIRE_TEST_NATS_URL").expect("QUIRE_TEST_NATS_URL");
    let env = TestEnv::new(Engine::Postgres).await;
    let mut config = env.config();
    config.events.nats_url = Some(quire_server::config::Secret::new(nats));
    let a = TestApp::spawn_with(config.clone(), env).await;
    let b = TestApp::spawn_beside(config).await;
    let author = a.register("alice").await;
    let article = a.create_article(&author, "Shared", &["x"]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let mut slowest = std::time::Duration::ZERO;
    for round in 0..5 {
        // B holds the post and the list in its cache.
        let before = format!("body {round}");
        let reply = a
            .put(
                &format!("/api/articles/{slug}"),
                Some(&author.token),
                json!({"article": {"body": before}}),
            )
            .await;
        assert_eq!(reply.status, 200);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while anonymous_article(&b, &slug).await["body"] != before.as_str() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "B never saw {before}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        anonymous_list(&b, "").await;
        // A write through A: B is stale until the event arrives, then fresh.
        let after = format!("changed {round}");
        let started = tokio::time::Instant::now();
        let reply = a
            .put(
                &format!("/api/articles/{slug}"),
                Some(&author.token),
                json!({"article": {"body": after, "description": after}}),
            )
            .await;
        assert_eq!(reply.status, 200);
        loop {
            let post = anonymous_article(&b, &slug).await;
            let listed = anonymous_list(&b, "").await;
            if post["body"] == after.as_str() && listed[0]["description"] == after.as_str() {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "B still served the old post 1 s after the write through A"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        slowest = slowest.max(started.elapsed());
    }
    eprintln!("B converged within {slowest:?} of the write through A (slowest of 5)");
}

/// Polls `read` on B until `fresh` holds, failing past the bound; answers how long it took.
async fn converged<F, Fut>(what: &str, read: F) -> std::time::Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while !read().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "B still served a stale view 1 s after {what} through A"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    started.elapsed()
}

/// Two instances on one PostgreSQL, events over NATS (and a shared Redis when `redis` is
/// set): updates, favorites, follows, unpublishing, publishing and deleting through A reach
/// B's reads within the bound, and no reader's marks reach another reader.
async fn every_kind_of_write_converges_on_another_instance(redis: Option<String>) {
    use crate::helpers::{Engine, TestEnv};
    let nats = std::env::var("QUIRE_TEST_NATS_URL").expect("QUIRE_TEST_NATS_URL");
    let env = TestEnv::new(Engine::Postgres).await;
    let mut config = env.config();
    config.events.nats_url = Some(quire_server::config::Secret::new(nats));
    if let Some(url) = redis {
        config.cache.redis_url = Some(quire_server::config::Secret::new(url));
        let name = env.data.path().file_name().unwrap().to_string_lossy();
        config.cache.redis_prefix = format!("quire-test:{name}:");
        config.cache.redis_timeout_millis = 500;
    }
    let a = TestApp::spawn_with(config.clone(), env).await;
    let b = TestApp::spawn_beside(config).await;
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    let carol = a.register("carol").await;
    let article = a.create_article(&alice, "Shared", &["x"]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let path = format!("/api/articles/{slug}");
    let id = a.get("/api/v1/posts?author=alice", None).await.body["items"][0]["postId"]
        .as_i64()
        .unwrap();
    let b = &b;
    let read = |token: Option<&str>| {
        let path = path.clone();
        let token = token.map(str::to_owned);
        async move { b.get(&path, token.as_deref()).await }
    };
    // B holds every view.
    converged("creating the post", || async {
        read(None).await.status == 200 && !anonymous_list(b, "").await.is_empty()
    })
    .await;
    for token in [&bob.token, &carol.token] {
        assert_eq!(read(Some(token)).await.status, 200);
    }
    b.get("/api/profiles/alice", None).await;
    let mut slowest = std::time::Duration::ZERO;

    let reply = a
        .put(
            &path,
            Some(&alice.token),
            json!({"article": {"description": "updated"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    slowest = slowest.max(
        converged("an update", || async {
            read(None).await.body["article"]["description"] == "updated"
                && anonymous_list(b, "tag=x").await[0]["description"] == "updated"
        })
        .await,
    );

    let reply = a
        .post(&format!("{path}/favorite"), Some(&bob.token), json!({}))
        .await;
    assert_eq!(reply.status, 200);
    slowest = slowest.max(
        converged("a favorite", || async {
            read(None).await.body["article"]["favoritesCount"] == 1
        })
        .await,
    );
    assert_eq!(read(None).await.body["article"]["favorited"], false);
    assert_eq!(
        read(Some(&bob.token)).await.body["article"]["favorited"],
        true
    );
    assert_eq!(
        read(Some(&carol.token)).await.body["article"]["favorited"],
        false
    );

    let reply = a
        .post("/api/profiles/alice/follow", Some(&bob.token), json!({}))
        .await;
    assert_eq!(reply.status, 200);
    let following = |token: Option<String>| async move {
        b.get("/api/profiles/alice", token.as_deref()).await.body["profile"]["following"].clone()
    };
    assert_eq!(
        following(Some(bob.token.clone())).await,
        true,
        "the reader's own follow"
    );
    assert_eq!(following(Some(carol.token.clone())).await, false);
    assert_eq!(following(None).await, false);
    assert_eq!(
        read(Some(&bob.token)).await.body["article"]["author"]["following"],
        true
    );
    assert_eq!(
        read(None).await.body["article"]["author"]["following"],
        false
    );

    a.set_status(&alice, id, "draft").await;
    slowest = slowest.max(
        converged("unpublishing", || async {
            read(None).await.status == 404 && anonymous_list(b, "").await.is_empty()
        })
        .await,
    );
    assert_eq!(
        read(Some(&alice.token)).await.status,
        200,
        "its author still sees it"
    );
    assert_eq!(read(Some(&carol.token)).await.status, 404);

    a.set_status(&alice, id, "published").await;
    slowest = slowest.max(
        converged("publishing", || async {
            read(None).await.status == 200 && anonymous_list(b, "").await.len() == 1
        })
        .await,
    );

    assert_eq!(a.delete(&path, Some(&alice.token)).await.status, 204);
    slowest = slowest.max(
        converged("deleting", || async {
            read(None).await.status == 404
                && anonymous_list(b, "").await.is_empty()
                && anonymous_list(b, "tag=x").await.is_empty()
        })
        .await,
    );
    eprintln!("B converged within {slowest:?} of each write through A (slowest)");
}

#[tokio::test]
#[cfg_attr(
    not(all(quire_test_nats, quire_test_postgres)),
    ignore = "QUIRE_TEST_NATS_URL or QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn every_kind_of_write_converges_on_another_instance_in_process_caches() {
    every_kind_of_write_converges_on_another_instance(None).await;
}

#[tokio::test]
#[cfg_attr(
    not(all(quire_test_nats, quire_test_postgres, quire_test_redis)),
    ignore = "QUIRE_TEST_NATS_URL, QUIRE_TEST_POSTGRES_URL or QUIRE_TEST_REDIS_URL is not set"
)]
async fn every_kind_of_write_converges_on_another_instance_with_redis() {
    let redis = std::env::var("QUIRE_TEST_REDIS_URL").expect("QUIRE_TEST_REDIS_URL");
    every_kind_of_write_converges_on_another_instance(Some(redis)).await;
}
