//! The resource API at `/api/v1`: representations, negotiation, conditional requests, and
//! problem details.

use quire_core::roles::{Role, Roles};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_both_engines};

/// Sends a request with raw headers and body; returns status, headers and the body text.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = app.client.request(method, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

async fn register(app: &TestApp, name: &str) -> (i64, String) {
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "quiet harbour lantern at dawn"});
    let (status, headers, text) = send(
        app,
        Method::POST,
        "/api/v1/users",
        &[("content-type", "application/json")],
        Some(body.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let user = json_of(&text);
    let id = user["userId"].as_i64().unwrap();
    assert_eq!(headers["location"], format!("/api/v1/users/{id}").as_str());
    let (status, _, text) = send(
        app,
        Method::POST,
        "/api/v1/sessions",
        &[("content-type", "application/json")],
        Some(
            json!({"email": format!("{name}@example.com"), "password": "quiet harbour lantern at dawn"}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    (id, json_of(&text)["token"].as_str().unwrap().to_owned())
}

on_both_engines! {
    async fn users_have_the_documented_representation(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (id, token) = register(&app, "testuser").await;
        let bearer = format!("Bearer {token}");

        let (status, headers, text) = send(&app, Method::GET, &format!("/api/v1/users/{id}"), &[], None).await;
        assert_eq!(status, 200);
        let user = json_of(&text);
        assert_eq!(user["userId"], id);
        assert_eq!(user["username"], "testuser");
        assert!(user.get("email").is_none(), "email is for the user and admins only");
        assert!(user.get("isActive").is_none(), "standing is for the user and admins only");
        assert!(user.get("roles").is_none(), "standing is for the user and admins only");
        assert_eq!(headers["content-type"], "application/json");
        assert!(headers["cache-control"].to_str().unwrap().starts_with("public"));
        assert!(headers["vary"].to_str().unwrap().contains("Accept"));

        let (_, headers, text) = send(&app, Method::GET, &format!("/api/v1/users/{id}"), &[("authorization", &bearer)], None).await;
        assert_eq!(json_of(&text)["email"], "testuser@example.com");
        assert_eq!(json_of(&text)["isActive"], true);
        assert_eq!(json_of(&text)["roles"], json!(["reader", "commenter", "author"]));
        assert!(headers["cache-control"].to_str().unwrap().starts_with("private"));
        let (_, _, me) = send(&app, Method::GET, "/api/v1/me", &[("authorization", &bearer)], None).await;
        assert_eq!(json_of(&me)["userId"], id);

        let (status, headers, xml) = send(&app, Method::GET, &format!("/api/v1/users/{id}"), &[("accept", "application/xml"), ("authorization", &bearer)], None).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/xml");
        assert!(xml.starts_with("<user>"), "{xml}");
        assert!(xml.contains(&format!("<userId>{id}</userId>")), "{xml}");
        assert!(xml.contains("<isActive>true</isActive>"), "{xml}");
        assert!(xml.contains("<roles>reader</roles>"), "{xml}");

        let (status, headers, text) = send(&app, Method::GET, &format!("/api/v1/users/{id}"), &[("accept", "text/html")], None).await;
        assert_eq!(status, 406);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(json_of(&text)["status"], 406);
    }

    async fn conditional_requests_use_strong_etags(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (id, token) = register(&app, "etag").await;
        let bearer = format!("Bearer {token}");
        let path = format!("/api/v1/users/{id}");
        let (_, headers, _) = send(&app, Method::GET, &path, &[], None).await;
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"'), "strong: {etag}");
        let (status, headers, body) = send(&app, Method::GET, &path, &[("if-none-match", &etag)], None).await;
        assert_eq!(status, 304);
        assert!(body.is_empty());
        assert_eq!(headers["etag"], etag.as_str());

        let (_, headers, _) = send(&app, Method::GET, &path, &[("authorization", &bearer)], None).await;
        let mine = headers["etag"].to_str().unwrap().to_owned();
        let patch = |bio: &str| json!({"bio": bio}).to_string();
        let merge = ("content-type", "application/merge-patch+json");
        let (status, headers, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge, ("if-match", &mine)], Some(patch("first"))).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(json_of(&text)["bio"], "first");
        assert_ne!(headers["etag"], mine.as_str());
        // A second editor still holding the old ETag is stopped, and changes nothing.
        let (status, headers, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge, ("if-match", &mine)], Some(patch("second"))).await;
        assert_eq!(status, 412, "{text}");
        assert_eq!(headers["content-type"], "application/problem+json");
        let (_, _, text) = send(&app, Method::GET, &path, &[], None).await;
        assert_eq!(json_of(&text)["bio"], "first");
        // A merge patch's null removes.
        let (_, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(json!({"bio": null}).to_string())).await;
        assert!(json_of(&text)["bio"].is_null());
    }

    async fn admins_manage_roles_and_deactivation(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let admin = app.user_with_roles("admin", Roles::of(&[Role::Reader, Role::Admin])).await;
        let admin_auth = format!("Bearer {}", admin.token);
        let (id, token) = register(&app, "member").await;
        let member_auth = format!("Bearer {token}");
        let path = format!("/api/v1/users/{id}");
        let merge = ("content-type", "application/merge-patch+json");

        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &member_auth), merge], Some(json!({"roles": ["admin"]}).to_string())).await;
        assert_eq!(status, 403, "{text}");
        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &admin_auth), merge], Some(json!({"roles": ["reader", "editor"]}).to_string())).await;
        assert_eq!(status, 200, "{text}");
        let user = json_of(&text);
        assert_eq!(user["roles"], json!(["reader", "editor"]));
        assert_eq!(user["email"], "member@example.com", "admins see emails");
        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &admin_auth), merge], Some(json!({"roles": ["root"]}).to_string())).await;
        assert_eq!(status, 422, "{text}");
        assert_eq!(json_of(&text)["errors"][0]["field"], "roles");

        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &admin_auth), merge], Some(json!({"isActive": false}).to_string())).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(json_of(&text)["isActive"], false);
        // Existing tokens stop working, and logging in again is refused.
        let (status, _, _) = send(&app, Method::GET, "/api/v1/me", &[("authorization", &member_auth)], None).await;
        assert_eq!(status, 401);
        let login = json!({"email": "member@example.com", "password": "quiet harbour lantern at dawn"}).to_string();
        let (status, _, _) = send(&app, Method::POST, "/api/v1/sessions", &[("content-type", "application/json")], Some(login.clone())).await;
        assert_eq!(status, 401);
        let admin_path = format!("/api/v1/users/{}", json_of(&send(&app, Method::GET, "/api/v1/me", &[("authorization", &admin_auth)], None).await.2)["userId"]);
        let (status, _, _) = send(&app, Method::PATCH, &admin_path, &[("authorization", &admin_auth), merge], Some(json!({"isActive": false}).to_string())).await;
        assert_eq!(status, 422, "an admin cannot lock themselves out");

        send(&app, Method::PATCH, &path, &[("authorization", &admin_auth), merge], Some(json!({"isActive": true}).to_string())).await;
        let (status, _, _) = send(&app, Method::POST, "/api/v1/sessions", &[("content-type", "application/json")], Some(login)).await;
        assert_eq!(status, 201);
    }

    async fn http_errors_are_problem_details(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (id, token) = register(&app, "probe").await;
        let bearer = format!("Bearer {token}");
        let path = format!("/api/v1/users/{id}");

        let (status, _, text) = send(&app, Method::GET, "/api/v1/users/99999", &[], None).await;
        assert_eq!(status, 404);
        let problem = json_of(&text);
        assert_eq!(problem["type"], "/api/v1/problems/not-found");
        assert_eq!(problem["status"], 404);
        assert!(problem["instance"].as_str().unwrap().starts_with("urn:quire:request:"));
        assert!(problem["title"].is_string() && problem["detail"].is_string());

        let (status, headers, text) = send(&app, Method::DELETE, "/api/v1/me", &[], None).await;
        assert_eq!(status, 405, "{text}");
        assert!(headers["allow"].to_str().unwrap().contains("GET"));
        assert_eq!(headers["content-type"], "application/problem+json");

        let (status, _, text) = send(&app, Method::GET, "/api/v1/nothing", &[], None).await;
        assert_eq!(status, 404);
        assert_eq!(json_of(&text)["status"], 404);

        let (status, _, _) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), ("content-type", "text/plain")], Some("bio".into())).await;
        assert_eq!(status, 415);
        let (status, _, _) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), ("content-type", "application/merge-patch+json")], Some("{".into())).await;
        assert_eq!(status, 400);
        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), ("content-type", "application/merge-patch+json")], Some(json!({"unknownField": 1}).to_string())).await;
        assert_eq!(status, 422, "{text}");
        let (status, headers, _) = send(&app, Method::GET, "/api/v1/me", &[], None).await;
        assert_eq!(status, 401);
        assert!(headers.contains_key("www-authenticate"));
        let (status, _, _) = send(&app, Method::GET, "/api/v1/me", &[("authorization", "Bearer forged")], None).await;
        assert_eq!(status, 401, "a bad token is refused, not ignored");

        let body = json!({"username": "", "email": "nope", "password": "x"}).to_string();
        let (status, headers, text) = send(&app, Method::POST, "/api/v1/users", &[("content-type", "application/json")], Some(body)).await;
        assert_eq!(status, 422);
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem = json_of(&text);
        let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["email", "password", "username"]);

        let xml_body = "<user><username>xmluser</username><email>xml@example.com</email><password>quiet harbour lantern at dawn</password></user>";
        let (status, _, text) = send(&app, Method::POST, "/api/v1/users", &[("content-type", "application/xml"), ("accept", "application/xml")], Some(xml_body.into())).await;
        assert_eq!(status, 201, "{text}");
        assert!(text.contains("<username>xmluser</username>"), "{text}");
    }
}

