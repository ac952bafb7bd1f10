//! The HTTP header names quire's contracts define, and which of them browsers may send and
//! read across origins. One list: a header a contract adds here is allowed and exposed by
//! CORS without a second edit.

use axum::http::{HeaderName, header};

/// A request's id, in and out (`urn:quire:request:<id>` in problem details).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// A POST's retry key (draft-ietf-httpapi-idempotency-key-header).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set to `true` on a response replayed for a retried `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// W3C Trace Context headers a caller may send to join its trace.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// Rate-limit state (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The surrogate keys of what a response shows, space-separated (Fastly's name).
pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
/// The same keys for Varnish's xkey module.
pub const XKEY: HeaderName = HeaderName::from_static("xkey");
/// The same keys, comma-separated (Cloudflare's name).
pub const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");

/// Request headers a cross-origin script may send (beyond the CORS-safelisted ones):
/// credentials, bodies in every format, conditional and idempotent requests, content
/// negotiation, request ids and trace context.
pub fn cors_allowed() -> Vec<HeaderName> {
    vec![
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::ACCEPT,
        header::ACCEPT_LANGUAGE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        IDEMPOTENCY_KEY,
        REQUEST_ID,
        TRACEPARENT,
        TRACESTATE,
    ]
}

/// Response headers a cross-origin script must be able to read to act on a response:
/// validators for `If-Match`, where a created resource lives, the next page, when to retry,
/// whether a response was replayed, the request id, the rate limits, and how to sign in.
pub fn cors_exposed() -> Vec<HeaderName> {
    vec![
        header::ETAG,
        header::LOCATION,
        header::LINK,
        header::RETRY_AFTER,
        header::WWW_AUTHENTICATE,
        header::ALLOW,
        IDEMPOTENT_REPLAYED,
        REQUEST_ID,
        RATELIMIT,
        RATELIMIT_POLICY,
    ]
}
