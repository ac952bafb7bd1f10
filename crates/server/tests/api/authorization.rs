use quire_core::roles::{Role, Roles};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, on_both_engines};

on_both_engines! {
async fn others_cannot_change_or_delete_your_article_or_comment(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.register("owner").await;
    let intruder = app.register("intruder").await;
    app.create_article(&owner, "Mine", &["keep"]).await;
    let comment = app
        .post(
            "/api/articles/mine/comments",
            Some(&owner.token),
            json!({ "comment": { "body": "my comment" } }),
        )
        .await;
    let id = comment.body["comment"]["id"].as_i64().unwrap();
    let token = Some(intruder.token.as_str());

    assert_error(
        &app.put(
            "/api/articles/mine",
            token,
            json!({ "article": { "body": "hijacked" } }),
        )
        .await,
        403,
        "article",
        "forbidden",
    );
    assert_error(
        &app.delete("/api/articles/mine", token).await,
        403,
        "article",
        "forbidden",
    );
    assert_error(
        &app.delete(&format!("/api/articles/mine/comments/{id}"), token)
            .await,
        403,
        "comment",
        "forbidden",
    );
    // Checked in the contract's order: missing article is 404 before permission.
    assert_error(
        &app.delete("/api/articles/absent", token).await,
        404,
        "article",
        "not found",
    );

    let article = app.get("/api/articles/mine", None).await.body["article"].clone();
    assert_eq!(article["body"], "# Mine\n\nText.");
    assert_eq!(article["tagList"], json!(["keep"]));
    let comments = app.get("/api/articles/mine/comments", None).await;
    assert_eq!(comments.body["comments"][0]["body"], "my comment");
}

async fn editors_may_change_and_delete_anyones_articles_and_comments(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.register("owner").await;
    let editor = app
        .user_with_roles("editor", Roles::of(&[Role::Reader, Role::Editor]))
        .await;
    app.create_article(&owner, "Draft", &[]).await;
    let comment = app
        .post(
            "/api/articles/draft/comments",
            Some(&owner.token),
            json!({ "comment": { "body": "spam" } }),
        )
        .await;
    let id = comment.body["comment"]["id"].as_i64().unwrap();
    let token = Some(editor.token.as_str());

    let edited = app
        .put(
            "/api/articles/draft",
            token,
            json!({ "article": { "description": "Edited by an editor" } }),
        )
        .await;
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["article"]["description"], "Edited by an editor");
    assert_eq!(
        edited.body["article"]["author"]["username"], "owner",
        "authorship is unchanged"
    );
    assert_eq!(
        app.delete(&format!("/api/articles/draft/comments/{id}"), token)
            .await
            .status,
        204
    );
    assert_eq!(app.delete("/api/articles/draft", token).await.status, 204);
    assert_eq!(app.get("/api/articles/draft", None).await.status, 404);
}

async fn readers_without_author_or_commenter_roles_cannot_write(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.register("owner").await;
    let reader = app
        .user_with_roles("reader", Roles::of(&[Role::Reader]))
        .await;
    app.create_article(&owner, "Read me", &[]).await;
    let token = Some(reader.token.as_str());
    let create = app
        .post(
            "/api/articles",
            token,
            json!({ "article": { "title": "t", "description": "d", "body": "b" } }),
        )
        .await;
    assert_error(&create, 403, "article", "forbidden");
    let comment = app
        .post(
            "/api/articles/read-me/comments",
            token,
            json!({ "comment": { "body": "hello" } }),
        )
        .await;
    assert_error(&comment, 403, "comment", "forbidden");
    assert_eq!(
        app.post("/api/articles/read-me/favorite", token, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        app.post("/api/profiles/owner/follow", token, json!({}))
            .await
            .status,
        200
    );
}
}
