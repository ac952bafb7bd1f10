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
