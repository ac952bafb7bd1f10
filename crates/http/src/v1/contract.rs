//! What every `/api/v1` operation shares, written into the OpenAPI document once rather than
//! in each handler's annotation: where the API is served, who may call, the formats bodies
//! come in, the conditional and idempotent request headers, the response headers a client acts
//! on, 304, and the problem responses. Handlers declare only what is theirs (path, body, the
//! successful response); [`Protocol`] adds the rest by the same rules the server follows.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::server::Server;
use utoipa::openapi::{OpenApi, RefOr, Required, Response, Schema};
use utoipa::{Modify, ToSchema};

/// A post's status.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum PostStatusName {
    Published,
    Draft,
}

/// A role a user holds.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum RoleName {
    Reader,
    Commenter,
    Author,
    Editor,
    Admin,
}

const JSON: &str = "application/json";
const XML: &str = "application/xml";
const PROTOBUF: &str = "application/x-protobuf";
const PROBLEM_JSON: &str = "application/problem+json";
const PROBLEM_XML: &str = "application/problem+xml";

/// Adds to every operation what the protocol gives it.
pub(crate) struct Protocol;

impl Modify for Protocol {
    fn modify(&self, openapi: &mut OpenApi) {
        let mut server = Server::new("/");
        server.description = Some("this server".to_owned());
        openapi.servers = Some(vec![server]);
        for (path, item) in &mut openapi.paths.paths {
            // A resource with a representation: one that can be read (and so has an ETag).
            let single = path.ends_with('}') && item.get.is_some();
            let operations = [
                (Method::Get, item.get.as_mut()),
                (Method::Post, item.post.as_mut()),
                (Method::Put, item.put.as_mut()),
                (Method::Patch, item.patch.as_mut()),
                (Method::Delete, item.delete.as_mut()),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    describe(operation, method, single);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// The operations that take credentials in their body, not a token: they need no security
/// scheme (a token presented to them is still checked, and a bad one refused with 401).
const SIGNING_IN: [&str; 2] = ["registerUser", "logIn"];

/// The POSTs that do not take an `Idempotency-Key`: signing in makes a new session each time,
/// and a replayed one would hand out a token after its password changed; a webhook's creation
/// and secret rotation answer a signing secret, which must not be kept in the idempotency
/// store; a redelivery is asked for each time it is wanted.
const NOT_IDEMPOTENT: [&str; 4] = [
    "logIn",
    "createWebhook",
    "rotateWebhookSecret",
    "redeliverWebhook",
];

/// Tags whose every operation only admins may call: reads are forbidden (403) to others too.
const ADMIN_ONLY: [&str; 1] = ["webhooks"];

fn describe(operation: &mut Operation, method: Method, single: bool) {
    // A token is taken (and a bad one refused) everywhere; where none is required, calling
    // anonymously is as good.
    let signing_in = operation
        .operation_id
        .as_deref()
        .is_some_and(|id| SIGNING_IN.contains(&id));
    if signing_in {
        operation.security = Some(Vec::new());
    } else if operation.security.is_none() {
        operation.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]);
    }
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    let has_query = parameters
        .iter()
        .any(|parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    let has_path = parameters
        .iter()
        .any(|parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
    let paged = parameters
        .iter()
        .any(|parameter| matches!(parameter, RefOr::T(p) if p.name == "cursor"));
    // Asking for drafts (`status=draft`) is a permission like any write.
    let admin_only = operation
        .tags
        .iter()
        .flatten()
        .any(|tag| ADMIN_ONLY.contains(&tag.as_str()));
    let guarded_read = admin_only
        || parameters
            .iter()
            .any(|parameter| matches!(parameter, RefOr::T(p) if p.name == "status"));
    let idempotent = method == Method::Post
        && !operation
            .operation_id
            .as_deref()
            .is_some_and(|id| NOT_IDEMPOTENT.contains(&id));
    for parameter in parameters.iter_mut() {
        if let RefOr::T(parameter) = parameter
            && parameter.name == "limit"
        {
            parameter.schema = Some(page_size());
        }
    }
    let conditional_read = method == Method::Get && single;
    let conditional_write =
        single && matches!(method, Method::Put | Method::Patch | Method::Delete);
    if conditional_read {
        parameters.push(header_parameter(
            "If-None-Match",
            "the ETag of the copy held: 304 while it is current",
            text(),
        ));
    }
    if conditional_write {
        parameters.push(header_parameter(
            "If-Match",
            "the ETag of the copy the change is based on: 412 if it is no longer current",
            text(),
        ));
    }
    if idempotent {
        parameters.push(header_parameter(
            "Idempotency-Key",
            "retries with the same key and body replay the first response instead of acting again",
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[\\x21-\\x7e]+$"))
                    .build(),
            )),
        ));
    }

    let has_body = operation.request_body.is_some();
    if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
        let schema = body.content.values().find_map(|content| match content {
            RefOr::T(content) => content.schema.clone(),
            RefOr::Ref(_) => None,
        });
        if let Some(schema) = schema {
            body.content.insert(
                XML.to_owned(),
                RefOr::T(ContentBuilder::new().schema(Some(schema)).build()),
            );
            if method != Method::Patch {
                body.content.insert(PROTOBUF.to_owned(), protobuf());
            }
        }
        body.required = Some(Required::True);
    }

    for (status, response) in &mut operation.responses.responses {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with('2') {
            continue;
        }
        success(response, status, method, single, paged, idempotent);
    }

    let mut problems = vec![
        (
            "401",
            "no valid bearer token: missing where required, or presented and refused",
        ),
        ("406", "none of the formats the Accept header names"),
        (
            "500",
            "a fault of the server; the response names the request id it is logged under",
        ),
        (
            "503",
            "a dependency is down or busy: retry after Retry-After",
        ),
    ];
    if has_query || has_body || method == Method::Post {
        problems.push(("400", "a malformed query, body or header"));
    }
    if has_path {
        problems.push(("404", "no such resource, or not one the caller may see"));
    }
    if method != Method::Get || guarded_read {
        problems.push(("403", "the policy forbids it"));
    }
    if has_body {
        problems.push(("415", "a body format the operation does not take"));
        problems.push((
            "422",
            "invalid input: `errors` names each field and what is wrong",
        ));
    }
    if method == Method::Post || has_body {
        problems.push((
            "409",
            "a conflict: a value taken, or a request with this Idempotency-Key still running",
        ));
    }
    if conditional_write {
        problems.push(("412", "If-Match names a version that is no longer current"));
    }
    if conditional_read {
        operation.responses.responses.insert(
            "304".to_owned(),
            RefOr::T({
                let mut response = ResponseBuilder::new()
                    .description("the copy named by If-None-Match is current")
                    .build();
                response.headers.insert("ETag".to_owned(), etag());
                response
            }),
        );
    }
    for (status, description) in problems {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(description));
    }
}

