//! The `quire` subcommands an operator uses besides `serve`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helpers::{TestApp, test_config};

fn quire(data: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quire"));
    command
        .env_clear()
        .env("QUIRE_DATA_DIR", data)
        .env("QUIRE_ARGON2_MEMORY_KIB", "256")
        .env("QUIRE_ARGON2_ITERATIONS", "1");
    command
}

#[tokio::test]
async fn an_admin_created_from_the_command_line_can_log_in() {
    let data = tempfile::tempdir().unwrap();
    let mut child = quire(data.path())
        .args([
            "user",
            "create",
            "--username",
            "root",
            "--email",
            "root@example.com",
            "--roles",
            "admin,editor",
        ])
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long admin password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("roles editor,admin"), "{printed}");
    assert!(!printed.contains("a long admin password"));

    let app = TestApp::spawn_with(test_config(&data), data).await;
    let login = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": "root@example.com", "password": "a long admin password"}}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
}

#[test]
fn a_generated_password_is_printed_once_and_works() {
    let data = tempfile::tempdir().unwrap();
    let output = quire(data.path())
        .args([
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let password = printed
        .lines()
        .find_map(|line| line.strip_prefix("generated password (shown once): "));
    assert!(password.is_some_and(|p| p.len() >= 20), "{printed}");
    let again = quire(data.path())
        .args([
            "user",
            "create",
            "--username",
            "OPS",
            "--email",
            "other@example.com",
        ])
        .output()
        .unwrap();
    assert!(!again.status.success(), "usernames stay unique");
}

#[test]
fn migrate_applies_the_schema_and_config_redacts_secrets() {
    let data = tempfile::tempdir().unwrap();
    let output = quire(data.path()).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("migration version 1"));
    assert!(data.path().join("quire.db").exists());

    let output = quire(data.path())
        .arg("config")
        .env(
            "QUIRE_JWT_SECRET",
            "a-very-secret-signing-key-that-is-long-enough",
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("listen = \"127.0.0.1:8080\""), "{printed}");
    assert!(printed.contains("<redacted>"));
    assert!(!printed.contains("a-very-secret"));

    let bad = quire(data.path())
        .arg("config")
        .env("QUIRE_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("QUIRE_LISTEN"));
}
