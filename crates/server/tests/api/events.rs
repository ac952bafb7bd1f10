//! Domain events reach subscribers after the change committed, whichever contract made it.

use std::time::Duration;

use quire_core::events::DomainEvent;
use serde_json::json;
use tokio_stream::StreamExt;

use crate::helpers::{TestApp, on_both_engines};

on_both_engines! {
    async fn publishing_and_commenting_tell_subscribers(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("teller").await;
        let mut events = app.quire.events();

        let article = app.create_article(&author, "Announced", &[]).await;
        let event = tokio::time::timeout(Duration::from_secs(1), events.next()).await.unwrap().unwrap();
        let DomainEvent::PostPublished { post, .. } = event else {
            panic!("expected PostPublished, got {event:?}");
        };
        let served = app.get(&format!("/api/v1/posts/{}", post.get()), None).await;
        assert_eq!(served.body["slug"], article["slug"], "the event names the committed post");

        app.post("/api/articles/announced/comments", Some(&author.token), json!({"comment": {"body": "hi"}})).await;
        let event = tokio::time::timeout(Duration::from_secs(1), events.next()).await.unwrap().unwrap();
        assert!(matches!(event, DomainEvent::CommentAdded { post: p, .. } if p == post), "{event:?}");

        // A draft tells nothing until it is published.
        let bearer = format!("Bearer {}", author.token);
        let draft = app
            .client
            .post(app.url("/api/v1/posts"))
            .header("authorization", &bearer)
            .json(&json!({"title": "Later", "description": "d", "content": "c", "status": "draft"}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(200), events.next()).await.is_err());
        app.client
            .patch(app.url(&format!("/api/v1/posts/{}", draft["postId"])))
            .header("authorization", &bearer)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"status": "published"}).to_string())
            .send()
            .await
            .unwrap();
        let event = tokio::time::timeout(Duration::from_secs(1), events.next()).await.unwrap().unwrap();
        assert!(matches!(event, DomainEvent::PostPublished { post: p, .. } if p.get() == draft["postId"].as_i64().unwrap()), "{event:?}");
    }
}
