//! OpenID Connect sign-in end to end against a real provider: `oidc-provider` (a certified
//! implementation, run by Node.js from `tests/oidc/provider.mjs`), driven as a browser would
//! drive it, with a cookie jar and its login and consent forms. The provider can be told to
//! misbehave (a tampered ID token, another nonce, another audience, an expired token, a key
//! it never published, a key rotation) so quire's checks are seen to refuse each.

use std::process::Stdio;

use quire_server::config::{Config, OpenIdProvider, Secret};
use reqwest::redirect::Policy;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use quire_core::roles::{Role, Roles};

use crate::edge::free_port;
use crate::helpers::{Engine, TestApp, TestEnv, TestUser};

/// The provider, running until dropped.
struct Provider {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    issuer: String,
}

impl Provider {
    async fn start() -> Self {
        let node = std::env::var("QUIRE_TEST_OIDC_NODE").unwrap();
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
        assert!(
            std::path::Path::new(folder)
                .join("node_modules/oidc-provider")
                .is_dir(),
            "run `npm ci` in {folder} first"
        );
        let mut child = Command::new(node)
            .arg("provider.mjs")
            .current_dir(folder)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = stdout.next_line().await.unwrap().expect("the issuer");
        Self {
            _child: child,
            stdin,
            stdout,
            issuer,
        }
    }

    /// Sends a command (see provider.mjs) and waits for its `ok`.
    async fn tell(&mut self, command: &str) {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        // oidc-provider's own notices may come first.
        let mut answer = self.stdout.next_line().await.unwrap();
        while answer
            .as_deref()
            .is_some_and(|line| line.starts_with("oidc-provider "))
        {
            answer = self.stdout.next_line().await.unwrap();
        }
        assert_eq!(
            answer.as_deref(),
            Some("ok"),
            "the provider took {command:?}"
        );
    }
}

/// The provider, and quire configured with it as `corp`.
async fn setup(engine: Engine) -> (Provider, TestApp, TestUser) {
    let mut provider = Provider::start().await;
    let env = TestEnv::new(engine).await;
    let mut config: Config = env.config();
    config.listen = ([127, 0, 0, 1], free_port()).into();
    let redirect_url = format!(
        "http://{}/api/v1/sessions/openid/corp/callback",
        config.listen
    );
    provider.tell(&format!("redirect {redirect_url}")).await;
    config.openid.providers = vec![OpenIdProvider {
        name: "corp".to_owned(),
        issuer: provider.issuer.clone(),
        client_id: "quire".to_owned(),
        client_secret: Some(Secret::new("quire-test-client-secret")),
        redirect_url,
        ..OpenIdProvider::default()
    }];
    let app = TestApp::spawn_with(config, env).await;
    let admin = app
        .user_with_roles("chief", Roles::of(&[Role::Reader, Role::Admin]))
        .await;
    (provider, app, admin)
}

/// A browser: a cookie jar, following redirects except back to quire's callback.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::custom(|attempt| {
            if attempt.url().path().ends_with("/callback") {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap()
}

async fn submit(browser: &reqwest::Client, url: reqwest::Url, form: &str) -> reqwest::Response {
    browser
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap()
}

/// Signs in at the provider as `login` from quire's start page, through the provider's login
/// and consent forms; answers where the provider sends the browser back to.
async fn to_callback(app: &TestApp, browser: &reqwest::Client, login: &str) -> String {
    let start = format!("http://{}/api/v1/sessions/openid/corp", app.address);
    let page = browser.get(&start).send().await.unwrap();
    if page.status() == 303 {
        // Still signed in at the provider: straight back.
        return page.headers()["location"].to_str().unwrap().to_owned();
    }
    assert_eq!(page.status(), 200, "the provider's login page");
    assert!(
        page.url().path().starts_with("/interaction/"),
        "{}",
        page.url()
    );
    let form = format!("prompt=login&login={login}&password=anything");
    let mut page = submit(browser, page.url().clone(), &form).await;
    if page.status() == 200 && page.url().path().starts_with("/interaction/") {
        page = submit(browser, page.url().clone(), "prompt=consent").await;
    }
    assert_eq!(page.status(), 303, "sent back to quire");
    page.headers()["location"].to_str().unwrap().to_owned()
}

