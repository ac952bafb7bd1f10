use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, on_both_engines};

fn slugs(reply: &Value) -> Vec<String> {
    reply["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|article| article["slug"].as_str().unwrap().to_owned())
        .collect()
}

on_both_engines! {
async fn creating_an_article_returns_it_with_sorted_tags(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let article = app
        .create_article(
            &author,
            "How to train your dragon",
            &["training", "dragons", "dragons"],
        )
        .await;
    assert_eq!(article["slug"], "how-to-train-your-dragon");
    assert_eq!(article["tagList"], json!(["dragons", "training"]));
    assert_eq!(article["favorited"], false);
    assert_eq!(article["favoritesCount"], 0);
    assert_eq!(article["author"]["username"], "author");
    assert_eq!(article["author"]["following"], false);
    assert_eq!(article["createdAt"], article["updatedAt"]);
    let created = article["createdAt"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.contains('.'),
        "ISO 8601 with fraction: {created}"
    );

    let fetched = app
        .get("/api/articles/how-to-train-your-dragon", None)
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["article"], article);
}

async fn duplicate_titles_get_distinct_slugs_and_slugs_follow_titles(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let first = app.create_article(&author, "Same Title", &[]).await;
    let second = app.create_article(&author, "Same Title", &[]).await;
    assert_ne!(first["slug"], second["slug"]);
    assert!(second["slug"].as_str().unwrap().starts_with("same-title-"));

    let slug = first["slug"].as_str().unwrap();
    let token = Some(author.token.as_str());
    let renamed = app
        .put(
            &format!("/api/articles/{slug}"),
            token,
            json!({ "article": { "title": "A New Name" } }),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["article"]["slug"], "a-new-name");
    assert_error(
        &app.get(&format!("/api/articles/{slug}"), None).await,
        404,
        "article",
        "not found",
    );
    assert_eq!(app.get("/api/articles/a-new-name", None).await.status, 200);

    // A title that gives the same slug keeps it.
    let recased = app
        .put(
            "/api/articles/a-new-name",
            token,
            json!({ "article": { "title": "A new NAME!" } }),
        )
        .await;
    assert_eq!(recased.body["article"]["slug"], "a-new-name");
}

async fn updates_keep_what_is_absent_and_move_updated_at_only(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let article = app.create_article(&author, "Tagged", &["b", "a"]).await;
    let token = Some(author.token.as_str());

    let updated = app
        .put(
            "/api/articles/tagged",
            token,
            json!({ "article": { "body": "New body" } }),
        )
        .await;
    assert_eq!(updated.status, 200);
    let updated = &updated.body["article"];
    assert_eq!(updated["body"], "New body");
    assert_eq!(updated["title"], "Tagged");
    assert_eq!(updated["tagList"], json!(["a", "b"]));
    assert_eq!(updated["createdAt"], article["createdAt"]);
    assert_ne!(updated["updatedAt"], article["updatedAt"]);
    assert!(updated["updatedAt"].as_str() > article["updatedAt"].as_str());

    let retagged = app
        .put(
            "/api/articles/tagged",
            token,
            json!({ "article": { "tagList": ["c"] } }),
        )
        .await;
    assert_eq!(retagged.body["article"]["tagList"], json!(["c"]));
    let cleared = app
        .put(
            "/api/articles/tagged",
            token,
            json!({ "article": { "tagList": [] } }),
        )
        .await;
    assert_eq!(cleared.body["article"]["tagList"], json!([]));
    let null_tags = app
        .put(
            "/api/articles/tagged",
            token,
            json!({ "article": { "tagList": null } }),
        )
        .await;
    assert_eq!(null_tags.status, 422);
    let blank = app
        .put(
            "/api/articles/tagged",
            token,
            json!({ "article": { "title": "" } }),
        )
        .await;
    assert_error(&blank, 422, "title", "can't be blank");
    let null_body = app
        .put(
            "/api/articles/tagged",
            token,
            json!({ "article": { "body": null } }),
        )
        .await;
    assert_error(&null_body, 422, "body", "can't be blank");
    assert_eq!(
        app.get("/api/articles/tagged", None).await.body["article"]["body"],
        "New body"
    );
}

async fn creation_validates_every_field(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let token = Some(author.token.as_str());
    let reply = app
        .post("/api/articles", token, json!({ "article": {} }))
        .await;
    assert_eq!(reply.status, 422);
    for field in ["title", "description", "body"] {
        assert_eq!(reply.body["errors"][field][0], "can't be blank", "{field}");
    }
    let reply = app
        .post("/api/articles", token, json!({ "article": { "title": "t", "description": "d", "body": "b", "tagList": ["ok", " "] } }))
        .await;
    assert_eq!(reply.status, 422);
    assert!(reply.body["errors"]["tagList"][0].is_string());
    let long = "t".repeat(256);
    let reply = app
        .post(
            "/api/articles",
            token,
            json!({ "article": { "title": long, "description": "d", "body": "b" } }),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        app.get("/api/articles", None).await.body["articlesCount"],
        0,
        "nothing was created"
    );
}

async fn deleting_an_article_removes_it_with_its_comments_and_counts(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let fan = app.register("fan").await;
    app.create_article(&author, "Doomed", &["gone"]).await;
    app.post("/api/articles/doomed/favorite", Some(&fan.token), json!({}))
        .await;
    app.post(
        "/api/articles/doomed/comments",
        Some(&fan.token),
        json!({ "comment": { "body": "hi" } }),
    )
    .await;
    let reply = app
        .delete("/api/articles/doomed", Some(&author.token))
        .await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_null());
    assert_error(
        &app.get("/api/articles/doomed", None).await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.delete("/api/articles/doomed", Some(&author.token))
            .await,
        404,
        "article",
        "not found",
    );
    let favorited = app.get("/api/articles?favorited=fan", None).await;
    assert_eq!(favorited.body["articlesCount"], 0);
    assert_eq!(
        app.get("/api/articles?tag=gone", None).await.body["articlesCount"],
        0
    );
    assert_eq!(
        app.get("/api/articles?author=author", None).await.body["articlesCount"],
        0
    );
    assert_eq!(app.get("/api/tags", None).await.body["tags"], json!([]));
}