/// The slugs of a RealWorld list, `/api/articles?QUERY`, read anonymously.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let reply = app.get(&format!("/api/articles?{query}"), None).await;
    assert_eq!(reply.status, 200, "{query}");
    reply.body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_post(
    app: &TestApp,
    bearer: &str,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let (status, headers, text) = send(
        app,
        Method::POST,
        "/api/v1/posts",
        &[
            ("authorization", bearer),
            ("content-type", "application/json"),
        ],
        Some(body.to_string()),
    )
    .await;
    (
        status,
        headers,
        if text.is_empty() {
            Value::Null
        } else {
            json_of(&text)
        },
    )
}

on_both_engines! {
    async fn posts_follow_http_method_semantics(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "writer").await;
        let bearer = format!("Bearer {token}");
        let (status, headers, post) = create_post(&app, &bearer, json!({"title": "Hello v1", "description": "d", "content": "# Hi", "tags": ["b", "a"], "language": "en"})).await;
        assert_eq!(status, 201, "{post}");
        let id = post["postId"].as_i64().unwrap();
        let path = format!("/api/v1/posts/{id}");
        assert_eq!(headers["location"], path.as_str());
        assert_eq!(post["tags"], json!(["a", "b"]));
        assert_eq!(post["content"], "# Hi");
        assert_eq!(post["status"], "published");
        assert_eq!(post["language"], "en");

        // The same post is served under /api as well: one core.
        let (_, _, text) = send(&app, Method::GET, "/api/articles/hello-v1", &[], None).await;
        assert_eq!(json_of(&text)["article"]["body"], "# Hi");

        let replacement = json!({"title": "Hello again", "description": "d2", "content": "Body", "tags": ["c"]}).to_string();
        let put = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        let (status, _, first) = send(&app, Method::PUT, &path, &put, Some(replacement.clone())).await;
        assert_eq!(status, 200, "{first}");
        let (status, _, second) = send(&app, Method::PUT, &path, &put, Some(replacement)).await;
        assert_eq!(status, 200);
        let (first, second) = (json_of(&first), json_of(&second));
        for field in ["title", "description", "content", "tags", "slug", "updatedAt"] {
            assert_eq!(first[field], second[field], "PUT twice gives one state: {field}");
        }
        let (status, _, text) = send(&app, Method::PUT, &path, &put, Some(json!({"title": "Only a title"}).to_string())).await;
        assert_eq!(status, 422, "PUT replaces the whole representation: {text}");

        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), ("content-type", "application/merge-patch+json")], Some(json!({"description": "patched"}).to_string())).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(json_of(&text)["description"], "patched");
        assert_eq!(json_of(&text)["title"], "Hello again");

        let (status, _, _) = send(&app, Method::DELETE, &path, &[("authorization", &bearer)], None).await;
        assert_eq!(status, 204);
        let (status, _, _) = send(&app, Method::DELETE, &path, &[("authorization", &bearer)], None).await;
        assert_eq!(status, 404);
        let (status, _, _) = send(&app, Method::GET, &path, &[], None).await;
        assert_eq!(status, 404);
    }

    async fn post_lists_page_by_cursor(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "prolific").await;
        let bearer = format!("Bearer {token}");
        for i in 0..7 {
            let language = if i % 2 == 0 { "en" } else { "ko" };
            create_post(&app, &bearer, json!({"title": format!("Post {i}"), "description": "d", "content": "c", "tags": ["paged"], "language": language})).await;
        }
        let mut seen = Vec::new();
        let mut next = Some("/api/v1/posts?tag=paged&limit=3&count=true".to_owned());
        while let Some(path) = next.take() {
            let (status, headers, text) = send(&app, Method::GET, &path, &[], None).await;
            assert_eq!(status, 200, "{text}");
            let page = json_of(&text);
            assert_eq!(page["total"], 7);
            for item in page["items"].as_array().unwrap() {
                assert!(item.get("content").is_none(), "lists leave the content out");
                seen.push(item["title"].as_str().unwrap().to_owned());
            }
            if let Some(link) = headers.get("link") {
                let link = link.to_str().unwrap();
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                next = Some(link[1..link.find('>').unwrap()].to_owned());
                assert!(page["nextCursor"].as_str().is_some());
            }
        }
        let expected: Vec<String> = (0..7).rev().map(|i| format!("Post {i}")).collect();
        assert_eq!(seen, expected, "newest first, each once");

        let (_, _, text) = send(&app, Method::GET, "/api/v1/posts?language=ko", &[], None).await;
        let page = json_of(&text);
        assert_eq!(page["items"].as_array().unwrap().len(), 3);
        assert!(page.get("total").is_none(), "the total only when asked");
        for bad in ["limit=0", "limit=101", "limit=x", "cursor=nonsense", "count=maybe"] {
            let (status, headers, _) = send(&app, Method::GET, &format!("/api/v1/posts?{bad}"), &[], None).await;
            assert_eq!(status, 400, "{bad}");
            assert_eq!(headers["content-type"], "application/problem+json");
        }
    }

    async fn drafts_and_favorites_through_v1(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "drafter").await;
        let (_, other) = register(&app, "reader").await;
        let (bearer, other_bearer) = (format!("Bearer {token}"), format!("Bearer {other}"));
        let (status, _, draft) = create_post(&app, &bearer, json!({"title": "Not yet", "description": "d", "content": "c", "status": "draft"})).await;
        assert_eq!(status, 201);
        assert_eq!(draft["status"], "draft");
        assert!(draft["publishedAt"].is_null());
        let path = format!("/api/v1/posts/{}", draft["postId"]);
        assert_eq!(send(&app, Method::GET, &path, &[], None).await.0, 404, "drafts are hidden");
        assert_eq!(send(&app, Method::GET, &path, &[("authorization", &other_bearer)], None).await.0, 404);
        let (status, headers, _) = send(&app, Method::GET, &path, &[("authorization", &bearer)], None).await;
        assert_eq!(status, 200);
        assert!(headers["cache-control"].to_str().unwrap().starts_with("private"));
        let (_, _, list) = send(&app, Method::GET, "/api/v1/posts?count=true", &[], None).await;
        assert_eq!(json_of(&list)["total"], 0, "drafts are not listed");

        let (_, _, published) = create_post(&app, &bearer, json!({"title": "Out now", "description": "d", "content": "c"})).await;
        let id = published["postId"].as_i64().unwrap();
        let favorite = format!("/api/v1/me/favorites/{id}");
        for _ in 0..2 {
            let (status, _, _) = send(&app, Method::PUT, &favorite, &[("authorization", &other_bearer)], None).await;
            assert_eq!(status, 204, "PUT is idempotent");
        }
        let (_, headers, text) = send(&app, Method::GET, &format!("/api/v1/posts/{id}"), &[("authorization", &other_bearer)], None).await;
        assert_eq!(json_of(&text)["favoritesCount"], 1);
        assert_eq!(json_of(&text)["favorited"], true);
        assert!(headers["cache-control"].to_str().unwrap().starts_with("private"));
        let (_, headers, _) = send(&app, Method::GET, &format!("/api/v1/posts/{id}"), &[], None).await;
        assert!(headers["cache-control"].to_str().unwrap().starts_with("public"));
        for _ in 0..2 {
            let (status, _, _) = send(&app, Method::DELETE, &favorite, &[("authorization", &other_bearer)], None).await;
            assert_eq!(status, 204, "DELETE is idempotent");
        }
        let (_, _, text) = send(&app, Method::GET, &format!("/api/v1/posts/{id}"), &[], None).await;
        assert_eq!(json_of(&text)["favoritesCount"], 0);
        let (status, _, _) = send(&app, Method::DELETE, &format!("/api/v1/posts/{id}"), &[("authorization", &other_bearer)], None).await;
        assert_eq!(status, 403, "the same policy as /api");
    }
}