/// Formats, validators and links on a successful response.
fn success(
    response: &mut Response,
    status: &str,
    method: Method,
    single: bool,
    paged: bool,
    idempotent: bool,
) {
    let schema = response
        .content
        .get(JSON)
        .and_then(|content| match content {
            RefOr::T(content) => content.schema.clone(),
            RefOr::Ref(_) => None,
        });
    if let Some(schema) = schema {
        response.content.insert(
            XML.to_owned(),
            RefOr::T(ContentBuilder::new().schema(Some(schema)).build()),
        );
        response.content.insert(PROTOBUF.to_owned(), protobuf());
        if single || method != Method::Get {
            response.headers.insert("ETag".to_owned(), etag());
        }
    }
    if status == "201" {
        response.headers.insert(
            "Location".to_owned(),
            header(uri_reference(), "where the created resource lives"),
        );
    }
    if paged {
        response.headers.insert(
            "Link".to_owned(),
            header(
                text(),
                "RFC 8288: the next page, as rel=\"next\", while there is one",
            ),
        );
    }
    if idempotent {
        response.headers.insert(
            "Idempotent-Replayed".to_owned(),
            header(
                RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["true"]))
                        .build(),
                )),
                "`true` when this is the stored response of an earlier request with the same \
                 Idempotency-Key",
            ),
        );
    }
}

