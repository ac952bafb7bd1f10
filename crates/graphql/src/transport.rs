//! `/graphql` over HTTP and WebSocket: POST (single or batched operations), GET for queries
//! and for the GraphiQL page, and subscriptions over `graphql-transport-ws` (or the older
//! `graphql-ws`), signed in by the `connection_init` payload.

use std::sync::Arc;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request as GraphqlRequest, Value};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quire_core::policy::Actor;
use quire_core::ports::Store;
use quire_core::service::Quire;

use crate::context::Viewer;
use crate::error::{code, graphql_error, request_error_code};
use crate::graphiql;
use crate::limits::{DocumentLimits, GraphqlConfig};
use crate::loaders::Loaders;
use crate::schema::{self, QuireSchema};
use crate::socket;

struct Endpoint<S: Store> {
    quire: Quire<S>,
    schema: QuireSchema<S>,
    subscriptions: QuireSchema<S>,
    limits: DocumentLimits,
    config: GraphqlConfig,
}

/// `/graphql` and the GraphiQL assets, on the core.
pub fn router<S: Store>(quire: Quire<S>, config: GraphqlConfig) -> Router {
    let endpoint = Arc::new(Endpoint {
        schema: schema::build(quire.clone(), &config),
        subscriptions: schema::build_for_subscriptions(quire.clone(), &config),
        limits: schema::limits(&config),
        quire,
        config,
    });
    Router::new()
        .route("/graphql", get(get_graphql::<S>).post(post_graphql::<S>))
        .with_state(endpoint)
        .route("/graphql/assets/{file}", get(graphiql::asset))
}

/// A response with one error and no data, as GraphQL clients read failures of the request.
fn request_error(status: StatusCode, message: &str, error_code: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": error_code } }]
    });
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The caller of an HTTP request: anonymous without a token; a bad, expired or deactivated
/// one is refused with 401 rather than served as anonymous.
async fn authenticated<S: Store>(
    quire: &Quire<S>,
    headers: &HeaderMap,
) -> Result<Option<Actor>, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    quire
        .caller(authorization)
        .await
        .map(|caller| caller.actor().copied())
        .map_err(|error| {
            let status = match error {
                quire_core::Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                quire_core::Error::Unavailable { .. } | quire_core::Error::Busy => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                quire_core::Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let error = graphql_error(&error);
            let error_code = match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
                Some(Value::String(code)) => code.clone(),
                _ => code::INTERNAL.to_owned(),
            };
            request_error(status, &error.message, &error_code)
        })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            let media = media.trim();
            media.eq_ignore_ascii_case("application/json")
                || media.eq_ignore_ascii_case("application/graphql+json")
        })
}

async fn post_graphql<S: Store>(
    State(endpoint): State<Arc<Endpoint<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Only JSON: a form or text/plain POST (what a cross-site page can send without a
    // preflight) is refused.
    if !is_json(&headers) {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json",
            code::GRAPHQL_PARSE_FAILED,
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a GraphQL request: {error}"),
                code::GRAPHQL_PARSE_FAILED,
            );
        }
    };
    let operations = batch.iter().count();
    if operations > endpoint.config.max_batch {
        return request_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "the batch holds {operations} operations; at most {} are allowed",
                endpoint.config.max_batch
            ),
            code::LIMIT_EXCEEDED,
        );
    }
    let viewer = match authenticated(&endpoint.quire, &headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    execute(&endpoint, batch, viewer, response_media(&headers)).await
}

async fn get_graphql<S: Store>(
    State(endpoint): State<Arc<Endpoint<S>>>,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    if parts.headers.contains_key(header::UPGRADE) {
        return subscribe(endpoint, &mut parts).await;
    }
    let Some(query) = parts.uri.query().filter(|query| !query.is_empty()) else {
        if graphiql::wants_page(&parts.headers) {
            return graphiql::page();
        }
        return request_error(
            StatusCode::BAD_REQUEST,
            "send a query: POST a JSON body, or GET with ?query=",
            code::GRAPHQL_PARSE_FAILED,
        );
    };
    let request = match async_graphql::http::parse_query_string(query) {
        Ok(request) => request,
        Err(error) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                &format!("the query string is not a GraphQL request: {error}"),
                code::GRAPHQL_PARSE_FAILED,
            );
        }
    };
    // GET must not change anything (it may be repeated, prefetched, cached).
    if writes(&request) {
        let mut response = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations and subscriptions must be sent with POST",
            code::GRAPHQL_VALIDATION_FAILED,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let viewer = match authenticated(&endpoint.quire, &parts.headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let media = response_media(&parts.headers);
    execute(&endpoint, BatchRequest::Single(request), viewer, media).await
}

/// Whether the operation a request would run is not a query. A document that does not
/// parse is left to the executor to report.
fn writes(request: &GraphqlRequest) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let chosen = match (&request.operation_name, name) {
            (Some(wanted), Some(name)) => wanted.as_str() == name.as_str(),
            _ => true,
        };
        chosen && operation.node.ty != OperationType::Query
    })
}

/// The media type a response is sent as (GraphQL over HTTP, section 6.4): the newer
/// `application/graphql-response+json` when the client accepts it, else `application/json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMedia {
    GraphqlResponse,
    Json,
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn response_media(headers: &HeaderMap) -> ResponseMedia {
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|param| {
                param
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case(GRAPHQL_RESPONSE) && !refused
        });
    if accepts {
        ResponseMedia::GraphqlResponse
    } else {
        ResponseMedia::Json
    }
}

