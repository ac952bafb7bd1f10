//! Sign-in sessions: refresh tokens that rotate with reuse detection, signing out here and
//! everywhere, and the changes that end sessions (a password change, deactivation), each
//! acting on the next request on all four contracts.

use quire_core::roles::{Role, Roles};
use quire_grpc::pb::session_service_client::SessionServiceClient;
use quire_proto::v1 as pb;
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{TestApp, TestUser, claims_of, on_both_engines, signed};
use crate::rights::{id_of, outcome_everywhere, patch_user};

/// Signs in through `/api/v1/sessions`: the session as served.
async fn sign_in(app: &TestApp, user: &TestUser) -> Value {
    let reply = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": user.email, "password": "password123"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    let reply = app
        .post(
            "/api/v1/sessions/refresh",
            None,
            json!({"refreshToken": refresh_token}),
        )
        .await;
    (reply.status.as_u16(), reply.body)
}

fn token(session: &Value) -> &str {
    session["token"].as_str().unwrap()
}

fn refresh_token(session: &Value) -> &str {
    session["refreshToken"].as_str().unwrap()
}

on_both_engines! {
async fn refresh_tokens_rotate_and_a_reused_one_ends_its_session(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let first = sign_in(&app, &alice).await;
    // A short-lived access token; RealWorld's stays long-lived.
    let claims = claims_of(token(&first));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    let realworld = claims_of(&alice.token);
    assert_eq!(realworld["exp"].as_i64().unwrap() - realworld["iat"].as_i64().unwrap(), 7 * 24 * 3600);
    assert!(refresh_token(&first).starts_with("qrt_"));

    let (status, second) = refresh(&app, refresh_token(&first)).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(refresh_token(&second), refresh_token(&first), "rotated");
    assert_eq!(claims_of(token(&second))["sid"], claims["sid"], "the same session");
    assert_eq!(outcome_everywhere(&app, token(&second)).await, [200; 4]);
    assert_eq!(second["user"]["username"], "alice");

    // The first refresh token, presented again: someone kept a copy. The session ends.
    let (status, body) = refresh(&app, refresh_token(&first)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(outcome_everywhere(&app, token(&second)).await, [401; 4]);
    assert_eq!(outcome_everywhere(&app, token(&first)).await, [401; 4]);
    assert_eq!(refresh(&app, refresh_token(&second)).await.0, 401);
    // Other sessions live on.
    assert_eq!(outcome_everywhere(&app, &alice.token).await, [200; 4]);

    for garbage in ["", "qrt_", "qrt_not-a-token", "not even prefixed"] {
        assert_eq!(refresh(&app, garbage).await.0, 401, "{garbage:?}");
    }
}

async fn signing_out_ends_one_session_or_all_on_every_contract(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let here = sign_in(&app, &alice).await;
    let there = sign_in(&app, &alice).await;
    let out = app.delete("/api/v1/sessions/current", Some(token(&here))).await;
    assert_eq!(out.status, 204, "{}", out.body);
    assert_eq!(outcome_everywhere(&app, token(&here)).await, [401; 4]);
    assert_eq!(refresh(&app, refresh_token(&here)).await.0, 401);
    assert_eq!(outcome_everywhere(&app, token(&there)).await, [200; 4]);

    // gRPC: a session signed in there, and out there.
    let mut sessions = SessionServiceClient::new(app.grpc_channel().await);
    let grpc = sessions
        .log_in(pb::Credentials {
            email: Some(alice.email.clone()),
            password: Some("password123".to_owned()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(grpc.refresh_token.starts_with("qrt_"));
    let refreshed = sessions
        .refresh(pb::RefreshRequest { refresh_token: grpc.refresh_token.clone() })
        .await
        .unwrap()
        .into_inner();
    sessions.log_out(signed(&refreshed.token, pb::LogOutRequest {})).await.unwrap();
    assert_eq!(outcome_everywhere(&app, &refreshed.token).await, [401; 4]);
    let again = sessions
        .refresh(pb::RefreshRequest { refresh_token: refreshed.refresh_token })
        .await;
    assert_eq!(again.unwrap_err().code(), Code::Unauthenticated);

    // GraphQL: everywhere, this session included.
    let reply = app
        .post("/graphql", Some(token(&there)), json!({"query": "mutation { logOutEverywhere }"}))
        .await;
    assert_eq!(reply.body["data"]["logOutEverywhere"], 2, "{}", reply.body);
    for gone in [token(&there), alice.token.as_str()] {
        assert_eq!(outcome_everywhere(&app, gone).await, [401; 4]);
    }
    // Signing out needs a session.
    assert_eq!(app.delete("/api/v1/sessions/current", None).await.status, 401);
    assert_eq!(app.delete("/api/v1/sessions", None).await.status, 401);
}

async fn a_password_change_ends_the_other_sessions_and_deactivation_all(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.user_with_roles("admin", Roles::of(&[Role::Reader, Role::Admin])).await;
    let alice = app.register("alice").await;
    let elsewhere = sign_in(&app, &alice).await;
    let changed = app
        .put("/api/user", Some(&alice.token), json!({"user": {"password": "a new password"}}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    // The session the change was made in goes on; the others end, refresh tokens included.
    assert_eq!(outcome_everywhere(&app, &alice.token).await, [200; 4]);
    assert_eq!(outcome_everywhere(&app, token(&elsewhere)).await, [401; 4]);
    assert_eq!(refresh(&app, refresh_token(&elsewhere)).await.0, 401);

    // Deactivated, then reactivated: the old tokens stay dead.
    let id = id_of(&app, &alice).await;
    let off = patch_user(&app, &admin, id, json!({"isActive": false})).await;
    assert_eq!(off.status, 200, "{}", off.body);
    let on = patch_user(&app, &admin, id, json!({"isActive": true})).await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(outcome_everywhere(&app, &alice.token).await, [401; 4]);
    let login = json!({"user": {"email": alice.email, "password": "a new password"}});
    let back = app.post("/api/users/login", None, login).await;
    assert_eq!(back.status, 200, "{}", back.body);
    let fresh = back.body["user"]["token"].as_str().unwrap();
    assert_eq!(outcome_everywhere(&app, fresh).await, [200; 4]);
}
}
