//! The HTTP client the OTLP exporters post through: hyper's client run on drover's tokio
//! runtime, with the configured headers, and one warning a minute at most while the collector
//! cannot be reached.
//!
//! Invariants: the SDK's batch threads only wait on a spawned task, so no export ever runs on
//! (or blocks) the driver loop; a request lasts at most [`REQUEST_TIMEOUT`]; header values are
//! marked sensitive and never printed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hyper::header::{HeaderName, HeaderValue};
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// One export request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one warning about failed exports this often.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

/// Says when exports fail (rate-limited) and when they work again.
#[derive(Debug)]
pub struct WarnGate {
    endpoint: String,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    last_warning: Option<Instant>,
    /// Failures since the last warning (not yet reported).
    unreported: u64,
    failing: bool,
}

impl WarnGate {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            state: Mutex::new(GateState::default()),
        }
    }

    fn failed(&self, signal: &str, error: &str) {
        let Ok(mut s) = self.state.lock() else { return };
        s.failing = true;
        s.unreported += 1;
        let due = s.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if !due {
            return;
        }
        let failures = std::mem::take(&mut s.unreported);
        s.last_warning = Some(Instant::now());
        drop(s);
        tracing::warn!(
            target: "drover::telemetry",
            endpoint = %self.endpoint,
            signal,
            failures,
            "OpenTelemetry export failed ({}); the fleet runs on and those batches are dropped (next warning in a minute at most)",
            crate::secrets::mask(error)
        );
    }

    fn worked(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        if std::mem::take(&mut s.failing) {
            s.unreported = 0;
            drop(s);
            tracing::info!(target: "drover::telemetry", endpoint = %self.endpoint, "OpenTelemetry export reaches the collector again");
        }
    }
}

/// An [`HttpClient`] for one signal (`logs`, `traces`, `metrics`).
#[derive(Debug, Clone)]
pub struct Client {
    inner: HyperClient,
    runtime: tokio::runtime::Handle,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    signal: &'static str,
    gate: Arc<WarnGate>,
}

impl Client {
    pub fn new(
        runtime: tokio::runtime::Handle,
        headers: Arc<Vec<(HeaderName, HeaderValue)>>,
        signal: &'static str,
        gate: Arc<WarnGate>,
    ) -> Self {
        Self {
            inner: HyperClient::with_default_connector(REQUEST_TIMEOUT, None),
            runtime,
            headers,
            signal,
            gate,
        }
    }
}

#[async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        for (name, value) in self.headers.iter() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let inner = self.inner.clone();
        // The SDK polls this future on its own thread; hyper needs the tokio runtime, so the
        // request runs there and the thread only waits for its end.
        let result = match self
            .runtime
            .spawn(async move { inner.send_bytes(request).await })
            .await
        {
            Ok(r) => r,
            Err(e) => Err(Box::new(e) as HttpError),
        };
        match &result {
            Err(e) => self.gate.failed(self.signal, &e.to_string()),
            Ok(resp) if !resp.status().is_success() => self.gate.failed(
                self.signal,
                &format!("the collector answered {}", resp.status()),
            ),
            Ok(_) => self.gate.worked(),
        }
        result
    }
}
