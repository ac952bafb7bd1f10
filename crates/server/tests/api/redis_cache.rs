//! The shared cache on a real Redis: instances share each other's loads, a write through one
//! is never served stale from Redis by another, and Redis cut away mid-load costs no errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use quire_server::config::Secret;
use serde_json::json;

use crate::helpers::{Engine, TestApp, TestEnv};
use crate::proxy::Proxy;

/// Two instances on one database, sharing the Redis at `url` under a prefix of their own
/// (named after their data directory's random name), so tests sharing the Redis never see
/// each other's entries; and that prefix.
async fn two_instances(url: &str) -> (TestApp, TestApp, String) {
    let env = TestEnv::new(Engine::Sqlite).await;
    let name = env.data.path().file_name().unwrap().to_string_lossy();
    let prefix = format!("quire-test:{name}:");
    let mut config = env.config();
    config.cache.redis_url = Some(Secret::new(url.to_owned()));
    config.cache.redis_prefix = prefix.clone();
    // Generous: the machine is busy with other tests; the cut test sets its own.
    config.cache.redis_timeout_millis = 500;
    let first = TestApp::spawn_with(config.clone(), env).await;
    let second = TestApp::spawn_beside(config).await;
    (first, second, prefix)
}

/// The anonymous views that show alice's post `slug` tagged `tag`.
fn shared_views(slug: &str, tag: &str) -> Vec<String> {
    vec![
        format!("/api/articles/{slug}"),
        "/api/articles".to_owned(),
        format!("/api/articles?tag={tag}"),
        "/api/tags".to_owned(),
        "/api/profiles/alice".to_owned(),
    ]
}

