//! OpenTelemetry export (`[telemetry] otlp_endpoint`): drover's events as OTel logs, a span per
//! container run and the fleet metrics, over OTLP/HTTP (protobuf) with the official crates.
//!
//! Invariants: off unless configured; the driver loop only hands records to the SDK's bounded
//! batch queues ([`MAX_QUEUE`]; when full, records are dropped, never waited for); requests
//! run on the tokio runtime through [`client::Client`], so an unreachable collector costs a
//! rate-limited warning and nothing else; every text is masked for secrets by value, and the
//! configured header values are themselves secrets.

pub mod client;
mod metrics;
mod runs;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use opentelemetry::KeyValue;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tokio::sync::watch;

use crate::config::{TelemetrySection, endpoint_problem};
use crate::core::{FleetEvent, RunRecord, Snapshot};
use crate::supervisor::FleetObserver;
use client::{Client, WarnGate};

/// Log records and spans queued at most, each; more are dropped until the queue drains.
pub const MAX_QUEUE: usize = 2048;
/// Records sent in one request at most.
const MAX_BATCH: usize = 512;
/// How long records wait to be batched.
const BATCH_DELAY: Duration = Duration::from_secs(2);
/// The final flush at shutdown lasts at most this.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("[telemetry] {0}")]
    Config(String),
    #[error("cannot set up the OpenTelemetry exporter: {0}")]
    Build(String),
}

/// The running export; hand it to the supervisor as its [`FleetObserver`].
pub struct Telemetry {
    runs: Mutex<runs::Runs>,
    logs: SdkLoggerProvider,
    traces: SdkTracerProvider,
    meters: Mutex<Option<(SdkMeterProvider, metrics::Instruments)>>,
    snapshots: Mutex<Option<watch::Receiver<Arc<Snapshot>>>>,
    setup: Setup,
}

/// What building an exporter needs.
struct Setup {
    base: String,
    resource: Resource,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    gate: Arc<WarnGate>,
    runtime: tokio::runtime::Handle,
    interval: Duration,
}

impl Setup {
    fn client(&self, signal: &'static str) -> Client {
        Client::new(
            self.runtime.clone(),
            Arc::clone(&self.headers),
            signal,
            Arc::clone(&self.gate),
        )
    }

    fn url(&self, signal: &str) -> String {
        format!("{}/v1/{signal}", self.base)
    }
}

