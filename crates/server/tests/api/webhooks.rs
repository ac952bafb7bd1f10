//! Webhooks: endpoints managed by admins, deliveries signed after Standard Webhooks (checked by
//! the reference implementation from PyPI, not quire's code), retried with back-off, spared by
//! a circuit breaker, logged attempt by attempt, redelivered by hand, disabled by 410; secrets
//! sealed at rest; loopback and private destinations refused unless allowed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use quire_core::roles::{Role, Roles};
use quire_server::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::{Engine, TestApp, TestEnv, TestUser, on_both_engines};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

#[derive(Default)]
struct Script {
    /// Statuses to answer, in order; 200 once they run out.
    statuses: VecDeque<u16>,
    received: Vec<Received>,
}

/// A webhook receiver on loopback that records what it gets and answers as scripted.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    script: Arc<Mutex<Script>>,
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (AxumStatus, &'static str) {
    let mut script = script.lock().unwrap();
    script.received.push(Received {
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
        at: Instant::now(),
    });
    let status = script.statuses.pop_front().unwrap_or(200);
    (AxumStatus::from_u16(status).unwrap(), "receiver says hello")
}

impl Receiver {
    pub async fn start(statuses: &[u16]) -> Self {
        let script = Arc::new(Mutex::new(Script {
            statuses: statuses.iter().copied().collect(),
            received: Vec::new(),
        }));
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, script }
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    /// Waits until `count` requests arrived, at most `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Test configuration that lets webhooks reach loopback and retries fast.
fn loopback_config(env: &TestEnv) -> Config {
    let mut config = env.config();
    config.webhooks.allow_loopback = true;
    config.webhooks.retry_base_millis = 50;
    config.webhooks.poll_millis = 20;
    config.webhooks.timeout_millis = 2_000;
    config.events.relay_poll_millis = 20;
    config
}

async fn app_with(engine: Engine, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let env = TestEnv::new(engine).await;
    let mut config = loopback_config(&env);
    adjust(&mut config);
    TestApp::spawn_with(config, env).await
}

async fn admin(app: &TestApp) -> TestUser {
    app.user_with_roles("root", Roles::of(&[Role::Admin])).await
}

async fn author(app: &TestApp) -> TestUser {
    app.user_with_roles("writer", Roles::of(&[Role::Author, Role::Commenter]))
        .await
}

/// `method path` on `/api/v1` with a bearer token and a JSON body.
pub async fn v1(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        let kind = if method == reqwest::Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        request = request.header("content-type", kind).body(body.to_string());
    }
    let reply = request.send().await.unwrap();
    let status = reply.status();
    let text = reply.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers an endpoint as `admin`; answers its id and secret.
pub async fn register_endpoint(app: &TestApp, admin: &TestUser, body: Value) -> (i64, String) {
    let (status, created) = v1(
        app,
        reqwest::Method::POST,
        "/api/v1/webhooks",
        Some(&admin.token),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["webhook"]["webhookId"].as_i64().unwrap(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// The `items` of a list under `/api/v1/webhooks/{id}/` (`attempts`, `deliveries`).
async fn items(app: &TestApp, admin: &TestUser, id: i64, list: &str) -> Vec<Value> {
    let (status, page) = v1(
        app,
        reqwest::Method::GET,
        &format!("/api/v1/webhooks/{id}/{list}?limit=100"),
        Some(&admin.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn attempts(app: &TestApp, admin: &TestUser, id: i64) -> Vec<Value> {
    items(app, admin, id, "attempts").await
}

pub async fn deliveries(app: &TestApp, admin: &TestUser, id: i64) -> Vec<Value> {
    items(app, admin, id, "deliveries").await
}

/// Waits until the relay has taken every recorded event (and so made their deliveries).
pub async fn relayed(app: &TestApp) {
    let drained = eventually(Duration::from_secs(5), || async {
        app.quire.outbox_backlog().await.unwrap().pending == 0
    })
    .await;
    assert!(drained, "the relay caught up");
}

/// Polls `check` every 20 ms until it holds, at most `within`.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The messages a problem document (RFC 9457, with quire's `errors`) gives for `field`.
fn field_errors(problem: &Value, field: &str) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|error| error["field"] == field)
        .flat_map(|error| error["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|message| message.as_str().map(str::to_owned))
        .collect()
}

/// The `secret` column of every endpoint, read straight from the database.
async fn stored_secrets(url: &str) -> Vec<String> {
    use sqlx::Connection;
    const SQL: &str = "SELECT secret FROM webhooks ORDER BY id";
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(SQL)
            .fetch_all(&mut connection)
            .await
            .unwrap()
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(SQL)
            .fetch_all(&mut connection)
            .await
            .unwrap()
    }
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received.headers.get(name).unwrap().to_str().unwrap()
}

on_both_engines! {
    async fn a_signed_post_published_arrives_within_a_second(engine: Engine) {
        let app = app_with(engine, |_| {}).await;
        let admin = admin(&app).await;
        let receiver = Receiver::start(&[]).await;
        register_endpoint(
            &app,
            &admin,
            json!({"url": receiver.url, "eventTypes": ["post.published"]}),
        )
        .await;
        let author = author(&app).await;
        let started = Instant::now();
        let article = app.create_article(&author, "Hooked", &["rust"]).await;
        let received = receiver.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(received.len(), 1, "one delivery of post.published");
        let latency = received[0].at - started;
        assert!(latency < Duration::from_secs(1), "arrived after {latency:?}");

        let delivery = &received[0];
        let event: Value = serde_json::from_str(&delivery.body).unwrap();
        assert_eq!(event["type"], "post.published");
        assert_eq!(event["data"]["slug"], article["slug"]);
        assert_eq!(header(delivery, "webhook-id"), event["id"].as_str().unwrap());
        assert!(header(delivery, "webhook-signature").starts_with("v1,"));
        assert_eq!(header(delivery, "content-type"), "application/json");
        let timestamp: i64 = header(delivery, "webhook-timestamp").parse().unwrap();
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - timestamp).abs() <= 5, "timestamp {timestamp}, now {now}");

        // Nothing else: the endpoint wants post.published only (post.created was not sent).
        relayed(&app).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(receiver.received().len(), 1);
    }

    async fn a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt(engine: Engine) {
        let app = app_with(engine, |config| config.webhooks.breaker_threshold = 10).await;
        let admin = admin(&app).await;
        let receiver = Receiver::start(&[500, 500, 500, 200]).await;
        let (id, _) = register_endpoint(
            &app,
            &admin,
            json!({"url": receiver.url, "eventTypes": ["post.published"]}),
        )
        .await;
        let author = author(&app).await;
        app.create_article(&author, "Persistent", &[]).await;
        let received = receiver.wait_for(4, Duration::from_secs(15)).await;
        assert_eq!(received.len(), 4, "four attempts");
        let ids: Vec<&str> = received.iter().map(|r| header(r, "webhook-id")).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "one message, retried: {ids:?}");
        // Waits grow: 50 ms, then about 200, then about 800 (±20%).
        let gaps: Vec<Duration> = received.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps[2] > gaps[0], "back-off grows: {gaps:?}");
        assert!(gaps[2] >= Duration::from_millis(600), "{gaps:?}");

        // The log shows all four, newest first, and the delivery is done.
        let mut log = Vec::new();
        let logged = eventually(Duration::from_secs(5), || {
            let app = &app;
            let admin = &admin;
            async move { attempts(app, admin, id).await.len() == 4 }
        })
        .await;
        assert!(logged, "the log shows four attempts");
        log.extend(attempts(&app, &admin, id).await);
        let statuses: Vec<i64> = log.iter().map(|a| a["status"].as_i64().unwrap()).collect();
        assert_eq!(statuses, [200, 500, 500, 500]);
        assert!(log.iter().all(|a| a["eventType"] == "post.published"));
        assert_eq!(log[0]["response"], "receiver says hello");
        assert!(log.iter().all(|a| a["latencyMillis"].as_i64().is_some()));
        let done = deliveries(&app, &admin, id).await;
        assert_eq!(done.len(), 1);
        assert_eq!(done[0]["state"], "delivered");
        assert_eq!(done[0]["attempts"], 4);
    }

    async fn loopback_and_private_destinations_are_refused_unless_allowed(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let admin = admin(&app).await;
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost:9/hook",
            "http://[::1]:9/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0:80/",
            "http://[::ffff:127.0.0.1]/hook",
        ] {
            let (status, problem) = v1(
                &app,
                reqwest::Method::POST,
                "/api/v1/webhooks",
                Some(&admin.token),
                Some(json!({"url": url})),
            )
            .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
            let messages = field_errors(&problem, "url");
            assert!(messages.iter().any(|m| m.contains("may not reach")), "{url}: {problem}");
        }
        let (_, listed) = v1(&app, reqwest::Method::GET, "/api/v1/webhooks", Some(&admin.token), None).await;
        assert_eq!(listed["items"], json!([]), "nothing was registered");

        // Allowing loopback lets a local receiver in, but never the metadata address.
        let open = app_with(engine, |_| {}).await;
        let admin = self::admin(&open).await;
        let (status, _) = v1(&open, reqwest::Method::POST, "/api/v1/webhooks", Some(&admin.token),
            Some(json!({"url": "http://127.0.0.1:9/hook"}))).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = v1(&open, reqwest::Method::POST, "/api/v1/webhooks", Some(&admin.token),
            Some(json!({"url": "http://169.254.169.254/"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn secrets_are_sealed_at_rest_and_read_back_by_admins(engine: Engine) {
        let app = app_with(engine, |_| {}).await;
        let admin = admin(&app).await;
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let (id, given) = register_endpoint(
            &app,
            &admin,
            json!({"url": "http://127.0.0.1:9/hook", "secret": secret}),
        )
        .await;
        assert_eq!(given, secret);
        let (status, read) = v1(&app, reqwest::Method::GET, &format!("/api/v1/webhooks/{id}/secret"),
            Some(&admin.token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read["secret"], secret);
        // A generated one is a whsec_ secret too.
        let (_, generated) = register_endpoint(&app, &admin, json!({"url": "http://127.0.0.1:9/other"})).await;
        assert!(generated.starts_with("whsec_") && generated.len() >= 38, "{generated}");

        let stored = stored_secrets(&app.env.database_url()).await;
        assert_eq!(stored.len(), 2);
        for (row, plain) in stored.iter().zip([secret, generated.as_str()]) {
            let key = plain.trim_start_matches("whsec_");
            assert!(!row.contains(key) && !row.contains(plain), "stored in clear: {row}");
            assert!(row.starts_with("v1:"), "{row}");
        }
        let key_file = app.env.data.path().join("webhook-key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    async fn a_410_disables_the_endpoint(engine: Engine) {
        let app = app_with(engine, |_| {}).await;
        let admin = admin(&app).await;
        let receiver = Receiver::start(&[410]).await;
        let (id, _) = register_endpoint(
            &app,
            &admin,
            json!({"url": receiver.url, "eventTypes": ["post.published"]}),
        )
        .await;
        let author = author(&app).await;
        app.create_article(&author, "Gone", &[]).await;
        let disabled = eventually(Duration::from_secs(5), || {
            let (app, admin) = (&app, &admin);
            async move {
                let (_, webhook) = v1(app, reqwest::Method::GET, &format!("/api/v1/webhooks/{id}"),
                    Some(&admin.token), None).await;
                webhook["enabled"] == false
            }
        })
        .await;
        assert!(disabled, "410 disables the endpoint");
        let (_, webhook) = v1(&app, reqwest::Method::GET, &format!("/api/v1/webhooks/{id}"),
            Some(&admin.token), None).await;
        assert_eq!(webhook["disabledReason"], "gone");
        app.create_article(&author, "Still gone", &[]).await;
        relayed(&app).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(receiver.received().len(), 1, "nothing more goes to a gone endpoint");
        assert!(deliveries(&app, &admin, id).await.iter().all(|d| d["state"] == "failed"));

        // Enabling it again sends new events.
        let (status, enabled) = v1(&app, reqwest::Method::PATCH, &format!("/api/v1/webhooks/{id}"),
            Some(&admin.token), Some(json!({"enabled": true}))).await;
        assert_eq!(status, StatusCode::OK, "{enabled}");
        assert!(enabled.get("disabledReason").is_none(), "{enabled}");
        app.create_article(&author, "Back", &[]).await;
        assert!(receiver.wait_for(2, Duration::from_secs(5)).await.len() >= 2);
    }

    async fn the_circuit_opens_after_consecutive_failures_and_a_probe_closes_it(engine: Engine) {
        let app = app_with(engine, |config| {
            config.webhooks.breaker_threshold = 2;
            config.webhooks.breaker_cooldown_millis = 700;
            config.webhooks.retry_base_millis = 20;
        })
        .await;
        let admin = admin(&app).await;
        let receiver = Receiver::start(&[500, 500]).await;
        let (id, _) = register_endpoint(
            &app,
            &admin,
            json!({"url": receiver.url, "eventTypes": ["post.published"]}),
        )
        .await;
        let author = author(&app).await;
        for title in ["One", "Two", "Three"] {
            app.create_article(&author, title, &[]).await;
        }
        let opened = eventually(Duration::from_secs(5), || {
            let (app, admin) = (&app, &admin);
            async move {
                let (_, webhook) = v1(app, reqwest::Method::GET, &format!("/api/v1/webhooks/{id}"),
                    Some(&admin.token), None).await;
                webhook["circuit"] == "open"
            }
        })
        .await;
        assert!(opened, "two failures in a row open the circuit");
        let received = receiver.wait_for(5, Duration::from_secs(10)).await;
        assert_eq!(received.len(), 5, "two failures, then a probe and the rest");
        // Nothing was sent while the circuit was open.
        let pause = received[2].at - received[1].at;
        assert!(pause >= Duration::from_millis(600), "the probe came after {pause:?}");
        let closed = eventually(Duration::from_secs(5), || {
            let (app, admin) = (&app, &admin);
            async move {
                let (_, webhook) = v1(app, reqwest::Method::GET, &format!("/api/v1/webhooks/{id}"),
                    Some(&admin.token), None).await;
                webhook["circuit"] == "closed" && webhook["consecutiveFailures"] == 0
            }
        })
        .await;
        assert!(closed, "a successful probe closes the circuit");
        // The receiver has the last delivery a moment before the worker records its answer.
        let delivered = eventually(Duration::from_secs(5), || {
            let (app, admin) = (&app, &admin);
            async move {
                deliveries(app, admin, id)
                    .await
                    .iter()
                    .all(|d| d["state"] == "delivered")
            }
        })
        .await;
        assert!(delivered, "every delivery ends delivered");
    }

    async fn a_delivery_is_sent_again_on_request(engine: Engine) {
        let app = app_with(engine, |_| {}).await;
        let admin = admin(&app).await;
        let receiver = Receiver::start(&[]).await;
        let (id, _) = register_endpoint(
            &app,
            &admin,
            json!({"url": receiver.url, "eventTypes": ["post.published"]}),
        )
        .await;
        let author = author(&app).await;
        app.create_article(&author, "Again", &[]).await;
        receiver.wait_for(1, Duration::from_secs(5)).await;
        let delivered = eventually(Duration::from_secs(5), || {
            let (app, admin) = (&app, &admin);
            async move { deliveries(app, admin, id).await.first().is_some_and(|d| d["state"] == "delivered") }
        })
        .await;
        assert!(delivered);
        let delivery = deliveries(&app, &admin, id).await[0]["deliveryId"].as_i64().unwrap();
        let (status, again) = v1(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver"),
            Some(&admin.token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{again}");
        assert_eq!(again["state"], "pending");
        let received = receiver.wait_for(2, Duration::from_secs(5)).await;
        assert_eq!(received.len(), 2);
        assert_eq!(header(&received[0], "webhook-id"), header(&received[1], "webhook-id"));
        let (status, _) = v1(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/deliveries/999999/redeliver"),
            Some(&admin.token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn only_admins_manage_webhooks(engine: Engine) {
        let app = app_with(engine, |_| {}).await;
        let editor = app.user_with_roles("editor", Roles::of(&[Role::Editor])).await;
        let admin = admin(&app).await;
        let (id, _) = register_endpoint(&app, &admin, json!({"url": "http://127.0.0.1:9/hook"})).await;
        for (method, path, body) in [
            (reqwest::Method::GET, "/api/v1/webhooks".to_owned(), None),
            (reqwest::Method::POST, "/api/v1/webhooks".to_owned(), Some(json!({"url": "http://127.0.0.1:9/x"}))),
            (reqwest::Method::GET, format!("/api/v1/webhooks/{id}"), None),
            (reqwest::Method::GET, format!("/api/v1/webhooks/{id}/secret"), None),
            (reqwest::Method::PATCH, format!("/api/v1/webhooks/{id}"), Some(json!({"enabled": false}))),
            (reqwest::Method::DELETE, format!("/api/v1/webhooks/{id}"), None),
            (reqwest::Method::GET, format!("/api/v1/webhooks/{id}/attempts"), None),
            (reqwest::Method::GET, format!("/api/v1/webhooks/{id}/deliveries"), None),
            (reqwest::Method::POST, format!("/api/v1/webhooks/{id}/secret/rotate"), None),
            (reqwest::Method::POST, format!("/api/v1/webhooks/{id}/deliveries/1/redeliver"), None),
        ] {
            let (status, _) = v1(&app, method.clone(), &path, Some(&editor.token), body.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
            let (status, _) = v1(&app, method.clone(), &path, None, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
        // Bad input is 422 with the field named.
        let (status, problem) = v1(&app, reqwest::Method::POST, "/api/v1/webhooks", Some(&admin.token),
            Some(json!({"url": "ftp://example.com", "eventTypes": ["post.publish"], "secret": "nope"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        for field in ["url", "eventTypes", "secret"] {
            assert!(!field_errors(&problem, field).is_empty(), "{field}: {problem}");
        }
        let (status, _) = v1(&app, reqwest::Method::DELETE, &format!("/api/v1/webhooks/{id}"), Some(&admin.token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = v1(&app, reqwest::Method::GET, &format!("/api/v1/webhooks/{id}"), Some(&admin.token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn graphql_manages_webhooks_too(engine: Engine) {
        let app = app_with(engine, |_| {}).await;
        let admin = admin(&app).await;
        let receiver = Receiver::start(&[]).await;
        let query = |query: &str, variables: Value| {
            let (app, token) = (&app, admin.token.clone());
            let body = json!({"query": query, "variables": variables});
            async move {
                app.client
                    .post(app.url("/graphql"))
                    .header("authorization", format!("Bearer {token}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let created = query(
            "mutation($url: String!) { createWebhook(input: {url: $url, eventTypes: [\"post.published\"]}) { secret webhook { id url eventTypes circuit } } }",
            json!({"url": receiver.url}),
        )
        .await;
        let webhook = &created["data"]["createWebhook"];
        assert!(webhook["secret"].as_str().unwrap().starts_with("whsec_"), "{created}");
        assert_eq!(webhook["webhook"]["eventTypes"], json!(["post.published"]));
        let id = webhook["webhook"]["id"].as_str().unwrap().to_owned();
        let author = author(&app).await;
        app.create_article(&author, "Via GraphQL", &[]).await;
        receiver.wait_for(1, Duration::from_secs(5)).await;
        let delivered = eventually(Duration::from_secs(5), || {
            let id = id.clone();
            let query = &query;
            async move {
                let read = query(
                    "query($id: ID!) { webhook(id: $id) { deliveries { state eventType } attempts { status } } }",
                    json!({"id": id}),
                )
                .await;
                read["data"]["webhook"]["deliveries"][0]["state"] == "delivered"
                    && read["data"]["webhook"]["attempts"][0]["status"] == 200
            }
        })
        .await;
        assert!(delivered);
        let denied = {
            let body = json!({"query": "{ webhooks { id } }"});
            app.client
                .post(app.url("/graphql"))
                .header("authorization", format!("Bearer {}", author.token))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        assert_eq!(denied["errors"][0]["extensions"]["code"], "FORBIDDEN", "{denied}");
    }

    async fn a_failed_probe_lets_one_delivery_through_and_doubles_the_wait(engine: Engine) {
        let app = app_with(engine, |config| {
            config.webhooks.breaker_threshold = 2;
            config.webhooks.breaker_cooldown_millis = 500;
            config.webhooks.retry_base_millis = 20;
        })
        .await;
        let admin = admin(&app).await;
        // Three failures: the two that open the circuit and the first probe.
        let receiver = Receiver::start(&[500, 500, 500]).await;
        register_endpoint(
            &app,
            &admin,
            json!({"url": receiver.url, "eventTypes": ["post.published"]}),
        )
        .await;
        let author = author(&app).await;
        for title in ["Uno", "Dos", "Tres"] {
            app.create_article(&author, title, &[]).await;
        }
        let received = receiver.wait_for(6, Duration::from_secs(10)).await;
        assert_eq!(received.len(), 6, "two failures, a failed probe, a good probe, the rest");
        let probe = received[2].at - received[1].at;
        let second_probe = received[3].at - received[2].at;
        assert!(probe >= Duration::from_millis(450), "the first probe after {probe:?}");
        assert!(
            second_probe >= Duration::from_millis(900),
            "a failed probe doubles the wait: {second_probe:?}"
        );
        // The failed probe was one delivery alone: the next request is the second probe.
        let ids: Vec<&str> = received.iter().map(|r| header(r, "webhook-id")).collect();
        let distinct: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), 3, "{ids:?}");
    }

    async fn a_destination_refused_at_send_time_is_logged_not_reached(engine: Engine) {
        // One instance (the API alone) allows loopback and registers the endpoint; the worker,
        // configured not to, refuses to connect when it sends.
        let env = TestEnv::new(engine).await;
        let mut config = loopback_config(&env);
        config.events.relay_poll_millis = 20;
        let api = TestApp::spawn_as(config, env, quire_server::app::ProcessRole::Api).await;
        let admin = admin(&api).await;
        let receiver = Receiver::start(&[]).await;
        let (id, _) = register_endpoint(
            &api,
            &admin,
            json!({"url": receiver.url, "eventTypes": ["post.published"]}),
        )
        .await;
        let mut strict = loopback_config(&api.env);
        strict.webhooks.allow_loopback = false;
        let holder = TestEnv {
            data: tempfile::tempdir().unwrap(),
            postgres: None,
        };
        let _worker = TestApp::spawn_with(strict, holder).await;
        let author = author(&api).await;
        api.create_article(&author, "Refused", &[]).await;
        let logged = eventually(Duration::from_secs(5), || {
            let (api, admin) = (&api, &admin);
            async move { !attempts(api, admin, id).await.is_empty() }
        })
        .await;
        assert!(logged, "the attempt is logged");
        let log = attempts(&api, &admin, id).await;
        assert!(log[0].get("status").is_none(), "{log:?}");
        let error = log[0]["error"].as_str().unwrap();
        assert!(error.contains("may not reach"), "{error}");
        assert!(receiver.received().is_empty(), "nothing reached the receiver");
    }
}

/// A retry falls due when it falls due, wherever that is in the worker's lease period: the
/// worker never sits out the end of a period with deliveries due (it renews first).
#[tokio::test]
async fn retries_go_when_due_late_in_a_lease_period_too() {
    let app = app_with(Engine::Sqlite, |config| {
        // A 12 s lease, renewed every 4 s; an attempt may take 2 s.
        config.webhooks.timeout_millis = 2_000;
        config.webhooks.retry_base_millis = 1_000;
        config.webhooks.breaker_threshold = 10;
    })
    .await;
    let admin = admin(&app).await;
    let receiver = Receiver::start(&[500, 500]).await;
    register_endpoint(
        &app,
        &admin,
        json!({"url": receiver.url, "eventTypes": ["post.published"]}),
    )
    .await;
    let author = author(&app).await;
    app.create_article(&author, "On time", &[]).await;
    let received = receiver.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(received.len(), 3);
    // Waits of 1 s and 4 s ±20% are due; allow the worker's 20 ms poll and some slack.
    for (gap, due) in received
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .zip([1_000u64, 4_000])
    {
        let latest = Duration::from_millis(due * 12 / 10 + 400);
        assert!(
            gap <= latest,
            "a retry due within {latest:?} came after {gap:?}"
        );
    }
}

/// Checks a delivery with the reference implementation (`standardwebhooks` from PyPI) run by
/// the interpreter in `QUIRE_TEST_STANDARDWEBHOOKS`; answers whether it verified.
fn verifies_independently(secret: &str, received: &Received) -> bool {
    let interpreter = std::env::var("QUIRE_TEST_STANDARDWEBHOOKS").unwrap();
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|name| ((*name).to_owned(), json!(header(received, name))))
            .collect();
    let input = json!({"secret": secret, "headers": headers, "body": received.body});
    crate::helpers::checked_by(&interpreter, "verify_webhook.py", &input).is_some()
}

#[tokio::test]
#[cfg_attr(
    not(quire_test_standardwebhooks),
    ignore = "QUIRE_TEST_STANDARDWEBHOOKS is not set (a python3 with the standardwebhooks package)"
)]
async fn signatures_verify_with_the_reference_implementation_through_a_rotation() {
    let app = app_with(Engine::Sqlite, |_| {}).await;
    let admin = admin(&app).await;
    let receiver = Receiver::start(&[]).await;
    let (id, first) = register_endpoint(
        &app,
        &admin,
        json!({"url": receiver.url, "eventTypes": ["post.published", "comment.added"]}),
    )
    .await;
    let author = author(&app).await;
    let article = app.create_article(&author, "Signed", &[]).await;
    let received = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert!(verifies_independently(&first, &received[0]));
    let wrong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(
        !verifies_independently(wrong, &received[0]),
        "a wrong secret fails"
    );
    let mut tampered = received[0].clone();
    tampered.body = tampered.body.replace("Signed", "Forged");
    assert!(
        !verifies_independently(&first, &tampered),
        "a changed body fails"
    );

    // Rotating: for a while each delivery carries a signature by either secret.
    let (status, rotated) = v1(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{id}/secret/rotate"),
        Some(&admin.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let slug = article["slug"].as_str().unwrap();
    let reply = app
        .post(
            &format!("/api/articles/{slug}/comments"),
            Some(&author.token),
            json!({"comment": {"body": "signed twice"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let received = receiver.wait_for(2, Duration::from_secs(5)).await;
    let comment = &received[1];
    assert_eq!(header(comment, "webhook-signature").split(' ').count(), 2);
    assert!(
        verifies_independently(&first, comment),
        "the old secret still verifies"
    );
    assert!(
        verifies_independently(&second, comment),
        "the new secret verifies"
    );
}
