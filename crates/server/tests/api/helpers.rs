//! `TestApp`: the application started on port 0 with its own data directory.

use std::net::SocketAddr;

use quire_core::roles::Roles;
use quire_core::service::{Quire, Registration};
use quire_server::{Application, Config};
use quire_storage::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub quire: Quire<Db>,
    stop: Option<oneshot::Sender<()>>,
    _data: TempDir,
}

/// A response's status, headers and JSON body (`Value::Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// A registered user and their token.
pub struct TestUser {
    pub email: String,
    pub token: String,
}

/// Configuration for tests: a fresh data directory, any free port, and argon2 parameters
/// cheap enough for debug builds (production parameters are unit-tested in the adapter).
pub fn test_config(data: &TempDir) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    config.argon2.memory_kib = 256;
    config.argon2.iterations = 1;
    config.argon2.max_concurrent = 2;
    config
}

impl TestApp {
    pub async fn spawn() -> Self {
        let data = tempfile::tempdir().unwrap();
        Self::spawn_with(test_config(&data), data).await
    }

    pub async fn spawn_with(config: Config, data: TempDir) -> Self {
        let app = Application::build(config)
            .await
            .expect("application builds");
        let address = app.local_addr().unwrap();
        let quire = app.quire().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            quire,
            stop: Some(stop),
            _data: data,
        }
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
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
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
            email,
            token: reply.body["user"]["token"].as_str().unwrap().to_owned(),
        }
    }

    /// A user with the given roles, created the way an operator would (not over the API).
    pub async fn user_with_roles(&self, name: &str, roles: Roles) -> TestUser {
        let email = format!("{name}@example.com");
        let (_, token) = self
            .quire
            .create_user(
                Registration {
                    username: Some(name.to_owned()),
                    email: Some(email.clone()),
                    password: Some("password123".to_owned()),
                },
                roles,
            )
            .await
            .unwrap();
        TestUser { email, token }
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts the RealWorld error shape: `{"errors": {key: [message]}}`.
pub fn assert_error(reply: &Reply, status: u16, key: &str, message: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.body["errors"][key][0], message, "{}", reply.body);
}
