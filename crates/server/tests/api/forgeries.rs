//! Forged and out-of-date access tokens (RFC 8725's list: `none`, algorithm confusion,
//! expired, not yet valid, another audience or issuer, tampered, an unknown `kid`) are
//! refused on every contract: RealWorld, `/api/v1`, GraphQL over HTTP and over WebSocket,
//! and gRPC. Each case has a control that the same contract accepts, so a refusal is the
//! token's doing.

use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use quire_server::adapters::SigningAlgorithm;
use quire_server::config::Secret;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Engine, TestApp, TestEnv, claims_of, on_both_engines};
use crate::rights::outcome_everywhere;

const SECRET: &str = "forgeries-test-shared-secret-of-enough-bytes";

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}

/// A JWS with `header` and `claims` and the given signature, as a forger writes it by hand.
fn compact(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(signature)
    )
}

/// How the GraphQL WebSocket transport answers a `connection_init` carrying `token`: 200
/// for an acknowledgement, the close code (4403) for a refusal.
async fn socket_outcome(app: &TestApp, token: &str) -> u16 {
    let (mut socket, _) = app.graphql_socket().await;
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => {
            let message: Value = serde_json::from_str(text.as_str()).unwrap();
            assert_eq!(message["type"], "connection_ack", "{text}");
            200
        }
        Ok(Some(Ok(Message::Close(Some(frame))))) => u16::from(frame.code),
        other => panic!("expected an acknowledgement or a close, got {other:?}"),
    }
}

/// The outcome on RealWorld, `/api/v1`, GraphQL over HTTP, gRPC and GraphQL over WebSocket.
async fn outcomes(app: &TestApp, token: &str) -> [u16; 5] {
    let [realworld, v1, graphql, grpc] = outcome_everywhere(app, token).await;
    [
        realworld,
        v1,
        graphql,
        grpc,
        socket_outcome(app, token).await,
    ]
}

const ACCEPTED: [u16; 5] = [200, 200, 200, 200, 200];
const REFUSED: [u16; 5] = [401, 401, 401, 401, 4403];

on_both_engines! {
async fn forged_signatures_are_refused_everywhere(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    assert_eq!(outcomes(&app, &alice.token).await, ACCEPTED, "the control");
    let header = header_of(&alice.token);
    let claims = claims_of(&alice.token);
    let signature = alice.token.rsplit('.').next().unwrap().to_owned();
    let kid = header["kid"].as_str().unwrap().to_owned();

    let keys = app.get("/.well-known/jwks.json", None).await.body;
    let public = keys["keys"][0].clone();
    let raw_public = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(public["x"].as_str().unwrap())
        .unwrap();

    let mut forgeries: Vec<(&str, String)> = Vec::new();
    for alg in ["none", "None", "NONE"] {
        let unsigned = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        forgeries.push(("unsigned", compact(&unsigned, &claims, b"")));
    }
    // RFC 8725 section 2.1: the published public key used as an HMAC secret.
    for secret in [raw_public.clone(), public.to_string().into_bytes(), keys.to_string().into_bytes()] {
        let mut confused = Header::new(Algorithm::HS256);
        confused.typ = Some("at+jwt".to_owned());
        confused.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&confused, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        forgeries.push(("HS256 under the public key", token));
    }
    // Alice's signature over bob's identity.
    let mut as_bob = claims.clone();
    as_bob["sub"] = claims_of(&bob.token)["sub"].clone();
    let tampered = format!(
        "{}.{}.{signature}",
        base64url(header.to_string().as_bytes()),
        base64url(as_bob.to_string().as_bytes())
    );
    forgeries.push(("tampered claims", tampered));
    let mut longer = claims.clone();
    longer["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    forgeries.push(("extended expiry", format!(
        "{}.{}.{signature}",
        base64url(header.to_string().as_bytes()),
        base64url(longer.to_string().as_bytes())
    )));
    let (signed, _) = alice.token.rsplit_once('.').unwrap();
    forgeries.push(("no signature", format!("{signed}.")));
    forgeries.push(("flipped signature", format!(
        "{signed}.{}{}",
        if signature.starts_with('A') { "B" } else { "A" },
        &signature[1..]
    )));
    // Another site's genuine token, once under its own (unknown) kid and once claiming ours.
    let elsewhere = TestApp::spawn(Engine::Sqlite).await;
    let stranger = elsewhere.register("alice").await;
    forgeries.push(("an unknown kid", stranger.token.clone()));
    let mut claimed = header_of(&stranger.token);
    claimed["kid"] = json!(kid);
    let (_, rest) = stranger.token.split_once('.').unwrap();
    forgeries.push(("our kid, another key", format!("{}.{rest}", base64url(claimed.to_string().as_bytes()))));

    for (what, token) in forgeries {
        assert_eq!(outcomes(&app, &token).await, REFUSED, "{what}: {token}");
    }
    assert_eq!(outcomes(&app, &alice.token).await, ACCEPTED, "the control, after");
}