on_both_engines! {
    async fn idempotency_keys_make_posts_happen_once(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "careful").await;
        let bearer = format!("Bearer {token}");
        let body = json!({"title": "Exactly once", "description": "d", "content": "c"}).to_string();
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", "k-123")];
        let (first_status, first_headers, first) = send(&app, Method::POST, "/api/v1/posts", &headers, Some(body.clone())).await;
        assert_eq!(first_status, 201, "{first}");
        let (status, replayed_headers, replayed) = send(&app, Method::POST, "/api/v1/posts", &headers, Some(body)).await;
        assert_eq!(status, 201);
        assert_eq!(replayed, first, "the first response, byte for byte");
        assert_eq!(replayed_headers["location"], first_headers["location"]);
        assert_eq!(replayed_headers["idempotent-replayed"], "true");
        let (_, _, list) = send(&app, Method::GET, "/api/v1/posts?count=true", &[], None).await;
        assert_eq!(json_of(&list)["total"], 1, "created once");

        let other = json!({"title": "Something else", "description": "d", "content": "c"}).to_string();
        let (status, _, text) = send(&app, Method::POST, "/api/v1/posts", &headers, Some(other)).await;
        assert_eq!(status, 422, "{text}");
        assert_eq!(json_of(&text)["type"], "/api/v1/problems/idempotency-key-reused");

        // Keys are the caller's own: another user's same key is a different request.
        let (_, token) = register(&app, "someone").await;
        let other_bearer = format!("Bearer {token}");
        let again = json!({"title": "Exactly once", "description": "d", "content": "c"}).to_string();
        let (status, _, _) = send(&app, Method::POST, "/api/v1/posts", &[("authorization", other_bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", "k-123")], Some(again)).await;
        assert_eq!(status, 201);

        // A failed request does not burn its key: fix the body and retry.
        let key = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", "k-bad")];
        let (status, _, _) = send(&app, Method::POST, "/api/v1/posts", &key, Some(json!({"title": ""}).to_string())).await;
        assert_eq!(status, 422);
        let (status, _, _) = send(&app, Method::POST, "/api/v1/posts", &key, Some(json!({"title": ""}).to_string())).await;
        assert_eq!(status, 422, "a replayed 422 is still the same answer");
    }

    async fn a_retry_during_the_first_request_is_a_conflict(engine: Engine) {
        let env = crate::helpers::TestEnv::new(engine).await;
        let mut config = env.config();
        // A slow password hash (about a second) keeps the first registration running well
        // past the moment the retry arrives, however long the first takes to claim its key.
        config.argon2.memory_kib = 65536;
        config.argon2.iterations = 30;
        let app = TestApp::spawn_with(config, env).await;
        let body = json!({"username": "slow", "email": "slow@example.com", "password": "quiet harbour lantern at dawn"}).to_string();
        let headers = [("content-type", "application/json"), ("idempotency-key", "register-once")];
        let (first, second) = tokio::join!(
            send(&app, Method::POST, "/api/v1/users", &headers, Some(body.clone())),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                send(&app, Method::POST, "/api/v1/users", &headers, Some(body.clone())).await
            }
        );
        assert_eq!(first.0, 201, "{}", first.2);
        assert_eq!(second.0, 409, "{}", second.2);
        let (status, _, replay) = send(&app, Method::POST, "/api/v1/users", &headers, Some(body)).await;
        assert_eq!(status, 201);
        assert_eq!(replay, first.2);
    }

    async fn a_write_whose_claim_was_given_up_does_not_commit(engine: Engine) {
        use quire_core::model::Claim;
        use quire_core::ports::IdempotencyStore;
        use quire_core::service::PostDraft;
        use quire_core::time::Timestamp;
        let app = TestApp::spawn(engine).await;
        let user = app.register("slowpoke").await;
        let actor = app.actor_of(&user).await;
        let scope = actor.user_id().get();
        let store = app.quire.store();
        let at = |millis: i64| Timestamp::from_millis(millis);
        // The first request's claim, made at 1000; it runs so long that its claim is given up
        // and a retry claims the key again at 500_000.
        assert_eq!(store.claim_key(scope, "slow", "f", at(1_000), at(0), at(0)).await.unwrap(), Claim::Claimed { at: at(1_000) });
        assert_eq!(store.claim_key(scope, "slow", "f", at(500_000), at(0), at(2_000)).await.unwrap(), Claim::Claimed { at: at(500_000) });
        // The first request's write then fails whole: the key is the retry's.
        let draft = PostDraft { title: Some("Late".into()), description: Some("d".into()), body: Some("b".into()), ..PostDraft::default() };
        let late = app.quire.run_claimed(Some(&actor), "slow", at(1_000), "post", app.quire.create_post(&actor, draft.clone())).await;
        assert!(matches!(late, Err(quire_core::Error::Conflict(_))), "{late:?}");
        let (_, _, list) = send(&app, Method::GET, "/api/v1/posts?count=true", &[], None).await;
        assert_eq!(json_of(&list)["total"], 0, "nothing committed");
        // The retry's own write marks the key.
        let post = app.quire.run_claimed(Some(&actor), "slow", at(500_000), "post", app.quire.create_post(&actor, draft)).await.unwrap();
        let claim = store.claim_key(scope, "slow", "f", at(500_001), at(0), at(0)).await.unwrap();
        assert_eq!(claim, Claim::Committed(quire_core::events::Aggregate::Post(post.id)));
    }

    async fn a_keyed_write_whose_answer_was_lost_is_not_made_again(engine: Engine) {
        use quire_storage::Fault;
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "unlucky").await;
        let bearer = format!("Bearer {token}");
        let (_, _, post) = create_post(&app, &bearer, json!({"title": "Lost answers", "description": "d", "content": "c"})).await;
        let comments = format!("/api/v1/posts/{}/comments", post["postId"]);

        // Each change commits, then its request fails before answering (as when its process
        // dies between commit and reply). The retry learns of the change instead of making it
        // again, and answers as the first would have.
        let body = json!({"content": "Only once"}).to_string();
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", "c-1")];
        app.quire.store().inject_fault(Fault::AfterCommit, 1);
        let (status, _, text) = send(&app, Method::POST, &comments, &headers, Some(body.clone())).await;
        assert_eq!(status, 500, "{text}");
        let (status, headers_1, recovered) = send(&app, Method::POST, &comments, &headers, Some(body.clone())).await;
        assert_eq!(status, 201, "{recovered}");
        let comment = json_of(&recovered);
        assert_eq!(comment["content"], "Only once");
        assert_eq!(headers_1["location"].to_str().unwrap(), format!("/api/v1/comments/{}", comment["commentId"]));
        let (status, headers_2, replayed) = send(&app, Method::POST, &comments, &headers, Some(body)).await;
        assert_eq!(status, 201);
        assert_eq!(replayed, recovered, "the recovered answer is kept");
        assert_eq!(headers_2["idempotent-replayed"], "true");
        let (_, _, list) = send(&app, Method::GET, &comments, &[], None).await;
        assert_eq!(json_of(&list)["items"].as_array().unwrap().len(), 1, "{list}");

        let body = json!({"title": "Posted once", "description": "d", "content": "c"}).to_string();
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", "p-1")];
        app.quire.store().inject_fault(Fault::AfterCommit, 1);
        assert_eq!(send(&app, Method::POST, "/api/v1/posts", &headers, Some(body.clone())).await.0, 500);
        let (status, _, text) = send(&app, Method::POST, "/api/v1/posts", &headers, Some(body)).await;
        assert_eq!(status, 201, "{text}");
        assert_eq!(json_of(&text)["title"], "Posted once");
        let (_, _, list) = send(&app, Method::GET, "/api/v1/posts?count=true", &[], None).await;
        assert_eq!(json_of(&list)["total"], 2, "{list}");

        let body = json!({"username": "late", "email": "late@example.com", "password": "quiet harbour lantern at dawn"}).to_string();
        let headers = [("content-type", "application/json"), ("idempotency-key", "u-1")];
        app.quire.store().inject_fault(Fault::AfterCommit, 1);
        assert_eq!(send(&app, Method::POST, "/api/v1/users", &headers, Some(body.clone())).await.0, 500);
        let (status, _, text) = send(&app, Method::POST, "/api/v1/users", &headers, Some(body)).await;
        assert_eq!(status, 201, "a registration retried under its key is not refused as taken: {text}");
        assert_eq!(json_of(&text)["email"], "late@example.com");

        // A request that fails before its change commits still lets its key go.
        let body = json!({"content": "Second try"}).to_string();
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", "c-2")];
        app.quire.store().inject_fault(Fault::Busy, 50);
        assert_eq!(send(&app, Method::POST, &comments, &headers, Some(body.clone())).await.0, 503);
        app.quire.store().inject_fault(Fault::Busy, 0);
        let (status, headers_3, _) = send(&app, Method::POST, &comments, &headers, Some(body)).await;
        assert_eq!(status, 201);
        assert!(headers_3.get("idempotent-replayed").is_none());
    }
}

