//! Per-client rate limits: a client over a quota is refused with 429 in the shape of the
//! contract it speaks, other clients are not, the client is whom the trusted proxies name
//! (and no one else can choose it), and sign-ins count in the core, per operation.

use quire_grpc::pb::post_service_client::PostServiceClient;
use quire_proto::v1 as pb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{Reply, TestApp, TestEnv, assert_rate_limited, on_both_engines};

/// A request as if forwarded for `client` (an `X-Forwarded-For` entry).
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    client: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let headers: Vec<(&str, &str)> = client
        .map(|client| ("X-Forwarded-For", client))
        .into_iter()
        .collect();
    app.request_with(method, path, &headers, body).await
}

async fn login(app: &TestApp, client: Option<&str>, email: &str, password: &str) -> Reply {
    let body = json!({ "user": { "email": email, "password": password } });
    send(app, Method::POST, "/api/users/login", client, Some(body)).await
}

on_both_engines! {
    async fn a_client_over_its_quota_is_refused_in_each_contracts_shape(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let mut config = env.config();
        config.limits.client_requests = "4/min".to_owned();
        let app = TestApp::spawn_with(config, env).await;
        for _ in 0..4 {
            assert_eq!(app.get("/api/tags", None).await.status, StatusCode::OK);
        }
        let quota = "q=4;w=60";
        let realworld = app.get("/api/tags", None).await;
        assert_rate_limited(&realworld, "client-requests", quota);
        assert_eq!(realworld.body, json!({ "errors": { "rate": ["limit exceeded; retry after Retry-After seconds"] } }));

        let v1 = app.get("/api/v1/posts", None).await;
        assert_rate_limited(&v1, "client-requests", quota);
        assert!(v1.body["type"].as_str().unwrap().ends_with("rate-limited"), "{}", v1.body);
        assert_eq!(v1.headers["content-type"], "application/problem+json");

        let graphql = app.post("/graphql", None, json!({ "query": "{ tags }" })).await;
        assert_rate_limited(&graphql, "client-requests", quota);
        assert_eq!(graphql.body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{}", graphql.body);
        assert!(graphql.body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() >= 1);

        let mut posts = PostServiceClient::new(app.grpc_channel().await);
        let refused = posts
            .get_post(pb::GetPostRequest { key: Some(pb::get_post_request::Key::PostId(1)) })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");

        // Probes are never limited: a load balancer keeps seeing the instance.
        assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    }

    async fn writes_have_a_quota_of_their_own_beside_reads(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let mut config = env.config();
        config.limits.client_writes = "3/min".to_owned();
        let app = TestApp::spawn_with(config, env).await;
        // Registering is the first write, two articles the next.
        let author = app.register("writer").await;
        for title in ["One", "Two"] {
            app.create_article(&author, title, &[]).await;
        }
        let body = json!({ "article": { "title": "Three", "description": "d", "body": "b" } });
        let refused = app.post("/api/articles", Some(&author.token), body).await;
        assert_rate_limited(&refused, "client-writes", "q=3;w=60");
        // Nothing was written; reads go on.
        let list = app.get("/api/articles", None).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.body["articlesCount"], 2);
        let v1 = app.post("/api/v1/posts", Some(&author.token), json!({ "title": "Four" })).await;
        assert_rate_limited(&v1, "client-writes", "q=3;w=60");
    }

    async fn trusted_proxies_name_the_client_and_nobody_else_can(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let mut config = env.config();
        config.limits.client_sign_ins = "3/min".to_owned();
        config.limits.trusted_proxies = vec!["127.0.0.1".to_owned()];
        let app = TestApp::spawn_with(config, env).await;
        app.register("dora").await;

        // Wrong passwords for three different accounts from one client: no account is locked,
        // but the client is out of sign-ins.
        for who in ["a", "b", "c"] {
            let wrong = login(&app, Some("203.0.113.1"), &format!("{who}@example.com"), "not the password").await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
        }
        let refused = login(&app, Some("203.0.113.1"), "dora@example.com", "password123").await;
        assert_rate_limited(&refused, "client-sign-in", "q=3;w=60");
        // A client behind the same proxy signs in.
        let other = login(&app, Some("198.51.100.2"), "dora@example.com", "password123").await;
        assert_eq!(other.status, StatusCode::OK, "{}", other.body);
        // A client-written address left of the proxy's entry is not believed: the proxy's is.
        let forged = login(&app, Some("198.51.100.99, 203.0.113.1"), "dora@example.com", "password123").await;
        assert_rate_limited(&forged, "client-sign-in", "q=3;w=60");

        // GraphQL counts each sign-in of one request, in the core.
        let mutation = "mutation { a: login(email: \"x@example.com\", password: \"password123\") { token } \
                        b: login(email: \"y@example.com\", password: \"password123\") { token } \
                        c: login(email: \"dora@example.com\", password: \"password123\") { token } \
                        d: login(email: \"dora@example.com\", password: \"password123\") { token } }";
        let graphql = send(&app, Method::POST, "/graphql", Some("192.0.2.77"), Some(json!({ "query": mutation }))).await;
        let codes: Vec<(&str, &str)> = graphql.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["path"][0].as_str().unwrap(), e["extensions"]["code"].as_str().unwrap()))
            .collect();
        assert!(codes.contains(&("d", "RATE_LIMITED")), "{}", graphql.body);
        assert!(!codes.iter().any(|(field, _)| *field == "c"), "the third sign-in is allowed: {}", graphql.body);
    }

    async fn without_trusted_proxies_a_forwarding_header_changes_nothing(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let mut config = env.config();
        config.limits.client_sign_ins = "2/min".to_owned();
        let app = TestApp::spawn_with(config, env).await;
        for client in ["203.0.113.1", "203.0.113.2"] {
            let wrong = login(&app, Some(client), "e@example.com", "not the password").await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
        }
        let refused = login(&app, Some("203.0.113.3"), "f@example.com", "not the password").await;
        assert_rate_limited(&refused, "client-sign-in", "q=2;w=60");
    }
}

