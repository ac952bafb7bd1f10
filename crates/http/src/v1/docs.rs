//! The OpenAPI 3.1 description of `/api/v1`, generated from the handlers' annotations, and a
//! documentation page that needs no internet (the page's assets are built into the binary).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{comments, posts, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "quire",
        description = "quire's resource API: users, posts, comments, follows and favorites, in \
                       JSON, XML (application/xml) or Protobuf (application/x-protobuf, messages in \
                       proto/quire/v1/resources.proto), with errors as RFC 9457 problem details."
    ),
    paths(
        users::register,
        users::log_in,
        users::get,
        users::me,
        users::patch,
        users::follow,
        users::unfollow,
        users::followers,
        users::following,
        posts::list,
        posts::feed,
        posts::tags,
        posts::get,
        posts::create,
        posts::replace,
        posts::patch,
        posts::delete,
        posts::favorite,
        posts::unfavorite,
        comments::list,
        comments::create,
        comments::get,
        comments::delete,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "accounts, sessions and follows"),
        (name = "posts", description = "posts, the feed, favorites and tags"),
        (name = "comments", description = "comments on posts"),
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

/// `/api/v1/openapi.json` and the documentation page at `/api/v1/docs`.
pub(crate) fn router() -> axum::Router {
    utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs")
        .url("/api/v1/openapi.json", ApiDoc::openapi())
        .into()
}
