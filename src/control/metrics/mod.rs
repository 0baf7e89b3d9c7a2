//! The Prometheus endpoint: `GET /metrics` in the OpenMetrics text format, encoded by the
//! official client crate ([`families`]) and served by hyper's HTTP/1.1 server.
//!
//! Invariants: a request only clones the latest snapshot `Arc`, so scrapes never slow the
//! supervisor; each connection serves one request and is closed. At most [`MAX_CONNECTIONS`]
//! are open at once — more are closed as soon as they are accepted — a request head must
//! arrive within [`HEADER_TIMEOUT`] and be at most [`MAX_HEADER_BYTES`], and a whole
//! connection lasts at most [`CONNECTION_TIMEOUT`], so idle or slow clients cannot use up
//! drover's file descriptors (the control socket and the log files need them). The body is
//! masked for known secret values.

pub mod families;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::core::Snapshot;

pub use families::render;

/// Connections served at once; a Prometheus server scrapes with one.
pub const MAX_CONNECTIONS: usize = 16;
/// The whole request head must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// A request head larger than this is answered 431 (hyper's smallest read buffer).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// A connection from accept to close, response included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The content type `prometheus-client` encodes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` (the caller has validated it).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Answers scrapes on `listener` from the latest snapshot until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    stop: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics endpoint listening (GET /metrics)");
    }
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut refused: u64 = 0;
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Accepting and closing at once keeps the kernel's queue draining and our descriptor
        // count flat; the scraper retries on its next interval.
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            drop(stream);
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    limit = MAX_CONNECTIONS,
                    "metrics endpoint: too many open connections; closing new ones"
                );
            }
            continue;
        };
        let snapshots = snapshots.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let snap = snapshots.borrow().clone();
                async move { Ok::<_, Infallible>(answer(&req, &snap)) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(false);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = stop.cancelled() => {}
                r = tokio::time::timeout(CONNECTION_TIMEOUT, conn) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "metrics client dropped"),
                    Err(_) => tracing::debug!("metrics connection outlived its deadline"),
                },
            }
            drop(permit);
        });
    }
}

fn answer(req: &Request<Incoming>, snap: &Snapshot) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            OPENMETRICS,
            crate::secrets::mask_owned(render(snap)),
        ),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "only /metrics here\n".to_string(),
        ),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", String::new()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
