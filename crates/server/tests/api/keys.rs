//! The keys that sign access tokens: EdDSA by default, published at `/.well-known/jwks.json`,
//! checked by an independent library from that document alone, and rotated by
//! `quire keys rotate` without a token in use failing.

use std::time::Duration;

use quire_server::adapters::SigningAlgorithm;
use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, TestEnv, checked_by, on_both_engines, quire_beside};

/// The `kid` a token's header names.
fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .unwrap()
        .kid
        .expect("a kid")
}

async fn key_set(app: &TestApp) -> Value {
    let reply = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.headers["content-type"], "application/jwk-set+json",
        "RFC 7517 section 8.5"
    );
    reply.body
}

fn kids(key_set: &Value) -> Vec<String> {
    key_set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// An app that reads its keys again every second, so a rotation reaches it within the test.
async fn app(engine: Engine) -> TestApp {
    let env = TestEnv::new(engine).await;
    let mut config = env.config();
    config.jwt.keys_reload_secs = 1;
    TestApp::spawn_with(config, env).await
}

/// Polls `probe` for up to ten seconds until it answers true.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within ten seconds");
}

on_both_engines! {
async fn tokens_are_eddsa_and_their_public_key_alone_is_published(engine: Engine) {
    let app = app(engine).await;
    let alice = app.register("alice").await;
    let header = jsonwebtoken::decode_header(&alice.token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let keys = key_set(&app).await;
    assert_eq!(kids(&keys), [kid_of(&alice.token)]);
    let key = &keys["keys"][0];
    assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    assert_eq!((key["alg"].as_str(), key["use"].as_str()), (Some("EdDSA"), Some("sig")));
    assert!(key.get("d").is_none(), "the private key is never published: {key}");
}

async fn a_rotation_signs_with_the_new_key_while_old_tokens_keep_working(engine: Engine) {
    let app = app(engine).await;
    let alice = app.register("alice").await;
    let old_kid = kid_of(&alice.token);
    let rotated = quire_beside(&app.env, &["keys", "rotate"]).await;
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let said = String::from_utf8_lossy(&rotated.stdout).into_owned();
    let new_kid = said.trim().rsplit(' ').next().unwrap().to_owned();
    assert_ne!(new_kid, old_kid, "{said}");
    // Published beside the old key, which verifies until its tokens expire.
    eventually("the new key's publication", || async {
        kids(&key_set(&app).await).contains(&new_kid)
    })
    .await;
    assert!(kids(&key_set(&app).await).contains(&old_kid));
    assert_eq!(app.get("/api/user", Some(&alice.token)).await.status, 200);
    // New tokens carry the new key's id.
    let login = json!({"user": {"email": alice.email, "password": "password123"}});
    eventually("signing with the new key", || async {
        let reply = app.post("/api/users/login", None, login.clone()).await;
        kid_of(reply.body["user"]["token"].as_str().unwrap()) == new_kid
    })
    .await;
}
}

#[tokio::test]
async fn a_shared_secret_publishes_no_key_and_does_not_rotate() {
    let env = TestEnv::new(Engine::Sqlite).await;
    let mut config = env.config();
    config.jwt.algorithm = SigningAlgorithm::HS256;
    let app = TestApp::spawn_with(config, env).await;
    let alice = app.register("alice").await;
    let header = jsonwebtoken::decode_header(&alice.token).unwrap();
    assert_eq!(
        (header.alg, header.kid),
        (jsonwebtoken::Algorithm::HS256, None)
    );
    assert_eq!(key_set(&app).await, json!({"keys": []}));
    let mut vars = app.env.vars();
    vars.push(("QUIRE_JWT_ALGORITHM", "HS256".to_owned()));
    let rotated = tokio::process::Command::new(env!("CARGO_BIN_EXE_quire"))
        .env_clear()
        .envs(vars)
        .args(["keys", "rotate"])
        .output()
        .await
        .unwrap();
    assert!(!rotated.status.success());
    assert!(String::from_utf8_lossy(&rotated.stderr).contains("QUIRE_JWT_SECRET"));
}

/// Checks `token` with PyJWT (with `cryptography`) from PyPI, run by the interpreter in
/// `QUIRE_TEST_PYJWT`, given only the JWK Set document; the claims if it verified.
fn verified_independently(key_set: &Value, token: &str) -> Option<Value> {
    let interpreter = std::env::var("QUIRE_TEST_PYJWT").unwrap();
    let input = json!({"jwks": key_set, "token": token, "issuer": "quire", "audience": "quire"});
    checked_by(&interpreter, "verify_token.py", &input)
}

#[tokio::test]
#[cfg_attr(
    not(quire_test_pyjwt),
    ignore = "QUIRE_TEST_PYJWT is not set (a python3 with PyJWT and cryptography)"
)]
async fn tokens_verify_with_an_independent_library_from_the_key_set_alone_through_a_rotation() {
    let app = app(Engine::Sqlite).await;
    let alice = app.register("alice").await;
    let id = app.get("/api/v1/me", Some(&alice.token)).await.body["userId"]
        .as_i64()
        .unwrap();
    let claims = verified_independently(&key_set(&app).await, &alice.token).expect("verifies");
    assert_eq!(claims["sub"], id.to_string());
    // A token with a flipped signature byte, or under another issuer's key set, does not.
    let (signed, signature) = alice.token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
    assert!(verified_independently(&key_set(&app).await, &tampered).is_none());
    let other = app_elsewhere().await;
    assert!(verified_independently(&key_set(&other).await, &alice.token).is_none());

    let rotated = quire_beside(&app.env, &["keys", "rotate"]).await;
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let old_kid = kid_of(&alice.token);
    let login = json!({"user": {"email": alice.email, "password": "password123"}});
    let mut fresh = alice.token.clone();
    for _ in 0..100 {
        let reply = app.post("/api/users/login", None, login.clone()).await;
        fresh = reply.body["user"]["token"].as_str().unwrap().to_owned();
        if kid_of(&fresh) != old_kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(
        kid_of(&fresh),
        old_kid,
        "signing with the new key within ten seconds"
    );
    let keys = key_set(&app).await;
    assert!(
        verified_independently(&keys, &alice.token).is_some(),
        "the old token, after"
    );
    assert!(
        verified_independently(&keys, &fresh).is_some(),
        "the new key's token"
    );
}

/// Another site, with keys of its own.
async fn app_elsewhere() -> TestApp {
    TestApp::spawn(Engine::Sqlite).await
}