fn header_parameter(name: &str, description: &str, schema: RefOr<Schema>) -> RefOr<Parameter> {
    RefOr::T(
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(schema))
            .build(),
    )
}

fn problem(description: &str) -> RefOr<Response> {
    let schema = || RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem"));
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new().schema(Some(schema())).build(),
            )
            .content(
                PROBLEM_XML,
                ContentBuilder::new().schema(Some(schema())).build(),
            )
            .build(),
    )
}

fn etag() -> RefOr<Header> {
    header(
        text(),
        "RFC 9110: a strong validator of this representation, for If-Match and If-None-Match",
    )
}

fn header(schema: RefOr<Schema>, description: &str) -> RefOr<Header> {
    RefOr::T(
        HeaderBuilder::new()
            .schema(Some(schema))
            .description(Some(description))
            .build(),
    )
}

fn page_size() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(100))
            .default(Some(20.into()))
            .build(),
    ))
}

fn text() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new().schema_type(Type::String).build(),
    ))
}

fn uri_reference() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uri-reference".to_owned())))
            .build(),
    ))
}

/// A Protobuf body: the `quire.v1` message of `proto/quire/v1/resources.proto` that has the
/// JSON schema's name.
fn protobuf() -> RefOr<utoipa::openapi::Content> {
    RefOr::T(
        ContentBuilder::new()
            .schema(Some(RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type(PROTOBUF)
                    .build(),
            ))))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::super::docs::ApiDoc;

    #[test]
    fn every_operation_declares_the_protocol() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(document["servers"][0]["url"], "/");
        let paths = document["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let security = operation["security"].as_array().unwrap();
                if ["registerUser", "logIn"].contains(&operation["operationId"].as_str().unwrap()) {
                    assert!(security.is_empty(), "{method} {path}");
                } else {
                    assert!(
                        security.iter().any(|s| s.get("bearer").is_some()),
                        "{method} {path}"
                    );
                }
                for status in ["401", "406", "500", "503"] {
                    assert!(responses.contains_key(status), "{method} {path} {status}");
                }
                let headers: Vec<&str> = operation["parameters"]
                    .as_array()
                    .map(|parameters| {
                        parameters
                            .iter()
                            .filter(|p| p["in"] == "header")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let id = operation["operationId"].as_str().unwrap();
                let readable = item.get("get").is_some();
                match method.as_str() {
                    "post" if super::NOT_IDEMPOTENT.contains(&id) => {
                        assert!(!headers.contains(&"Idempotency-Key"), "{path}");
                    }
                    "post" => assert!(headers.contains(&"Idempotency-Key"), "{path}"),
                    "get" if path.ends_with('}') => {
                        assert!(headers.contains(&"If-None-Match"), "{path}");
                        assert!(responses.contains_key("304"), "{path}");
                    }
                    "put" | "patch" | "delete" if readable && path.ends_with('}') => {
                        assert!(headers.contains(&"If-Match"), "{method} {path}");
                        assert!(responses.contains_key("412"), "{method} {path}");
                    }
                    "put" | "patch" | "delete" => {
                        assert!(!headers.contains(&"If-Match"), "{method} {path}");
                    }
                    _ => {}
                }
            }
        }
        let created = &paths["/api/v1/posts"]["post"]["responses"]["201"];
        assert!(created["headers"]["Location"].is_object());
        assert!(created["headers"]["ETag"].is_object());
        assert!(created["content"]["application/x-protobuf"].is_object());
        let list = &paths["/api/v1/posts"]["get"];
        assert!(list["responses"]["200"]["headers"]["Link"].is_object());
        let limit = list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["minimum"], 1);
        assert_eq!(limit["schema"]["maximum"], 100);
        assert!(
            list["responses"]["403"].is_object(),
            "drafts are a permission"
        );
    }
}
