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
        let app = TestApp::spawn_unlimited(engine).await;
        let author = app.register("author").await;
        app.create_article(&author, "Popular", &[]).await;
        let fans = register_many(&app, "fan", 200).await;

        let replies = join_all(fans.iter().map(|fan| {
            app.post("/api/articles/popular/favorite", Some(&fan.token), json!({}))
        }))
        .await;
        let refused: Vec<_> = replies.iter().filter(|reply| reply.status != 200).map(|reply| (reply.status, &reply.body)).collect();
        assert!(refused.is_empty(), "{refused:?}");
        let article = app.get("/api/articles/popular", None).await;
        assert_eq!(article.body["article"]["favoritesCount"], 200);

        let replies = join_all(fans.iter().map(|fan| {
            app.delete("/api/articles/popular/favorite", Some(&fan.token))
        }))
        .await;
        let refused: Vec<_> = replies.iter().filter(|reply| reply.status != 200).map(|reply| (reply.status, &reply.body)).collect();
        assert!(refused.is_empty(), "{refused:?}");
        let article = app.get("/api/articles/popular", None).await;
        assert_eq!(article.body["article"]["favoritesCount"], 0);
        let favorited = app.get("/api/articles?favorited=fan7", None).await;
        assert_eq!(favorited.body["articlesCount"], 0);
    }

    async fn fifty_registrations_of_one_username_give_one_account(engine: Engine) {
        let app = TestApp::spawn_unlimited(engine).await;
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
        let app = TestApp::spawn_unlimited(engine).await;
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
        let app = TestApp::spawn_unlimited(engine).await;
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
        let app = TestApp::spawn_unlimited(engine).await;
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
        let app = TestApp::spawn_unlimited(engine).await;
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
            body: Some(quire_core::values::Body::parse("mine").unwrap()),
            rendered: Some(quire_core::model::Rendering::of(
                &quire_core::values::Body::parse("mine").unwrap(),
            )),
            expected_updated_at: Some(read.updated_at),
            ..quire_core::model::PostChanges::at(read.updated_at)
        };
        let written = app.quire.store().update_post(read.id, &changes, &|_| Vec::new()).await;
        assert!(matches!(written, Err(Error::Stale(_))), "{written:?}");
        let deleted = app.quire.store().delete_post(read.id, Some(read.updated_at), &[]).await;
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
        let app = TestApp::spawn_unlimited(engine).await;
        let user = app.register("versioned").await;
        let actor = app.actor_of(&user).await;
        let read = app.quire.me(&actor).await.unwrap();
        app.put("/api/user", Some(&user.token), json!({"user": {"bio": "theirs"}})).await;
        let mine = UserChanges {
            bio: Some(Bio::parse("mine").unwrap()),
            expected_updated_at: Some(read.updated_at),
            ..UserChanges::default()
        };
        let written = app.quire.store().update_user(read.id, &mine, read.updated_at, &|_| Vec::new()).await;
        assert!(matches!(written, Err(Error::Stale(_))), "{written:?}");
        assert_eq!(app.get("/api/user", Some(&user.token)).await.body["user"]["bio"], "theirs");
    }
}

