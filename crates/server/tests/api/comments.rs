use serde_json::json;

use crate::helpers::{TestApp, assert_error, on_both_engines};

on_both_engines! {
async fn comments_are_added_listed_oldest_first_and_deleted(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let reader = app.register("reader").await;
    app.create_article(&author, "Discussed", &[]).await;

    let first = app
        .post(
            "/api/articles/discussed/comments",
            Some(&reader.token),
            json!({ "comment": { "body": "First!" } }),
        )
        .await;
    assert_eq!(first.status, 201);
    let comment = &first.body["comment"];
    assert!(comment["id"].is_i64());
    assert_eq!(comment["body"], "First!");
    assert_eq!(comment["author"]["username"], "reader");
    assert!(comment["createdAt"].as_str().unwrap().ends_with('Z'));
    let second = app
        .post(
            "/api/articles/discussed/comments",
            Some(&author.token),
            json!({ "comment": { "body": "Second" } }),
        )
        .await;
    assert_eq!(second.status, 201);

    app.post(
        "/api/profiles/author/follow",
        Some(&reader.token),
        json!({}),
    )
    .await;
    let listed = app
        .get("/api/articles/discussed/comments", Some(&reader.token))
        .await;
    assert_eq!(listed.status, 200);
    let comments = listed.body["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["body"], "First!");
    assert_eq!(comments[1]["body"], "Second");
    assert_eq!(comments[1]["author"]["following"], true);
    assert_eq!(comments[0]["author"]["following"], false);

    let id = first.body["comment"]["id"].as_i64().unwrap();
    let deleted = app
        .delete(
            &format!("/api/articles/discussed/comments/{id}"),
            Some(&reader.token),
        )
        .await;
    assert_eq!(deleted.status, 204);
    let listed = app.get("/api/articles/discussed/comments", None).await;
    assert_eq!(listed.body["comments"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["comments"][0]["body"], "Second");
}

async fn comment_errors_follow_the_contract_order(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let author = app.register("author").await;
    let token = Some(author.token.as_str());
    app.create_article(&author, "Here", &[]).await;
    app.create_article(&author, "There", &[]).await;
    let on_there = app
        .post(
            "/api/articles/there/comments",
            token,
            json!({ "comment": { "body": "elsewhere" } }),
        )
        .await;
    let there_id = on_there.body["comment"]["id"].as_i64().unwrap();

    assert_error(
        &app.post(
            "/api/articles/nope/comments",
            None,
            json!({ "comment": { "body": "x" } }),
        )
        .await,
        401,
        "token",
        "is missing",
    );
    assert_error(
        &app.post(
            "/api/articles/nope/comments",
            token,
            json!({ "comment": { "body": "x" } }),
        )
        .await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.post(
            "/api/articles/here/comments",
            token,
            json!({ "comment": { "body": " " } }),
        )
        .await,
        422,
        "body",
        "can't be blank",
    );
    assert_error(
        &app.get("/api/articles/nope/comments", None).await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.delete("/api/articles/nope/comments/1", token).await,
        404,
        "article",
        "not found",
    );
    assert_error(
        &app.delete("/api/articles/here/comments/99999", token).await,
        404,
        "comment",
        "not found",
    );
    assert_error(
        &app.delete("/api/articles/here/comments/abc", token).await,
        404,
        "comment",
        "not found",
    );
    // A comment is addressed through its own article only.
    assert_error(
        &app.delete(&format!("/api/articles/here/comments/{there_id}"), token)
            .await,
        404,
        "comment",
        "not found",
    );
    assert_eq!(
        app.get("/api/articles/there/comments", None).await.body["comments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
}
