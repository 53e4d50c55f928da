//! Logs and traces. Every command logs to stderr through `SELFHARNESS_LOG` (an env filter,
//! `warn` by default). When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the `selfharness` spans
//! (run → generation → stage → evaluation → turn) are also exported over OTLP/HTTP
//! (protobuf) to that collector, whatever `SELFHARNESS_LOG` says.
//!
//! The exporter batches on its own thread and posts with a blocking HTTP client (ureq, short
//! timeouts): a collector that is down costs one warning on stderr, never the command.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{filter, EnvFilter, Layer};

/// Spans of these targets (every selfharness crate) at this level or above are exported.
const EXPORTED: (&str, tracing::Level) = ("selfharness", tracing::Level::INFO);
/// Spans queued for export at most; the batch is as large, so a flush sends everything.
const QUEUE: usize = 16_384;
/// After a failed export, exports are dropped at once for this long (a collector that hangs
/// must not hold up every batch, nor the exit).
const BACKOFF: Duration = Duration::from_secs(10);

/// Keeps the span exporter alive; dropping it flushes the spans still queued and shuts the
/// exporter down (so a short command exports everything before it exits).
pub struct Guard(Option<SdkTracerProvider>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            if let Err(e) = provider.shutdown() {
                tracing::debug!(error = %e, "span exporter shutdown");
            }
        }
    }
}

/// Install the global subscriber for a process playing `role` (the subcommand: `run`,
/// `validator`, `eval`, …), which is the exported spans' `selfharness.role` resource attribute.
pub fn init(role: &str) -> Guard {
    let mut logged = EnvFilter::try_from_env("SELFHARNESS_LOG").unwrap_or_else(|_| "warn".into());
    if !std::env::var("SELFHARNESS_LOG").is_ok_and(|l| l.contains("opentelemetry")) {
        // The exporter's own complaints (one per failed export) are ours to say, once.
        logged = logged.add_directive("opentelemetry=off".parse().expect("a valid directive"));
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(logged);
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty());
    let provider = endpoint.as_deref().and_then(|e| provider(e, role));
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("selfharness"))
            .with_filter(filter::Targets::new().with_target(EXPORTED.0, EXPORTED.1))
    });
    tracing_subscriber::registry().with(fmt).with(otel).init();
    if let (Some(e), None) = (&endpoint, &provider) {
        tracing::warn!(endpoint = %e, "OTLP span export not started");
    }
    Guard(provider)
}

/// The tracer provider exporting to `endpoint`, or `None` (with a warning) if it cannot be
/// built.
fn provider(endpoint: &str, role: &str) -> Option<SdkTracerProvider> {
    let client = Ureq {
        agent: ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .build(),
        warned: AtomicBool::new(false),
        down_until: Mutex::new(None),
        endpoint: endpoint.to_string(),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build();
    let exporter = match exporter {
        Ok(e) => e,
        Err(e) => {
            eprintln!("warning: OTLP exporter for {endpoint}: {e}; spans are not exported");
            return None;
        }
    };
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "selfharness".into());
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("selfharness.role", role.to_string()))
        .build();
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(QUEUE)
        .with_max_export_batch_size(QUEUE)
        .with_scheduled_delay(Duration::from_secs(1))
        .build();
    Some(
        SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_processor(
                BatchSpanProcessor::builder(exporter)
                    .with_batch_config(batch)
                    .build(),
            )
            .build(),
    )
}

/// OTLP over a blocking HTTP client. The batch processor exports on its own thread and
/// blocks on the future, so blocking inside it is what it expects.
#[derive(Debug)]
struct Ureq {
    agent: ureq::Agent,
    /// Whether the one warning about a failed export was logged.
    warned: AtomicBool,
    /// Until when exports are dropped without trying, after a failure.
    down_until: Mutex<Option<Instant>>,
    endpoint: String,
}

impl Ureq {
    fn failed(&self, error: &dyn std::fmt::Display) {
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + BACKOFF);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                endpoint = %self.endpoint,
                %error,
                "OTLP span export failed; spans are dropped while the collector cannot be reached (warned once)"
            );
        }
    }

    fn post(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut req = self
            .agent
            .request(parts.method.as_str(), &parts.uri.to_string());
        for (name, value) in &parts.headers {
            if let Ok(v) = value.to_str() {
                req = req.set(name.as_str(), v);
            }
        }
        let resp = match req.send_bytes(&body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(Box::new(e)),
        };
        let status = resp.status();
        let mut bytes = Vec::new();
        resp.into_reader().take(1 << 20).read_to_end(&mut bytes)?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "collector answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            )
            .into());
        }
        Ok(Response::builder()
            .status(status)
            .body(Bytes::from(bytes))?)
    }
}

#[async_trait::async_trait]
impl HttpClient for Ureq {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let down = *self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        if down.is_some_and(|t| Instant::now() < t) {
            return Err("the collector failed recently; batch dropped".into());
        }
        self.post(request).inspect_err(|e| self.failed(e))
    }
}
