//! Logs and traces. Logs: human-readable on a terminal, JSON lines when configured, each line
//! of a request carrying its request id, trace id and user id, its closing line the route.
//! Traces: exported over OTLP/gRPC when an endpoint is configured (one server span per request,
//! named by its route template, with a child span per SQL statement); without one nothing is
//! exported and the statement spans stay disabled.

use std::io::IsTerminal;
use std::sync::Arc;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogConfig, LogFormat};

/// What spans the trace exporter sees: requests and the work under them, SQL statements too.
const TRACE_FILTER: &str = "info,quire_storage=debug,sqlx=warn,h2=warn,hyper=warn,tower=warn";

/// The most bytes of access log lines written in one system call: `PIPE_BUF` on Linux, so a
/// batch reaches a pipe (a container runtime's log collector) whole, never interleaved with
/// another writer's.
pub const ACCESS_BATCH_BYTES: usize = 4096;

/// How long flushing the trace exporter may take when the process stops (the collector may be
/// down).
pub const FLUSH_DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

/// Tracing for the rest of the process; flushes the trace exporter when dropped, within
/// [`FLUSH_DEADLINE`].
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// The access log's writer thread; dropped, it writes out what is left.
    _access_log: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl Telemetry {
    /// How the HTTP layer joins requests to traces, when traces are exported.
    pub fn request_tracing(&self) -> Option<Arc<dyn quire_http::RequestTracing>> {
        self.provider
            .as_ref()
            .map(|_| Arc::new(W3cTraceContext) as Arc<dyn quire_http::RequestTracing>)
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown_with_timeout(FLUSH_DEADLINE)
        {
            eprintln!("flushing traces failed: {error}");
        }
    }
}

/// Installs the global subscriber. `QUIRE_LOG` (already folded into the configuration)
/// sets the log filter; `otlp_endpoint` turns trace export on. Call inside the runtime.
///
/// Two streams share stdout. The access lines of requests that did not fail (target
/// [`quire_http::ACCESS_LOG_TARGET`], level info) are written by a thread of their own in
/// batches of at most [`ACCESS_BATCH_BYTES`]: under load many lines cost one system call, and
/// an idle server writes each line at once. Every other line (warnings, including a failed
/// request's access line, errors, a fault's cause) is written on the thread that logs it before
/// the request's response leaves, so a crash never loses one. A `SIGKILL` can lose access lines
/// not yet written; a graceful stop writes those of every request it finished (the writer
/// thread gets up to a second to drain).
pub fn init(log: &LogConfig, otlp_endpoint: Option<&str>) -> Telemetry {
    let filter = || EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    if let Err(error) = EnvFilter::try_new(&log.filter) {
        eprintln!(
            "invalid log filter {:?} ({error}); using \"info\"",
            log.filter
        );
    }
    let (access_writer, access_guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("quire-access-log")
            .finish(std::io::BufWriter::with_capacity(
                ACCESS_BATCH_BYTES,
                std::io::stdout(),
            ));
    // One formatter; the writer is chosen by each line's target and level: an access line of a
    // failed request (a warning) is written at once, like every other warning.
    let writer = access_writer
        .with_filter(|metadata: &tracing::Metadata<'_>| {
            metadata.target() == quire_http::ACCESS_LOG_TARGET
                && *metadata.level() >= tracing::Level::INFO
        })
        .or_else(std::io::stdout);
    let logs = lines(log.format, writer).with_filter(filter());

    let mut telemetry = Telemetry {
        provider: None,
        _access_log: Some(access_guard),
    };
    let traces = match otlp_endpoint.map(exporter) {
        None => None,
        Some(Ok(provider)) => {
            let tracer = provider.tracer("quire");
            telemetry.provider = Some(provider);
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(EnvFilter::new(TRACE_FILTER)),
            )
        }
        Some(Err(error)) => {
            eprintln!("trace export is off: {error}");
            None
        }
    };
    if let Err(error) = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
    {
        eprintln!("logging was already set up: {error}");
    }
    telemetry
}

/// Logging for a one-shot command whose own output is on stdout (an import's summary): its
/// log lines go to stderr, so that stdout stays what the command prints.
pub fn init_for_command(log: &LogConfig) {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = lines(log.format, std::io::stderr).with_filter(filter);
    if let Err(error) = tracing_subscriber::registry().with(logs).try_init() {
        eprintln!("logging was already set up: {error}");
    }
}

/// The JSON or human-readable lines of one stream, written with `writer`.
fn lines<W>(format: LogFormat, writer: W) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => json_subscriber::fmt::layer()
            .log_internal_errors(true)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    }
}

fn exporter(endpoint: &str) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("quire")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// W3C Trace Context: a request's span continues the trace of an incoming `traceparent`.
#[derive(Debug)]
struct W3cTraceContext;

struct Headers<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

impl quire_http::RequestTracing for W3cTraceContext {
    fn start(&self, span: &tracing::Span, headers: &axum::http::HeaderMap) -> Option<String> {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
        let context = span.context();
        let trace_id = context.span().span_context().trace_id();
        (trace_id != opentelemetry::trace::TraceId::INVALID).then(|| trace_id.to_string())
    }

    fn name(&self, span: &tracing::Span, name: String) {
        span.context().span().update_name(name);
    }
}
