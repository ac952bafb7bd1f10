//! The audit log: sign-ins (succeeded, failed, locked out), a lockout cleared, a reused
//! refresh token, role and activation changes, a password change and webhook changes are
//! entries admins read at `GET /api/v1/audit`, with the actor, the request id and the client's
//! address, and never a secret.

use quire_core::roles::{Role, Roles};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestEnv, TestUser, on_both_engines};
use crate::rights::{id_of, patch_user};
use crate::webhooks::{deliveries, register_endpoint, relayed, v1};

/// Every entry, newest first, read page by page through `nextCursor` (`limit` a page).
async fn entries(app: &TestApp, admin: &TestUser, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/audit?limit={limit}&cursor={cursor}"),
            None => format!("/api/v1/audit?limit={limit}"),
        };
        let (status, page) = v1(app, reqwest::Method::GET, &path, Some(&admin.token), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        all.extend(items.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn with_action<'a>(entries: &'a [Value], action: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|entry| entry["action"] == action)
        .collect()
}

async fn login(app: &TestApp, email: &str, password: &str, request_id: &str) -> StatusCode {
    app.client
        .post(app.url("/api/users/login"))
        .header("x-request-id", request_id)
        .json(&json!({"user": {"email": email, "password": password}}))
        .send()
        .await
        .unwrap()
        .status()
}