on_both_engines! {
    async fn comments_follows_feed_and_tags_through_v1(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (author_id, author) = register(&app, "author").await;
        let (_, fan) = register(&app, "fan").await;
        let (author, fan) = (format!("Bearer {author}"), format!("Bearer {fan}"));
        let (_, _, post) = create_post(&app, &author, json!({"title": "Talk about it", "description": "d", "content": "c", "tags": ["talk"]})).await;
        let post_id = post["postId"].as_i64().unwrap();

        let comments = format!("/api/v1/posts/{post_id}/comments");
        let json_body = [("authorization", fan.as_str()), ("content-type", "application/json")];
        let (status, headers, text) = send(&app, Method::POST, &comments, &json_body, Some(json!({"content": "First"}).to_string())).await;
        assert_eq!(status, 201, "{text}");
        let comment = json_of(&text);
        let location = headers["location"].to_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/v1/comments/{}", comment["commentId"]));
        assert_eq!(comment["content"], "First");
        assert_eq!(json_of(&send(&app, Method::GET, &location, &[], None).await.2)["postId"], post_id);
        let (_, _, list) = send(&app, Method::GET, &comments, &[], None).await;
        assert_eq!(json_of(&list)["items"].as_array().unwrap().len(), 1);
        assert_eq!(send(&app, Method::DELETE, &location, &[("authorization", &author)], None).await.0, 403);
        assert_eq!(send(&app, Method::DELETE, &location, &[("authorization", &fan)], None).await.0, 204);
        assert_eq!(send(&app, Method::DELETE, &location, &[("authorization", &fan)], None).await.0, 404);

        let following = format!("/api/v1/me/following/{author_id}");
        for _ in 0..2 {
            assert_eq!(send(&app, Method::PUT, &following, &[("authorization", &fan)], None).await.0, 204);
        }
        let (_, _, followers) = send(&app, Method::GET, &format!("/api/v1/users/{author_id}/followers"), &[], None).await;
        let followers = json_of(&followers);
        assert_eq!(followers["items"].as_array().unwrap().len(), 1);
        assert_eq!(followers["items"][0]["username"], "fan");
        assert!(followers["items"][0].get("email").is_none());
        let (_, _, feed) = send(&app, Method::GET, "/api/v1/me/feed", &[("authorization", &fan)], None).await;
        assert_eq!(json_of(&feed)["items"][0]["postId"], post_id);
        assert_eq!(json_of(&feed)["items"][0]["author"]["following"], true);
        assert_eq!(send(&app, Method::GET, "/api/v1/me/feed", &[], None).await.0, 401);
        for _ in 0..2 {
            assert_eq!(send(&app, Method::DELETE, &following, &[("authorization", &fan)], None).await.0, 204);
        }
        let (_, _, feed) = send(&app, Method::GET, "/api/v1/me/feed", &[("authorization", &fan)], None).await;
        assert_eq!(json_of(&feed)["items"].as_array().unwrap().len(), 0);
        assert_eq!(send(&app, Method::PUT, "/api/v1/me/following/99999", &[("authorization", &fan)], None).await.0, 404);

        let (_, _, tags) = send(&app, Method::GET, "/api/v1/tags", &[], None).await;
        assert_eq!(json_of(&tags)["items"], json!(["talk"]));
    }

    async fn follower_lists_page_by_cursor(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (star_id, _) = register(&app, "star").await;
        for i in 0..5 {
            let (_, token) = register(&app, &format!("f{i}")).await;
            let bearer = format!("Bearer {token}");
            send(&app, Method::PUT, &format!("/api/v1/me/following/{star_id}"), &[("authorization", &bearer)], None).await;
        }
        let mut seen = Vec::new();
        let mut next = Some(format!("/api/v1/users/{star_id}/followers?limit=2"));
        while let Some(path) = next.take() {
            let (status, headers, text) = send(&app, Method::GET, &path, &[], None).await;
            assert_eq!(status, 200, "{text}");
            for item in json_of(&text)["items"].as_array().unwrap() {
                seen.push(item["username"].as_str().unwrap().to_owned());
            }
            next = headers.get("link").map(|link| {
                let link = link.to_str().unwrap();
                link[1..link.find('>').unwrap()].to_owned()
            });
        }
        assert_eq!(seen, ["f0", "f1", "f2", "f3", "f4"]);
    }
}

