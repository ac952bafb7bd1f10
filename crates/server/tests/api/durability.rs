//! Runs the real `quire` binary: acknowledged writes survive `kill -9`, and SIGTERM drains.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{TestEnv, on_both_engines};

/// Starts `quire serve` on a free port in `env`, and returns it with its address.
async fn start(env: &TestEnv) -> (Child, String) {
    let (child, address, _) = start_with(env, &[]).await;
    (child, address)
}

/// Every line the server has logged so far.
pub type Log = Arc<Mutex<Vec<String>>>;

/// Like [`start`], with some settings overridden, and the server's log as it grows.
pub async fn start_with(env: &TestEnv, overrides: &[(&str, &str)]) -> (Child, String, Log) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quire"))
        .arg("serve")
        .env_clear()
        .envs(env.vars())
        .env("QUIRE_LISTEN", "127.0.0.1:0")
        .env("QUIRE_LOG_FORMAT", "json")
        .envs(overrides.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let log: Log = Arc::default();
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.lock().unwrap().push(line.clone());
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["message"] == "listening" {
                return entry["address"].as_str().unwrap().to_owned();
            }
        }
        panic!("quire exited before listening");
    })
    .await
    .expect("quire starts listening");
    // Keep draining the log so the server never blocks on a full pipe.
    let kept = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            kept.lock().unwrap().push(line);
        }
    });
    (child, address, log)
}