async fn lists_are_newest_first_without_bodies_and_count_every_match(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    for i in 1..=3 {
        app.create_article(&alice, &format!("Alice {i}"), &["rust"])
            .await;
    }
    app.create_article(&bob, "Bob 1", &["go"]).await;

    let all = app.get("/api/articles", None).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["articlesCount"], 4);
    assert_eq!(slugs(&all.body), ["bob-1", "alice-3", "alice-2", "alice-1"]);
    assert!(
        all.body["articles"][0].get("body").is_none(),
        "lists leave the body out"
    );

    let page = app.get("/api/articles?limit=2&offset=1", None).await;
    assert_eq!(slugs(&page.body), ["alice-3", "alice-2"]);
    assert_eq!(page.body["articlesCount"], 4);
    let beyond = app.get("/api/articles?offset=10", None).await;
    assert_eq!(slugs(&beyond.body), Vec::<String>::new());
    assert_eq!(beyond.body["articlesCount"], 4);

    let by_tag = app.get("/api/articles?tag=rust", None).await;
    assert_eq!(by_tag.body["articlesCount"], 3);
    let by_author = app.get("/api/articles?author=bob", None).await;
    assert_eq!(slugs(&by_author.body), ["bob-1"]);
    let combined = app.get("/api/articles?author=alice&tag=go", None).await;
    assert_eq!(combined.body["articlesCount"], 0);
    let combined = app
        .get("/api/articles?author=alice&tag=rust&limit=1", None)
        .await;
    assert_eq!(combined.body["articlesCount"], 3);
    assert_eq!(slugs(&combined.body), ["alice-3"]);
    for unknown in [
        "tag=nope",
        "author=nobody",
        "favorited=nobody",
        "author=bad%20name",
    ] {
        let reply = app.get(&format!("/api/articles?{unknown}"), None).await;
        assert_eq!(reply.status, 200, "{unknown}");
        assert_eq!(reply.body["articlesCount"], 0, "{unknown}");
    }
    for bad in ["limit=0", "limit=-1", "limit=x", "offset=-1"] {
        let reply = app.get(&format!("/api/articles?{bad}"), None).await;
        assert_eq!(reply.status, 422, "{bad}");
    }
}

