//! `/api/v1` in Protobuf, decoded and encoded with nothing but the repository's `.proto`
//! files, compiled here at run time: the contract is the files, not the server's code.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value as Field};
use serde_json::json;

use crate::helpers::{TestApp, on_both_engines};

fn message(name: &str) -> MessageDescriptor {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = protox::compile([root.join("quire/v1/resources.proto")], [&root]).unwrap();
    let pool = DescriptorPool::from_file_descriptor_set(files).unwrap();
    pool.get_message_by_name(&format!("quire.v1.{name}"))
        .unwrap()
}

const PROTOBUF: &str = "application/x-protobuf";

on_both_engines! {
    async fn resources_are_served_and_read_as_protobuf(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let user = app.register("protouser").await;
        let bearer = format!("Bearer {}", user.token);
        let me = app.get("/api/user", Some(&user.token)).await;
        assert_eq!(me.status, 200);

        // Log in through /api/v1 with a Protobuf body and read the Protobuf answer.
        let mut credentials = DynamicMessage::new(message("Credentials"));
        credentials.set_field_by_name("email", Field::String(user.email.clone()));
        credentials.set_field_by_name("password", Field::String("password123".into()));
        let response = app
            .client
            .post(app.url("/api/v1/sessions"))
            .header("content-type", PROTOBUF)
            .header("accept", PROTOBUF)
            .body(credentials.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["content-type"], PROTOBUF);
        let session = DynamicMessage::decode(message("Session"), response.bytes().await.unwrap()).unwrap();
        assert!(!session.get_field_by_name("token").unwrap().as_str().unwrap().is_empty());
        let session_user = session.get_field_by_name("user").unwrap();
        let user_id = session_user.as_message().unwrap().get_field_by_name("user_id").unwrap().as_i64().unwrap();

        let response = app
            .client
            .get(app.url(&format!("/api/v1/users/{user_id}")))
            .header("accept", PROTOBUF)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let anonymous = DynamicMessage::decode(message("User"), response.bytes().await.unwrap()).unwrap();
        assert_eq!(anonymous.get_field_by_name("username").unwrap().as_str(), Some("protouser"));
        assert!(!anonymous.has_field_by_name("is_active"), "standing is for the user and admins only");
        assert!(!anonymous.has_field_by_name("roles"), "standing is for the user and admins only");
        assert!(!anonymous.has_field_by_name("email"), "email is for the user and admins only");
        let response = app
            .client
            .get(app.url(&format!("/api/v1/users/{user_id}")))
            .header("accept", PROTOBUF)
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let decoded = DynamicMessage::decode(message("User"), response.bytes().await.unwrap()).unwrap();
        assert_eq!(decoded.get_field_by_name("user_id").unwrap().as_i64(), Some(user_id));
        assert_eq!(decoded.get_field_by_name("username").unwrap().as_str(), Some("protouser"));
        assert_eq!(decoded.get_field_by_name("is_active").unwrap().as_bool(), Some(true));
        let roles: Vec<String> = decoded
            .get_field_by_name("roles")
            .unwrap()
            .as_list()
            .unwrap()
            .iter()
            .map(|role| role.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(roles, ["reader", "commenter", "author"]);

        // Create a post from a Protobuf body; read it back in Protobuf and in JSON.
        let mut post = DynamicMessage::new(message("NewPost"));
        post.set_field_by_name("title", Field::String("Binary news".into()));
        post.set_field_by_name("description", Field::String("d".into()));
        post.set_field_by_name("content", Field::String("# Hello".into()));
        post.set_field_by_name("tags", Field::List(vec![Field::String("proto".into())]));
        let response = app
            .client
            .post(app.url("/api/v1/posts"))
            .header("authorization", &bearer)
            .header("content-type", PROTOBUF)
            .header("accept", PROTOBUF)
            .body(post.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let created = DynamicMessage::decode(message("Post"), response.bytes().await.unwrap()).unwrap();
        assert_eq!(created.get_field_by_name("content").unwrap().as_str(), Some("# Hello"));
        let json_view = app.get(&location, None).await;
        assert_eq!(json_view.body["title"], "Binary news");
        assert_eq!(json_view.body["tags"], json!(["proto"]));

        let list = app
            .client
            .get(app.url("/api/v1/posts?count=true"))
            .header("accept", PROTOBUF)
            .send()
            .await
            .unwrap();
        let list = DynamicMessage::decode(message("PostList"), list.bytes().await.unwrap()).unwrap();
        assert_eq!(list.get_field_by_name("total").unwrap().as_u64(), Some(1));
        assert_eq!(list.get_field_by_name("items").unwrap().as_list().unwrap().len(), 1);

        // A merge patch has no Protobuf form.
        let patch = app
            .client
            .patch(app.url(&location))
            .header("authorization", &bearer)
            .header("content-type", PROTOBUF)
            .body(vec![0u8])
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), 415);
    }

    async fn api_v1_and_grpc_send_the_same_bytes_for_the_same_resource(engine: Engine) {
        use quire_grpc::pb::post_service_client::PostServiceClient;
        use quire_grpc::pb::user_service_client::UserServiceClient;
        use quire_proto::v1 as pb;

        let app = TestApp::spawn(engine).await;
        let author = app.register("wireauthor").await;
        let reader = app.register("wirereader").await;
        let article = app.create_article(&author, "On the wire", &["bytes", "wire"]).await;
        let slug = article["slug"].as_str().unwrap();
        app.post(&format!("/api/articles/{slug}/favorite"), Some(&reader.token), json!({})).await;
        app.post("/api/profiles/wireauthor/follow", Some(&reader.token), json!({})).await;
        let channel = app.grpc_channel().await;
        use crate::helpers::signed;
        let over_grpc = PostServiceClient::new(channel.clone())
            .get_post(signed(&reader.token, pb::GetPostRequest { key: Some(pb::get_post_request::Key::Slug(slug.to_owned())) }))
            .await
            .unwrap()
            .into_inner();
        let over_v1 = app
            .client
            .get(app.url(&format!("/api/v1/posts/{}", over_grpc.post_id)))
            .bearer_auth(&reader.token)
            .header("accept", PROTOBUF)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(over_grpc.favorited && over_grpc.author.as_ref().unwrap().following);
        assert_eq!(over_v1.as_ref(), over_grpc.encode_to_vec().as_slice());

        let user_id = over_grpc.author.unwrap().user_id;
        let user_over_grpc = UserServiceClient::new(channel)
            .get_user(signed(&reader.token, pb::GetUserRequest { key: Some(pb::get_user_request::Key::UserId(user_id)) }))
            .await
            .unwrap()
            .into_inner();
        let user_over_v1 = app
            .client
            .get(app.url(&format!("/api/v1/users/{user_id}")))
            .bearer_auth(&reader.token)
            .header("accept", PROTOBUF)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(user_over_v1.as_ref(), user_over_grpc.encode_to_vec().as_slice());
    }
}
