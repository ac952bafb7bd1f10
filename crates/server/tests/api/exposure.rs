//! Less to enumerate: who is an admin, and who was deactivated, is told only to the user
//! themself and to admins, on every contract.

use quire_core::roles::{Role, Roles};
use quire_grpc::pb::user_service_client::UserServiceClient;
use quire_proto::v1 as pb;
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_both_engines, signed};
use crate::rights::{id_of, patch_user};

/// What each contract tells `viewer` of user `id`'s standing: the `/api/v1` JSON's `roles` and
/// `isActive`, GraphQL's, and gRPC's, each `None` where withheld.
async fn standing_seen(app: &TestApp, viewer: Option<&str>, id: i64) -> [Option<Value>; 3] {
    let v1 = app.get(&format!("/api/v1/users/{id}"), viewer).await;
    assert_eq!(v1.status, 200, "{}", v1.body);
    let v1 = v1
        .body
        .get("roles")
        .map(|roles| json!({"roles": roles, "isActive": v1.body["isActive"]}));
    let query = format!(r#"{{ user(id: "{id}") {{ username roles isActive }} }}"#);
    let reply = app
        .post("/graphql", viewer, json!({ "query": query }))
        .await;
    let user = &reply.body["data"]["user"];
    assert!(user["username"].is_string(), "{}", reply.body);
    let graphql = (!user["roles"].is_null())
        .then(|| json!({"roles": user["roles"], "isActive": user["isActive"]}));
    if graphql.is_none() {
        let codes = graphql_codes(&reply.body);
        assert_eq!(codes.len(), 2, "{}", reply.body);
        assert!(codes.iter().all(|code| *code == "FORBIDDEN"), "{codes:?}");
    }
    let mut users = UserServiceClient::new(app.grpc_channel().await);
    let request = pb::GetUserRequest {
        key: Some(pb::get_user_request::Key::UserId(id)),
    };
    let reply = match viewer {
        Some(token) => users.get_user(signed(token, request)).await,
        None => users.get_user(request).await,
    }
    .unwrap()
    .into_inner();
    let grpc = reply
        .is_active
        .map(|active| json!({"roles": reply.roles, "isActive": active}));
    [v1, graphql, grpc]
}

fn graphql_codes(body: &Value) -> Vec<&Value> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| &error["extensions"]["code"])
        .collect()
}

on_both_engines! {
async fn only_the_user_and_admins_learn_roles_and_deactivation(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let admin = app.user_with_roles("admin", Roles::of(&[Role::Reader, Role::Admin])).await;
    let alice = app.register("alice").await;
    let admin_id = id_of(&app, &admin).await;
    let alice_id = id_of(&app, &alice).await;
    let off = patch_user(&app, &admin, alice_id, json!({"isActive": false})).await;
    assert_eq!(off.status, 200, "{}", off.body);
    let bob = app.register("bob").await;

    // Anonymous and another user learn neither who is an admin nor who was deactivated.
    for viewer in [None, Some(bob.token.as_str())] {
        assert_eq!(standing_seen(&app, viewer, admin_id).await, [None, None, None], "{viewer:?}");
        assert_eq!(standing_seen(&app, viewer, alice_id).await, [None, None, None], "{viewer:?}");
    }
    // The user themself, and admins, do.
    let admin_standing = json!({"roles": ["reader", "admin"], "isActive": true});
    let seen = standing_seen(&app, Some(&admin.token), admin_id).await;
    assert_eq!(seen, [Some(admin_standing.clone()), Some(admin_standing.clone()), Some(admin_standing)]);
    let alice_standing = json!({"roles": ["reader", "commenter", "author"], "isActive": false});
    let seen = standing_seen(&app, Some(&admin.token), alice_id).await;
    assert_eq!(seen, [Some(alice_standing.clone()), Some(alice_standing.clone()), Some(alice_standing)]);
    let bob_id = id_of(&app, &bob).await;
    let seen = standing_seen(&app, Some(&bob.token), bob_id).await;
    assert!(seen.iter().all(|view| view.as_ref().is_some_and(|view| view["isActive"] == true)), "{seen:?}");
}
}

/// A post's slug as served through `/api/v1`.
async fn slug_of(app: &TestApp, token: &str, post_id: i64) -> String {
    let reply = app
        .get(&format!("/api/v1/posts/{post_id}"), Some(token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["slug"].as_str().unwrap().to_owned()
}

on_both_engines! {
async fn a_draft_does_not_betray_its_title_through_a_newcomers_slug(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let bob = app.register("bob").await;
    let alice = app.register("alice").await;
    // Bob's draft holds no plain slug, so Alice's post of the same title gets the plain one:
    // no suffix tells her that a post she cannot see exists.
    let draft = app.create_draft(&bob, "Secret Launch").await;
    let draft_id = draft["postId"].as_i64().unwrap();
    let draft_slug = draft["slug"].as_str().unwrap().to_owned();
    assert!(draft_slug.starts_with("secret-launch-"), "{draft}");
    let hers = app.create_article(&alice, "Secret Launch", &[]).await;
    assert_eq!(hers["slug"], "secret-launch");
    // Published now, with the plain slug taken, the draft keeps its own.
    app.set_status(&bob, draft_id, "published").await;
    assert_eq!(slug_of(&app, &bob.token, draft_id).await, draft_slug);

    // A draft published while the plain slug is free takes it.
    let other = app.create_draft(&bob, "Quiet Plans").await;
    let other_id = other["postId"].as_i64().unwrap();
    assert!(other["slug"].as_str().unwrap().starts_with("quiet-plans-"), "{other}");
    app.set_status(&bob, other_id, "published").await;
    assert_eq!(slug_of(&app, &bob.token, other_id).await, "quiet-plans");
    let read = app.get("/api/articles/quiet-plans", None).await;
    assert_eq!(read.status, 200, "{}", read.body);
}
}
