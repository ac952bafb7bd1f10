//! The database going away is a 503 with `Retry-After`, never a 500, and service resumes by
//! itself when it returns. PostgreSQL only: the connection is cut by a TCP proxy the test
//! owns, never by stopping the machine's server. (SQLite is a file inside the process.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::helpers::{Engine, TestApp, TestEnv, postgres_url, with_database};

/// A TCP proxy to PostgreSQL that a test can cut and restore. Cutting it closes every
/// connection through it and stops accepting new ones.
struct Proxy {
    address: SocketAddr,
    upstream: String,
    running: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let proxy = Self {
            address,
            upstream,
            running: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let task = tokio::spawn(async move {
            // Connections live in this set: aborting the task drops it and closes them all.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.running.lock().unwrap() = Some(task);
    }

    fn cut(&self) {
        if let Some(task) = self.running.lock().unwrap().take() {
            task.abort();
        }
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
    }
}

/// host:port of the PostgreSQL server under test.
fn postgres_address(url: &str) -> String {
    let after_scheme = &url[url.find("://").map_or(0, |i| i + 3)..];
    let host_port = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    let host_port = host_port
        .split(['/', '?'])
        .next()
        .unwrap_or("127.0.0.1:5432");
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

/// An application on a new PostgreSQL database that it reaches only through a [`Proxy`] the
/// test can cut, waiting at most 1 s for a connection, with rate limits off.
async fn behind_proxy() -> (TestApp, Proxy) {
    let admin_url = postgres_url();
    let env = TestEnv::new(Engine::Postgres).await;
    let database = env
        .postgres
        .as_ref()
        .unwrap()
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let proxy = Proxy::start(postgres_address(&admin_url)).await;
    // The application reaches its database only through the proxy.
    let through_proxy = with_database(
        &admin_url.replacen(&postgres_address(&admin_url), &proxy.address.to_string(), 1),
        &database,
    );
    let mut config = env.config();
    config.database.url = Some(quire_server::config::Secret::new(through_proxy));
    config.database.acquire_timeout_secs = 1;
    // The load comes from one address: it measures the database's absence, not the limits.
    config.limits.rate_limits = false;
    let app = TestApp::spawn_with(config, env).await;
    (app, proxy)
}

#[tokio::test]
#[cfg_attr(
    not(quire_test_postgres),
    ignore = "QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn a_cut_database_answers_503_and_service_resumes_by_itself() {
    let (app, proxy) = behind_proxy().await;
    let author = app.register("author").await;
    app.create_article(&author, "Before the cut", &[]).await;

    proxy.cut();
    let started = Instant::now();
    let first = app.get("/api/articles", None).await;
    assert_eq!(first.status, 503, "{}", first.body);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "503 within the 1 s acquire timeout, give or take"
    );
    let requests = [
        app.get("/api/articles", None).await,
        app.get("/api/articles/before-the-cut", None).await,
        app.post("/api/articles", Some(&author.token), json!({"article": {"title": "During", "description": "d", "body": "b"}})).await,
        app.post("/api/users", None, json!({"user": {"username": "late", "email": "late@example.com", "password": "password123"}})).await,
    ];
    for reply in &requests {
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(reply.headers.contains_key("retry-after"));
        assert!(reply.body["errors"].is_object(), "{}", reply.body);
    }
    let started = Instant::now();
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["checks"]["database"], "down");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answers within the acquire timeout"
    );
    assert_eq!(
        app.get("/healthz", None).await.status,
        200,
        "the process itself is alive"
    );
    assert_eq!(crate::grpc::health(&app).await, "NOT_SERVING");

    proxy.restore().await;
    let reply = app.get("/api/articles", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["articlesCount"], 1,
        "nothing was written during the cut"
    );
    let written = app
        .post(
            "/api/articles",
            Some(&author.token),
            json!({"article": {"title": "After", "description": "d", "body": "b"}}),
        )
        .await;
    assert_eq!(written.status, 201);
    assert_eq!(app.get("/readyz", None).await.status, 200);
    assert_eq!(crate::grpc::health(&app).await, "SERVING");
}

/// The database restarting under a load of reads and writes: while it is away every answer
/// is a 2xx or a 503 with `Retry-After`, never a 500, and within 5 s of its return every
/// request succeeds again.
#[tokio::test]
#[cfg_attr(
    not(quire_test_postgres),
    ignore = "QUIRE_TEST_POSTGRES_URL is not set"
)]
async fn a_database_restart_under_load_is_503_never_500_and_service_resumes_within_5_s() {
    let (app, proxy) = behind_proxy().await;
    let app = Arc::new(app);
    let author = app.register("author").await;
    app.create_article(&author, "Before the restart", &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    // When each request was sent, its status, and whether it carried Retry-After.
    let outcomes = Arc::new(Mutex::new(Vec::<(Instant, u16, bool)>::new()));
    let mut load = JoinSet::new();
    for worker in 0..8 {
        let (app, token, stop, outcomes) = (
            app.clone(),
            author.token.clone(),
            stop.clone(),
            outcomes.clone(),
        );
        load.spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let sent = Instant::now();
                let reply = if worker % 2 == 0 {
                    app.get("/api/articles", None).await
                } else {
                    let title = format!("Load {worker} {i}");
                    app.post(
                        "/api/articles",
                        Some(&token),
                        json!({"article": {"title": title, "description": "d", "body": "b"}}),
                    )
                    .await
                };
                let retry_after = reply.headers.contains_key("retry-after");
                outcomes
                    .lock()
                    .unwrap()
                    .push((sent, reply.status.as_u16(), retry_after));
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore().await;
    let restored = Instant::now();
    tokio::time::sleep(Duration::from_secs(7)).await;
    stop.store(true, Ordering::SeqCst);
    while load.join_next().await.is_some() {}

    let outcomes = outcomes.lock().unwrap().clone();
    for (_, status, retry_after) in &outcomes {
        assert!(matches!(status, 200 | 201 | 503), "answered {status}");
        if *status == 503 {
            assert!(retry_after, "a 503 without Retry-After");
        }
    }
    assert!(
        outcomes.iter().any(|(_, status, _)| *status == 503),
        "the restart was felt"
    );
    let settled = restored + Duration::from_secs(5);
    let after: Vec<u16> = outcomes
        .iter()
        .filter(|(sent, ..)| *sent >= settled)
        .map(|(_, status, _)| *status)
        .collect();
    assert!(
        after.len() >= 8,
        "the load went on after the return: {after:?}"
    );
    assert!(
        after.iter().all(|status| matches!(status, 200 | 201)),
        "every request succeeds from 5 s after the database returns: {after:?}"
    );
}