on_both_engines! {
    async fn users_are_listed_by_id_without_emails(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        for name in ["ann", "ben", "cal"] {
            register(&app, name).await;
        }
        let (status, headers, text) = send(&app, Method::GET, "/api/v1/users?limit=2", &[], None).await;
        assert_eq!(status, 200, "{text}");
        let page = json_of(&text);
        let names: Vec<&str> = page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["ann", "ben"]);
        assert!(page["items"][0].get("email").is_none());
        let link = headers["link"].to_str().unwrap();
        let next = &link[1..link.find('>').unwrap()];
        let (_, _, text) = send(&app, Method::GET, next, &[], None).await;
        assert_eq!(json_of(&text)["items"][0]["username"], "cal");
    }
}

on_both_engines! {
    async fn drafts_are_listed_for_their_author_and_editors(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, writer) = register(&app, "writer").await;
        let (_, other) = register(&app, "other").await;
        let editor = app.user_with_roles("editor", Roles::of(&[Role::Reader, Role::Editor])).await;
        let (writer, other, editor) = (format!("Bearer {writer}"), format!("Bearer {other}"), format!("Bearer {}", editor.token));
        for i in 0..3 {
            create_post(&app, &writer, json!({"title": format!("Draft {i}"), "description": "d", "content": "c", "status": "draft"})).await;
        }
        create_post(&app, &other, json!({"title": "Other draft", "description": "d", "content": "c", "status": "draft"})).await;
        create_post(&app, &writer, json!({"title": "Public", "description": "d", "content": "c"})).await;

        let titles = |text: &str| -> Vec<String> {
            json_of(text)["items"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect()
        };
        let (status, headers, text) = send(&app, Method::GET, "/api/v1/posts?status=draft&limit=2&count=true", &[("authorization", &writer)], None).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(titles(&text), ["Draft 2", "Draft 1"]);
        assert_eq!(json_of(&text)["total"], 3);
        let link = headers["link"].to_str().unwrap();
        let (_, _, text) = send(&app, Method::GET, &link[1..link.find('>').unwrap()], &[("authorization", &writer)], None).await;
        assert_eq!(titles(&text), ["Draft 0"]);

        assert_eq!(send(&app, Method::GET, "/api/v1/posts?status=draft", &[], None).await.0, 401);
        assert_eq!(send(&app, Method::GET, "/api/v1/posts?status=draft&author=writer", &[("authorization", &other)], None).await.0, 403);
        let (_, _, text) = send(&app, Method::GET, "/api/v1/posts?status=draft&count=true", &[("authorization", &editor)], None).await;
        assert_eq!(json_of(&text)["total"], 4, "editors see every draft");
        let (_, _, text) = send(&app, Method::GET, "/api/v1/posts?status=draft&author=other", &[("authorization", &editor)], None).await;
        assert_eq!(titles(&text), ["Other draft"]);
        let (_, _, text) = send(&app, Method::GET, "/api/v1/posts?count=true", &[], None).await;
        assert_eq!(json_of(&text)["total"], 1, "published posts only by default");
        assert_eq!(send(&app, Method::GET, "/api/v1/posts?status=archived", &[], None).await.0, 400);
    }
}

