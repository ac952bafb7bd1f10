//! Brute-force protection for sign-in: failures in a row lock the email tried out on every
//! contract, with 429 and the time to wait, while other accounts sign in from the same client;
//! a lock ends, a success starts the count over, and an operator can clear it.

use std::time::Duration;

use quire_core::roles::{Role, Roles};
use quire_grpc::pb::session_service_client::SessionServiceClient;
use quire_proto::v1 as pb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{
    Reply, TestApp, TestEnv, assert_error, assert_rate_limited, on_both_engines, quire_beside,
};

async fn realworld_login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        "/api/users/login",
        None,
        json!({ "user": { "email": email, "password": password } }),
    )
    .await
}

/// The `Retry-After` of a sign-in lockout's 429, checked against its `RateLimit` fields.
fn retry_after(reply: &Reply, max_failures: u32) -> u64 {
    assert_rate_limited(reply, "sign-in", &format!("q={max_failures};w=3600"))
}

on_both_engines! {
    async fn failed_sign_ins_lock_the_email_out_on_every_contract_while_others_sign_in(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let bob = app.register("bob").await;

        // The default policy: five failures in a row are answered as wrong credentials...
        for _ in 0..5 {
            let wrong = realworld_login(&app, &alice.email, "not her password").await;
            assert_error(&wrong, 401, "credentials", "invalid");
        }
        // ...then the email is locked, for a minute, whatever the password.
        let locked = realworld_login(&app, &alice.email, "password123").await;
        assert_error(&locked, 429, "rate", "limit exceeded; retry after Retry-After seconds");
        let secs = retry_after(&locked, 5);
        assert!((55..=60).contains(&secs), "{secs}");
        // However the email is written.
        let shouted = realworld_login(&app, "ALICE@Example.com", "password123").await;
        retry_after(&shouted, 5);

        // Another account signs in from the same client meanwhile.
        let other = realworld_login(&app, &bob.email, "password123").await;
        assert_eq!(other.status, StatusCode::OK, "{}", other.body);

        // /api/v1: a problem document.
        let v1 = app
            .post("/api/v1/sessions", None, json!({ "email": alice.email, "password": "password123" }))
            .await;
        retry_after(&v1, 5);
        assert!(v1.body["type"].as_str().unwrap().ends_with("rate-limited"), "{}", v1.body);
        assert_eq!(v1.body["status"], 429);

        // GraphQL: RATE_LIMITED, with the wait.
        let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
        let graphql = app
            .post("/graphql", None, json!({ "query": login, "variables": { "e": alice.email, "p": "password123" } }))
            .await;
        let extensions = &graphql.body["errors"][0]["extensions"];
        assert_eq!(extensions["code"], "RATE_LIMITED", "{}", graphql.body);
        assert_eq!(extensions["policy"], "sign-in");
        assert!(extensions["retryAfter"].as_u64().unwrap() >= 1);
        assert_eq!(graphql.body["data"], Value::Null);

        // gRPC: RESOURCE_EXHAUSTED, with RetryInfo.
        let mut sessions = SessionServiceClient::new(app.grpc_channel().await);
        let refused = sessions
            .log_in(pb::Credentials { email: Some(alice.email.clone()), password: Some("password123".into()) })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        let wait = refused.get_details_retry_info().and_then(|info| info.retry_delay).unwrap();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60), "{wait:?}");

        // Failures lock an email nobody has the same way: a lock tells nothing of who exists.
        for _ in 0..5 {
            let wrong = realworld_login(&app, "nobody@example.com", "password123").await;
            assert_error(&wrong, 401, "credentials", "invalid");
        }
        retry_after(&realworld_login(&app, "nobody@example.com", "password123").await, 5);

        // Admins see the locks; others may not.
        let admin = app.user_with_roles("root", Roles::REGISTERED.with(Role::Admin)).await;
        let locks = app.quire.lockouts(&app.actor_of(&admin).await).await.unwrap();
        let accounts: Vec<&str> = locks.iter().map(|lock| lock.account.as_str()).collect();
        assert_eq!(accounts.len(), 2, "{accounts:?}");
        assert!(accounts.contains(&"alice@example.com") && accounts.contains(&"nobody@example.com"));
        assert!(locks.iter().all(|lock| lock.failures == 5));
        let refused = app.quire.lockouts(&app.actor_of(&bob).await).await.unwrap_err();
        assert!(matches!(refused, quire_core::Error::Forbidden(_)), "{refused:?}");

        // And through /api/v1, where an admin clears one.
        let as_admin = format!("Bearer {}", admin.token);
        let auth = [("Authorization", as_admin.as_str())];
        let listed = app.request_with(Method::GET, "/api/v1/lockouts", &auth, None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let items = listed.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{}", listed.body);
        assert!(items.iter().all(|item| item["failures"] == 5 && item["lockedUntil"].is_string()));
        let as_bob = format!("Bearer {}", bob.token);
        let forbidden = app
            .request_with(Method::GET, "/api/v1/lockouts", &[("Authorization", as_bob.as_str())], None)
            .await;
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{}", forbidden.body);
        let cleared = app.request_with(Method::DELETE, "/api/v1/lockouts/NOBODY@example.com", &auth, None).await;
        assert_eq!(cleared.status, StatusCode::NO_CONTENT, "{}", cleared.body);
        let unlocked = realworld_login(&app, "nobody@example.com", "password123").await;
        assert_error(&unlocked, 401, "credentials", "invalid");

        // The operator clears alice's lock from the command line; she signs in at once.
        let output = quire_beside(&app.env, &["user", "unlock", "Alice@example.com"]).await;
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("cleared"), "{output:?}");
        let signed_in = realworld_login(&app, &alice.email, "password123").await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
        let again = quire_beside(&app.env, &["user", "unlock", "alice@example.com"]).await;
        assert!(String::from_utf8_lossy(&again.stdout).contains("no failed sign-ins"), "{again:?}");
    }

    async fn a_lock_ends_and_a_success_starts_the_count_over(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let mut config = env.config();
        config.limits.sign_in_max_failures = 3;
        config.limits.sign_in_lockout_secs = 1;
        config.limits.sign_in_max_lockout_secs = 1;
        let app = TestApp::spawn_with(config, env).await;
        let carol = app.register("carol").await;

        // Two failures, a success, two more: the success forgot the first two. ("wrong" is
        // shorter than any password may be: a failure all the same.)
        for round in 0..2 {
            for _ in 0..2 {
                assert_error(&realworld_login(&app, &carol.email, "wrong").await, 401, "credentials", "invalid");
            }
            let ok = realworld_login(&app, &carol.email, "password123").await;
            assert_eq!(ok.status, StatusCode::OK, "round {round}: {}", ok.body);
        }

        for _ in 0..3 {
            assert_error(&realworld_login(&app, &carol.email, "wrong").await, 401, "credentials", "invalid");
        }
        let locked = realworld_login(&app, &carol.email, "password123").await;
        assert_eq!(retry_after(&locked, 3), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let ok = realworld_login(&app, &carol.email, "password123").await;
        assert_eq!(ok.status, StatusCode::OK, "the lock has ended: {}", ok.body);
    }
}