/// Changes a post through `/api/v1` (JSON merge patch), returning the status.
async fn patch_post(app: &TestApp, author: &TestUser, id: i64, patch: serde_json::Value) -> u16 {
    app.client
        .patch(app.url(&format!("/api/v1/posts/{id}")))
        .header("authorization", format!("Bearer {}", author.token))
        .header("content-type", "application/merge-patch+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every list's `articlesCount` (read from the counters) against the rows the same list
/// returns (read from the posts), and every post's `favoritesCount` against who lists it as a
/// favorite.
async fn assert_counts_exact(
    app: &TestApp,
    authors: &[TestUser],
    readers: &[TestUser],
    round: &str,
) {
    let list = |query: String, token: Option<String>| async move {
        let reply = app
            .get(&format!("/api/articles?limit=100{query}"), token.as_deref())
            .await;
        assert_eq!(reply.status, 200, "{round}: {query}");
        reply.body
    };
    let mut filters: Vec<String> = vec![String::new()];
    filters.extend((0..5).map(|tag| format!("&tag=t{tag}")));
    filters.extend(
        authors
            .iter()
            .map(|author| format!("&author={}", author.username)),
    );
    filters.extend(
        readers
            .iter()
            .map(|reader| format!("&favorited={}", reader.username)),
    );
    for filter in &filters {
        let body = list(filter.clone(), None).await;
        let rows = body["articles"].as_array().unwrap().len();
        assert_eq!(
            body["articlesCount"], rows,
            "{round}: articlesCount of ?{filter}"
        );
    }
    for reader in readers {
        let reply = app
            .get("/api/articles/feed?limit=100", Some(&reader.token))
            .await;
        let rows = reply.body["articles"].as_array().unwrap().len();
        assert_eq!(
            reply.body["articlesCount"], rows,
            "{round}: {}'s feed",
            reader.username
        );
    }
    let all = list(String::new(), None).await;
    let mut favorites = std::collections::HashMap::<String, usize>::new();
    for reader in readers {
        let body = list(format!("&favorited={}", reader.username), None).await;
        for article in body["articles"].as_array().unwrap() {
            *favorites
                .entry(article["slug"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let mut used_tags = std::collections::BTreeSet::new();
    for article in all["articles"].as_array().unwrap() {
        let slug = article["slug"].as_str().unwrap();
        let expected = favorites.get(slug).copied().unwrap_or(0);
        assert_eq!(
            article["favoritesCount"], expected,
            "{round}: favoritesCount of {slug}"
        );
        for tag in article["tagList"].as_array().unwrap() {
            used_tags.insert(tag.as_str().unwrap().to_owned());
        }
    }
    let tags = app.get("/api/tags", None).await;
    let cloud: std::collections::BTreeSet<String> = tags.body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        cloud, used_tags,
        "{round}: the tag cloud lists exactly the tags in use"
    );
}

on_both_engines! {
    async fn counts_stay_exact_while_writes_and_reads_interleave(engine: Engine) {
        let app = &TestApp::spawn_unlimited(engine).await;
        let authors = register_many(app, "writer", 6).await;
        let readers = register_many(app, "reader", 6).await;
        join_all(readers.iter().enumerate().flat_map(|(i, reader)| {
            [&authors[i], &authors[(i + 1) % authors.len()]].map(|author| async move {
                let path = format!("/api/profiles/{}/follow", author.username);
                app.post(&path, Some(&reader.token), json!({})).await
            })
        }))
        .await;
        // Readers list while the writers write: reads must neither block writes nor fail.
        let read_along = || {
            join_all(readers.iter().map(|reader| async {
                for query in ["/api/articles", "/api/articles?tag=t1", "/api/articles/feed", "/api/tags"] {
                    assert_eq!(app.get(query, Some(&reader.token)).await.status, 200, "{query}");
                }
            }))
        };

        // Round 1: sixty posts at once, ten per author, each with two of five tags.
        let creations = join_all((0..60).map(|i| {
            let author = &authors[i % authors.len()];
            let tags = [format!("t{}", i % 5), format!("t{}", (i + 2) % 5)];
            async move {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                app.create_article(author, &format!("Post {i}"), &tags).await
            }
        }));
        let (articles, _) = tokio::join!(creations, read_along());
        assert_counts_exact(app, &authors, &readers, "after creating").await;

        let mut ids = Vec::new();
        for author in &authors {
            let page = app.get(&format!("/api/v1/posts?author={}&limit=100", author.username), None).await;
            for post in page.body["items"].as_array().unwrap() {
                ids.push((post["slug"].as_str().unwrap().to_owned(), post["postId"].as_i64().unwrap()));
            }
        }
        let id_of = |slug: &str| ids.iter().find(|(s, _)| s == slug).unwrap().1;
        let author_of = |i: usize| &authors[i % authors.len()];
        let slug_of = |i: usize| articles[i]["slug"].as_str().unwrap().to_owned();

        // Round 2: favorites, retags, unpublishing and deleting, all at once.
        let favorites = join_all(readers.iter().enumerate().flat_map(|(r, reader)| {
            (0..60).filter(move |i| (i + r) % 3 == 0).map(move |i| {
                let path = format!("/api/articles/{}/favorite", slug_of(i));
                async move { app.post(&path, Some(&reader.token), json!({})).await.status.as_u16() }
            })
        }));
        let changes = join_all((0..60).filter(|i| i % 4 != 3).map(|i| {
            let (author, id) = (author_of(i), id_of(&slug_of(i)));
            async move {
                match i % 4 {
                    0 => patch_post(app, author, id, json!({"tags": [format!("t{}", (i + 1) % 5)]})).await,
                    1 => patch_post(app, author, id, json!({"status": "draft", "tags": ["t4", "t0"]})).await,
                    _ => app.delete(&format!("/api/articles/{}", slug_of(i)), Some(&author.token)).await.status.as_u16(),
                }
            }
        }));
        let (favorited, changed, _) = tokio::join!(favorites, changes, read_along());
        // A favorite of a post deleted meanwhile is a 404; nothing else may fail.
        assert!(favorited.iter().all(|status| matches!(status, 200 | 404)), "{favorited:?}");
        assert!(changed.iter().all(|status| matches!(status, 200 | 204)), "{changed:?}");
        assert_counts_exact(app, &authors, &readers, "after favoriting and changing").await;

        // Round 3: republishing what was unpublished, unfavoriting, deleting the rest.
        let unfavorites = join_all(readers.iter().enumerate().flat_map(|(r, reader)| {
            (0..60).filter(move |i| (i + r) % 6 == 0 && i % 4 != 2).map(move |i| {
                let path = format!("/api/articles/{}/favorite", slug_of(i));
                async move { app.delete(&path, Some(&reader.token)).await.status.as_u16() }
            })
        }));
        let changes = join_all((0..60).filter(|i| i % 4 == 1 || i % 8 == 3).map(|i| {
            let (author, id) = (author_of(i), id_of(&slug_of(i)));
            async move {
                if i % 4 == 1 {
                    patch_post(app, author, id, json!({"status": "published"})).await
                } else {
                    app.delete(&format!("/api/articles/{}", slug_of(i)), Some(&author.token)).await.status.as_u16()
                }
            }
        }));
        let (unfavorited, changed, _) = tokio::join!(unfavorites, changes, read_along());
        assert!(unfavorited.iter().all(|status| matches!(status, 200 | 404)), "{unfavorited:?}");
        assert!(changed.iter().all(|status| matches!(status, 200 | 204)), "{changed:?}");
        assert_counts_exact(app, &authors, &readers, "after republishing and unfavoriting").await;
    }
}

on_both_engines! {
    async fn writes_cancelled_mid_flight_leave_no_transaction_open(engine: Engine) {
        let app = &TestApp::spawn_unlimited(engine).await;
        let writers = &register_many(app, "hasty", 8).await;
        app.create_article(&writers[0], "Target", &["cancelled"]).await;
        // Clients that give up after a few milliseconds: the server sees each request dropped
        // at whatever point it had reached.
        let impatient = reqwest::Client::builder().timeout(std::time::Duration::from_millis(3)).build().unwrap();
        join_all((0..200).map(|i| {
            let (impatient, writer) = (impatient.clone(), &writers[i % writers.len()]);
            let request = match i % 3 {
                0 => impatient.post(app.url("/api/articles")).json(&json!({"article": {"title": format!("Hasty {i}"), "description": "d", "body": "b", "tagList": ["cancelled", format!("t{}", i % 4)]}})),
                1 => impatient.post(app.url("/api/articles/target/favorite")),
                _ => impatient.delete(app.url("/api/articles/target/favorite")),
            };
            request.header("authorization", format!("Token {}", writer.token)).send()
        }))
        .await;
        // Whatever was cut short finished or rolled back whole: every connection came back
        // usable, writes succeed at once, and the counts hold.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if app.env.database_url().starts_with("postgres") {
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&app.env.database_url()).await.unwrap();
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state LIKE 'idle in transaction%'",
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
            assert_eq!(open, 0, "sessions left inside a transaction");
        }
        let replies = join_all((0..16).map(|i| async move {
            app.create_article(&writers[i % writers.len()], &format!("Calm {i}"), &["cancelled"]).await
        }))
        .await;
        assert_eq!(replies.len(), 16);
        let listed = app.get("/api/articles?tag=cancelled&limit=100", None).await;
        let rows = listed.body["articles"].as_array().unwrap().len();
        assert_eq!(listed.body["articlesCount"], rows);
        let favoriters = join_all(writers.iter().map(|writer| async move {
            app.get(&format!("/api/articles?favorited={}&limit=1", writer.username), None).await.body["articlesCount"].as_u64().unwrap()
        }))
        .await;
        let target = app.get("/api/articles/target", None).await;
        assert_eq!(target.body["article"]["favoritesCount"], favoriters.iter().sum::<u64>());
    }
}
