//! What every request gets, whatever the route: error shape, limits, ids, CORS, probes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, on_both_engines};

async fn raw(
    app: &TestApp,
    request: reqwest::RequestBuilder,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let _ = app;
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text:?}"));
    (status, headers, body)
}

fn assert_error_shape(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    expected: u16,
) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let errors = body["errors"]
        .as_object()
        .unwrap_or_else(|| panic!("no errors object: {body}"));
    assert!(!errors.is_empty());
    for (_, messages) in errors {
        assert!(
            messages
                .as_array()
                .is_some_and(|m| m.iter().all(Value::is_string)),
            "{body}"
        );
    }
}

on_both_engines! {
// A NUL character cannot name a post (PostgreSQL refuses to read one): every contract answers
// not found, never a server error.
async fn a_nul_in_a_slug_is_not_found_everywhere(engine: Engine) {
    use quire_grpc::pb::post_service_client::PostServiceClient;
    use quire_proto::v1 as pb;

    let app = TestApp::spawn(engine).await;
    for path in ["/api/articles/a%00b", "/api/articles/%00/comments"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.body);
    }
    let graphql = app
        .post("/graphql", None, serde_json::json!({
            "query": "query($s: String!) { postBySlug(slug: $s) { id } }",
            "variables": { "s": "a\u{0}b" },
        }))
        .await;
    assert_eq!(graphql.status, StatusCode::OK, "{}", graphql.body);
    assert!(graphql.body["data"]["postBySlug"].is_null(), "{}", graphql.body);
    assert_ne!(graphql.body["errors"][0]["extensions"]["code"], "INTERNAL", "{}", graphql.body);
    let refused = PostServiceClient::new(app.grpc_channel().await)
        .get_post(pb::GetPostRequest { key: Some(pb::get_post_request::Key::Slug("a\0b".into())) })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
}

async fn bad_requests_get_4xx_in_the_realworld_error_shape(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let client = &app.client;
    let url = app.url("/api/users");

    let malformed = raw(
        &app,
        client
            .post(&url)
            .header("content-type", "application/json")
            .body("{\"user\":"),
    )
    .await;
    assert_error_shape(malformed.0, &malformed.1, &malformed.2, 400);

    let wrong_type = raw(
        &app,
        client
            .post(&url)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_error_shape(wrong_type.0, &wrong_type.1, &wrong_type.2, 415);

    let no_type = raw(&app, client.post(&url).body("{}")).await;
    assert_error_shape(no_type.0, &no_type.1, &no_type.2, 415);

    let wrong_shape = raw(
        &app,
        client
            .post(&url)
            .header("content-type", "application/json")
            .body("[1,2]"),
    )
    .await;
    assert_error_shape(wrong_shape.0, &wrong_shape.1, &wrong_shape.2, 422);

    let huge = format!(
        "{{\"user\":{{\"username\":\"{}\"}}}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let too_big = raw(
        &app,
        client
            .post(&url)
            .header("content-type", "application/json")
            .body(huge),
    )
    .await;
    assert_error_shape(too_big.0, &too_big.1, &too_big.2, 413);

    let unknown = raw(&app, client.get(app.url("/api/nothing-here"))).await;
    assert_error_shape(unknown.0, &unknown.1, &unknown.2, 404);
    let outside = raw(&app, client.get(app.url("/definitely/not/here"))).await;
    assert_error_shape(outside.0, &outside.1, &outside.2, 404);

    let wrong_method = raw(&app, client.patch(app.url("/api/tags"))).await;
    assert_error_shape(wrong_method.0, &wrong_method.1, &wrong_method.2, 405);
    let allow = wrong_method.1["allow"].to_str().unwrap();
    assert!(allow.contains("GET"), "{allow}");

    // Nothing above created a user.
    let login = app
        .post(
            "/api/users/login",
            None,
            serde_json::json!({"user": {"email": "a@b.c", "password": "password123"}}),
        )
        .await;
    assert_eq!(login.status, 401);
}

async fn request_ids_are_echoed_or_generated(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let given = app
        .client
        .get(app.url("/api/tags"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-123");
    let generated = app.client.get(app.url("/api/tags")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32);
    let rejected = app
        .client
        .get(app.url("/api/tags"))
        .header("x-request-id", "has spaces in it")
        .send()
        .await
        .unwrap();
    assert_ne!(rejected.headers()["x-request-id"], "has spaces in it");
    let on_error = app.client.get(app.url("/nope")).send().await.unwrap();
    assert!(on_error.headers().contains_key("x-request-id"));
}

async fn cors_preflights_allow_the_token_header(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/articles"))
        .header("Origin", "http://localhost:4200")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("DELETE") && methods.contains("PUT"),
        "{methods}"
    );

    let simple = app
        .client
        .get(app.url("/api/tags"))
        .header("Origin", "http://localhost:4200")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.headers()["access-control-allow-origin"], "*");
}

// A browser client can use the whole protocol: idempotent POSTs, conditional writes, and the
// response headers it must act on, on every HTTP contract.
async fn cors_covers_every_header_the_contracts_define(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let preflight = |path: &'static str, method: &'static str, headers: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .request(reqwest::Method::OPTIONS, app.url(path))
                .header("Origin", "https://reader.example")
                .header("Access-Control-Request-Method", method)
                .header("Access-Control-Request-Headers", headers)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{method} {path}");
            let allowed = response.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase();
            let allowed: Vec<&str> = allowed.split(',').map(str::trim).collect();
            for header in headers.split(',') {
                assert!(allowed.contains(&header), "{method} {path}: {header} not in {allowed:?}");
            }
            let methods = response.headers()["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(methods.contains(method), "{methods}");
            assert!(
                !response.headers().contains_key("access-control-allow-credentials"),
                "credentials are never allowed"
            );
        }
    };
    preflight(
        "/api/v1/posts",
        "POST",
        "authorization,content-type,idempotency-key",
    )
    .await;
    preflight(
        "/api/v1/posts/1",
        "PATCH",
        "authorization,content-type,if-match",
    )
    .await;
    preflight("/api/v1/posts/1", "GET", "if-none-match,accept").await;
    preflight("/graphql", "POST", "authorization,content-type").await;
    preflight("/api/articles", "POST", "authorization,content-type").await;

    let simple = app
        .client
        .get(app.url("/api/v1/posts"))
        .header("Origin", "https://reader.example")
        .send()
        .await
        .unwrap();
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    let exposed: Vec<&str> = exposed.split(',').map(str::trim).collect();
    for header in [
        "etag",
        "location",
        "link",
        "retry-after",
        "idempotent-replayed",
        "x-request-id",
        "ratelimit",
        "ratelimit-policy",
    ] {
        assert!(exposed.contains(&header), "{header} not in {exposed:?}");
    }
}

async fn health_and_readiness_probes_answer(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["checks"]["database"], "up");
}

async fn readiness_fails_once_the_database_is_closed(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    app.quire.store().close().await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["checks"]["database"], "down");
    let reply = app.get("/api/articles", None).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.headers.contains_key("retry-after"));
    assert!(reply.body["errors"].is_object());
}
}