/// Signs in as `login`: the callback's status and body.
async fn sign_in(app: &TestApp, browser: &reqwest::Client, login: &str) -> (u16, Value) {
    let callback = to_callback(app, browser, login).await;
    let answer = browser.get(&callback).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn user_count(app: &TestApp, admin: &TestUser) -> usize {
    let users = app.get("/api/v1/users?limit=100", Some(&admin.token)).await;
    users.body["items"].as_array().map_or(0, Vec::len)
}

async fn audited(app: &TestApp, admin: &TestUser, action: &str) -> Vec<Value> {
    let log = app.get("/api/v1/audit?limit=100", Some(&admin.token)).await;
    log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == action)
        .cloned()
        .collect()
}

macro_rules! with_provider {
    ($(async fn $name:ident($engine:ident: Engine) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($engine: Engine) $body

            #[tokio::test]
            #[cfg_attr(not(quire_test_oidc), ignore = "QUIRE_TEST_OIDC_NODE is not set")]
            async fn sqlite() {
                run(Engine::Sqlite).await
            }

            #[tokio::test]
            #[cfg_attr(
                not(all(quire_test_oidc, quire_test_postgres)),
                ignore = "QUIRE_TEST_OIDC_NODE or QUIRE_TEST_POSTGRES_URL is not set"
            )]
            async fn postgres() {
                run(Engine::Postgres).await
            }
        }
    )*};
}