/// Whether a response is a request error: it failed before execution (parse, validation,
/// limits), so it has no data and no error at a path.
fn is_request_error(response: &async_graphql::Response) -> bool {
    matches!(response.data, Value::Null)
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// The body and status of a response, by GraphQL over HTTP: a request error carries no `data`
/// entry; as `application/graphql-response+json` it is a 400 (section 6.4.2), as
/// `application/json` a 200 (section 6.4.1).
fn respond(response: BatchResponse, media: ResponseMedia) -> Response {
    let refused = match &response {
        BatchResponse::Single(response) => is_request_error(response),
        BatchResponse::Batch(_) => false,
    };
    let mut body = match serde_json::to_value(&response) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "a GraphQL response did not serialize");
            return request_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                code::INTERNAL,
            );
        }
    };
    let single = |body: &mut serde_json::Value, response: &async_graphql::Response| {
        if is_request_error(response)
            && let Some(fields) = body.as_object_mut()
        {
            fields.remove("data");
        }
    };
    match (&response, &mut body) {
        (BatchResponse::Single(response), body) => single(body, response),
        (BatchResponse::Batch(responses), serde_json::Value::Array(bodies)) => {
            for (response, body) in responses.iter().zip(bodies.iter_mut()) {
                single(body, response);
            }
        }
        _ => {}
    }
    let status = if refused && media == ResponseMedia::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response = (status, axum::Json(body)).into_response();
    if media == ResponseMedia::GraphqlResponse {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(GRAPHQL_RESPONSE),
        );
    }
    response
}

async fn execute<S: Store>(
    endpoint: &Endpoint<S>,
    batch: BatchRequest,
    viewer: Option<Actor>,
    media: ResponseMedia,
) -> Response {
    let run = async {
        match batch {
            BatchRequest::Single(request) => {
                BatchResponse::Single(execute_one(endpoint, request, viewer).await)
            }
            BatchRequest::Batch(requests) => BatchResponse::Batch(
                futures_util::future::join_all(
                    requests
                        .into_iter()
                        .map(|request| execute_one(endpoint, request, viewer)),
                )
                .await,
            ),
        }
    };
    let Ok(mut response) = tokio::time::timeout(endpoint.config.timeout, run).await else {
        tracing::warn!("graphql request timed out");
        return request_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took too long; retry later or ask for less",
            code::TIMEOUT,
        );
    };
    match &mut response {
        BatchResponse::Single(response) => label_errors(response),
        BatchResponse::Batch(responses) => responses.iter_mut().for_each(label_errors),
    }
    respond(response, media)
}

/// Parses one operation, refuses it if it breaks a limit, else runs it with this request's
/// viewer and batch loaders. The parsed document is kept in the request, so the schema does
/// not parse it again.
async fn execute_one<S: Store>(
    endpoint: &Endpoint<S>,
    mut request: GraphqlRequest,
    viewer: Option<Actor>,
) -> async_graphql::Response {
    let checked = request
        .parsed_query()
        .and_then(|document| endpoint.limits.check(document));
    if let Err(error) = checked {
        return async_graphql::Response::from_errors(vec![error]);
    }
    let request = request
        .data(Viewer(viewer))
        .data(Loaders::new(&endpoint.quire, viewer));
    endpoint.schema.execute(request).await
}

/// Gives every error a code: ours carry one; the executor's own (syntax, validation,
/// complexity) get the conventional ones.
fn label_errors(response: &mut async_graphql::Response) {
    let request_failed = matches!(response.data, Value::Null);
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_some() {
            continue;
        }
        let label = if !error.path.is_empty() || !request_failed {
            code::BAD_USER_INPUT
        } else {
            request_error_code(&error.message)
        };
        extensions.set("code", label);
    }
}

async fn subscribe<S: Store>(
    endpoint: Arc<Endpoint<S>>,
    parts: &mut axum::http::request::Parts,
) -> Response {
    // The first of our subprotocols, in our order of preference, that the client offers
    // (RFC 6455 section 4.2.2): the one the handshake then names, and the one spoken.
    let offered: Vec<&str> = parts
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let chosen = ALL_WEBSOCKET_PROTOCOLS
        .iter()
        .copied()
        .find(|name| offered.contains(name));
    let Some((name, protocol)) =
        chosen.and_then(|name| Some((name, name.parse::<WebSocketProtocols>().ok()?)))
    else {
        return request_error(
            StatusCode::BAD_REQUEST,
            "ask for the graphql-transport-ws subprotocol",
            code::GRAPHQL_PARSE_FAILED,
        );
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // The connection is served on a task of its own: it keeps the client the upgrade came
    // from, so the core's limits count each operation sent over it against that client.
    let client = quire_core::limits::current_client();
    upgrade
        .max_message_size(endpoint.config.max_message_bytes)
        .max_frame_size(endpoint.config.max_message_bytes)
        .protocols([name])
        .on_upgrade(move |socket| async move {
            let serving = socket::serve(
                socket,
                endpoint.quire.clone(),
                endpoint.subscriptions.clone(),
                protocol,
            );
            match client {
                Some(client) => quire_core::limits::from_client(client, serving).await,
                None => serving.await,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_may_be_sent_with_get() {
        let query = GraphqlRequest::new("{ tags }");
        assert!(!writes(&query));
        let mutation = GraphqlRequest::new("mutation { deletePost(id: 1) }");
        assert!(writes(&mutation));
        let named = GraphqlRequest::new("query A { tags } mutation B { deletePost(id: 1) }")
            .operation_name("A");
        assert!(!writes(&named));
    }
}
