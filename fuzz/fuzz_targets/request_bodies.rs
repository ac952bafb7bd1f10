//! Request bodies, as every contract reads them: whatever the bytes, a write endpoint answers
//! a 2xx or a 4xx, never a 5xx. The first byte picks the endpoint and media type, the rest is
//! the body, sent through the real router to a real SQLite database in a temporary folder,
//! as a signed-in user where the endpoint wants one.
#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// Method, path, media type, and whether to send the user's token.
const ENDPOINTS: [(&str, &str, &str, bool); 14] = [
    ("POST", "/api/users", "application/json", false),
    ("POST", "/api/users/login", "application/json", false),
    ("PUT", "/api/user", "application/json", true),
    ("POST", "/api/articles", "application/json", true),
    ("PUT", "/api/articles/fuzzed", "application/json", true),
    (
        "POST",
        "/api/articles/fuzzed/comments",
        "application/json",
        true,
    ),
    ("POST", "/api/v1/posts", "application/json", true),
    ("POST", "/api/v1/posts", "application/xml", true),
    ("POST", "/api/v1/posts", "application/x-protobuf", true),
    (
        "PATCH",
        "/api/v1/posts/1",
        "application/merge-patch+json",
        true,
    ),
    (
        "POST",
        "/api/v1/posts/1/comments",
        "application/x-protobuf",
        true,
    ),
    ("POST", "/api/v1/sessions", "application/json", false),
    ("POST", "/api/v1/users", "application/xml", false),
    ("POST", "/graphql", "application/json", true),
];

struct Target {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    token: String,
    _data: tempfile::TempDir,
}

async fn send(
    router: &axum::Router,
    method: &str,
    path: &str,
    media: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", media);
    if let Some(token) = token {
        request = request.header("authorization", format!("Token {token}"));
    }
    let mut request = request.body(Body::from(body)).expect("a request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9))));
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (status, bytes)
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let data = tempfile::tempdir().expect("a temporary folder");
        let env: HashMap<String, String> = [
            ("QUIRE_DATA_DIR", data.path().to_string_lossy().into_owned()),
            ("QUIRE_LISTEN", "127.0.0.1:0".to_owned()),
            ("QUIRE_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
            ("QUIRE_RATE_LIMITS", "off".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let config = quire_server::config::Config::load(None, &env).expect("a configuration");
        let app = runtime.block_on(quire_server::app::Application::build(config)).expect("the application");
        let router = app.router();
        let token = runtime.block_on(async {
            let user = br#"{"user":{"username":"fuzzer","email":"fuzzer@example.com","password":"quiet harbour lantern at dawn"}}"#;
            let (status, body) = send(&router, "POST", "/api/users", "application/json", None, user.to_vec()).await;
            assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
            let text = String::from_utf8_lossy(&body).into_owned();
            let token = text.split("\"token\":\"").nth(1).and_then(|t| t.split('"').next()).expect("a token").to_owned();
            let article = br#"{"article":{"title":"fuzzed","description":"d","body":"b"}}"#;
            let (status, body) = send(&router, "POST", "/api/articles", "application/json", Some(&token), article.to_vec()).await;
            assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
            token
        });
        // The application (its listeners, its database) lives as long as the process.
        std::mem::forget(app);
        Target { runtime, router, token, _data: data }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let target = target();
    let (method, path, media, signed) = ENDPOINTS[usize::from(pick) % ENDPOINTS.len()];
    let token = signed.then_some(target.token.as_str());
    let (status, answer) = target.runtime.block_on(send(
        &target.router,
        method,
        path,
        media,
        token,
        body.to_vec(),
    ));
    assert!(
        !status.is_server_error(),
        "{method} {path} ({media}) answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
});