on_both_engines! {
async fn security_events_are_audited_for_admins_with_who_where_and_no_secret(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let mut config = env.config();
    config.webhooks.allow_loopback = true;
    let app = TestApp::spawn_with(config, env).await;
    let admin = app.user_with_roles("chief", Roles::of(&[Role::Reader, Role::Admin])).await;
    let alice = app.register("alice").await;
    let alice_id = id_of(&app, &alice).await;
    let admin_id = id_of(&app, &admin).await;
    // Endpoints for everything (`*`) and for the audit log alone.
    let (everything, _) = register_endpoint(&app, &admin, json!({"url": "http://127.0.0.1:9/all"})).await;
    let (auditor, _) = register_endpoint(&app, &admin, json!({"url": "http://127.0.0.1:9/audit", "eventTypes": ["audit.recorded"]})).await;

    assert_eq!(login(&app, &alice.email, "hunter2-wrong-guess", "audit-fail-1").await, 401);
    assert_eq!(login(&app, "nobody@example.com", "whatever-guess", "audit-fail-2").await, 401);
    assert_eq!(login(&app, &alice.email, "password123", "audit-ok-1").await, 200);
    // Five failures in a row lock bob out; an admin clears the lock.
    let bob = app.register("bob").await;
    for n in 0..5 {
        login(&app, &bob.email, "not bobs password", &format!("audit-bob-{n}")).await;
    }
    let (status, _) = v1(&app, reqwest::Method::DELETE, &format!("/api/v1/lockouts/{}", bob.email), Some(&admin.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Roles, activation and a password change.
    let demoted = patch_user(&app, &admin, alice_id, json!({"roles": ["reader", "commenter"]})).await;
    assert_eq!(demoted.status, 200, "{}", demoted.body);
    let changed = app.put("/api/user", Some(&bob.token), json!({"user": {"password": "a brand new secret"}})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let off = patch_user(&app, &admin, alice_id, json!({"isActive": false})).await;
    assert_eq!(off.status, 200, "{}", off.body);
    let on = patch_user(&app, &admin, alice_id, json!({"isActive": true})).await;
    assert_eq!(on.status, 200, "{}", on.body);
    // A webhook endpoint is created and deleted; a refresh token is used twice.
    let (webhook, secret) = register_endpoint(&app, &admin, json!({"url": "http://127.0.0.1:9/hook", "eventTypes": ["post.published"]})).await;
    let (status, _) = v1(&app, reqwest::Method::DELETE, &format!("/api/v1/webhooks/{webhook}"), Some(&admin.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let carol = app.register("carol").await;
    let session = app.post("/api/v1/sessions", None, json!({"email": carol.email, "password": "password123"})).await.body;
    let refresh = session["refreshToken"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        app.post("/api/v1/sessions/refresh", None, json!({"refreshToken": refresh})).await;
    }

    // Read in pages of three, newest first with no entry twice.
    let log = entries(&app, &admin, 3).await;
    let ids: Vec<&str> = log.iter().map(|entry| entry["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, each once");

    let failed = with_action(&log, "authn.login_fail");
    let wrong = failed.iter().find(|entry| entry["requestId"] == "audit-fail-1").expect("the wrong password");
    assert_eq!(wrong["subject"], format!("user/{alice_id}"));
    assert_eq!(wrong["clientIp"], "127.0.0.1");
    assert_eq!(wrong["details"]["reason"], "wrong password");
    assert!(wrong.get("actorId").is_none(), "an anonymous caller: {wrong}");
    let unknown = failed.iter().find(|entry| entry["requestId"] == "audit-fail-2").expect("the unknown email");
    assert_eq!(unknown["subject"], "email/nobody@example.com");
    assert_eq!(unknown["details"]["reason"], "no such account");
    let success = with_action(&log, "authn.login_success");
    assert!(success.iter().any(|entry| entry["requestId"] == "audit-ok-1" && entry["actorId"] == alice_id), "{success:?}");

    let locked = with_action(&log, "authn.login_lock");
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0]["requestId"], "audit-bob-4");
    assert!(locked[0]["details"]["lockoutSecs"].as_u64().unwrap() > 0);
    let unlocked = with_action(&log, "authn.login_unlock");
    assert_eq!(unlocked.len(), 1);
    assert_eq!(unlocked[0]["actorId"], admin_id);
    assert_eq!(unlocked[0]["subject"], format!("email/{}", bob.email));

    let roles = with_action(&log, "authz.roles_changed");
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert_eq!(roles[0]["actorId"], admin_id);
    assert_eq!(roles[0]["details"], json!({"from": ["reader", "commenter", "author"], "to": ["reader", "commenter"]}));
    assert_eq!(with_action(&log, "user.deactivated").len(), 1);
    assert_eq!(with_action(&log, "user.reactivated").len(), 1);
    let password = with_action(&log, "user.password_changed");
    assert_eq!(password.len(), 1);
    assert_eq!(password[0]["subject"], format!("user/{}", id_of(&app, &bob).await));

    let created = with_action(&log, "webhook.created");
    let urls: Vec<&str> = created.iter().map(|entry| entry["details"]["url"].as_str().unwrap()).collect();
    assert_eq!(urls, ["http://127.0.0.1:9/hook", "http://127.0.0.1:9/audit", "http://127.0.0.1:9/all"], "newest first");
    assert_eq!(created[0]["details"]["eventTypes"], json!(["post.published"]));
    assert_eq!(created[0]["actorId"], admin_id);
    assert_eq!(with_action(&log, "webhook.deleted").len(), 1);
    let reused = with_action(&log, "authn.token_reuse");
    assert_eq!(reused.len(), 1, "{reused:?}");
    assert_eq!(reused[0]["details"]["ended"], true);

    // Nothing secret: no password tried, no webhook secret, no refresh token.
    let text = serde_json::to_string(&log).unwrap();
    for secret in ["hunter2-wrong-guess", "password123", "a brand new secret", secret.as_str(), refresh.as_str()] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }

    // `*` takes every type but the audit log's, which goes only where it is named.
    app.create_article(&carol, "Published While Audited", &[]).await;
    relayed(&app).await;
    let types = |found: Vec<Value>| -> Vec<String> { found.iter().map(|d| d["eventType"].as_str().unwrap().to_owned()).collect() };
    let to_everything = types(deliveries(&app, &admin, everything).await);
    assert!(to_everything.iter().any(|t| t == "post.published"), "{to_everything:?}");
    assert!(!to_everything.iter().any(|t| t == "audit.recorded"), "{to_everything:?}");
    let to_auditor = types(deliveries(&app, &admin, auditor).await);
    assert!(!to_auditor.is_empty() && to_auditor.iter().all(|t| t == "audit.recorded"), "{to_auditor:?}");

    // Admins only.
    let (status, _) = v1(&app, reqwest::Method::GET, "/api/v1/audit", Some(&carol.token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = v1(&app, reqwest::Method::GET, "/api/v1/audit", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = v1(&app, reqwest::Method::GET, "/api/v1/audit?cursor=nonsense", Some(&admin.token), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
}
