//! The request context every response passes through: request id, tracing span, one log
//! line per request, server faults logged once, and framework errors given the API's shape.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::error::{ServerFault, error_body, transport_error_body};

use crate::headers::REQUEST_ID;

/// The target of the access log, one line per request ("request completed"): kept apart from
/// the rest so a subscriber can write it in batches (`quire_http=…` in a log filter covers it).
pub const ACCESS_LOG_TARGET: &str = "quire_http::access";

/// The id of the request being served, for handlers that want it.
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

tokio::task_local! {
    /// Whether the client of the current request prefers XML to JSON.
    static PREFERS_XML: bool;
}

/// Whether the current request's client prefers XML (for problem details in `+xml`).
pub(crate) fn prefers_xml() -> bool {
    PREFERS_XML.try_with(|prefers| *prefers).unwrap_or(false)
}

/// The id of the request being served, where one is (inside the request middleware).
pub(crate) fn current_request_id() -> Option<Arc<str>> {
    quire_core::audit::current_request_id()
}

/// A caller-supplied id is kept when it is short and plain, so ids can be followed across
/// services; anything else is replaced, so logs never carry injected text.
fn accepted_id(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    (!id.is_empty() && id.len() <= 128 && id.chars().all(plain)).then_some(id)
}

fn new_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    // A random half per process, so ids do not repeat across restarts and instances, and a
    // counter, so they do not repeat within one: no system call per request.
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // The OS random source failing is not worth failing requests over: the process id
        // then tells processes apart, less surely (it only weakens log correlation).
        if getrandom::fill(&mut bytes).is_err() {
            return u64::from(std::process::id());
        }
        u64::from_le_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{process:016x}{n:016x}")
}

/// Whether a response already carries a structured body: JSON or XML, including the
/// structured-syntax suffixes of RFC 6839 (`application/problem+json`,
/// `application/graphql-response+json`, `application/problem+xml`).
fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            let essence = essence.trim();
            ["application/json", "application/xml"].contains(&essence)
                || (essence.starts_with("application/")
                    && (essence.ends_with("+json") || essence.ends_with("+xml")))
        })
}

fn json_body(response: &mut Response, body: &serde_json::Value) {
    *response.body_mut() = Body::from(body.to_string());
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

/// Which contract a request speaks, for metrics: a bounded set of names.
fn contract_of(path: &str, headers: &axum::http::HeaderMap) -> &'static str {
    let grpc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"));
    if grpc {
        "grpc"
    } else if crate::v1::is_v1_path(path) {
        "v1"
    } else if path == "/api" || path.starts_with("/api/") {
        "realworld"
    } else if path == "/graphql" || path.starts_with("/graphql/") {
        "graphql"
    } else if path == "/healthz" || path == "/readyz" {
        "probe"
    } else {
        "other"
    }
}

/// The method as a metric label: the standard ones by name, anything else as `other`, so a
/// client cannot make label values up.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The route template a request matched (`/api/articles/{slug}`).
#[derive(Clone, Debug)]
pub(crate) enum RouteTemplate {
    /// Matched by routing this request.
    Matched(MatchedPath),
    /// Matched when a kept response was rendered.
    Kept(Arc<str>),
}

impl RouteTemplate {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Matched(matched) => matched.as_str(),
            Self::Kept(route) => route,
        }
    }
}

/// Where the route a request matched is left for [`request_context`], which runs before
/// routing: a request extension, filled once, by [`note_route`] or by a kept response. Whatever
/// answers the request after that (a caught panic, a timeout) is still counted under its route;
/// what answers before routing (a CORS preflight) is counted as `unmatched`.
#[derive(Clone)]
pub(crate) struct RouteSlot(Arc<Routed>);

struct Routed {
    route: std::sync::OnceLock<RouteTemplate>,
    /// Names the exported span by the route, where traces are exported.
    tracing: Option<Arc<dyn crate::RequestTracing>>,
    method: &'static str,
}

impl RouteSlot {
    /// Notes `route`, and names the current (the request's) exported span by it (only the
    /// first route noted counts).
    pub(crate) fn note(&self, route: RouteTemplate) {
        if self.0.route.set(route).is_err() {
            return;
        }
        if let (Some(hook), Some(route)) = (&self.0.tracing, self.0.route.get()) {
            let span = tracing::Span::current();
            span.record("http.route", route.as_str());
            hook.name(&span, format!("{} {}", self.0.method, route.as_str()));
        }
    }

    /// The route noted, if any.
    pub(crate) fn route(&self) -> Option<&RouteTemplate> {
        self.0.route.get()
    }
}

/// Notes the route a request matched, inside routing, for [`request_context`] (its log line,
/// metrics and exported span).
pub(crate) async fn note_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(matched)) = (
        request.extensions().get::<RouteSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        slot.note(RouteTemplate::Matched(matched.clone()));
    }
    next.run(request).await
}