on_both_engines! {
    async fn idempotency_keys_hold_across_instances(engine: Engine) {
        let first = TestApp::spawn(engine).await;
        let second = first.sibling().await;
        let (_, token) = register(&first, "roamer").await;
        let bearer = format!("Bearer {token}");
        let body = json!({"title": "Load balanced", "description": "d", "content": "c"}).to_string();
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", "lb-1")];
        let (status, _, created) = send(&first, Method::POST, "/api/v1/posts", &headers, Some(body.clone())).await;
        assert_eq!(status, 201);
        let (status, replay_headers, replayed) = send(&second, Method::POST, "/api/v1/posts", &headers, Some(body)).await;
        assert_eq!(status, 201);
        assert_eq!(replayed, created);
        assert_eq!(replay_headers["idempotent-replayed"], "true");
        let (_, _, list) = send(&second, Method::GET, "/api/v1/posts?count=true", &[], None).await;
        assert_eq!(json_of(&list)["total"], 1);
    }

    async fn xml_clients_get_problems_in_xml(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (status, headers, body) = send(&app, Method::GET, "/api/v1/users/99999", &[("accept", "application/xml")], None).await;
        assert_eq!(status, 404);
        assert_eq!(headers["content-type"], "application/problem+xml");
        assert!(body.starts_with("<problem>"), "{body}");
        assert!(body.contains("<status>404</status>"), "{body}");
        let (_, headers, _) = send(&app, Method::GET, "/api/v1/nowhere", &[("accept", "application/xml")], None).await;
        assert_eq!(headers["content-type"], "application/problem+xml");
        let (_, headers, _) = send(&app, Method::GET, "/api/v1/users/99999", &[], None).await;
        assert_eq!(headers["content-type"], "application/problem+json");
    }
}

