//! New passwords: normalized (NFKC), 8 to 128 characters, and hard enough to guess by
//! zxcvbn's estimate on every contract but RealWorld, whose specification accepts any
//! password of legal length unless configured otherwise; hashes made with older argon2
//! parameters are made again at sign-in.

use quire_core::ports::UserStore;
use quire_core::values::Email;
use quire_grpc::pb::user_service_client::UserServiceClient;
use quire_proto::v1 as pb;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestEnv, TestUser, on_both_engines};
use crate::rights::patch_user;

const STRONG: &str = "quiet harbour lantern at dawn";

/// The messages about the password, from a RealWorld body (`errors.password`) or an
/// `/api/v1` problem (`errors[].messages` of the field `password`).
fn password_errors(body: &Value) -> Vec<String> {
    let realworld = body["errors"]["password"].as_array();
    let v1 = body["errors"].as_array().and_then(|errors| {
        errors
            .iter()
            .find(|error| error["field"] == "password")
            .and_then(|error| error["messages"].as_array())
    });
    realworld
        .or(v1)
        .map(|errors| {
            errors
                .iter()
                .map(|e| e.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn register_v1(app: &TestApp, name: &str, password: &str) -> (u16, Value) {
    let body =
        json!({"username": name, "email": format!("{name}@example.com"), "password": password});
    let reply = app.post("/api/v1/users", None, body).await;
    (reply.status.as_u16(), reply.body)
}

async fn stored_hash(app: &TestApp, email: &str) -> String {
    let (_, hash) = app
        .quire
        .store()
        .credentials_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    hash.as_phc().to_owned()
}

on_both_engines! {
async fn weak_passwords_are_refused_with_the_reason_on_every_contract_but_realworld(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    for weak in ["password123", "qwertyuiop", "11111111", "iloveyou2"] {
        let (status, body) = register_v1(&app, "weak", weak).await;
        assert_eq!(status, 422, "{weak}: {body}");
        let errors = password_errors(&body);
        assert!(errors.iter().any(|e| e.starts_with("is too easy to guess")), "{weak}: {body}");
    }
    // The account's own name is a weak password whatever the dictionary says.
    let (status, body) = register_v1(&app, "wilhelmina-vandersloot", "wilhelmina-vandersloot").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = register_v1(&app, "strong", STRONG).await;
    assert_eq!(status, 201, "{body}");

    let graphql = app
        .post("/graphql", None, json!({"query": "mutation { register(input: {username: \"g\", email: \"g@example.com\", password: \"password123\"}) { token } }"}))
        .await;
    assert_eq!(graphql.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{}", graphql.body);
    let mut users = UserServiceClient::new(app.grpc_channel().await);
    let refused = users
        .register(pb::NewUser { username: Some("r".into()), email: Some("r@example.com".into()), password: Some("password123".into()) })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");

    // Changing a password is held to the same rule.
    let session = app
        .post("/api/v1/sessions", None, json!({"email": "strong@example.com", "password": STRONG}))
        .await
        .body;
    let strong = TestUser {
        username: "strong".to_owned(),
        email: "strong@example.com".to_owned(),
        token: session["token"].as_str().unwrap().to_owned(),
    };
    let id = session["user"]["userId"].as_i64().unwrap();
    let weaker = patch_user(&app, &strong, id, json!({"password": "password1"})).await;
    assert_eq!(weaker.status, 422, "{}", weaker.body);
    assert!(password_errors(&weaker.body)[0].starts_with("is too easy to guess"), "{}", weaker.body);
    let fine = patch_user(&app, &strong, id, json!({"password": "another quiet harbour at dusk"})).await;
    assert_eq!(fine.status, 200, "{}", fine.body);

    // RealWorld's suite registers with password123 and changes it to bonjour1.
    let alice = app.register("alice").await;
    let changed = app.put("/api/user", Some(&alice.token), json!({"user": {"password": "bonjour1"}})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let short = app.put("/api/user", Some(&alice.token), json!({"user": {"password": "short7c"}})).await;
    assert_eq!(short.status, 422, "{}", short.body);
}

async fn realworld_can_be_held_to_the_standard_rule(engine: Engine) {
    let env = TestEnv::new(engine).await;
    let mut config = env.config();
    config.passwords.realworld_min_strength = 3;
    let app = TestApp::spawn_with(config, env).await;
    let weak = json!({"user": {"username": "bob", "email": "bob@example.com", "password": "password123"}});
    let reply = app.post("/api/users", None, weak).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(password_errors(&reply.body)[0].starts_with("is too easy to guess"), "{}", reply.body);
    let strong = json!({"user": {"username": "bob", "email": "bob@example.com", "password": STRONG}});
    assert_eq!(app.post("/api/users", None, strong).await.status, 201);
}

async fn passwords_are_the_same_however_their_characters_were_typed(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    // Full-width Latin letters (an East Asian keyboard's) and decomposed Hangul.
    let typed = "ｑｕｉｅｔ ｈａｒｂｏｕｒ \u{1107}\u{1175}\u{1106}\u{1175}\u{11af}";
    let (status, body) = register_v1(&app, "wide", typed).await;
    assert_eq!(status, 201, "{body}");
    for password in [typed, "quiet harbour 비밀"] {
        let login = app.post("/api/v1/sessions", None, json!({"email": "wide@example.com", "password": password})).await;
        assert_eq!(login.status, 201, "{password:?}: {}", login.body);
    }
}

async fn hashes_of_older_parameters_are_made_again_at_sign_in(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let alice = app.register("alice").await;
    let before = stored_hash(&app, &alice.email).await;
    assert!(before.contains("m=256,t=1,p=1"), "{before}");
    let updated_at = app.get("/api/v1/me", Some(&alice.token)).await.body["updatedAt"].clone();

    // The operator raises the cost; the next sign-in stores a hash at the new cost.
    let mut config = app.env.config();
    config.argon2.memory_kib = 512;
    config.argon2.iterations = 2;
    let stronger = TestApp::spawn_beside(config).await;
    let login = json!({"user": {"email": alice.email, "password": "password123"}});
    let reply = stronger.post("/api/users/login", None, login.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let after = stored_hash(&app, &alice.email).await;
    assert!(after.contains("m=512,t=2,p=1"), "{after}");
    assert_ne!(after, before);
    // The same password still signs in, with nothing to make again, and the account did
    // not change for anyone watching it.
    assert_eq!(stronger.post("/api/users/login", None, login).await.status, 200);
    assert_eq!(stored_hash(&app, &alice.email).await, after);
    assert_eq!(app.get("/api/v1/me", Some(&alice.token)).await.body["updatedAt"], updated_at);
    // A wrong password changes nothing.
    let wrong = json!({"user": {"email": alice.email, "password": "not the password"}});
    assert_eq!(stronger.post("/api/users/login", None, wrong).await.status, 401);
    assert_eq!(stored_hash(&app, &alice.email).await, after);
}
}
