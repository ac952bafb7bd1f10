//! The GraphiQL page and its assets, vendored so the page works with no internet. The
//! scripts are kept gzipped (about 1 MB instead of 4 MB) and sent as they are to browsers,
//! which all accept gzip; another client gets them inflated.

use std::io::Read;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../assets/graphiql.html");
const START: &str = include_str!("../assets/graphiql-start.js");

/// Vendored files, gzipped: graphiql 3.8.3, react and react-dom 18.3.1 (MIT licensed; see
/// `assets/LICENSE.*`).
const GZIPPED: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql.min.js.gz"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/graphiql.min.css.gz"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/react.production.min.js.gz"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/react-dom.production.min.js.gz"),
    ),
];

/// Only this origin's scripts run; GraphiQL styles itself inline.
const POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                      object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

/// Whether a request is a browser asking for a page.
pub fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accepted| {
            accepted.split(',').any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|param| param.trim().replace(' ', "") == "q=0");
                (name == "gzip" || name == "*") && !refused
            })
        })
}

pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let cache = (header::CACHE_CONTROL, "public, max-age=86400");
    if file == "graphiql-start.js" {
        return (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                cache,
            ],
            START,
        )
            .into_response();
    }
    let Some((_, content_type, gzipped)) = GZIPPED.iter().find(|(name, ..)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = if accepts_gzip(&headers) {
        let mut response = (*gzipped).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        let mut inflated = Vec::new();
        if let Err(error) = flate2::read::GzDecoder::new(*gzipped).read_to_end(&mut inflated) {
            tracing::error!(%error, file, "a vendored asset does not inflate");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        inflated.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(cache.0, HeaderValue::from_static(cache.1));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}
