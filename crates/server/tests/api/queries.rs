//! Lists run a fixed number of SQL statements whatever the page size: no N+1.

use serde_json::json;

use crate::helpers::{TestApp, TestUser, on_both_engines};

async fn statements_for(app: &TestApp, path: &str, user: &TestUser) -> (u64, usize) {
    let before = app.statements();
    let reply = app.get(path, Some(&user.token)).await;
    let after = app.statements();
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let rows = reply.body["articles"].as_array().map_or(0, Vec::len);
    (after - before, rows)
}

on_both_engines! {
async fn listing_one_or_twenty_articles_runs_the_same_statements(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reader = app.register("reader").await;
    let authors = [
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
    ];
    for i in 0..24 {
        let author = &authors[i % authors.len()];
        let tags = [format!("tag{}", i % 4), "common".to_owned()];
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let article = app
            .create_article(author, &format!("Post {i}"), &tags)
            .await;
        let slug = article["slug"].as_str().unwrap();
        app.post(
            &format!("/api/articles/{slug}/favorite"),
            Some(&reader.token),
            json!({}),
        )
        .await;
    }
    for author in ["alice", "bob", "carol"] {
        app.post(
            &format!("/api/profiles/{author}/follow"),
            Some(&reader.token),
            json!({}),
        )
        .await;
    }

    for list in [
        "/api/articles?",
        "/api/articles?tag=common&",
        "/api/articles?author=alice&",
        "/api/articles?favorited=reader&",
        "/api/articles?tag=common&author=bob&",
        "/api/articles/feed?",
    ] {
        let (one, rows_one) = statements_for(&app, &format!("{list}limit=1"), &reader).await;
        let (twenty, rows_twenty) = statements_for(&app, &format!("{list}limit=20"), &reader).await;
        assert_eq!(rows_one, 1, "{list}");
        assert!(rows_twenty > 1, "{list}");
        assert_eq!(
            one, twenty,
            "{list}: 1 row took {one} statements, {rows_twenty} rows took {twenty}"
        );
        // Authenticating the caller, then one statement for the count and the page with its
        // authors, tags and the caller's favorite and follow state.
        assert_eq!(twenty, 2, "{list}: {twenty} statements");
    }
}

async fn comments_of_a_post_are_one_query_whatever_their_number(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    app.create_article(&author, "Busy", &[]).await;
    app.create_article(&author, "Quiet", &[]).await;
    app.post(
        "/api/articles/quiet/comments",
        Some(&author.token),
        json!({"comment": {"body": "one"}}),
    )
    .await;
    for i in 0..15 {
        let commenter = app.register(&format!("c{i}")).await;
        app.post(
            "/api/articles/busy/comments",
            Some(&commenter.token),
            json!({"comment": {"body": "hi"}}),
        )
        .await;
    }
    let count = |path: &'static str| {
        let app = &app;
        async move {
            let before = app.statements();
            let reply = app.get(path, None).await;
            assert_eq!(reply.status, 200);
            app.statements() - before
        }
    };
    assert_eq!(
        count("/api/articles/quiet/comments").await,
        count("/api/articles/busy/comments").await
    );
}
}