/// Waits up to 2 s until the server's log holds `count` lines that `matches`: the pipe may
/// still hold lines its reader has not taken yet when the server has exited.
pub async fn wait_for_lines(log: &Log, count: usize, matches: impl Fn(&str) -> bool) {
    for _ in 0..100 {
        if log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| matches(line))
            .count()
            >= count
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops a server with SIGTERM and waits for it to exit cleanly (within 20 s).
pub async fn stop_gracefully(server: &mut Child) {
    let pid = server.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// What one writer of a mixed load was told had been written: the articles, comments and
/// favorites acknowledged, and for its bio and the reader's following of it, the last value
/// acknowledged and the last one sent (which a kill may have cut before or after commit).
#[derive(Default)]
struct Ledger {
    writer: String,
    articles: Vec<String>,
    comments: Vec<(String, u64)>,
    favorites: Vec<String>,
    bio: (Option<String>, Option<String>),
    following: (Option<bool>, Option<bool>),
}

/// A client of a server under a mixed write load, counting acknowledged writes.
struct Writes {
    client: reqwest::Client,
    base: String,
    acknowledged: Arc<std::sync::atomic::AtomicUsize>,
}

impl Writes {
    /// Sends a write; answers its body when it was acknowledged (a 2xx), `None` when the
    /// server is gone. Any other answer fails the test.
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Token {token}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.ok()?;
        let status = reply.status();
        let body = reply.json::<Value>().await.ok()?;
        assert!(status.is_success(), "{path} answered {status}: {body}");
        self.acknowledged
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(body)
    }
}

/// Registers `name` (`name@example.com`, `password123`) and answers its token.
pub async fn register(client: &reqwest::Client, base: &str, name: &str) -> String {
    let reply: Value = client
        .post(format!("{base}/api/users"))
        .json(&json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "password123"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["user"]["token"].as_str().unwrap().to_owned()
}

on_both_engines! {
async fn acknowledged_writes_survive_kill_9(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let (mut server, address) = start(&env).await;
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let token = register(&client, &base, "writer").await;

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, base, token, acknowledged) = (
            client.clone(),
            base.clone(),
            token.clone(),
            acknowledged.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let sent = client
                    .post(format!("{base}/api/articles"))
                    .header("Authorization", format!("Token {token}"))
                    .json(&json!({"article": {"title": format!("w{writer} n{i}"), "description": "d", "body": "b", "tagList": ["durable"]}}))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status() != 201 {
                    break;
                }
                let Ok(body) = response.json::<Value>().await else { break };
                acknowledged.lock().unwrap().push(body["article"]["slug"].as_str().unwrap().to_owned());
            }
        }));
    }
    // Let writes stream, then kill the server mid-stream.
    tokio::time::timeout(Duration::from_secs(60), async {
        while acknowledged.lock().unwrap().len() < 60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("writes are acknowledged");
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 60);

    let (mut server, address) = start(&env).await;
    let base = format!("http://{address}");
    for slug in &acknowledged {
        let status = client
            .get(format!("{base}/api/articles/{slug}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "acknowledged article {slug} was lost");
    }
    let listed: Value = client
        .get(format!("{base}/api/articles?tag=durable&limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["articlesCount"].as_u64().unwrap() >= acknowledged.len() as u64);
    server.start_kill().unwrap();
}

async fn a_mixed_write_load_survives_kill_9(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let (mut server, address) = start(&env).await;
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let reader = register(&client, &base, "reader").await;
    let acknowledged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let name = format!("writer{writer}");
        let token = register(&client, &base, &name).await;
        let (client, base, reader, acknowledged) =
            (client.clone(), base.clone(), reader.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            let mut ledger = Ledger { writer: name.clone(), ..Ledger::default() };
            let client = Writes { client, base, acknowledged };
            for i in 0.. {
                let article = json!({"article": {"title": format!("{name} n{i}"), "description": "d", "body": "b", "tagList": ["mixed"]}});
                let Some(reply) = client.send("POST", "/api/articles", &token, Some(article)).await else { break };
                let slug = reply["article"]["slug"].as_str().unwrap().to_owned();
                ledger.articles.push(slug.clone());
                let comment = json!({"comment": {"body": format!("on {slug}")}});
                let Some(reply) = client.send("POST", &format!("/api/articles/{slug}/comments"), &reader, Some(comment)).await else { break };
                ledger.comments.push((slug.clone(), reply["comment"]["id"].as_u64().unwrap()));
                if client.send("POST", &format!("/api/articles/{slug}/favorite"), &reader, None).await.is_none() { break }
                ledger.favorites.push(slug);
                ledger.bio.1 = Some(format!("bio {i}"));
                let bio = json!({"user": {"bio": format!("bio {i}")}});
                if client.send("PUT", "/api/user", &token, Some(bio)).await.is_none() { break }
                ledger.bio.0.clone_from(&ledger.bio.1);
                let follow = i % 2 == 0;
                ledger.following.1 = Some(follow);
                let method = if follow { "POST" } else { "DELETE" };
                if client.send(method, &format!("/api/profiles/{name}/follow"), &reader, None).await.is_none() { break }
                ledger.following.0 = ledger.following.1;
            }
            ledger
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 150 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("writes are acknowledged");
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let mut ledgers = Vec::new();
    for writer in writers {
        ledgers.push(writer.await.unwrap());
    }

    let (mut server, address) = start(&env).await;
    let base = format!("http://{address}");
    let read = |path: String, token: Option<String>| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let mut request = client.get(format!("{base}{path}"));
            if let Some(token) = token {
                request = request.header("Authorization", format!("Token {token}"));
            }
            let reply = request.send().await.unwrap();
            assert_eq!(reply.status(), 200, "{path}");
            reply.json::<Value>().await.unwrap()
        }
    };
    let mut articles = 0;
    for ledger in &ledgers {
        for slug in &ledger.articles {
            read(format!("/api/articles/{slug}"), None).await;
        }
        articles += ledger.articles.len();
        for (slug, id) in &ledger.comments {
            let comments = read(format!("/api/articles/{slug}/comments"), None).await;
            let ids: Vec<u64> = comments["comments"].as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()).collect();
            assert!(ids.contains(id), "acknowledged comment {id} on {slug} was lost: {ids:?}");
        }
        for slug in &ledger.favorites {
            let article = read(format!("/api/articles/{slug}"), Some(reader.clone())).await;
            assert_eq!(article["article"]["favorited"], true, "acknowledged favorite of {slug} was lost");
            assert_eq!(article["article"]["favoritesCount"], 1, "{slug}");
        }
        let profile = read(format!("/api/profiles/{}", ledger.writer), Some(reader.clone())).await;
        let bio = profile["profile"]["bio"].as_str().map(str::to_owned);
        assert!(
            bio == ledger.bio.0 || bio == ledger.bio.1,
            "{}'s bio is {bio:?}: neither the acknowledged {:?} nor the one in flight {:?}",
            ledger.writer, ledger.bio.0, ledger.bio.1
        );
        let following = profile["profile"]["following"].as_bool();
        assert!(
            following == ledger.following.0.or(Some(false)) || following == ledger.following.1,
            "following {} is {following:?}: neither the acknowledged {:?} nor the one in flight {:?}",
            ledger.writer, ledger.following.0, ledger.following.1
        );
    }
    assert!(articles >= 30, "{articles} articles acknowledged");
    // The counters agree with the rows that survived.
    let listed = read("/api/articles?tag=mixed&limit=100".to_owned(), Some(reader.clone())).await;
    let told = listed["articlesCount"].as_u64().unwrap();
    assert!(told >= articles as u64, "{told} counted, {articles} acknowledged");
    let favorited = read("/api/articles?favorited=reader&limit=1".to_owned(), None).await;
    let favorites: usize = ledgers.iter().map(|l| l.favorites.len()).sum();
    assert!(favorited["articlesCount"].as_u64().unwrap() >= favorites as u64);
    server.start_kill().unwrap();
}

async fn sigterm_stops_the_server_cleanly(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let (mut server, address) = start(&env).await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    stop_gracefully(&mut server).await;
    assert!(
        client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}

async fn sigterm_lets_in_flight_requests_finish(engine: Engine) {
    let env = TestEnv::new(engine).await;
    // A deliberately slow password hash keeps a registration in flight for a while.
    let (mut server, address, _) = start_with(
        &env,
        &[
            ("QUIRE_ARGON2_MEMORY_KIB", "65536"),
            ("QUIRE_ARGON2_ITERATIONS", "12"),
            ("QUIRE_SHUTDOWN_DELAY_SECS", "1"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("http://{address}/api/users");
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .post(url)
                .json(&json!({"user": {"username": "late", "email": "late@example.com", "password": "password123"}}))
                .send()
                .await
                .map(|response| (response.status(), std::time::Instant::now()))
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pid = server.id().unwrap().to_string();
    let terminated_at = std::time::Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Readiness fails as soon as the signal is handled, while the server still answers (so a
    // load balancer sees it).
    loop {
        let ready = client
            .get(format!("http://{address}/readyz"))
            .send()
            .await
            .expect("still answering during the shutdown delay");
        if ready.status() == 503 {
            break;
        }
        assert!(
            terminated_at.elapsed() < Duration::from_millis(500),
            "readiness still passes after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, answered_at) = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(status, 201);
    assert!(
        answered_at > terminated_at,
        "the request was still in flight at SIGTERM"
    );
    let exit = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success());
    // The registration it drained was committed.
    let (mut server, address) = start(&env).await;
    let login = client
        .post(format!("http://{address}/api/users/login"))
        .json(&json!({"user": {"email": "late@example.com", "password": "password123"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    server.start_kill().unwrap();
}

async fn sigterm_under_write_load_ends_within_the_grace(engine: Engine) {
    const GRACE_SECS: u64 = 3;
    let env = TestEnv::new(engine).await;
    let grace = GRACE_SECS.to_string();
    let (mut server, address, log) = start_with(
        &env,
        &[("QUIRE_SHUTDOWN_GRACE_SECS", grace.as_str()), ("QUIRE_SHUTDOWN_DELAY_SECS", "1")],
    )
    .await;
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let token = register(&client, &base, "writer").await;
    let hot: Value = client
        .post(format!("{base}/api/articles"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"article": {"title": "Hot", "description": "d", "body": "b"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hot = hot["article"]["slug"].as_str().unwrap().to_owned();
    // A connection that never finishes its request: a graceful drain alone would wait on it
    // forever.
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stalled, b"POST /api/articles HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Writers post and favorite as fast as they can, until the server stops answering.
    let writers: Vec<_> = (0..32)
        .map(|writer| {
            let (client, base, token, hot) = (client.clone(), base.clone(), token.clone(), hot.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let request = if writer % 2 == 0 {
                        client
                            .post(format!("{base}/api/articles"))
                            .json(&json!({"article": {"title": format!("load {writer} {i}"), "description": "d", "body": "b", "tagList": ["load", format!("t{}", i % 7)]}}))
                    } else if i % 2 == 0 {
                        client.post(format!("{base}/api/articles/{hot}/favorite"))
                    } else {
                        client.delete(format!("{base}/api/articles/{hot}/favorite"))
                    };
                    let sent = request.header("Authorization", format!("Token {token}")).send().await;
                    if sent.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = server.id().unwrap().to_string();
    let signalled = std::time::Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(GRACE_SECS + 10), server.wait())
        .await
        .expect("exits after SIGTERM under load")
        .unwrap();
    let took = signalled.elapsed();
    assert!(exit.success(), "{exit:?}");
    assert!(
        took <= Duration::from_secs(GRACE_SECS + 2),
        "took {took:?} to stop with a {GRACE_SECS} s grace"
    );
    for writer in writers {
        writer.await.unwrap();
    }
    drop(stalled);
    let log = log.lock().unwrap();
    assert!(
        !log.iter().any(|line| line.contains("deadlock")),
        "the server log reports a deadlock"
    );
}
}

/// A SIGTERM that arrives as soon as the server says it is listening (an orchestrator stopping
/// a process it just started) stops it gracefully: the signal handlers are installed before.
/// The window is short (the fault showed in one run of four of a test that stops a server as
/// soon as it starts), so this stops five servers that way.
#[tokio::test]
async fn a_sigterm_right_after_start_is_a_graceful_stop() {
    for _ in 0..5 {
        let env = TestEnv::new(crate::helpers::Engine::Sqlite).await;
        let (mut server, _, _) = start_with(&env, &[]).await;
        stop_gracefully(&mut server).await;
    }
}
