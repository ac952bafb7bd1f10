//! Domain events: recorded in the outbox by the write that causes them, relayed after commit
//! to listeners whichever contract made the change, each matching the JSON Schema that
//! `docs/events.md` documents for its type.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use quire_core::events::{DomainEvent, Event};
use quire_core::ports::EventStream;
use quire_core::roles::{Role, Roles};
use serde_json::{Value, json};
use tokio_stream::StreamExt;

use crate::helpers::{TestApp, on_both_engines};

/// Waits until the relay has sent every event recorded so far, so a listener subscribing now
/// hears only what happens next.
async fn drained(app: &TestApp) {
    for _ in 0..200 {
        if app.quire.outbox_backlog().await.unwrap().pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the relay did not drain the outbox");
}

/// The next event heard within `wait`.
async fn next_event(events: &mut EventStream, wait: Duration) -> Option<Event> {
    tokio::time::timeout(wait, events.next())
        .await
        .ok()
        .flatten()
}

on_both_engines! {
    async fn publishing_and_commenting_tell_listeners(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("teller").await;
        drained(&app).await;
        let mut events = app.quire.events();

        let article = app.create_article(&author, "Announced", &[]).await;
        let created = next_event(&mut events, Duration::from_secs(2)).await.unwrap();
        let DomainEvent::PostCreated(post) = &created.kind else {
            panic!("expected post.created, got {created:?}");
        };
        assert_eq!(post.slug, article["slug"].as_str().unwrap());
        let published = next_event(&mut events, Duration::from_secs(2)).await.unwrap();
        let DomainEvent::PostPublished(post) = published.kind else {
            panic!("expected post.published, got {published:?}");
        };
        let served = app.get(&format!("/api/v1/posts/{}", post.id), None).await;
        assert_eq!(served.body["slug"], article["slug"], "the event names the committed post");

        app.post("/api/articles/announced/comments", Some(&author.token), json!({"comment": {"body": "hi"}})).await;
        let event = next_event(&mut events, Duration::from_secs(2)).await.unwrap();
        assert!(matches!(&event.kind, DomainEvent::CommentAdded(c) if c.post_id == post.id), "{event:?}");

        // A draft is created, not published, until it is.
        let draft = app.create_draft(&author, "Later").await;
        let event = next_event(&mut events, Duration::from_secs(2)).await.unwrap();
        assert_eq!(event.kind.type_name(), "post.created");
        assert!(next_event(&mut events, Duration::from_millis(300)).await.is_none(), "a draft is not published");
        app.set_status(&author, draft["postId"].as_i64().unwrap(), "published").await;
        let event = next_event(&mut events, Duration::from_secs(2)).await.unwrap();
        assert!(matches!(&event.kind, DomainEvent::PostPublished(p) if p.id == draft["postId"].as_i64().unwrap()), "{event:?}");
        assert!(event.actor.is_some(), "the acting user is recorded");
    }
}

on_both_engines! {
    async fn every_event_type_is_emitted_and_matches_its_documented_schema(engine: Engine) {
        let schemas = documented_schemas();
        let app = TestApp::spawn(engine).await;
        let mut events = app.quire.events();
        let admin = app.user_with_roles("chief", Roles::of(&[Role::Admin, Role::Author, Role::Commenter, Role::Reader])).await;
        let author = app.register("writer").await;
        let reader = app.register("fan").await;
        let token = |user: &crate::helpers::TestUser| user.token.clone();

        let article = app.create_article(&author, "Every Event", &["rust"]).await;
        let slug = article["slug"].as_str().unwrap().to_owned();
        app.put(&format!("/api/articles/{slug}"), Some(&token(&author)), json!({"article": {"title": "Every Event Renamed"}})).await;
        let slug = app.get("/api/articles?author=writer", None).await.body["articles"][0]["slug"].as_str().unwrap().to_owned();
        app.post(&format!("/api/articles/{slug}/favorite"), Some(&token(&reader)), json!({})).await;
        app.delete(&format!("/api/articles/{slug}/favorite"), Some(&token(&reader))).await;
        let comment = app.post(&format!("/api/articles/{slug}/comments"), Some(&token(&reader)), json!({"comment": {"body": "nice"}})).await;
        let comment_id = comment.body["comment"]["id"].as_i64().unwrap();
        app.delete(&format!("/api/articles/{slug}/comments/{comment_id}"), Some(&token(&reader))).await;
        app.post("/api/profiles/writer/follow", Some(&token(&reader)), json!({})).await;
        app.delete("/api/profiles/writer/follow", Some(&token(&reader))).await;
        app.put("/api/user", Some(&token(&reader)), json!({"user": {"bio": "reads a lot"}})).await;
        // Unpublish through /api/v1, then delete.
        let id = app.quire.post(quire_core::service::PostAddress::Slug(&slug), None).await.unwrap().id.get();
        app.set_status(&author, id, "draft").await;
        let bearer = format!("Bearer {}", author.token);
        app.client
            .delete(app.url(&format!("/api/v1/posts/{id}")))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        // An admin changes the reader's roles, then deactivates them.
        let admin_actor = app.actor_of(&admin).await;
        let reader_id = app.actor_of(&reader).await.user_id();
        app.quire.change_account(&admin_actor, reader_id, Some(vec!["reader".to_owned()]), None, None).await.unwrap();
        app.quire.change_account(&admin_actor, reader_id, None, Some(false), None).await.unwrap();

        let mut seen = BTreeMap::<String, usize>::new();
        while seen.len() < DomainEvent::TYPES.len() {
            let Some(event) = next_event(&mut events, Duration::from_secs(3)).await else {
                break;
            };
            let wire: Value = serde_json::from_slice(&event.to_json()).unwrap();
            let kind = wire["type"].as_str().unwrap().to_owned();
            for (part, instance) in [("envelope", &wire), (kind.as_str(), &wire["data"])] {
                let schema = schemas.get(part).unwrap_or_else(|| panic!("docs/events.md documents no schema for {part}"));
                let validator = jsonschema::validator_for(schema).unwrap_or_else(|error| panic!("the schema of {part} is not a schema: {error}"));
                let errors: Vec<String> = validator.iter_errors(instance).map(|error| format!("{} at {}", error, error.instance_path())).collect();
                assert!(errors.is_empty(), "{kind} does not match the documented {part} schema: {errors:?}\n{wire:#}");
            }
            *seen.entry(kind).or_default() += 1;
        }
        let missing: BTreeSet<&str> = DomainEvent::TYPES.iter().copied().filter(|kind| !seen.contains_key(*kind)).collect();
        assert!(missing.is_empty(), "no event of these types was heard: {missing:?} (heard {seen:?})");
        let documented: BTreeSet<&str> = schemas.keys().map(String::as_str).filter(|name| *name != "envelope").collect();
        let emitted: BTreeSet<&str> = DomainEvent::TYPES.iter().copied().collect();
        assert_eq!(documented, emitted, "docs/events.md documents exactly the types quire emits");
    }
}

on_both_engines! {
    async fn a_write_that_fails_records_no_event_and_a_repeat_records_none_twice(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let author = app.register("repeater").await;
        let reader = app.register("liker").await;
        app.create_article(&author, "Once", &[]).await;
        drained(&app).await;
        let mut events = app.quire.events();
        // Favoriting twice is one favorite: one event.
        for _ in 0..2 {
            app.post("/api/articles/once/favorite", Some(&reader.token), json!({})).await;
        }
        // A registration whose insert fails (the username is taken) records nothing.
        let taken = app
            .post("/api/users", None, json!({"user": {"username": "liker", "email": "other@example.com", "password": "password123"}}))
            .await;
        assert_eq!(taken.status, 409, "{}", taken.body);
        let first = next_event(&mut events, Duration::from_secs(2)).await.unwrap();
        assert_eq!(first.kind.type_name(), "post.favorited");
        assert!(next_event(&mut events, Duration::from_millis(500)).await.is_none());
        let backlog = app.quire.outbox_backlog().await.unwrap();
        assert_eq!(backlog.pending, 0, "the relay sent everything");
    }
}

/// The JSON Schemas in `docs/events.md`: the first ```json block after each `### \`type\``
/// heading, and the envelope's after `## Envelope`.
fn documented_schemas() -> BTreeMap<String, Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md");
    let text = std::fs::read_to_string(path).expect("docs/events.md exists");
    let mut schemas = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(body) = block.as_mut() {
            if line.trim_start().starts_with("```") {
                let name = current.take().expect("a schema follows a heading");
                let schema: Value = serde_json::from_str(body)
                    .unwrap_or_else(|error| panic!("the schema of {name} is not JSON: {error}"));
                schemas.insert(name, schema);
                block = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
            continue;
        }
        if let Some(heading) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            current = Some(heading.to_owned());
        } else if line.starts_with("## Envelope") {
            current = Some("envelope".to_owned());
        } else if line.trim_start().starts_with("```json") && current.is_some() {
            block = Some(String::new());
        }
    }
    schemas
}

on_both_engines! {
    async fn publishing_one_draft_many_times_at_once_tells_it_once(engine: Engine) {
        let env = crate::helpers::TestEnv::new(engine).await;
        let database = env.database_url();
        let app = TestApp::spawn_in(env).await;
        let author = app.register("racer").await;
        let draft = app.create_draft(&author, "Raced").await;
        let id = draft["postId"].as_i64().unwrap();
        let publishes = (0..8).map(|_| app.set_status(&author, id, "published"));
        futures::future::join_all(publishes).await;
        let told = crate::brokers::outbox(&database)
            .await
            .iter()
            .filter(|row| row.kind == "post.published" && row.subject == format!("post/{id}"))
            .count();
        assert_eq!(told, 1, "eight publishes of one draft, one post.published");
        let listed = app.get("/api/articles?author=racer", None).await.body;
        assert_eq!(listed["articlesCount"], 1, "and one published post counted");
    }
}
