//! `TestApp`: the application started on port 0 with its own data directory and database, on
//! either engine; `on_both_engines!` declares a test once for each.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use quire_core::roles::Roles;
use quire_core::service::{PasswordRule, Quire, Registration};
use quire_server::app::ProcessRole;
use quire_server::config::Secret;
use quire_server::{Application, Config};
use quire_storage::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Where the test's database lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests may create databases on, from `QUIRE_TEST_POSTGRES_URL`.
///
/// The build script compiles the PostgreSQL tests as ignored (with that reason) when the
/// variable is unset at build time, and cargo rebuilds when it changes; so a test that runs
/// here always has it.
pub fn postgres_url() -> String {
    std::env::var("QUIRE_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("QUIRE_TEST_POSTGRES_URL names the PostgreSQL server under test")
}

/// Declares each test twice: `sqlite`, and `postgres` on a fresh database of the server named
/// by `QUIRE_TEST_POSTGRES_URL`. Without that variable the `postgres` half is reported as
/// ignored, with the reason.
macro_rules! on_both_engines {
    ($(async fn $name:ident($engine:ident: Engine) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($engine: $crate::helpers::Engine) $body

            #[tokio::test]
            async fn sqlite() {
                run($crate::helpers::Engine::Sqlite).await
            }

            #[tokio::test]
            #[cfg_attr(not(quire_test_postgres), ignore = "QUIRE_TEST_POSTGRES_URL is not set")]
            async fn postgres() {
                run($crate::helpers::Engine::Postgres).await
            }
        }
    )*};
}
pub(crate) use on_both_engines;

/// A database created for one test on the PostgreSQL server under test, dropped afterwards.
pub struct FreshPostgres {
    pub url: String,
    admin_url: String,
    name: String,
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

impl FreshPostgres {
    pub async fn create() -> Self {
        use sqlx::Connection;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = postgres_url();
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!(
            "quire_test_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            u32::from_le_bytes(bytes)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("PostgreSQL at QUIRE_TEST_POSTGRES_URL is unreachable: {error}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its
        // own with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// A data directory and, on PostgreSQL, a fresh database: what one server instance (or several
/// in turn) of a test runs on.
pub struct TestEnv {
    pub data: TempDir,
    pub postgres: Option<FreshPostgres>,
}

impl TestEnv {
    pub async fn new(engine: Engine) -> Self {
        let postgres = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(FreshPostgres::create().await),
        };
        Self {
            data: tempfile::tempdir().unwrap(),
            postgres,
        }
    }

    /// The database URL, for the command line and for `quire_storage`.
    pub fn database_url(&self) -> String {
        match &self.postgres {
            Some(postgres) => postgres.url.clone(),
            None => format!("sqlite://{}", self.data.path().join("quire.db").display()),
        }
    }

    /// Configuration for tests: any free port, this environment's database, and argon2
    /// parameters cheap enough for debug builds (the production ones are unit-tested).
    pub fn config(&self) -> Config {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: self.data.path().to_path_buf(),
            ..Config::default()
        };
        config.database.url = Some(Secret::new(self.database_url()));
        config.argon2.memory_kib = 256;
        config.argon2.iterations = 1;
        config.argon2.max_concurrent = 2;
        // Tests run many servers at once: every listener on a free port.
        config.admin.listen = "127.0.0.1:0".parse().unwrap();
        config
    }

    /// The same settings as environment variables, for running the `quire` binary.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("QUIRE_DATA_DIR", self.data.path().display().to_string()),
            ("QUIRE_DATABASE_URL", self.database_url()),
            ("QUIRE_ARGON2_MEMORY_KIB", "256".to_owned()),
            ("QUIRE_ARGON2_ITERATIONS", "1".to_owned()),
            ("QUIRE_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
            ("QUIRE_SHUTDOWN_DELAY_SECS", "0".to_owned()),
        ]
    }
}

pub struct TestApp {
    pub address: SocketAddr,
    /// The admin listener (`/metrics`).
    pub admin_address: SocketAddr,
    /// The separate gRPC listener, when the config asked for one.
    pub grpc_address: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub quire: Quire<Db>,
    stop: Option<oneshot::Sender<()>>,
    /// Dropped last: the database outlives the server that used it.
    pub env: TestEnv,
}

/// A response's status, headers and JSON body (`Value::Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// A registered user and their token.
pub struct TestUser {
    pub username: String,
    pub email: String,
    pub token: String,
}

impl TestApp {
    pub async fn spawn(engine: Engine) -> Self {
        Self::spawn_in(TestEnv::new(engine).await).await
    }