impl Telemetry {
    /// Starts the export `t` asks for (`None` when it asks for none). Call inside the tokio
    /// runtime: exports run on it.
    pub fn start(t: &TelemetrySection, fleet: &str) -> Result<Option<Arc<Self>>, TelemetryError> {
        let Some(endpoint) = &t.otlp_endpoint else {
            return Ok(None);
        };
        if let Some(problem) = endpoint_problem(endpoint) {
            return Err(TelemetryError::Config(problem));
        }
        let mut headers = Vec::new();
        for (name, value) in &t.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| TelemetryError::Config(format!("header `{name}`: {e}")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                TelemetryError::Config(format!("the value of header `{name}` is not valid"))
            })?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| TelemetryError::Build(e.to_string()))?;
        let setup = Setup {
            base: endpoint.trim_end_matches('/').to_string(),
            resource: Resource::builder()
                .with_service_name(t.service_name.clone())
                .with_attributes([
                    KeyValue::new("drover.fleet", fleet.to_string()),
                    KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                ])
                .build(),
            headers: Arc::new(headers),
            gate: Arc::new(WarnGate::new(endpoint)),
            runtime,
            interval: t.metrics_interval.0,
        };
        let build =
            |e: opentelemetry_otlp::ExporterBuildError| TelemetryError::Build(e.to_string());

        let log_exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(setup.url("logs"))
            .with_http_client(setup.client("logs"))
            .build()
            .map_err(build)?;
        let logs = SdkLoggerProvider::builder()
            .with_resource(setup.resource.clone())
            .with_log_processor(
                BatchLogProcessor::builder(log_exporter)
                    .with_batch_config(
                        opentelemetry_sdk::logs::BatchConfigBuilder::default()
                            .with_max_queue_size(MAX_QUEUE)
                            .with_max_export_batch_size(MAX_BATCH)
                            .with_scheduled_delay(BATCH_DELAY)
                            .build(),
                    )
                    .build(),
            )
            .build();

        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(setup.url("traces"))
            .with_http_client(setup.client("traces"))
            .build()
            .map_err(build)?;
        let traces = SdkTracerProvider::builder()
            .with_resource(setup.resource.clone())
            .with_span_processor(
                BatchSpanProcessor::builder(span_exporter)
                    .with_batch_config(
                        opentelemetry_sdk::trace::BatchConfigBuilder::default()
                            .with_max_queue_size(MAX_QUEUE)
                            .with_max_export_batch_size(MAX_BATCH)
                            .with_scheduled_delay(BATCH_DELAY)
                            .build(),
                    )
                    .build(),
            )
            .build();

        tracing::info!(target: "drover::telemetry", endpoint = %setup.base, service = %t.service_name, "exporting events, runs and metrics over OTLP/HTTP");
        Ok(Some(Arc::new(Self {
            runs: Mutex::new(runs::Runs::new(
                traces.tracer("drover"),
                logs.logger("drover"),
            )),
            logs,
            traces,
            meters: Mutex::new(None),
            snapshots: Mutex::new(None),
            setup,
        })))
    }

    /// Exports the fleet metrics from `snapshots` (the supervisor's) from now on; events also
    /// get their slot's role and generation from them.
    pub fn watch_fleet(
        &self,
        snapshots: watch::Receiver<Arc<Snapshot>>,
    ) -> Result<(), TelemetryError> {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.setup.url("metrics"))
            .with_http_client(self.setup.client("metrics"))
            .build()
            .map_err(|e| TelemetryError::Build(e.to_string()))?;
        let provider = SdkMeterProvider::builder()
            .with_resource(self.setup.resource.clone())
            .with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(self.setup.interval)
                    .build(),
            )
            .build();
        let instruments = metrics::register(&provider.meter("drover"), &snapshots);
        if let Ok(mut m) = self.meters.lock() {
            *m = Some((provider, instruments));
        }
        if let Ok(mut s) = self.snapshots.lock() {
            *s = Some(snapshots);
        }
        Ok(())
    }

    /// Ends the spans of runs still going, then sends what is queued (at most a few seconds).
    pub async fn shutdown(self: Arc<Self>) {
        let this = Arc::clone(&self);
        let done = tokio::task::spawn_blocking(move || {
            if let Ok(mut runs) = this.runs.lock() {
                runs.close_open();
            }
            let _ = this.traces.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
            let _ = this.logs.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
            if let Ok(mut m) = this.meters.lock()
                && let Some((provider, _)) = m.take()
            {
                let _ = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
            }
        });
        // Each exporter's request is bounded too; this only caps the sum.
        if tokio::time::timeout(SHUTDOWN_TIMEOUT * 4, done)
            .await
            .is_err()
        {
            tracing::warn!(target: "drover::telemetry", "the final OpenTelemetry export did not finish in time");
        }
    }

    fn slot_role(&self, slot: &str) -> Option<(String, u64)> {
        let guard = self.snapshots.lock().ok()?;
        let snap = guard.as_ref()?.borrow().clone();
        snap.slots
            .iter()
            .find(|s| s.slot == slot)
            .map(|s| (s.role.clone(), s.generation))
    }
}

impl FleetObserver for Telemetry {
    fn event(&self, event: &FleetEvent) {
        if let Ok(runs) = self.runs.lock() {
            runs.event(event, |slot| self.slot_role(slot));
        }
    }

    fn run(&self, run: &RunRecord) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.run(run);
        }
    }
}