#[tokio::test]
#[cfg_attr(not(quire_test_redis), ignore = "QUIRE_TEST_REDIS_URL is not set")]
async fn instances_share_loads_and_a_write_through_one_is_fresh_on_the_other() {
    let url = std::env::var("QUIRE_TEST_REDIS_URL").unwrap();
    let (one, two, prefix) = two_instances(&url).await;
    let alice = one.register("alice").await;
    let article = one.create_article(&alice, "Shared", &["redis"]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let paths = shared_views(&slug, "redis");
    // The writes' invalidations reach Redis after the writes return; a load that began before
    // one landed is not stored there (it might be older than the write).
    tokio::time::sleep(Duration::from_millis(200)).await;
    for path in &paths {
        assert_eq!(one.get(path, None).await.status, 200, "{path}");
    }
    // The other instance's in-process cache is cold: Redis serves it, no SQL.
    for path in &paths {
        let before = two.statements();
        let reply = two.get(path, None).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(two.statements() - before, 0, "{path} is served from Redis");
    }
    let reply = two.get(&format!("/api/articles/{slug}"), None).await;
    assert_eq!(reply.body["article"]["title"], "Shared");

    // A write through the first instance: Redis no longer serves the old views, though the
    // second instance hears nothing (no broker here) and its in-process copy is not yet read.
    let reply = one
        .put(
            &format!("/api/articles/{slug}"),
            Some(&alice.token),
            json!({"article": {"description": "changed"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    // A fresh instance: nothing in its in-process cache, so what it serves is Redis's.
    let instance = || async {
        let mut config = one.env.config();
        config.cache.redis_url = Some(Secret::new(url.clone()));
        config.cache.redis_prefix = prefix.clone();
        TestApp::spawn_beside(config).await
    };
    let three = instance().await;
    let reply = three.get(&format!("/api/articles/{slug}"), None).await;
    assert_eq!(reply.body["article"]["description"], "changed");
    let list = three.get("/api/articles?tag=redis", None).await;
    assert_eq!(list.body["articles"][0]["description"], "changed");

    // A favorite: Redis's entry is stale at once; the reader's marks are their own.
    let bob = two.register("bob").await;
    let reply = one
        .post(
            &format!("/api/articles/{slug}/favorite"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let four = instance().await;
    let mine = four
        .get(&format!("/api/articles/{slug}"), Some(&bob.token))
        .await;
    assert_eq!(mine.body["article"]["favorited"], true);
    let anyone = four.get(&format!("/api/articles/{slug}"), None).await;
    assert_eq!(anyone.body["article"]["favorited"], false);
    assert_eq!(anyone.body["article"]["favoritesCount"], 1);
}

#[tokio::test]
#[cfg_attr(not(quire_test_redis), ignore = "QUIRE_TEST_REDIS_URL is not set")]
async fn a_write_through_one_instance_is_read_fresh_through_another_at_once() {
    let url = std::env::var("QUIRE_TEST_REDIS_URL").unwrap();
    // No broker: the second instance never hears the first one's events, so only the shared
    // cache can tell it what a write made stale.
    let (one, two, _) = two_instances(&url).await;
    // A post the writes below do not touch (older than alice's, which leads the lists).
    let bob = one.register("bob").await;
    let untouched = one.create_article(&bob, "Untouched", &["other"]).await;
    let untouched = format!("/api/articles/{}", untouched["slug"].as_str().unwrap());
    let alice = one.register("alice").await;
    let article = one.create_article(&alice, "Fresh", &["fresh"]).await;
    let slug = article["slug"].as_str().unwrap().to_owned();
    let mut paths = shared_views(&slug, "fresh");
    paths.push(format!("/api/articles/{slug}/comments"));
    paths.push(untouched.clone());
    // The second instance keeps each view in its own memory: a second read costs no SQL.
    for path in &paths {
        assert_eq!(two.get(path, None).await.status, 200, "{path}");
        let before = two.statements();
        assert_eq!(two.get(path, None).await.status, 200, "{path}");
        assert_eq!(
            two.statements() - before,
            0,
            "{path} is kept by the second instance"
        );
    }

    // Writes through the first instance, each read back through the second at once.
    let reply = one
        .put(
            &format!("/api/articles/{slug}"),
            Some(&alice.token),
            json!({"article": {"description": "changed"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let read = two.get(&format!("/api/articles/{slug}"), None).await;
    assert_eq!(read.body["article"]["description"], "changed");
    let read = two.get("/api/articles", None).await;
    assert_eq!(read.body["articles"][0]["description"], "changed");
    let read = two.get("/api/articles?tag=fresh", None).await;
    assert_eq!(read.body["articles"][0]["description"], "changed");

    let reply = one
        .post(
            &format!("/api/articles/{slug}/comments"),
            Some(&alice.token),
            json!({"comment": {"body": "first"}}),
        )
        .await;
    assert_eq!(reply.status, 201);
    let read = two
        .get(&format!("/api/articles/{slug}/comments"), None)
        .await;
    assert_eq!(read.body["comments"][0]["body"], "first", "{}", read.body);

    let reply = one
        .put(
            "/api/user",
            Some(&alice.token),
            json!({"user": {"bio": "new bio"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let read = two.get("/api/profiles/alice", None).await;
    assert_eq!(read.body["profile"]["bio"], "new bio");

    one.create_article(&alice, "Another", &["brand-new"]).await;
    let read = two.get("/api/tags", None).await;
    let tags = read.body["tags"].as_array().unwrap();
    assert!(tags.iter().any(|tag| tag == "brand-new"), "{}", read.body);

    // What the writes did not touch stayed kept on the second instance: they invalidated what
    // they changed, not everything.
    let before = two.statements();
    assert_eq!(two.get(&untouched, None).await.status, 200);
    assert_eq!(
        two.statements() - before,
        0,
        "the untouched post stayed kept"
    );

    // With nothing written since, the second instance keeps its views again.
    let path = format!("/api/articles/{slug}");
    assert_eq!(two.get(&path, None).await.status, 200);
    let before = two.statements();
    assert_eq!(two.get(&path, None).await.status, 200);
    assert_eq!(two.statements() - before, 0, "kept again");
}

#[tokio::test]
#[cfg_attr(not(quire_test_redis), ignore = "QUIRE_TEST_REDIS_URL is not set")]
async fn redis_cut_during_a_read_load_costs_no_errors_and_its_hits_come_back() {
    let (proxy, through_proxy) = Proxy::before_test_redis().await;
    let (one, two, prefix) = two_instances(&through_proxy).await;
    let alice = one.register("alice").await;
    let mut slugs = Vec::new();
    for n in 0..8 {
        let article = one
            .create_article(&alice, &format!("Post {n}"), &["load"])
            .await;
        slugs.push(article["slug"].as_str().unwrap().to_owned());
    }
    let ready = two.get("/readyz", None).await;
    assert_eq!(ready.body["checks"]["cache"]["backend"], "redis");

    // A read load on both instances while Redis goes away and comes back.
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let apps = Arc::new([one, two]);
    let mut readers = Vec::new();
    for reader in 0..8 {
        let (stop, errors, reads, apps) = (
            Arc::clone(&stop),
            Arc::clone(&errors),
            Arc::clone(&reads),
            Arc::clone(&apps),
        );
        let slugs = slugs.clone();
        readers.push(tokio::spawn(async move {
            let mut n = reader;
            while !stop.load(Ordering::Acquire) {
                let app = &apps[n % 2];
                let path = match n % 3 {
                    0 => format!("/api/articles/{}", slugs[n % slugs.len()]),
                    1 => "/api/articles?tag=load".to_owned(),
                    _ => "/api/articles".to_owned(),
                };
                if app.get(&path, None).await.status != 200 {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    // Writes while Redis is away: their invalidations cannot reach it.
    let reply = apps[0]
        .put(
            &format!("/api/articles/{}", slugs[0]),
            Some(&alice.token),
            json!({"article": {"description": "while away"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ready = apps[1].get("/readyz", None).await;
    assert_eq!(ready.status, 200, "still ready without Redis");
    assert_eq!(
        ready.body["checks"]["cache"]["status"], "degraded",
        "{}",
        ready.body
    );
    proxy.restore().await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    stop.store(true, Ordering::Release);
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0, "no read failed");
    assert!(reads.load(Ordering::Relaxed) > 100, "the load ran");
    // The breaker closes at its first probe after the cooldown (1 s), once the client has
    // reconnected; on a loaded machine that can take a few seconds.
    let mut ready = apps[1].get("/readyz", None).await;
    for _ in 0..30 {
        if ready.body["checks"]["cache"]["status"] == "up" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = apps[1].get("/readyz", None).await;
    }
    assert_eq!(
        ready.body["checks"]["cache"]["status"], "up",
        "{}",
        ready.body
    );

    // Redis serves again, and nothing from before the cut that a write made stale.
    let instance = || async {
        let mut config = apps[0].env.config();
        config.cache.redis_url = Some(Secret::new(through_proxy.clone()));
        config.cache.redis_prefix = prefix.clone();
        TestApp::spawn_beside(config).await
    };
    let three = instance().await;
    let reply = three
        .get(&format!("/api/articles/{}", slugs[0]), None)
        .await;
    assert_eq!(reply.body["article"]["description"], "while away");
    for slug in &slugs {
        assert_eq!(
            three
                .get(&format!("/api/articles/{slug}"), None)
                .await
                .status,
            200
        );
    }
    let four = instance().await;
    let before = four.statements();
    for slug in &slugs {
        let reply = four.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(four.statements() - before, 0, "hits from Redis again");
}
