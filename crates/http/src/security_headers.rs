//! Response headers that tell browsers how to treat what quire serves (OWASP's HTTP Headers
//! and REST Security cheat sheets): on every response, unless a route set its own.
//!
//! - `X-Content-Type-Options: nosniff`: a response is only ever what its `Content-Type` says,
//!   so an upload or a JSON string is never run as script.
//! - `Referrer-Policy: no-referrer`: links followed from quire's pages do not carry its URLs.
//! - `Content-Security-Policy: default-src 'none'; base-uri 'none'; frame-ancestors 'none'`: a
//!   response loads nothing, sets no base URL and is framed by no one; the HTML pages (GraphiQL, the API reference) set their own
//!   policy, which still forbids framing.
//! - `Strict-Transport-Security` (RFC 6797) when quire serves TLS itself: browsers then refuse
//!   plain HTTP to this host for `max-age` seconds.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of every response that has none of its own.
pub const DEFAULT_CSP: &str = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// What to add to every response.
#[derive(Debug, Clone, Default)]
pub struct SecurityHeaders {
    /// The `Strict-Transport-Security` value, when serving TLS.
    pub strict_transport_security: Option<HeaderValue>,
}

impl SecurityHeaders {
    /// `Strict-Transport-Security` for `max_age_secs` (0: none), with `includeSubDomains`.
    pub fn with_hsts(max_age_secs: u64) -> Self {
        let value = (max_age_secs > 0)
            .then(|| format!("max-age={max_age_secs}; includeSubDomains"))
            .and_then(|value| HeaderValue::from_str(&value).ok());
        Self {
            strict_transport_security: value,
        }
    }
}

pub(crate) async fn add(
    State(headers): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let map = response.headers_mut();
    let defaults = [
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        ),
    ];
    for (name, value) in defaults {
        map.entry(name).or_insert(value);
    }
    if let Some(hsts) = &headers.strict_transport_security {
        map.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    response
}