with_provider! {
async fn signing_in_through_the_provider_makes_finds_or_links_an_account(engine: Engine) {
    let (provider, app, admin) = setup(engine).await;
    let listed = app.get("/api/v1/sessions/openid", None).await;
    assert_eq!(listed.body["providers"][0]["name"], "corp");
    assert_eq!(listed.body["providers"][0]["signIn"], "/api/v1/sessions/openid/corp");

    // A new user: an account is made, with a session.
    let (status, session) = sign_in(&app, &browser(), "ada").await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["username"], "ada");
    assert_eq!(session["user"]["email"], "ada@example.test");
    assert!(session["refreshToken"].as_str().unwrap().starts_with("qrt_"));
    let token = session["token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, 200);
    let ada = me.body["userId"].clone();
    // The same identity again, from another browser: the same account.
    let (status, again) = sign_in(&app, &browser(), "ada").await;
    assert_eq!(status, 200);
    assert_eq!(again["user"]["userId"], ada);

    // An account made with a password is found by the email the provider vouches for, and
    // linked. quire never verified that email, so whoever registered it may not own it: the
    // password they chose stops working and their sessions end.
    let bob = app.register("bob").await;
    let bob_id = app.get("/api/v1/me", Some(&bob.token)).await.body["userId"].clone();
    let (status, linked) = sign_in(&app, &browser(), "bob@example.com").await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["user"]["userId"], bob_id);
    let password = serde_json::json!({"user": {"email": "bob@example.com", "password": "password123"}});
    assert_eq!(app.post("/api/users/login", None, password).await.status, 401);
    assert_eq!(app.get("/api/v1/me", Some(&bob.token)).await.status, 401);
    let token = linked["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(token)).await.status, 200);
    // Another subject of the same issuer with that email (an address given to someone new)
    // does not take the account over.
    let (status, _) = sign_in(&app, &browser(), "bob@example.com#2").await;
    assert_eq!(status, 401);

    // A name that is taken gets a suffix.
    let (status, other) = sign_in(&app, &browser(), "ada@elsewhere.test").await;
    assert_eq!(status, 200, "{other}");
    let name = other["user"]["username"].as_str().unwrap();
    assert!(name.starts_with("ada-") && name != "ada", "{name}");

    // An email the provider does not vouch for neither makes nor links an account.
    let unverified = app.register("unverified").await;
    let before = user_count(&app, &admin).await;
    let (status, refused) = sign_in(&app, &browser(), "unverified-eve").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(user_count(&app, &admin).await, before);
    let (status, _) = sign_in(&app, &browser(), "unverified@example.com").await;
    assert_eq!(status, 401);
    assert_eq!(app.get("/api/v1/me", Some(&unverified.token)).await.status, 200, "not linked");
    // Nor is a deactivated account linked by its email.
    let carol = app.register("carol").await;
    let carol_id = crate::rights::id_of(&app, &carol).await;
    let off = serde_json::json!({"isActive": false});
    assert_eq!(crate::rights::patch_user(&app, &admin, carol_id, off).await.status, 200);
    let (status, _) = sign_in(&app, &browser(), "carol@example.com").await;
    assert_eq!(status, 401);

    let successes = audited(&app, &admin, "authn.login_success").await;
    assert!(successes.iter().any(|entry| entry["details"]["method"] == "openid"
        && entry["details"]["provider"] == "corp"));
    let links = audited(&app, &admin, "authn.identity_linked").await;
    assert_eq!(links.len(), 3, "ada, bob and the second ada: {links:?}");
    assert!(links.iter().all(|entry| entry["details"]["issuer"] == provider.issuer.as_str()));
    let failures = audited(&app, &admin, "authn.login_fail").await;
    assert!(failures.iter().any(|entry| entry["details"]["reason"] == "no verified email"));

    // A deactivated account cannot sign in through the provider either.
    let patched = crate::rights::patch_user(
        &app,
        &admin,
        ada.as_i64().unwrap(),
        serde_json::json!({"isActive": false}),
    )
    .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let (status, _) = sign_in(&app, &browser(), "ada").await;
    assert_eq!(status, 401);
}

async fn answers_that_cannot_be_trusted_are_refused(engine: Engine) {
    let (mut provider, app, admin) = setup(engine).await;
    let before = user_count(&app, &admin).await;
    for mode in ["tamper", "nonce", "audience", "expired"] {
        provider.tell(mode).await;
        let (status, body) = sign_in(&app, &browser(), "mallory").await;
        assert_eq!(status, 401, "{mode}: {body}");
        assert_eq!(body["status"], 401, "a problem document: {body}");
    }
    // The provider's keys rotate: the new key is fetched on its first unknown kid.
    provider.tell("rotate").await;
    let (status, body) = sign_in(&app, &browser(), "rotated").await;
    assert_eq!(status, 200, "after a rotation: {body}");
    // A key the provider never published stays unknown.
    provider.tell("unknown-kid").await;
    let (status, _) = sign_in(&app, &browser(), "mallory").await;
    assert_eq!(status, 401, "unknown kid");
    assert_eq!(user_count(&app, &admin).await, before + 1, "only the honest sign-in made one");
    provider.tell("honest").await;

    // A state works once, and only in the browser that started the sign-in: not in one with
    // no cookie, nor in one with a sign-in of its own under way (login CSRF).
    let browser_one = browser();
    let callback = to_callback(&app, &browser_one, "grace").await;
    let elsewhere = browser().get(&callback).send().await.unwrap();
    assert_eq!(elsewhere.status(), 401, "a browser without the cookie");
    let callback = to_callback(&app, &browser_one, "grace").await;
    let victim = browser();
    let _ = to_callback(&app, &victim, "victim").await;
    let planted = victim.get(&callback).send().await.unwrap();
    assert_eq!(planted.status(), 401, "a browser with a sign-in of its own");
    let callback = to_callback(&app, &browser_one, "grace").await;
    let first = browser_one.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let used = |entries: Vec<Value>| {
        entries
            .iter()
            .filter(|entry| entry["details"]["reason"] == "unknown or used state")
            .count()
    };
    let used_before = used(audited(&app, &admin, "authn.login_fail").await);
    let replayed = browser_one.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), 401, "a used state");
    assert_eq!(used(audited(&app, &admin, "authn.login_fail").await), used_before + 1);

    // A response naming another issuer is a mix-up (RFC 9207).
    let callback = to_callback(&app, &browser_one, "grace").await;
    assert!(callback.contains("iss="), "oidc-provider names itself: {callback}");
    let (head, _) = callback.split_once("iss=").unwrap();
    let tail = callback.split_once("iss=").unwrap().1;
    let rest = tail.split_once('&').map_or(String::new(), |(_, rest)| format!("&{rest}"));
    let mixed_up = format!("{head}iss=https%3A%2F%2Fattacker.example{rest}");
    let answer = browser_one.get(&mixed_up).send().await.unwrap();
    assert_eq!(answer.status(), 401, "another issuer");

    // Malformed callbacks and unknown providers.
    let base = format!("http://{}/api/v1/sessions/openid", app.address);
    let client = browser();
    let no_state = client.get(format!("{base}/corp/callback?code=x")).send().await.unwrap();
    assert_eq!(no_state.status(), 400);
    let forged = client
        .get(format!("{base}/corp/callback?code=x&state=made-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let unknown = client.get(format!("{base}/nobody")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let failures = audited(&app, &admin, "authn.login_fail").await;
    for reason in [
        "the provider's tokens were refused",
        "started in another browser",
        "unknown or used state",
    ] {
        assert!(
            failures.iter().any(|entry| entry["details"]["reason"] == reason),
            "{reason}: {failures:?}"
        );
    }
}
}