/// Two instances on one database sharing the Redis at `url` (under a prefix of their own),
/// believing the loopback proxy, with four sign-ins a minute per client.
async fn two_instances_sharing(url: &str) -> (TestApp, TestApp) {
    use quire_server::config::Secret;
    let env = TestEnv::new(crate::helpers::Engine::Sqlite).await;
    let name = env.data.path().file_name().unwrap().to_string_lossy();
    let mut config = env.config();
    config.cache.redis_url = Some(Secret::new(url.to_owned()));
    config.cache.redis_prefix = format!("quire-test:{name}:");
    config.cache.redis_timeout_millis = 300;
    config.limits.client_sign_ins = "4/min".to_owned();
    config.limits.trusted_proxies = vec!["127.0.0.1".to_owned()];
    let first = TestApp::spawn_with(config.clone(), env).await;
    let second = TestApp::spawn_beside(config).await;
    (first, second)
}

#[tokio::test]
#[cfg_attr(not(quire_test_redis), ignore = "QUIRE_TEST_REDIS_URL is not set")]
async fn instances_share_limits_through_redis_and_keep_their_own_when_it_is_cut() {
    let (proxy, through) = crate::proxy::Proxy::before_test_redis().await;
    let (one, two) = two_instances_sharing(&through).await;

    // Two sign-ins through each instance use up the client's four.
    for (app, who) in [(&one, "a"), (&two, "b"), (&one, "c"), (&two, "d")] {
        let wrong = login(
            app,
            Some("203.0.113.10"),
            &format!("{who}@example.com"),
            "not the password",
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    }
    for app in [&one, &two] {
        let refused = login(
            app,
            Some("203.0.113.10"),
            "e@example.com",
            "not the password",
        )
        .await;
        assert_rate_limited(&refused, "client-sign-in", "q=4;w=60");
    }
    let other = login(
        &two,
        Some("203.0.113.11"),
        "e@example.com",
        "not the password",
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::UNAUTHORIZED,
        "another client is not limited: {}",
        other.body
    );

    // Redis cut away: each instance counts on its own, limits still hold, nothing fails.
    proxy.cut();
    for n in 0..4 {
        let wrong = login(
            &one,
            Some("203.0.113.12"),
            &format!("f{n}@example.com"),
            "not the password",
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    }
    let refused = login(
        &one,
        Some("203.0.113.12"),
        "g@example.com",
        "not the password",
    )
    .await;
    assert_rate_limited(&refused, "client-sign-in", "q=4;w=60");
    // The other instance had not seen that client: its own count starts from the full quota.
    let elsewhere = login(
        &two,
        Some("203.0.113.12"),
        "g@example.com",
        "not the password",
    )
    .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        elsewhere.body
    );
}

#[tokio::test]
async fn sign_ins_over_a_websocket_and_on_grpcs_own_port_count_against_the_client() {
    use futures::SinkExt;
    use quire_grpc::pb::session_service_client::SessionServiceClient;
    use tokio_tungstenite::tungstenite::Message;

    let env = TestEnv::new(crate::helpers::Engine::Sqlite).await;
    let mut config = env.config();
    config.limits.client_sign_ins = "2/min".to_owned();
    config.grpc.listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::spawn_with(config, env).await;

    // Over one WebSocket, each sign-in is counted: the third is refused.
    let (mut socket, _) = app.graphql_socket().await;
    let text = |value: Value| Message::text(value.to_string());
    socket
        .send(text(json!({ "type": "connection_init" })))
        .await
        .unwrap();
    assert_eq!(
        crate::helpers::next_frame(&mut socket).await["type"],
        "connection_ack"
    );
    let mut codes = Vec::new();
    for id in ["1", "2", "3"] {
        let login =
            "mutation { login(email: \"ws@example.com\", password: \"password123\") { token } }";
        socket
            .send(text(
                json!({ "id": id, "type": "subscribe", "payload": { "query": login } }),
            ))
            .await
            .unwrap();
        loop {
            let message = crate::helpers::next_frame(&mut socket).await;
            if message["type"] == "complete" {
                break;
            }
            let code = message["payload"][0]["extensions"]["code"]
                .as_str()
                .or_else(|| message["payload"]["errors"][0]["extensions"]["code"].as_str())
                .unwrap_or_default()
                .to_owned();
            codes.push(code);
        }
    }
    assert_eq!(
        codes,
        ["UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]
    );

    // gRPC's own port counts the same client: it is out of sign-ins there too.
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", app.grpc_address.unwrap()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let refused = SessionServiceClient::new(channel)
        .log_in(pb::Credentials {
            email: Some("ws@example.com".into()),
            password: Some("password123".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
}
