//! `quire db copy`: a populated SQLite database moves into PostgreSQL, and the API serves the
//! same responses from both.

use std::process::Command;

use quire_server::config::Secret;
use quire_storage::{CopyProgress, Db};
use serde_json::{Value, json};

use crate::helpers::{Engine, FreshPostgres, TestApp, TestEnv};

const JWT_KEY: &str = "a-key-shared-by-both-servers-so-tokens-carry-over";

struct Quiet;

impl CopyProgress for Quiet {
    fn table(&mut self, _: &str, _: u64) {}
    fn copied(&mut self, _: &str, _: u64, _: u64) {}
}

async fn populate(app: &TestApp) -> Vec<String> {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.put(
        "/api/user",
        Some(&bob.token),
        json!({"user": {"bio": "Bob's bio", "image": "https://example.com/bob.png"}}),
    )
    .await;
    for (author, title, tags) in [
        (&alice, "First light", vec!["astronomy", "night"]),
        (&bob, "Second wind", vec!["sailing"]),
        (&alice, "Third time", vec![]),
        (&carol, "Fourth wall", vec!["theatre", "night"]),
        (&bob, "Same title", vec![]),
        (&bob, "Same title", vec!["dup"]),
    ] {
        app.create_article(author, title, &tags).await;
    }
    app.put(
        "/api/articles/second-wind",
        Some(&bob.token),
        json!({"article": {"body": "Edited"}}),
    )
    .await;
    app.post("/api/profiles/bob/follow", Some(&alice.token), json!({}))
        .await;
    app.post("/api/profiles/carol/follow", Some(&alice.token), json!({}))
        .await;
    for fan in [&alice, &carol] {
        app.post(
            "/api/articles/second-wind/favorite",
            Some(&fan.token),
            json!({}),
        )
        .await;
    }
    app.post(
        "/api/articles/first-light/favorite",
        Some(&bob.token),
        json!({}),
    )
    .await;
    for (who, text) in [(&bob, "Lovely"), (&carol, "Agreed"), (&alice, "Thanks!")] {
        app.post(
            "/api/articles/first-light/comments",
            Some(&who.token),
            json!({"comment": {"body": text}}),
        )
        .await;
    }
    vec![alice.token, bob.token, carol.token]
}

/// Every read the API offers, anonymously and as each user.
async fn snapshot(app: &TestApp, tokens: &[String]) -> Vec<(String, u16, Value)> {
    let mut paths = vec![
        "/api/articles".to_owned(),
        "/api/articles?limit=2&offset=1".to_owned(),
        "/api/articles?tag=night".to_owned(),
        "/api/articles?author=bob".to_owned(),
        "/api/articles?favorited=alice".to_owned(),
        "/api/articles?author=bob&tag=dup".to_owned(),
        "/api/tags".to_owned(),
        "/api/profiles/bob".to_owned(),
        "/api/articles/first-light/comments".to_owned(),
    ];
    let all = app.get("/api/articles?limit=100", None).await;
    for article in all.body["articles"].as_array().unwrap() {
        paths.push(format!(
            "/api/articles/{}",
            article["slug"].as_str().unwrap()
        ));
    }
    let mut seen = Vec::new();
    for token in std::iter::once(None).chain(tokens.iter().map(Some)) {
        for path in paths
            .iter()
            .chain(token.is_some().then_some(&"/api/user".to_owned()))
            .chain(token.is_some().then_some(&"/api/articles/feed".to_owned()))
        {
            let reply = app.get(path, token.map(String::as_str)).await;
            seen.push((path.clone(), reply.status.as_u16(), reply.body));
        }
    }
    seen
}

#[tokio::test]
#[cfg_attr(
    not(quire_test_postgres),
    ignore = "QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn a_copied_database_serves_identical_responses() {
    let lite_env = TestEnv::new(Engine::Sqlite).await;
    let mut config = lite_env.config();
    config.jwt.secret = Some(Secret::new(JWT_KEY));
    let lite = TestApp::spawn_with(config, lite_env).await;
    let tokens = populate(&lite).await;
    // The newest id is one whose row is gone: the copy must not hand it out again.
    let doomed = lite
        .client
        .post(lite.url("/api/v1/posts"))
        .header("authorization", format!("Bearer {}", tokens[0]))
        .json(&json!({"title": "Doomed", "description": "d", "content": "c"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["postId"]
        .as_i64()
        .unwrap();
    lite.delete("/api/articles/doomed", Some(&tokens[0])).await;
    let before = snapshot(&lite, &tokens).await;
    assert!(before.iter().all(|(_, status, _)| *status == 200));

    let pg_env = TestEnv::new(Engine::Postgres).await;
    let source = Db::open(&quire_server::app::db_options(&lite.env.config()))
        .await
        .unwrap();
    let target = Db::open(&quire_server::app::db_options(&pg_env.config()))
        .await
        .unwrap();
    let copied = quire_storage::copy_database(&source, &target, &mut Quiet)
        .await
        .unwrap();
    assert!(copied > 20, "{copied} rows");
    let again = quire_storage::copy_database(&source, &target, &mut Quiet).await;
    assert!(again.is_err(), "a non-empty target is refused");
    target.close().await;

    let mut config = pg_env.config();
    config.jwt.secret = Some(Secret::new(JWT_KEY));
    let pg = TestApp::spawn_with(config, pg_env).await;
    let after = snapshot(&pg, &tokens).await;
    assert_eq!(before.len(), after.len());
    for (lite, pg) in before.iter().zip(&after) {
        assert_eq!(lite, pg, "GET {} differs after the copy", lite.0);
    }

    // Ids carry on after the copied ones: new rows do not collide.
    let dave = pg.register("dave").await;
    let article = pg.create_article(&dave, "After the move", &["night"]).await;
    assert_eq!(article["slug"], "after-the-move");
    let after = pg
        .client
        .get(pg.url("/api/v1/posts?limit=1"))
        .send()
        .await
        .unwrap();
    let newest = after.json::<Value>().await.unwrap()["items"][0]["postId"]
        .as_i64()
        .unwrap();
    assert!(
        newest > doomed,
        "new ids continue past every id the source issued"
    );
    let comment = pg
        .post(
            "/api/articles/after-the-move/comments",
            Some(&dave.token),
            json!({"comment": {"body": "new"}}),
        )
        .await;
    assert_eq!(comment.status, 201);
}

#[tokio::test]
#[cfg_attr(
    not(quire_test_postgres),
    ignore = "QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn the_copy_command_moves_a_database() {
    let lite = TestApp::spawn(Engine::Sqlite).await;
    populate(&lite).await;
    let target = FreshPostgres::create().await;
    let output = Command::new(env!("CARGO_BIN_EXE_quire"))
        .env_clear()
        .env("QUIRE_DATA_DIR", lite.env.data.path())
        .args([
            "db",
            "copy",
            "--from",
            &lite.env.database_url(),
            "--to",
            &target.url,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("copied "));
    let refused = Command::new(env!("CARGO_BIN_EXE_quire"))
        .env_clear()
        .env("QUIRE_DATA_DIR", lite.env.data.path())
        .args([
            "db",
            "copy",
            "--from",
            &lite.env.database_url(),
            "--to",
            &target.url,
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
}
