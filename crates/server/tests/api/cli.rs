//! The `quire` subcommands an operator uses besides `serve`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helpers::{Engine, TestApp, TestEnv, on_both_engines};

fn quire(env: &TestEnv) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quire"));
    command.env_clear().envs(env.vars());
    command
}

on_both_engines! {
    async fn an_admin_created_from_the_command_line_can_log_in(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let mut child = quire(&env)
            .args(["user", "create", "--username", "root", "--email", "root@example.com"])
            .args(["--roles", "admin,editor", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"a long admin password\n").unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let printed = String::from_utf8(output.stdout).unwrap();
        assert!(printed.contains("roles editor,admin"), "{printed}");
        assert!(!printed.contains("a long admin password"));

        let app = TestApp::spawn_in(env).await;
        let login = app
            .post(
                "/api/users/login",
                None,
                json!({"user": {"email": "root@example.com", "password": "a long admin password"}}),
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
    }

    async fn a_generated_password_is_printed_once_and_works(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let output = quire(&env)
            .args(["user", "create", "--username", "ops", "--email", "ops@example.com"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let printed = String::from_utf8(output.stdout).unwrap();
        let password = printed
            .lines()
            .find_map(|line| line.strip_prefix("generated password (shown once): "))
            .map(str::to_owned);
        assert!(password.as_ref().is_some_and(|p| p.len() >= 20), "{printed}");
        let again = quire(&env)
            .args(["user", "create", "--username", "OPS", "--email", "other@example.com"])
            .output()
            .unwrap();
        assert!(!again.status.success(), "usernames stay unique");

        let app = TestApp::spawn_in(env).await;
        let login = app
            .post(
                "/api/users/login",
                None,
                json!({"user": {"email": "ops@example.com", "password": password}}),
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
    }

    async fn migrate_applies_the_schema_and_config_redacts_secrets(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let output = quire(&env).arg("migrate").output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let latest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../storage/migrations/sqlite"))
            .unwrap()
            .filter_map(|entry| entry.unwrap().file_name().to_string_lossy().split('_').next()?.parse::<u32>().ok())
            .max()
            .unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(printed.contains(&format!("migration version {latest}")), "{printed}");
        if engine == Engine::Sqlite {
            assert!(env.data.path().join("quire.db").exists());
        }

        let output = quire(&env)
            .arg("config")
            .env("QUIRE_JWT_SECRET", "a-very-secret-signing-key-that-is-long-enough")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let printed = String::from_utf8(output.stdout).unwrap();
        assert!(printed.contains("listen = \"127.0.0.1:8080\""), "{printed}");
        assert!(printed.contains("<redacted>"));
        assert!(!printed.contains("a-very-secret"));
        assert!(!printed.contains(&env.database_url()), "the database URL may hold a password");

        let bad = quire(&env).arg("config").env("QUIRE_LISTEN", "nowhere").output().unwrap();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("QUIRE_LISTEN"));
    }
}

/// Published posts tagged `topic-1` among 300 seeded ones: the seed is a pure function of
/// its size, so both engines hold these same posts.
const SEEDED_TOPIC_1: u64 = 212;

/// Walks every page of `/api/articles?{filter}` and answers how many articles it listed,
/// beside the `articlesCount` the first page told.
async fn walk(app: &TestApp, filter: &str) -> (u64, u64) {
    let mut listed = 0;
    let mut told = None;
    loop {
        let page = app
            .get(
                &format!("/api/articles?{filter}&limit=100&offset={listed}"),
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        told.get_or_insert(page.body["articlesCount"].as_u64().unwrap());
        let got = page.body["articles"].as_array().unwrap().len() as u64;
        if got == 0 {
            return (listed, told.unwrap());
        }
        listed += got;
    }
}

on_both_engines! {
    async fn seed_fills_a_new_database_with_consistent_data(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let output = quire(&env).args(["seed", "--posts", "300"]).output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let printed = String::from_utf8(output.stdout).unwrap();
        assert!(
            printed.contains("seeded 300 posts, 10 users and 20 tags; rendered 300, indexed 300"),
            "{printed}"
        );
        let again = quire(&env).args(["seed", "--posts", "10"]).output().unwrap();
        assert!(!again.status.success(), "a database that holds data is refused");
        assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"), "{again:?}");

        let app = TestApp::spawn_in(env).await;
        // One post in twenty is a draft; the counters agree with the rows, on every list.
        assert_eq!(walk(&app, "x=1").await, (285, 285));
        // The same data on both engines: the most used tag has the same posts.
        assert_eq!(walk(&app, "tag=topic-1").await, (SEEDED_TOPIC_1, SEEDED_TOPIC_1));
        for user in ["user1", "user2", "user10"] {
            let (listed, told) = walk(&app, &format!("author={user}")).await;
            assert_eq!(listed, told, "{user}'s posts");
            let (listed, told) = walk(&app, &format!("favorited={user}")).await;
            assert_eq!(listed, told, "{user}'s favorites");
            assert!(listed > 0, "every seeded user favorited something");
        }
        let tags = app.get("/api/tags", None).await;
        assert_eq!(tags.body["tags"][0], "topic-1", "{}", tags.body);

        let login = app
            .post(
                "/api/users/login",
                None,
                json!({"user": {"email": "user7@example.com", "password": "quiet harbour lantern at dawn"}}),
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
        let token = login.body["user"]["token"].as_str().unwrap().to_owned();
        let feed = app.get("/api/articles/feed?limit=1", Some(&token)).await;
        assert!(feed.body["articlesCount"].as_u64().unwrap() > 0, "{}", feed.body);

        let post = app.get("/api/v1/posts/7", None).await;
        assert_eq!(post.status, 200, "{}", post.body);
        assert!(post.body["contentHtml"].as_str().unwrap().contains("<h2"), "{}", post.body);
        let comments = app.get("/api/articles/seeded-post-7/comments", None).await;
        assert!(!comments.body["comments"].as_array().unwrap().is_empty());
        let found = app.get("/api/v1/search?q=%EB%A9%94%EB%AA%A8", None).await;
        assert_eq!(found.status, 200, "{}", found.body);
        assert!(found.body.to_string().contains("seeded-post-"), "Korean posts are indexed: {}", found.body);

        // Writes after a seed take new ids: nothing collides with a seeded row.
        let newcomer = app.register("newcomer").await;
        let created = app.create_article(&newcomer, "Written after the seed", &["topic-1"]).await;
        assert_eq!(created["slug"], "written-after-the-seed");
        assert_eq!(walk(&app, "tag=topic-1").await.1, SEEDED_TOPIC_1 + 1);
    }
}