async fn claims_out_of_bounds_are_refused_everywhere(engine: Engine) {
    // With a shared secret the test can sign, so every claim can be put out of bounds under a
    // valid signature.
    let env = TestEnv::new(engine).await;
    let mut config = env.config();
    config.jwt.algorithm = SigningAlgorithm::HS256;
    config.jwt.secret = Some(Secret::new(SECRET));
    let app = TestApp::spawn_with(config, env).await;
    let alice = app.register("alice").await;
    let claims = claims_of(&alice.token);
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let sign = |claims: &Value| {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    };
    // The server's own "now", as it stamped the token it just issued.
    let now = claims["iat"].as_i64().unwrap();
    let with = |changes: Value| {
        let mut changed = claims.clone();
        for (claim, value) in changes.as_object().unwrap() {
            changed[claim] = value.clone();
        }
        changed
    };

    let fresh = with(json!({"iat": now, "nbf": now, "exp": now + 600}));
    assert_eq!(outcomes(&app, &sign(&fresh)).await, ACCEPTED, "the control");
    let cases = [
        ("expired", with(json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}))),
        ("not yet valid", with(json!({"iat": now, "nbf": now + 3600, "exp": now + 7200}))),
        ("issued in the future", with(json!({"iat": now + 3600, "nbf": now, "exp": now + 7200}))),
        ("another audience", with(json!({"iat": now, "nbf": now, "exp": now + 600, "aud": "elsewhere"}))),
        ("another issuer", with(json!({"iat": now, "nbf": now, "exp": now + 600, "iss": "elsewhere"}))),
        ("an audience list without ours", with(json!({"iat": now, "nbf": now, "exp": now + 600, "aud": ["elsewhere"]}))),
        ("a session that never was", with(json!({"iat": now, "nbf": now, "exp": now + 600, "sid": "0".repeat(32)}))),
    ];
    for (what, claims) in cases {
        assert_eq!(outcomes(&app, &sign(&claims)).await, REFUSED, "{what}");
    }
    for missing in ["exp", "nbf", "iat", "iss", "aud", "sub", "sid"] {
        let mut partial = fresh.clone();
        partial.as_object_mut().unwrap().remove(missing);
        assert_eq!(outcomes(&app, &sign(&partial)).await, REFUSED, "without {missing}");
    }
    // The right claims with another HMAC or no type are not an access token either.
    for (alg, typ) in [(Algorithm::HS512, Some("at+jwt")), (Algorithm::HS256, None), (Algorithm::HS256, Some("JWT"))] {
        let mut header = Header::new(alg);
        header.typ = typ.map(str::to_owned);
        let token = jsonwebtoken::encode(&header, &fresh, &key).unwrap();
        assert_eq!(outcomes(&app, &token).await, REFUSED, "{alg:?} {typ:?}");
    }
}
}
