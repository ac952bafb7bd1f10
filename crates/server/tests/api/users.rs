use serde_json::json;

use crate::helpers::{TestApp, assert_error, on_both_engines};

on_both_engines! {
async fn registration_returns_the_user_with_a_token_and_null_profile_fields(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reply = app
        .post(
            "/api/users",
            None,
            json!({ "user": { "username": "Jacob", "email": "jake@jake.jake", "password": "jakejake" } }),
        )
        .await;
    assert_eq!(reply.status, 201);
    let user = &reply.body["user"];
    assert_eq!(user["username"], "Jacob");
    assert_eq!(user["email"], "jake@jake.jake");
    assert!(user["bio"].is_null() && user["image"].is_null());
    assert!(
        user["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "JSON content type"
    );
}

async fn usernames_and_emails_are_unique_regardless_of_case(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    app.register("jake").await;
    let reply = app
        .post("/api/users", None, json!({ "user": { "username": "JAKE", "email": "other@x.io", "password": "password123" } }))
        .await;
    assert_error(&reply, 409, "username", "has already been taken");
    let reply = app
        .post("/api/users", None, json!({ "user": { "username": "other", "email": "JAKE@example.com", "password": "password123" } }))
        .await;
    assert_error(&reply, 409, "email", "has already been taken");
}

async fn registration_reports_every_invalid_field_at_once(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reply = app.post("/api/users", None, json!({ "user": {} })).await;
    assert_eq!(reply.status, 422);
    for field in ["username", "email", "password"] {
        assert_eq!(reply.body["errors"][field][0], "can't be blank", "{field}");
    }
    let reply = app
        .post(
            "/api/users",
            None,
            json!({ "user": { "username": "a b", "email": "nope", "password": "short" } }),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.body["errors"]["email"][0], "is invalid");
    assert_eq!(
        reply.body["errors"]["password"][0],
        "is too short (minimum is 8 characters)"
    );
    assert!(reply.body["errors"]["username"][0].is_string());
    let long = "x".repeat(129);
    let reply = app
        .post(
            "/api/users",
            None,
            json!({ "user": { "username": "long", "email": "l@x.io", "password": long } }),
        )
        .await;
    assert_error(
        &reply,
        422,
        "password",
        "is too long (maximum is 128 characters)",
    );
}

async fn login_checks_the_password_and_hides_which_part_was_wrong(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let user = app.register("jake").await;
    let ok = app
        .post(
            "/api/users/login",
            None,
            json!({ "user": { "email": "JAKE@example.com", "password": "password123" } }),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["user"]["username"], "jake");
    let wrong = app
        .post(
            "/api/users/login",
            None,
            json!({ "user": { "email": user.email, "password": "password124" } }),
        )
        .await;
    assert_error(&wrong, 401, "credentials", "invalid");
    let unknown = app
        .post(
            "/api/users/login",
            None,
            json!({ "user": { "email": "ghost@example.com", "password": "password123" } }),
        )
        .await;
    assert_error(&unknown, 401, "credentials", "invalid");
    let blank = app
        .post(
            "/api/users/login",
            None,
            json!({ "user": { "email": "", "password": "" } }),
        )
        .await;
    assert_eq!(blank.status, 422);
    assert_eq!(blank.body["errors"]["email"][0], "can't be blank");
    assert_eq!(blank.body["errors"]["password"][0], "can't be blank");
}

async fn the_current_user_needs_a_valid_token_in_either_scheme(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let user = app.register("jake").await;
    let reply = app.get("/api/user", Some(&user.token)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["user"]["token"], user.token.as_str());
    let bearer = app
        .client
        .get(app.url("/api/user"))
        .header("Authorization", format!("Bearer {}", user.token))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert_error(
        &app.get("/api/user", None).await,
        401,
        "token",
        "is missing",
    );
    assert_error(
        &app.get("/api/user", Some("not-a-jwt")).await,
        401,
        "token",
        "is invalid",
    );
    let tampered = format!("{}x", user.token);
    assert_error(
        &app.get("/api/user", Some(&tampered)).await,
        401,
        "token",
        "is invalid",
    );
}

async fn updates_change_only_the_given_fields_and_clear_bio_and_image(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let user = app.register("jake").await;
    let token = Some(user.token.as_str());
    let reply = app
        .put("/api/user", token, json!({ "user": { "bio": "I like to skateboard", "image": "https://example.com/a.jpg" } }))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["user"]["bio"], "I like to skateboard");
    assert_eq!(reply.body["user"]["image"], "https://example.com/a.jpg");
    assert_eq!(reply.body["user"]["username"], "jake");

    let reply = app
        .put("/api/user", token, json!({ "user": { "bio": "" } }))
        .await;
    assert!(reply.body["user"]["bio"].is_null());
    assert_eq!(
        reply.body["user"]["image"], "https://example.com/a.jpg",
        "absent image kept"
    );
    let reply = app
        .put("/api/user", token, json!({ "user": { "image": null } }))
        .await;
    assert!(reply.body["user"]["image"].is_null());
    assert!(app.get("/api/user", token).await.body["user"]["image"].is_null());

    for field in ["username", "email", "password"] {
        let reply = app
            .put("/api/user", token, json!({ "user": { field: null } }))
            .await;
        assert_error(&reply, 422, field, "can't be blank");
        let reply = app
            .put("/api/user", token, json!({ "user": { field: "" } }))
            .await;
        assert_eq!(reply.status, 422, "{field} blank");
    }
    let reply = app
        .put(
            "/api/user",
            token,
            json!({ "user": { "image": "javascript:alert(1)" } }),
        )
        .await;
    assert_eq!(reply.status, 422);
}

async fn a_new_password_and_username_take_effect_and_old_tokens_keep_working(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let user = app.register("jake").await;
    app.register("taken").await;
    let token = Some(user.token.as_str());
    let reply = app
        .put(
            "/api/user",
            token,
            json!({ "user": { "username": "Taken" } }),
        )
        .await;
    assert_error(&reply, 409, "username", "has already been taken");

    let reply = app
        .put(
            "/api/user",
            token,
            json!({ "user": { "username": "jacob", "password": "new-password" } }),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        app.get("/api/user", token).await.body["user"]["username"],
        "jacob"
    );
    let old = app
        .post(
            "/api/users/login",
            None,
            json!({ "user": { "email": user.email, "password": "password123" } }),
        )
        .await;
    assert_eq!(old.status, 401);
    let new = app
        .post(
            "/api/users/login",
            None,
            json!({ "user": { "email": user.email, "password": "new-password" } }),
        )
        .await;
    assert_eq!(new.status, 200);
    assert_eq!(app.get("/api/profiles/jake", None).await.status, 404);
}

async fn an_update_must_change_something(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let user = app.register("jake").await;
    let before = app.get("/api/user", Some(&user.token)).await;
    let reply = app
        .put("/api/user", Some(&user.token), json!({ "user": {} }))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        app.get("/api/user", Some(&user.token)).await.body,
        before.body
    );
}
}
