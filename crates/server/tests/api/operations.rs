//! What operators see and run: metrics on the admin port only, logs that never carry
//! secrets, and `quire healthcheck`.

use serde_json::json;

use crate::durability::{register, start_with, stop_gracefully, wait_for_lines};
use crate::helpers::{Engine, TestApp, TestEnv, on_both_engines};

#[tokio::test]
async fn metrics_are_served_on_the_admin_port_only() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let author = app.register("metered").await;
    app.create_article(&author, "Counted", &["ops"]).await;
    app.get("/api/articles", None).await;
    app.get("/api/articles/counted", None).await;
    app.get("/api/articles/does-not-exist", None).await;
    app.post("/graphql", None, json!({ "query": "{ tags }" }))
        .await;

    let public = app.get("/metrics", None).await;
    assert_eq!(public.status, 404, "the public port serves no metrics");

    let text = reqwest::get(format!("http://{}/metrics", app.admin_address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |needle: &str| {
        assert!(
            text.lines()
                .any(|line| line.starts_with(needle.split('{').next().unwrap())
                    && needle
                        .split(['{', ',', '}'])
                        .all(|part| line.contains(part))),
            "no line like {needle} in:\n{text}"
        );
    };
    has(
        r#"quire_http_requests_total{contract="realworld",route="/api/articles",method="GET",status_class="2xx"}"#,
    );
    has(
        r#"quire_http_requests_total{contract="realworld",route="/api/articles/{slug}",method="GET",status_class="4xx"}"#,
    );
    has(
        r#"quire_http_requests_total{contract="graphql",route="/graphql",method="POST",status_class="2xx"}"#,
    );
    has(
        r#"quire_http_request_duration_seconds_bucket{contract="realworld",route="/api/articles",method="GET",le="0.005"}"#,
    );
    has(r#"quire_db_pool_connections{pool="sqlite_reader",state="idle"}"#);
    has(r#"quire_db_pool_connections{pool="sqlite_writer",state="in_use"}"#);
    has(r#"quire_db_pool_max_connections{pool="sqlite_reader"}"#);
    has(r#"quire_db_acquire_seconds_bucket{pool="sqlite_reader""#);
    has(r#"quire_argon2_queue_depth"#);
    has(r#"quire_build_info{version="#);
    // No raw paths or ids as label values.
    assert!(
        !text.contains("does-not-exist"),
        "a raw path became a label"
    );
}

#[tokio::test]
async fn logs_never_carry_passwords_or_tokens() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let (mut server, address, log) = start_with(&env, &[("QUIRE_LOG", "debug")]).await;
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let password = "correct-horse-battery-staple";
    let registered: serde_json::Value = client
        .post(format!("{base}/api/users"))
        .json(&json!({"user": {"username": "secretive", "email": "secretive@example.com", "password": password}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["user"]["token"].as_str().unwrap().to_owned();
    let logged_in: serde_json::Value = client
        .post(format!("{base}/api/users/login"))
        .json(&json!({"user": {"email": "secretive@example.com", "password": password}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second_token = logged_in["user"]["token"].as_str().unwrap().to_owned();
    let created = client
        .post(format!("{base}/api/articles"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"article": {"title": "Quiet", "description": "d", "body": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let wrong = client
        .post(format!("{base}/api/users/login"))
        .json(&json!({"user": {"email": "secretive@example.com", "password": "not-the-password"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let forged = client
        .get(format!("{base}/api/user"))
        .header("Authorization", "Token forged.jwt.value")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // A graceful stop writes every line (a SIGKILL may lose the last closing lines).
    stop_gracefully(&mut server).await;
    wait_for_lines(&log, 5, |line| line.contains("request completed")).await;

    let lines = log.lock().unwrap().clone();
    assert!(lines.len() > 5, "the server logged: {lines:?}");
    let requests: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("request completed"))
        .collect();
    assert!(requests.len() >= 5, "one line per request: {lines:?}");
    assert!(
        requests.iter().all(|line| line.contains("request_id")),
        "{requests:?}"
    );
    for secret in [
        password,
        "not-the-password",
        token.as_str(),
        second_token.as_str(),
        "forged.jwt.value",
    ] {
        for line in &lines {
            assert!(!line.contains(secret), "a secret reached the log: {line}");
        }
    }
    // The signing key never appears either.
    let key = std::fs::read_to_string(env.data.path().join("jwt-secret")).unwrap();
    assert!(lines.iter().all(|line| !line.contains(key.trim())));
}

#[tokio::test]
async fn the_healthcheck_command_asks_the_running_server() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let run = |listen: String| {
        let vars = app.env.vars();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_quire"))
                .arg("healthcheck")
                .env_clear()
                .envs(vars)
                .env("QUIRE_LISTEN", listen)
                .output()
                .await
                .unwrap()
        }
    };
    let ready = run(app.address.to_string()).await;
    assert!(ready.status.success(), "{ready:?}");
    let wildcard = run(format!("0.0.0.0:{}", app.address.port())).await;
    assert!(wildcard.status.success(), "{wildcard:?}");
    // Nothing listening: not healthy.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nobody = closed.local_addr().unwrap();
    drop(closed);
    let down = run(nobody.to_string()).await;
    assert!(!down.status.success());
}

/// Metric names a PromQL expression reads (histogram series by their exported names).
fn metric_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expression.as_bytes();
    let mut start = 0;
    while let Some(found) = expression[start..].find("quire_") {
        let begin = start + found;
        let end = expression[begin..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expression.len(), |offset| begin + offset);
        let preceded =
            begin > 0 && (bytes[begin - 1].is_ascii_alphanumeric() || bytes[begin - 1] == b'_');
        if !preceded {
            names.push(expression[begin..end].to_owned());
        }
        start = end;
    }
    names
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/grafana/dashboards/quire.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut queried: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().iter())
        .flat_map(|target| metric_names(target["expr"].as_str().unwrap()))
        .collect();
    queried.sort();
    queried.dedup();
    assert!(queried.len() >= 6, "{queried:?}");

    let app = TestApp::spawn(Engine::Sqlite).await;
    app.register("watched").await;
    app.get("/api/articles", None).await;
    let text = reqwest::get(format!("http://{}/metrics", app.admin_address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    for name in &queried {
        assert!(
            exported.contains(&name.as_str()),
            "the dashboard queries {name}, which quire does not export"
        );
    }
}

#[test]
fn the_operations_guide_documents_every_variable() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/operations.md"
    ))
    .unwrap();
    for var in quire_server::config::env_vars() {
        assert!(
            guide.contains(&format!("`{var}`")),
            "docs/operations.md does not document {var}"
        );
    }
}

#[tokio::test]
async fn a_taken_admin_port_costs_the_metrics_not_the_service() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.admin.listen = taken.local_addr().unwrap();
    let app = quire_server::Application::build(config)
        .await
        .expect("starts anyway");
    assert_eq!(app.admin_addr(), None);
}

#[tokio::test]
async fn a_kept_response_is_logged_under_its_route_like_a_rendered_one() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let (mut server, address, log) = start_with(&env, &[("QUIRE_LOG", "info")]).await;
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let token = register(&client, &base, "kept").await;
    let created = client
        .post(format!("{base}/api/articles"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"article": {"title": "Kept", "description": "d", "body": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The first anonymous read renders the post; the next two are answered from what it kept.
    let admin = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["message"] == "listening")
        .and_then(|line| line["admin_address"].as_str().map(str::to_owned))
        .expect("the admin address");
    let hits = || async {
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|line| {
                line.starts_with("quire_cache_requests_total{")
                    && line.contains(r#"cache="memory""#)
                    && line.contains(r#"outcome="hit""#)
            })
            .and_then(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let read = || async {
        let read = client
            .get(format!("{base}/api/articles/kept"))
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
    };
    read().await;
    let before = hits().await;
    read().await;
    read().await;
    assert_eq!(
        hits().await - before,
        2,
        "the second and third reads were kept ones"
    );
    stop_gracefully(&mut server).await;

    let reads = || {
        log.lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| {
                line["message"] == "request completed" && line["route"] == "/api/articles/{slug}"
            })
            .collect::<Vec<_>>()
    };
    wait_for_lines(&log, 3, |line| {
        line.contains("request completed") && line.contains("/api/articles/{slug}")
    })
    .await;
    let reads = reads();
    assert_eq!(reads.len(), 3, "one line per read, each naming the route");
    for read in &reads {
        assert_eq!(read["status"], 200);
        assert_eq!(read["span"]["method"], "GET");
        assert!(read["span"]["request_id"].is_string(), "{read}");
    }
}

on_both_engines! {
async fn an_instance_warns_of_keys_it_keeps_where_other_instances_may_share_the_database(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let secret = "0123456789abcdef0123456789abcdef0123456789abcdef";
    let (mut server, _, log) = start_with(&env, &[("QUIRE_JWT_SECRET", secret)]).await;
    stop_gracefully(&mut server).await;
    let warned: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["level"] == "WARN" && line["message"].as_str().is_some_and(|m| m.contains("keeps its own key")))
        .map(|line| line["key"].as_str().unwrap().to_owned())
        .collect();
    match engine {
        // One instance per SQLite file: its own keys are its only keys.
        Engine::Sqlite => assert!(warned.is_empty(), "{warned:?}"),
        // The JWT secret is configured; the webhook key is generated into the data directory.
        Engine::Postgres => assert_eq!(warned, ["QUIRE_WEBHOOK_KEY"]),
    }
}
}