on_both_engines! {
    async fn hostile_bodies_get_clear_4xx_answers(engine: Engine) {
        use quire_storage::Fault;
        let app = TestApp::spawn(engine).await;
        let (id, token) = register(&app, "hostile").await;
        let bearer = format!("Bearer {token}");
        let json_type = ("content-type", "application/json");
        let merge = ("content-type", "application/merge-patch+json");

        let (status, _, text) = send(&app, Method::POST, "/api/v1/posts", &[("authorization", &bearer), json_type], Some(json!(["t", "d", "c"]).to_string())).await;
        assert_eq!(status, 422, "an array is not a post: {text}");
        let (status, _, text) = send(&app, Method::POST, "/api/v1/posts", &[("authorization", &bearer), json_type], Some(json!({"title": "nul\0", "description": "d", "content": "c"}).to_string())).await;
        assert_eq!(status, 422, "NUL is refused on every engine: {text}");
        let (status, _, text) = send(&app, Method::PATCH, &format!("/api/v1/users/{id}"), &[("authorization", &bearer), merge], Some(json!({"bio": "a\0b"}).to_string())).await;
        assert_eq!(status, 422, "{text}");
        let (status, _, _) = send(&app, Method::POST, "/api/v1/posts", &[("authorization", &bearer), ("content-type", "application/xml")], Some("<post><title>x</tit".into())).await;
        assert_eq!(status, 400, "malformed XML");

        let (_, _, post) = create_post(&app, &bearer, json!({"title": "Tagged", "description": "d", "content": "c", "tags": ["x"]})).await;
        let path = format!("/api/v1/posts/{}", post["postId"]);
        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(json!({"tags": null}).to_string())).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(json_of(&text)["tags"], json!([]), "null removes the tags");

        let (_, headers, _) = send(&app, Method::POST, "/api/v1/sessions", &[json_type], Some(json!({"email": "hostile@example.com", "password": "quiet harbour lantern at dawn"}).to_string())).await;
        assert_eq!(headers["cache-control"], "no-store", "a token is never cached");
        let (_, headers, _) = send(&app, Method::GET, "/api/v1/me", &[], None).await;
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

        // A server fault under /api/v1 is a problem document too, with nothing of its cause.
        app.quire.store().inject_fault(Fault::BetweenPostAndTags, 1);
        let (status, headers, text) = send(&app, Method::POST, "/api/v1/posts", &[("authorization", &bearer), json_type], Some(json!({"title": "Boom", "description": "d", "content": "c"}).to_string())).await;
        assert_eq!(status, 500);
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem = json_of(&text);
        assert_eq!(problem["status"], 500);
        assert!(problem["instance"].as_str().unwrap().starts_with("urn:quire:request:"));
        assert!(!text.contains("injected"));
    }
}

on_both_engines! {
    async fn publishing_a_draft_moves_every_count(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "publisher").await;
        let bearer = format!("Bearer {token}");
        let (_, _, draft) = create_post(&app, &bearer, json!({"title": "Soon", "description": "d", "content": "c", "tags": ["fresh"], "status": "draft"})).await;
        let path = format!("/api/v1/posts/{}", draft["postId"]);
        // The author favorites their own draft before publishing it.
        send(&app, Method::PUT, &format!("/api/v1/me/favorites/{}", draft["postId"]), &[("authorization", &bearer)], None).await;
        let counts = || async {
            let all = app.get("/api/articles", None).await.body["articlesCount"].clone();
            let by_author = app.get("/api/articles?author=publisher", None).await.body["articlesCount"].clone();
            let by_tag = app.get("/api/articles?tag=fresh", None).await.body["articlesCount"].clone();
            let favorited = app.get("/api/articles?favorited=publisher", None).await.body["articlesCount"].clone();
            let tags = app.get("/api/tags", None).await.body["tags"].clone();
            (all, by_author, by_tag, favorited, tags)
        };
        assert_eq!(counts().await, (json!(0), json!(0), json!(0), json!(0), json!([])));

        let merge = ("content-type", "application/merge-patch+json");
        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(json!({"status": "published"}).to_string())).await;
        assert_eq!(status, 200, "{text}");
        let published = json_of(&text);
        assert_eq!(published["status"], "published");
        assert!(published["publishedAt"].is_string());
        assert_eq!(counts().await, (json!(1), json!(1), json!(1), json!(1), json!(["fresh"])));
        assert_eq!(send(&app, Method::GET, &path, &[], None).await.0, 200, "visible to all now");
        // The tag and the favorite were linked while the post was a draft: the lists read from
        // those links now hold it.
        assert_eq!(listed(&app, "tag=fresh").await, [published["slug"].as_str().unwrap()]);
        assert_eq!(listed(&app, "favorited=publisher").await, [published["slug"].as_str().unwrap()]);

        let (status, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(json!({"status": "draft", "tags": ["later"]}).to_string())).await;
        assert_eq!(status, 200, "{text}");
        assert!(json_of(&text)["publishedAt"].is_null());
        assert_eq!(counts().await, (json!(0), json!(0), json!(0), json!(0), json!([])));
        assert_eq!(send(&app, Method::GET, &path, &[], None).await.0, 404, "hidden again");
        for query in ["tag=fresh", "tag=later", "favorited=publisher"] {
            assert_eq!(listed(&app, query).await, Vec::<String>::new(), "{query}");
        }
        let (status, _, _) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(json!({"status": "archived"}).to_string())).await;
        assert_eq!(status, 422);
    }
}

