//! The edge cache: quire behind a real Varnish running the shipped `deploy/varnish/quire.vcl`,
//! purged by surrogate key through the purger worker; and the purger's retries while the purge
//! endpoint is down.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, TestEnv};

/// A port free right now on loopback.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `varnishd` in the foreground running the shipped VCL against `backend`, stopped on drop.
struct Varnish {
    child: Child,
    address: SocketAddr,
    _workdir: tempfile::TempDir,
}

impl Varnish {
    fn start(varnishd: &str, port: u16, backend: SocketAddr) -> Self {
        let shipped =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/varnish/quire.vcl");
        let vcl = std::fs::read_to_string(&shipped).unwrap();
        // Only the backend's address differs from the shipped file.
        let vcl = vcl.replace(
            "\"127.0.0.1\";\n    .port = \"8080\";",
            &format!("\"{}\";\n    .port = \"{}\";", backend.ip(), backend.port()),
        );
        assert!(
            vcl.contains(&format!(".port = \"{}\"", backend.port())),
            "the backend is set"
        );
        let workdir = tempfile::tempdir().unwrap();
        let file = workdir.path().join("quire.vcl");
        std::fs::write(&file, vcl).unwrap();
        let child = Command::new(varnishd)
            .args(["-F", "-j", "none", "-n"])
            .arg(workdir.path().join("instance"))
            .args(["-a", &format!("127.0.0.1:{port}"), "-f"])
            .arg(&file)
            .args(["-s", "malloc,32m", "-p", "default_grace=0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("varnishd starts");
        Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            _workdir: workdir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A read through Varnish: whether it was a hit, and the JSON body.
async fn through(
    client: &reqwest::Client,
    varnish: &Varnish,
    path: &str,
    token: Option<&str>,
) -> (bool, Value) {
    let mut request = client.get(varnish.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert!(
        response.headers().get("xkey").is_none(),
        "surrogate keys stay in the cache"
    );
    let hit = response.headers()["x-cache"] == "HIT";
    (hit, response.json().await.unwrap())
}

#[tokio::test]
#[cfg_attr(not(quire_test_varnish), ignore = "QUIRE_TEST_VARNISHD is not set")]
async fn behind_varnish_reads_are_hits_until_a_write_purges_exactly_what_it_changed() {
    let varnishd = std::env::var("QUIRE_TEST_VARNISHD").unwrap();
    let port = free_port();
    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.edge.purge_url = Some(format!("http://127.0.0.1:{port}/"));
    let app = TestApp::spawn_with(config, env).await;
    let varnish = Varnish::start(&varnishd, port, app.address);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(varnish.url("/api/tags")).send().await.is_err() {
        assert!(Instant::now() < deadline, "varnishd did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A 404 is not kept: no purge could reach it once the profile exists.
    for _ in 0..2 {
        let missing = client
            .get(varnish.url("/api/profiles/alice"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }
    let alice = app.register("alice").await;
    let (_, profile) = through(&client, &varnish, "/api/profiles/alice", None).await;
    assert_eq!(
        profile["profile"]["username"], "alice",
        "the 404 was not served again"
    );
    let bob = app.register("bob").await;
    let changed = app.create_article(&alice, "Changed", &["rust"]).await;
    let changed = changed["slug"].as_str().unwrap().to_owned();
    let untouched = app.create_article(&bob, "Untouched", &["go"]).await;
    let untouched = untouched["slug"].as_str().unwrap().to_owned();
    let pages_with_the_post = [
        format!("/api/articles/{changed}"),
        "/api/articles".to_owned(),
        "/api/articles?author=alice".to_owned(),
        "/api/articles?tag=rust".to_owned(),
    ];
    let other_pages = [
        format!("/api/articles/{untouched}"),
        "/api/articles?author=bob".to_owned(),
        "/api/articles?tag=go".to_owned(),
        "/api/profiles/bob".to_owned(),
    ];

    // The purger purges each key once more a second after; let the setup's pass.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The second anonymous read of each page is a hit.
    for path in pages_with_the_post.iter().chain(&other_pages) {
        let (hit, _) = through(&client, &varnish, path, None).await;
        assert!(!hit, "{path}: first read");
        let (hit, _) = through(&client, &varnish, path, None).await;
        assert!(hit, "{path}: second read is a hit");
    }

    // A signed-in read never comes from the shared cache, and keeps its own marks.
    let reply = app
        .post(
            &format!("/api/articles/{changed}/favorite"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200);
    for _ in 0..3 {
        let (hit, body) = through(
            &client,
            &varnish,
            &format!("/api/articles/{changed}"),
            Some(&bob.token),
        )
        .await;
        assert!(!hit, "a signed-in read is never a hit");
        assert_eq!(body["article"]["favorited"], true);
    }

    // An update purges the pages that show the post, and nothing else.
    let reply = app
        .put(
            &format!("/api/articles/{changed}"),
            Some(&alice.token),
            json!({"article": {"description": "fresh"}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let written = Instant::now();
    let path = &pages_with_the_post[0];
    let purged_after = loop {
        let (_, body) = through(&client, &varnish, path, None).await;
        if body["article"]["description"] == "fresh" {
            break written.elapsed();
        }
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "the edge still served the old post 2 s after the write"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!("the edge served the new post {purged_after:?} after the write returned");
    assert_eq!(
        through(&client, &varnish, path, None).await.1["article"]["favoritesCount"],
        1,
        "the favorite is there too"
    );
    for path in &pages_with_the_post[1..] {
        let (_, body) = through(&client, &varnish, path, None).await;
        let article = body["articles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|article| article["slug"] == changed.as_str())
            .unwrap_or_else(|| panic!("{path}: the post is on it"));
        assert_eq!(article["description"], "fresh", "{path} is fresh");
    }
    for path in &other_pages {
        let (hit, _) = through(&client, &varnish, path, None).await;
        assert!(hit, "{path}: not purged by a write that did not change it");
    }
}

#[tokio::test]
async fn purges_wait_for_a_purge_endpoint_that_is_down_and_arrive_when_it_is_back() {
    let port = free_port();
    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.edge.purge_url = Some(format!("http://127.0.0.1:{port}/purge"));
    config.edge.purger = quire_server::config::PurgerKind::Json;
    let app = TestApp::spawn_with(config, env).await;
    let alice = app.register("alice").await;

    // The endpoint is down while the post is written.
    let article = app.create_article(&alice, "Written", &["later"]).await;
    let slug = article["slug"].as_str().unwrap();
    let post = app.get("/api/v1/posts?author=alice", None).await;
    let id = post.body["items"][0]["postId"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/articles/{slug}"), None).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // It comes back: the keys arrive.
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&received);
    let router = axum::Router::new().route(
        "/purge",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                let keys = body["surrogate_keys"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                sink.lock().unwrap().extend(
                    keys.iter()
                        .filter_map(|key| key.as_str().map(str::to_owned)),
                );
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    let expected = [
        format!("post:{id}"),
        "posts".to_owned(),
        "posts:tag:later".to_owned(),
    ];
    loop {
        let keys = received.lock().unwrap().clone();
        if expected.iter().all(|key| keys.contains(key)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the purge never arrived; received {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