/// The middleware every HTTP request passes through, outermost: it gives the request its id
/// and span, runs it, gives any failure the contract's error shape, and records it once (one
/// log line, the RED metrics).
pub(crate) async fn request_context(
    axum::extract::State(tracing_hook): axum::extract::State<
        Option<Arc<dyn crate::RequestTracing>>,
    >,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id: Arc<str> = match request.headers().get(REQUEST_ID).and_then(accepted_id) {
        Some(id) => id.into(),
        None => new_id().into(),
    };
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = request_span(&request, &id, tracing_hook.as_deref());
    let contract = contract_of(request.uri().path(), request.headers());
    let method = method_label(request.method());
    let slot = RouteSlot(Arc::new(Routed {
        route: std::sync::OnceLock::new(),
        tracing: tracing_hook.clone(),
        method,
    }));
    request.extensions_mut().insert(slot.clone());
    let path_is_v1 = crate::v1::is_v1_path(request.uri().path());
    let xml = path_is_v1 && crate::v1::prefers_xml(request.headers());
    let response = PREFERS_XML
        .scope(
            xml,
            quire_core::audit::in_request(id.clone(), next.run(request).instrument(span.clone())),
        )
        .await;

    let _entered = span.enter();
    let route = slot.route().map_or("unmatched", RouteTemplate::as_str);
    let status = response.status();
    let mut response = shaped(response, &id, path_is_v1, xml);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    record(contract, route, method, status, started);
    response
}

/// The request's span: its id and method (where traces are exported, the route template too,
/// once routing has matched one), joined to the caller's trace where traces are exported.
fn request_span(
    request: &Request,
    id: &str,
    tracing_hook: Option<&dyn crate::RequestTracing>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        request_id = %id,
        trace_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
        method = %request.method(),
        http.route = tracing::field::Empty,
    );
    if let Some(hook) = tracing_hook
        && let Some(trace_id) = hook.start(&span, request.headers())
    {
        span.record("trace_id", trace_id);
    }
    span
}

/// A response in its contract's error shape: a server fault is logged once (with the request
/// id, which the body names) and any failure without a structured body gets one, a problem
/// document under `/api/v1` and RealWorld's `{"errors": ...}` elsewhere.
fn shaped(mut response: Response, id: &str, path_is_v1: bool, xml: bool) -> Response {
    let status = response.status();
    let fault = response.extensions_mut().remove::<ServerFault>();
    if let Some(ServerFault(cause)) = &fault {
        tracing::error!(%cause, "request failed");
    }
    let internal = || error_body("server", &format!("internal error (request id {id})"));
    let replacement = match (fault.is_some(), status) {
        (true, _) if path_is_v1 => None,
        (true, _) => Some(internal()),
        (false, _) if is_json(&response) => None,
        (false, axum::http::StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::warn!("request timed out");
            Some(error_body("request", "took too long; retry later"))
        }
        (false, status) if status.is_server_error() => {
            tracing::error!(status = status.as_u16(), "request failed without a cause");
            Some(internal())
        }
        (false, status) if status.is_client_error() => Some(transport_error_body(status)),
        _ => None,
    };
    let Some(body) = replacement else {
        return response;
    };
    if !path_is_v1 {
        json_body(&mut response, &body);
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = reason.to_ascii_lowercase().replace(' ', "-");
    let problem = crate::v1::Problem::new(status, &code, "Request not served", reason);
    let mut shaped =
        PREFERS_XML.sync_scope(xml, || axum::response::IntoResponse::into_response(problem));
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}

/// The request's one log line and its RED metrics.
fn record(
    contract: &'static str,
    route: &str,
    method: &'static str,
    status: axum::http::StatusCode,
    started: Instant,
) {
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!(
        "quire_http_requests_total",
        "contract" => contract,
        "route" => route.to_owned(),
        "method" => method,
        "status_class" => status_class(status),
    )
    .increment(1);
    metrics::histogram!(
        "quire_http_request_duration_seconds",
        "contract" => contract,
        "route" => route.to_owned(),
        "method" => method,
    )
    .record(elapsed);
    let latency_ms = elapsed * 1000.0;
    if status.is_server_error() {
        tracing::warn!(target: ACCESS_LOG_TARGET, route, status = status.as_u16(), latency_ms, "request completed");
    } else if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
        // A flood's refusals are counted (above, and in `quire_rate_limited_total`), not
        // written out one line each: a line per refusal would let a flood spend the log
        // pipeline and the disk, and the cores that write them.
        tracing::debug!(target: ACCESS_LOG_TARGET, route, status = status.as_u16(), latency_ms, "request completed");
    } else {
        tracing::info!(target: ACCESS_LOG_TARGET, route, status = status.as_u16(), latency_ms, "request completed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_short_ids_are_kept_and_others_replaced() {
        let keep = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(accepted_id(&keep), Some("abc-123_x.y:z"));
        for bad in ["", "has space", "new\\nline", "<script>"] {
            if let Ok(value) = HeaderValue::from_str(bad) {
                assert_eq!(accepted_id(&value), None, "{bad:?}");
            }
        }
        let long = HeaderValue::from_str(&"a".repeat(129)).unwrap();
        assert_eq!(accepted_id(&long), None);
    }

    #[test]
    fn generated_ids_are_distinct_hex() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