on_both_engines! {
    async fn a_representation_read_with_get_can_be_put_back(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "roundtrip").await;
        let bearer = format!("Bearer {token}");
        let (_, _, post) = create_post(&app, &bearer, json!({"title": "Round", "description": "d", "content": "c", "tags": ["a"], "language": "en", "category": "notes"})).await;
        let path = format!("/api/v1/posts/{}", post["postId"]);
        let (_, _, text) = send(&app, Method::GET, &path, &[], None).await;
        let mut representation = json_of(&text);
        representation["title"] = json!("Round trip");
        representation["language"] = json!("ko");
        let put = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        let (status, _, text) = send(&app, Method::PUT, &path, &put, Some(representation.to_string())).await;
        assert_eq!(status, 200, "{text}");
        let replaced = json_of(&text);
        assert_eq!(replaced["title"], "Round trip");
        assert_eq!(replaced["language"], "ko");
        assert_eq!(replaced["category"], "notes");
        assert_eq!(replaced["postId"], post["postId"], "read-only fields are not changed by a PUT");
        let merge = ("content-type", "application/merge-patch+json");
        let (_, _, text) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(json!({"category": null}).to_string())).await;
        assert!(json_of(&text)["category"].is_null());
        let (status, _, _) = send(&app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(json!({"language": "not a tag!"}).to_string())).await;
        assert_eq!(status, 422);
    }
}

on_both_engines! {
    async fn lists_by_tag_and_by_favoriter_are_in_publish_order(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let (_, token) = register(&app, "orderly").await;
        let bearer = format!("Bearer {token}");
        let merge = ("content-type", "application/merge-patch+json");
        let mut ids = Vec::new();
        for title in ["First", "Second", "Third"] {
            let (_, _, post) = create_post(&app, &bearer, json!({"title": title, "description": "d", "content": "c", "tags": ["ordered"], "status": "draft"})).await;
            ids.push(post["postId"].as_i64().unwrap());
        }
        let set_status = |id: i64, status: &'static str| {
            let (app, bearer) = (&app, bearer.clone());
            async move {
                // Publish times are milliseconds: keep each one distinct.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                let path = format!("/api/v1/posts/{id}");
                let body = json!({ "status": status }).to_string();
                let (code, _, text) = send(app, Method::PATCH, &path, &[("authorization", &bearer), merge], Some(body)).await;
                assert_eq!(code, 200, "{text}");
            }
        };
        // Published in neither creation nor favorite order.
        for index in [2, 0, 1] {
            set_status(ids[index], "published").await;
        }
        for index in [1, 2, 0] {
            let path = format!("/api/v1/me/favorites/{}", ids[index]);
            let (code, _, _) = send(&app, Method::PUT, &path, &[("authorization", &bearer)], None).await;
            assert!(code.is_success(), "{code}");
        }
        for filter in ["tag=ordered", "favorited=orderly", "author=orderly", "tag=ordered&favorited=orderly"] {
            assert_eq!(listed(&app, filter).await, ["second", "first", "third"], "{filter}");
            assert_eq!(listed(&app, &format!("{filter}&limit=1&offset=1")).await, ["first"], "{filter}");
            assert_eq!(listed(&app, &format!("{filter}&limit=2&offset=2")).await, ["third"], "{filter}");
        }
        // Unpublished, then published again: the newest, in every list.
        set_status(ids[2], "draft").await;
        assert_eq!(listed(&app, "tag=ordered").await, ["second", "first"]);
        assert_eq!(listed(&app, "favorited=orderly").await, ["second", "first"]);
        set_status(ids[2], "published").await;
        for filter in ["tag=ordered", "favorited=orderly"] {
            assert_eq!(listed(&app, filter).await, ["third", "second", "first"], "{filter}");
        }
        // Keyset pages of /api/v1 walk the same order.
        for filter in ["tag=ordered", "favoritedBy=orderly"] {
            let mut walked = Vec::new();
            let mut path = format!("/api/v1/posts?{filter}&limit=2");
            loop {
                let page = app.get(&path, None).await;
                assert_eq!(page.status, 200, "{path}: {}", page.body);
                walked.extend(page.body["items"].as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap().to_owned()));
                match page.body["nextCursor"].as_str() {
                    Some(next) => path = format!("/api/v1/posts?{filter}&limit=2&cursor={next}"),
                    None => break,
                }
            }
            assert_eq!(walked, ["third", "second", "first"], "{filter}");
        }
    }
}
