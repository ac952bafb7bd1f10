//! The OpenAPI 3.1 description of `/api/v1`, generated from the handlers' annotations, and a
//! documentation page that needs no internet (the page's assets are built into the binary).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::contract::{PostStatusName, Protocol, RoleName};
use super::problem::Problem;
use super::{audit, comments, imports, lockouts, openid, posts, search, sessions, users, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "quire",
        description = "quire's resource API: users, posts, comments, follows, favorites and webhooks, in \
                       JSON, XML (application/xml) or Protobuf (application/x-protobuf, messages in \
                       proto/quire/v1/resources.proto), with errors as RFC 9457 problem details."
    ),
    paths(
        users::list,
        users::register,
        sessions::log_in,
        sessions::refresh,
        sessions::log_out,
        sessions::log_out_everywhere,
        openid::list,
        openid::start,
        openid::callback,
        users::get,
        users::me,
        users::patch,
        users::follow,
        users::unfollow,
        users::followers,
        users::following,
        lockouts::list,
        lockouts::delete,
        audit::list,
        posts::list,
        posts::feed,
        posts::tags,
        posts::get,
        posts::series,
        posts::translations,
        posts::create,
        posts::replace,
        posts::patch,
        posts::delete,
        posts::favorite,
        posts::unfavorite,
        imports::create,
        search::search,
        comments::list,
        comments::create,
        comments::get,
        comments::delete,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::patch,
        webhooks::delete,
        webhooks::secret,
        webhooks::rotate,
        webhooks::deliveries,
        webhooks::attempts,
        webhooks::redeliver,
    ),
    components(schemas(Problem, PostStatusName, RoleName)),
    modifiers(&BearerAuth, &Links, &Protocol),
    tags(
        (name = "users", description = "accounts, sessions, follows, sign-in lockouts and the audit log"),
        (name = "posts", description = "posts, the feed, favorites and tags"),
        (name = "comments", description = "comments on posts"),
        (name = "webhooks", description = "webhook endpoints, their secrets, deliveries and delivery log (admins only)"),
    )
)]
pub(crate) struct ApiDoc;

/// Declares the bearer token that `POST /api/v1/sessions` hands out.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// OpenAPI links from each creating operation to the operations on what it created, so
/// clients (and stateful contract tests) can follow create, then read, change and delete.
struct Links;

/// (creating path, status, [(link name, operation id, parameter, JSON pointer into the body)]).
type LinkTable = [(
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str, &'static str)],
)];

const LINKS: &LinkTable = &[
    (
        "/api/v1/posts",
        "201",
        &[
            ("GetPost", "getPost", "id", "/postId"),
            ("ReplacePost", "replacePost", "id", "/postId"),
            ("PatchPost", "patchPost", "id", "/postId"),
            ("DeletePost", "deletePost", "id", "/postId"),
            ("FavoritePost", "favoritePost", "post_id", "/postId"),
            ("UnfavoritePost", "unfavoritePost", "post_id", "/postId"),
            ("ListComments", "listComments", "id", "/postId"),
            ("AddComment", "addComment", "id", "/postId"),
        ],
    ),
    (
        "/api/v1/users",
        "201",
        &[
            ("GetUser", "getUser", "id", "/userId"),
            ("PatchUser", "patchUser", "id", "/userId"),
            ("FollowUser", "followUser", "user_id", "/userId"),
            ("UnfollowUser", "unfollowUser", "user_id", "/userId"),
            ("ListFollowers", "listFollowers", "id", "/userId"),
            ("ListFollowing", "listFollowing", "id", "/userId"),
        ],
    ),
    (
        "/api/v1/posts/{id}/comments",
        "201",
        &[
            ("GetComment", "getComment", "id", "/commentId"),
            ("DeleteComment", "deleteComment", "id", "/commentId"),
        ],
    ),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::link::LinkBuilder;
        for (path, status, links) in LINKS {
            let created = openapi
                .paths
                .paths
                .get_mut(*path)
                .and_then(|item| item.post.as_mut())
                .and_then(|operation| operation.responses.responses.get_mut(*status));
            let Some(RefOr::T(response)) = created else {
                continue;
            };
            for (name, operation, parameter, pointer) in *links {
                let link = LinkBuilder::new()
                    .operation_id(*operation)
                    .parameter(*parameter, format!("$response.body#{pointer}"))
                    .build();
                response.links.insert((*name).to_owned(), RefOr::T(link));
            }
        }
    }
}

/// The documentation page's Content Security Policy: its own scripts, styles (Swagger UI sets
/// inline styles) and images, calls to this origin only, and no framing.
const PAGE_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
                           img-src 'self' data:; connect-src 'self'; object-src 'none'; \
                           base-uri 'none'; frame-ancestors 'none'";

/// `/api/v1/openapi.json` and the documentation page at `/api/v1/docs`.
pub(crate) fn router() -> axum::Router {
    let router: axum::Router = utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs")
        .url("/api/v1/openapi.json", ApiDoc::openapi())
        .into();
    router.layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            response.headers_mut().insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(PAGE_POLICY),
            );
            response
        },
    ))
}
