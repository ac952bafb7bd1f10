use crate::helpers::{TestApp, assert_error, on_both_engines};

on_both_engines! {
async fn profiles_show_whether_the_viewer_follows(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let reader = app.register("reader").await;
    app.register("celeb").await;
    let token = Some(reader.token.as_str());

    let anonymous = app.get("/api/profiles/celeb", None).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(anonymous.body["profile"]["username"], "celeb");
    assert_eq!(anonymous.body["profile"]["following"], false);
    assert!(anonymous.body["profile"]["bio"].is_null());

    let followed = app
        .post("/api/profiles/celeb/follow", token, serde_json::json!({}))
        .await;
    assert_eq!(followed.status, 200);
    assert_eq!(followed.body["profile"]["following"], true);
    let again = app
        .post("/api/profiles/celeb/follow", token, serde_json::json!({}))
        .await;
    assert_eq!(
        again.body["profile"]["following"], true,
        "following is idempotent"
    );
    assert_eq!(
        app.get("/api/profiles/celeb", token).await.body["profile"]["following"],
        true
    );
    assert_eq!(
        app.get("/api/profiles/celeb", None).await.body["profile"]["following"],
        false
    );

    let unfollowed = app.delete("/api/profiles/celeb/follow", token).await;
    assert_eq!(unfollowed.body["profile"]["following"], false);
    let again = app.delete("/api/profiles/celeb/follow", token).await;
    assert_eq!(again.status, 200, "unfollowing is idempotent");
    assert_eq!(
        app.get("/api/profiles/celeb", token).await.body["profile"]["following"],
        false
    );
}

async fn profile_errors(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let user = app.register("jake").await;
    let token = Some(user.token.as_str());
    assert_error(
        &app.get("/api/profiles/nobody", None).await,
        404,
        "profile",
        "not found",
    );
    assert_error(
        &app.get("/api/profiles/bad%20name", None).await,
        404,
        "profile",
        "not found",
    );
    assert_error(
        &app.delete("/api/profiles/nobody/follow", None).await,
        401,
        "token",
        "is missing",
    );
    assert_error(
        &app.delete("/api/profiles/nobody/follow", token).await,
        404,
        "profile",
        "not found",
    );
    let own = app
        .post("/api/profiles/jake/follow", token, serde_json::json!({}))
        .await;
    assert_eq!(own.status, 422, "{}", own.body);
}
}