    /// Starts the application with rate limits off, for tests that load it from one address
    /// (the limits are tested in `limits.rs` and `lockouts.rs`).
    pub async fn spawn_unlimited(engine: Engine) -> Self {
        let env = TestEnv::new(engine).await;
        let mut config = env.config();
        config.limits.rate_limits = false;
        Self::spawn_with(config, env).await
    }

    /// Starts the application in `env` with its test configuration.
    pub async fn spawn_in(env: TestEnv) -> Self {
        let config = env.config();
        Self::spawn_with(config, env).await
    }

    /// Starts the application with `config` (built from `env.config()`) in `env`.
    pub async fn spawn_with(config: Config, env: TestEnv) -> Self {
        Self::spawn_as(config, env, ProcessRole::All).await
    }

    /// Like [`TestApp::spawn_with`], running only what `role` says (`Api`: no workers).
    pub async fn spawn_as(config: Config, env: TestEnv, role: ProcessRole) -> Self {
        let app = Application::build_traced(config, None, role)
            .await
            .expect("application builds");
        let address = app.local_addr().unwrap();
        let grpc_address = app.grpc_addr();
        let admin_address = app.admin_addr().expect("the admin listener binds");
        let quire = app.quire().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            admin_address,
            grpc_address,
            client: reqwest::Client::new(),
            quire,
            stop: Some(stop),
            env,
        }
    }

    /// A second instance of the application on the same database (and data directory), as
    /// behind a load balancer.
    pub async fn sibling(&self) -> TestApp {
        TestApp::spawn_beside(self.env.config()).await
    }

    /// An instance with `config`, which names a database another instance's environment
    /// owns: this one keeps only a data directory of its own.
    pub async fn spawn_beside(config: Config) -> TestApp {
        let holder = TestEnv {
            data: tempfile::tempdir().unwrap(),
            postgres: None,
        };
        TestApp::spawn_with(config, holder).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// SQL statements run so far.
    pub fn statements(&self) -> u64 {
        self.quire.store().statement_count()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let authorization = token.map(|token| format!("Token {token}"));
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|value| ("Authorization", value))
            .into_iter()
            .collect();
        self.request_with(method, path, &headers, body).await
    }