async fn favorites_count_once_per_user_and_filter_lists(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let fan = app.register("fan").await;
    let other = app.register("other").await;
    app.create_article(&author, "Loved", &[]).await;
    app.create_article(&author, "Ignored", &[]).await;

    let reply = app
        .post("/api/articles/loved/favorite", Some(&fan.token), json!({}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["article"]["favorited"], true);
    assert_eq!(reply.body["article"]["favoritesCount"], 1);
    let again = app
        .post("/api/articles/loved/favorite", Some(&fan.token), json!({}))
        .await;
    assert_eq!(
        again.body["article"]["favoritesCount"], 1,
        "favoriting is idempotent"
    );
    app.post(
        "/api/articles/loved/favorite",
        Some(&other.token),
        json!({}),
    )
    .await;

    let seen_by_fan = app.get("/api/articles/loved", Some(&fan.token)).await;
    assert_eq!(seen_by_fan.body["article"]["favorited"], true);
    assert_eq!(seen_by_fan.body["article"]["favoritesCount"], 2);
    assert_eq!(
        app.get("/api/articles/loved", None).await.body["article"]["favorited"],
        false
    );

    let favorited = app
        .get("/api/articles?favorited=fan", Some(&fan.token))
        .await;
    assert_eq!(slugs(&favorited.body), ["loved"]);
    assert_eq!(favorited.body["articlesCount"], 1);
    assert_eq!(favorited.body["articles"][0]["favorited"], true);

    let reply = app
        .delete("/api/articles/loved/favorite", Some(&fan.token))
        .await;
    assert_eq!(reply.body["article"]["favorited"], false);
    assert_eq!(reply.body["article"]["favoritesCount"], 1);
    let again = app
        .delete("/api/articles/loved/favorite", Some(&fan.token))
        .await;
    assert_eq!(
        again.body["article"]["favoritesCount"], 1,
        "unfavoriting is idempotent"
    );
    assert_eq!(
        app.get("/api/articles?favorited=fan", None).await.body["articlesCount"],
        0
    );
    assert_error(
        &app.post("/api/articles/nope/favorite", Some(&fan.token), json!({}))
            .await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.post("/api/articles/loved/favorite", None, json!({}))
            .await,
        401,
        "token",
        "is missing",
    );
}

async fn the_feed_holds_followed_authors_only(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reader = app.register("reader").await;
    let celeb = app.register("celeb").await;
    let stranger = app.register("stranger").await;
    app.create_article(&celeb, "Celeb 1", &[]).await;
    app.create_article(&stranger, "Stranger 1", &[]).await;
    app.create_article(&celeb, "Celeb 2", &[]).await;
    let token = Some(reader.token.as_str());

    let empty = app.get("/api/articles/feed", token).await;
    assert_eq!(empty.body["articlesCount"], 0);
    app.post("/api/profiles/celeb/follow", token, json!({}))
        .await;
    let feed = app.get("/api/articles/feed", token).await;
    assert_eq!(slugs(&feed.body), ["celeb-2", "celeb-1"]);
    assert_eq!(feed.body["articlesCount"], 2);
    assert_eq!(feed.body["articles"][0]["author"]["following"], true);
    let page = app.get("/api/articles/feed?limit=1&offset=1", token).await;
    assert_eq!(slugs(&page.body), ["celeb-1"]);
    assert_eq!(page.body["articlesCount"], 2);
    assert_error(
        &app.get("/api/articles/feed", None).await,
        401,
        "token",
        "is missing",
    );
}

async fn the_feed_interleaves_its_authors_on_every_page(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reader = app.register("reader").await;
    let ada = app.register("ada").await;
    let bo = app.register("bo").await;
    let other = app.register("other").await;
    // Each author's archive runs past a page's reach; the feed must still merge them in order.
    for i in 1..=4 {
        app.create_article(&ada, &format!("Ada {i}"), &[]).await;
        app.create_article(&other, &format!("Other {i}"), &[]).await;
        app.create_article(&bo, &format!("Bo {i}"), &[]).await;
    }
    let token = Some(reader.token.as_str());
    for author in ["ada", "bo"] {
        let reply = app.post(&format!("/api/profiles/{author}/follow"), token, json!({})).await;
        assert_eq!(reply.status, 200);
    }
    let newest_first = ["bo-4", "ada-4", "bo-3", "ada-3", "bo-2", "ada-2", "bo-1", "ada-1"];
    let all = app.get("/api/articles/feed", token).await;
    assert_eq!(slugs(&all.body), newest_first);
    assert_eq!(all.body["articlesCount"], 8);
    for (limit, offset) in [(1, 0), (2, 1), (3, 3), (2, 6), (5, 5), (2, 8)] {
        let page = app
            .get(&format!("/api/articles/feed?limit={limit}&offset={offset}"), token)
            .await;
        let end = (offset + limit).min(newest_first.len());
        assert_eq!(slugs(&page.body), newest_first[offset.min(end)..end], "{limit} at {offset}");
    }
    // The keyset pages of /api/v1 walk the same order.
    let mut walked = Vec::new();
    let mut path = "/api/v1/me/feed?limit=3".to_owned();
    loop {
        let page = app.get(&path, token).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        walked.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|post| post["slug"].as_str().unwrap().to_owned()),
        );
        match page.body["nextCursor"].as_str() {
            Some(next) => path = format!("/api/v1/me/feed?limit=3&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(walked, newest_first);
}

async fn tags_list_what_published_articles_carry(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    app.create_article(&author, "One", &["common", "rare"])
        .await;
    app.create_article(&author, "Two", &["common"]).await;
    let tags = app.get("/api/tags", None).await;
    assert_eq!(tags.status, 200);
    assert_eq!(
        tags.body["tags"],
        json!(["common", "rare"]),
        "most used first"
    );
    app.delete("/api/articles/one", Some(&author.token)).await;
    assert_eq!(
        app.get("/api/tags", None).await.body["tags"],
        json!(["common"])
    );
}

async fn an_article_titled_like_a_route_stays_reachable(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let article = app.create_article(&author, "Feed", &[]).await;
    let slug = article["slug"].as_str().unwrap();
    assert_ne!(slug, "feed");
    assert_eq!(
        app.get(&format!("/api/articles/{slug}"), None).await.status,
        200
    );
    assert_eq!(
        app.delete(&format!("/api/articles/{slug}"), Some(&author.token))
            .await
            .status,
        204
    );
}

async fn reads_with_a_stale_token_give_the_anonymous_view(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    app.create_article(&author, "Public", &[]).await;
    for path in [
        "/api/articles",
        "/api/articles/public",
        "/api/articles/public/comments",
        "/api/profiles/author",
    ] {
        let reply = app.get(path, Some("expired.or.forged")).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    assert_error(
        &app.get("/api/articles/feed", Some("expired.or.forged"))
            .await,
        401,
        "token",
        "is invalid",
    );
}
}
