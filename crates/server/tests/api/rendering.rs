//! A post's body rendered for reading (sanitized HTML, table of contents, reading time), stored
//! with each revision and offered by every contract beside the Markdown.

use serde_json::{Value, json};

use crate::helpers::{TestApp, on_both_engines};

/// The shapes of the backend guide in `../shared/samples`, and what a hostile author might try.
const BODY: &str = "## 1.0 소개: API 엔드포인트를 넘어서\n\n\
    :::tip\n{title=\"Core Backend Responsibilities\"}\n- **데이터 모델링:** 스키마를 설계합니다.\n:::\n\n\
    ### Hostile\n\n<script>alert(1)</script>\n\n<img src=\"x.png\" onerror=\"alert(2)\">\n\n\
    [a link](javascript:alert(3))\n";

fn assert_inert(html: &str) {
    let lower = html.to_ascii_lowercase();
    for active in ["<script", "onerror", "javascript:", "alert(1)"] {
        assert!(!lower.contains(active), "{active} survived: {html}");
    }
}

on_both_engines! {
    async fn every_contract_offers_the_rendered_body_beside_the_markdown(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("renderer").await;
        let bearer = format!("Bearer {}", author.token);
        let created = app
            .client
            .post(app.url("/api/v1/posts"))
            .header("authorization", &bearer)
            .json(&json!({"title": "Rendered", "description": "d", "content": BODY}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let id = created["postId"].as_i64().unwrap();
        assert_eq!(created["content"], BODY, "the Markdown stays as written");

        // /api/v1: the post with its HTML, table of contents and reading time.
        let post = app.get(&format!("/api/v1/posts/{id}"), None).await.body;
        let html = post["contentHtml"].as_str().unwrap();
        assert!(
            html.contains("<aside class=\"callout callout-tip\">\n<p class=\"callout-title\">Core Backend Responsibilities</p>"),
            "{html}"
        );
        assert!(html.contains("<h2 id=\"user-content-10-소개-api-엔드포인트를-넘어서\">"), "{html}");
        assert_inert(html);
        assert_eq!(
            post["toc"],
            json!([
                {"level": 2, "id": "user-content-10-소개-api-엔드포인트를-넘어서", "title": "1.0 소개: API 엔드포인트를 넘어서"},
                {"level": 3, "id": "user-content-hostile", "title": "Hostile"},
            ])
        );
        assert_eq!(post["readingMinutes"], 1);
        // Lists leave the body out, and its rendering with it.
        let list = app.get("/api/v1/posts", None).await.body;
        assert_eq!(list["items"][0]["postId"], id);
        assert!(list["items"][0].get("contentHtml").is_none(), "{}", list["items"][0]);

        // GraphQL: one post, and the same fields on a list's posts (loaded in one batch).
        let reply = app
            .post(
                "/graphql",
                None,
                json!({"query": "query($id: ID!) { post(id: $id) { contentHtml readingMinutes toc { level id title } } \
                          posts(first: 5) { edges { node { contentHtml toc { id } } } } }",
                       "variables": {"id": id.to_string()}}),
            )
            .await;
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
        let one = &reply.body["data"]["post"];
        assert_eq!(one["contentHtml"], html);
        assert_eq!(one["readingMinutes"], 1);
        assert_eq!(one["toc"][1], json!({"level": 3, "id": "user-content-hostile", "title": "Hostile"}));
        let listed = &reply.body["data"]["posts"]["edges"][0]["node"];
        assert_eq!(listed["contentHtml"], html);
        assert_eq!(listed["toc"][0]["id"], "user-content-10-소개-api-엔드포인트를-넘어서");

        // A new revision of the body is rendered again; RealWorld's body stays Markdown.
        let patched = app
            .client
            .patch(app.url(&format!("/api/v1/posts/{id}")))
            .header("authorization", &bearer)
            .header("content-type", "application/merge-patch+json")
            .json(&json!({"content": "# Changed\n\n:::note\nNow a note.\n:::\n"}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200);
        let post = app.get(&format!("/api/v1/posts/{id}"), None).await.body;
        let html = post["contentHtml"].as_str().unwrap();
        assert!(html.contains("<h1 id=\"user-content-changed\">Changed</h1>"), "{html}");
        assert!(html.contains("<p class=\"callout-title\">Note</p>\n<p>Now a note.</p>"), "{html}");
        assert_eq!(post["toc"], json!([{"level": 1, "id": "user-content-changed", "title": "Changed"}]));
        let slug = post["slug"].as_str().unwrap();
        let article = app.get(&format!("/api/articles/{slug}"), None).await.body;
        assert_eq!(article["article"]["body"], "# Changed\n\n:::note\nNow a note.\n:::\n");
        assert!(article["article"].get("contentHtml").is_none());
    }
}

on_both_engines! {
    async fn bodies_written_before_this_renderer_are_rendered_once_at_start(engine: Engine) {
        use quire_core::ports::PostStore;
        use sqlx::Connection;

        let env = crate::helpers::TestEnv::new(engine).await;
        let url = env.database_url();
        let app = TestApp::spawn_in(env).await;
        let author = app.register("author").await;
        let first = app.create_article(&author, "Written long ago", &[]).await;
        let second = app.create_article(&author, "Rendered by an old renderer", &[]).await;
        let store = app.quire.store();
        let slug = |article: &Value| quire_core::values::Slug::parse(article["slug"].as_str().unwrap()).unwrap();
        let before = store.post_by_slug(&slug(&first), None).await.unwrap().unwrap();
        // As rows written before bodies were rendered, and by an older renderer, look.
        let statements = [
            "UPDATE posts SET rendered = NULL WHERE title = 'Written long ago'",
            "UPDATE posts SET rendered = '{\"html\":\"old\",\"toc\":[],\"readingMinutes\":0,\"renderer\":0}' WHERE title = 'Rendered by an old renderer'",
        ];
        if url.starts_with("postgres") {
            let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut connection).await.unwrap();
            }
        } else {
            let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut connection).await.unwrap();
            }
        }
        assert!(store.post_by_slug(&slug(&first), None).await.unwrap().unwrap().rendered.is_none());

        assert_eq!(app.quire.render_missing().await.unwrap(), 2);
        assert_eq!(app.quire.render_missing().await.unwrap(), 0, "nothing left to render");
        for article in [&first, &second] {
            let post = store.post_by_slug(&slug(article), None).await.unwrap().unwrap();
            let rendering = post.rendered.expect("stored");
            assert!(rendering.is_current() && rendering.html.contains("<h1"), "{}", rendering.html);
        }
        let after = store.post_by_slug(&slug(&first), None).await.unwrap().unwrap();
        assert_eq!(after.updated_at, before.updated_at, "rendering is not a change to the post");
    }
}