    /// A request with these headers, and a JSON body if any.
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, token, None).await
    }

    /// Registers a user named `name`.
    pub async fn register_as(&self, name: String) -> TestUser {
        self.register(&name).await
    }

    pub async fn register(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let reply = self
            .post(
                "/api/users",
                None,
                json!({ "user": { "username": name, "email": email, "password": "password123" } }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        TestUser {
            username: name.to_owned(),
            email,
            token: reply.body["user"]["token"].as_str().unwrap().to_owned(),
        }
    }

    /// A user with the given roles, created the way an operator would (not over the API).
    pub async fn user_with_roles(&self, name: &str, roles: Roles) -> TestUser {
        let email = format!("{name}@example.com");
        let token = self
            .quire
            .create_user(
                Registration {
                    username: Some(name.to_owned()),
                    email: Some(email.clone()),
                    // The same password as `register`'s, so every test user signs in alike.
                    password: Some("password123".to_owned()),
                    password_rule: PasswordRule::Lenient,
                },
                roles,
                quire_core::service::SessionKind::LongLived,
            )
            .await
            .unwrap()
            .token;
        TestUser {
            username: name.to_owned(),
            email,
            token,
        }
    }

    /// Creates an article and returns it as served.
    pub async fn create_article(&self, author: &TestUser, title: &str, tags: &[&str]) -> Value {
        let reply = self
            .post(
                "/api/articles",
                Some(&author.token),
                json!({ "article": {
                    "title": title,
                    "description": format!("about {title}"),
                    "body": format!("# {title}\n\nText."),
                    "tagList": tags,
                } }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["article"].clone()
    }

    /// Creates a draft through `/api/v1` and returns it as served (with `postId`, `slug`).
    pub async fn create_draft(&self, author: &TestUser, title: &str) -> Value {
        let reply = self
            .client
            .post(self.url("/api/v1/posts"))
            .header("authorization", format!("Bearer {}", author.token))
            .json(&json!({"title": title, "description": "d", "content": "c", "status": "draft"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED);
        reply.json().await.unwrap()
    }

    /// Sets a post's status (`draft` or `published`) through `/api/v1` (JSON merge patch).
    pub async fn set_status(&self, author: &TestUser, post_id: i64, status: &str) {
        let reply = self
            .client
            .patch(self.url(&format!("/api/v1/posts/{post_id}")))
            .header("authorization", format!("Bearer {}", author.token))
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "status": status }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
    }
}

/// A WebSocket to `/graphql`, as a client of graphql-transport-ws opens it.
pub type GraphqlSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestApp {
    /// The core's actor for `user`, as their token names them.
    pub async fn actor_of(&self, user: &TestUser) -> quire_core::policy::Actor {
        let caller = self
            .quire
            .caller(Some(&format!("Bearer {}", user.token)))
            .await
            .unwrap();
        *caller.require().unwrap()
    }

    /// A gRPC channel to the HTTP port.
    pub async fn grpc_channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(self.url(""))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A WebSocket to `/graphql` speaking graphql-transport-ws, not yet initialised; and the
    /// upgrade's response.
    pub async fn graphql_socket(
        &self,
    ) -> (
        GraphqlSocket,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = self
            .url("/graphql")
            .replace("http://", "ws://")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.unwrap()
    }
}

/// A gRPC request carrying a bearer token.
pub fn signed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response header's value, which must be there.
pub fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", reply.headers))
        .to_str()
        .unwrap()
}

/// Asserts a 429 of `policy` (`quota` as `RateLimit-Policy` gives it: `q=5;w=60`) with
/// `Retry-After` and the `RateLimit` field agreeing; returns the wait in seconds.
pub fn assert_rate_limited(reply: &Reply, policy: &str, quota: &str) -> u64 {
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.body);
    let secs: u64 = header(reply, "retry-after").parse().unwrap();
    assert!(secs >= 1, "{secs}");
    assert_eq!(
        header(reply, "ratelimit-policy"),
        format!("\"{policy}\";{quota}")
    );
    assert_eq!(
        header(reply, "ratelimit"),
        format!("\"{policy}\";r=0;t={secs}")
    );
    secs
}

/// Asserts the RealWorld error shape: `{"errors": {key: [message]}}`.
pub fn assert_error(reply: &Reply, status: u16, key: &str, message: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.body["errors"][key][0], message, "{}", reply.body);
}

/// Runs `script` from `tests/clients` with `interpreter`, `input` as JSON on its standard input:
/// an independent implementation's check. Its JSON answer when it exits 0; `None` (its reason
/// printed) when it refuses.
pub fn checked_by(interpreter: &str, script: &str, input: &Value) -> Option<Value> {
    use std::io::Write;
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new(interpreter)
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Some(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        eprintln!("{script}: {}", String::from_utf8_lossy(&output.stderr));
        None
    }
}

/// The claims of a JWT, read without checking it (to see what a token says, never to trust it).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Runs the `quire` binary with `args` against `env`'s database and configuration only,
/// without blocking the runtime: a server of the same test keeps serving (and committing)
/// while the command runs.
pub async fn quire_beside(env: &TestEnv, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_quire"))
        .env_clear()
        .envs(env.vars())
        .args(args)
        .output()
        .await
        .unwrap()
}

/// Runs the `quire` binary with `args` against `env`'s database and configuration only.
pub fn quire(env: &TestEnv, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_quire"))
        .env_clear()
        .envs(env.vars())
        .args(args)
        .output()
        .unwrap()
}

/// The next frame of a WebSocket within two seconds: a text message as JSON, a close as
/// `{"close": code}`.
pub async fn next_frame<S>(socket: &mut S) -> Value
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        futures::StreamExt::next(socket),
    )
    .await
    {
        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
            serde_json::from_str(text.as_str()).unwrap()
        }
        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame))))) => {
            json!({ "close": u16::from(frame.code) })
        }
        other => panic!("unexpected {other:?}"),
    }
}
