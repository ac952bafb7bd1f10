//! Traces reach an OTLP collector: a small in-process receiver implementing the collector's
//! trace service stands in for one, so the export is proven, not assumed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::durability::start_with;
use crate::helpers::{Engine, TestEnv};

/// Collects every span exported to it.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn start_receiver() -> (String, Receiver) {
    let receiver = Receiver::default();
    let router = axum::Router::new().route_service(
        "/opentelemetry.proto.collector.trace.v1.TraceService/{*method}",
        TraceServiceServer::new(receiver.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), receiver)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value| value.value.as_ref())
}

#[tokio::test]
async fn a_request_is_one_server_span_with_its_sql_statements_below_it() {
    let (endpoint, receiver) = start_receiver().await;
    let env = TestEnv::new(Engine::Sqlite).await;
    let (mut server, address, log) =
        start_with(&env, &[("QUIRE_OTLP_ENDPOINT", endpoint.as_str())]).await;
    let client = reqwest::Client::new();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let reply = client
        .get(format!(
            "http://{address}/api/articles?tag=secret-tag-value"
        ))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // A clean stop flushes the exporter.
    crate::durability::stop_gracefully(&mut server).await;

    let spans = receiver.0.lock().unwrap().clone();
    let in_trace: Vec<&Span> = spans
        .iter()
        .filter(|span| hex(&span.trace_id) == trace_id)
        .collect();
    let servers: Vec<&&Span> = in_trace.iter().filter(|span| span.kind == 2).collect();
    assert_eq!(servers.len(), 1, "one server span: {in_trace:#?}");
    let request = servers[0];
    assert_eq!(
        request.name, "GET /api/articles",
        "named by the route template"
    );
    assert_eq!(
        hex(&request.parent_span_id),
        caller_span,
        "continues the caller's trace"
    );

    // Every SQL statement is a span below the request's, in the same trace.
    let by_id: HashMap<String, &Span> = in_trace
        .iter()
        .map(|span| (hex(&span.span_id), *span))
        .collect();
    let below_request = |span: &Span| {
        let mut parent = hex(&span.parent_span_id);
        while let Some(up) = by_id.get(&parent) {
            if up.span_id == request.span_id {
                return true;
            }
            parent = hex(&up.parent_span_id);
        }
        false
    };
    let statements: Vec<&&Span> = in_trace
        .iter()
        .filter(|span| attribute(span, "db.operation.name").is_some())
        .collect();
    assert!(!statements.is_empty(), "no SQL spans: {in_trace:#?}");
    for statement in &statements {
        assert!(
            below_request(statement),
            "{statement:?} is not under the request"
        );
        assert_eq!(statement.kind, 3, "client spans");
        assert!(statement.name.starts_with("SELECT "), "{}", statement.name);
    }
    // Parameters (here, the tag bound to the list statement) never reach a span.
    for span in &spans {
        let text = format!("{span:?}");
        assert!(!text.contains("secret-tag-value"), "{text}");
    }

    // The request's log line carries the same trace id (the pipe may still hold it).
    crate::durability::wait_for_lines(&log, 1, |line| {
        line.contains("request completed") && line.contains("/api/articles")
    })
    .await;
    let lines = log.lock().unwrap().clone();
    let completed = lines
        .iter()
        .find(|line| line.contains("request completed") && line.contains("/api/articles"))
        .expect("the request's log line");
    assert!(completed.contains(trace_id), "{completed}");
}
