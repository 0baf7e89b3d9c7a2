//! The Prometheus endpoint: `GET /metrics` in the text exposition format (0.0.4), rendered
//! from the latest snapshot by a minimal HTTP/1.1 responder on a tokio `TcpListener`.
//!
//! Invariants: rendering is a pure function of the snapshot; a request only clones the latest
//! snapshot `Arc`, so scrapes never slow the supervisor; every connection is answered once and
//! closed, bounded in time and request size. At most [`MAX_CONNECTIONS`] are open at once —
//! more are closed as soon as they are accepted — and a request head must arrive within
//! [`HEADER_TIMEOUT`], so idle or slow clients cannot use up drover's file descriptors (the
//! control socket and the log files need them). The body is masked for known secret values.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::view::verdict_label;
use crate::core::{DockerStatus, Snapshot};

/// A request head larger than this is refused.
const MAX_REQUEST: usize = 8 * 1024;
/// Writing the response.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; a Prometheus server scrapes with one.
pub const MAX_CONNECTIONS: usize = 16;
/// The whole request head must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Every state a slot can be in, so each slot exports a full one-hot set.
const STATES: &[&str] = &[
    "pending",
    "preflight",
    "creating",
    "starting",
    "running",
    "paused",
    "stopping",
    "removing",
    "exited",
    "backoff",
    "throttled",
    "blocked",
    "taken-over",
    "stopped",
    "retiring",
];

/// Escapes a label value per the exposition format.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The whole exposition for `snap`.
pub fn render(snap: &Snapshot) -> String {
    let mut o = String::new();
    family(
        &mut o,
        "drover_docker_up",
        "gauge",
        "1 when the Docker Engine answers.",
    );
    let up = matches!(snap.docker, DockerStatus::Up);
    let _ = writeln!(o, "drover_docker_up {}", u8::from(up));

    family(
        &mut o,
        "drover_slots",
        "gauge",
        "Slots of the fleet by state.",
    );
    for (state, n) in &snap.metrics.by_state {
        let _ = writeln!(o, "drover_slots{{state=\"{}\"}} {n}", esc(state));
    }

    family(
        &mut o,
        "drover_slot_state",
        "gauge",
        "1 for the state each slot is in, 0 for the others.",
    );
    for s in &snap.slots {
        let current = s.state.label();
        for st in STATES {
            let _ = writeln!(
                o,
                "drover_slot_state{{slot=\"{}\",role=\"{}\",state=\"{st}\"}} {}",
                esc(&s.slot),
                esc(&s.role),
                u8::from(*st == current)
            );
        }
    }

    family(
        &mut o,
        "drover_slot_healthy",
        "gauge",
        "1 when the slot's health is healthy.",
    );
    for s in &snap.slots {
        let _ = writeln!(
            o,
            "drover_slot_healthy{{slot=\"{}\",role=\"{}\",health=\"{}\"}} {}",
            esc(&s.slot),
            esc(&s.role),
            s.health.label(),
            u8::from(s.health.label() == "healthy")
        );
    }

    family(
        &mut o,
        "drover_slot_restarts_total",
        "counter",
        "Restarts of the slot (starts after the first).",
    );
    for s in &snap.slots {
        let _ = writeln!(
            o,
            "drover_slot_restarts_total{{slot=\"{}\",role=\"{}\"}} {}",
            esc(&s.slot),
            esc(&s.role),
            s.restarts
        );
    }

    family(
        &mut o,
        "drover_slot_alerts",
        "gauge",
        "Active alerts concerning the slot.",
    );
    for s in &snap.slots {
        let _ = writeln!(
            o,
            "drover_slot_alerts{{slot=\"{}\"}} {}",
            esc(&s.slot),
            s.open_alerts
        );
    }

    // The text format wants every family's samples in one group after its header.
    family(
        &mut o,
        "drover_slot_tests",
        "gauge",
        "Counts of the slot's last test run by outcome.",
    );
    for s in &snap.slots {
        let Some(t) = &s.last_test else { continue };
        for (outcome, n) in [
            ("passed", t.summary.passed),
            ("failed", t.summary.failed),
            ("skipped", t.summary.skipped),
            ("errors", t.summary.errors),
        ] {
            let _ = writeln!(
                o,
                "drover_slot_tests{{slot=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(&s.slot)
            );
        }
    }
    family(
        &mut o,
        "drover_slot_tests_passing",
        "gauge",
        "1 when the slot's last test run passed, 0 otherwise.",
    );
    for s in &snap.slots {
        let Some(t) = &s.last_test else { continue };
        let verdict = verdict_label(&t.summary.verdict);
        let _ = writeln!(
            o,
            "drover_slot_tests_passing{{slot=\"{}\",verdict=\"{verdict}\"}} {}",
            esc(&s.slot),
            u8::from(verdict == "pass")
        );
    }

    let service = &snap.metrics.service;
    family(
        &mut o,
        "drover_incidents_open",
        "gauge",
        "Incidents (slots out of healthy service) now open.",
    );
    let _ = writeln!(o, "drover_incidents_open {}", service.incidents_open);
    family(
        &mut o,
        "drover_incidents_closed_total",
        "counter",
        "Incidents closed since the daemon started.",
    );
    let _ = writeln!(
        o,
        "drover_incidents_closed_total {}",
        service.incidents_closed
    );
    family(
        &mut o,
        "drover_mttr_seconds",
        "gauge",
        "Time to repair of closed incidents, by quantile.",
    );
    for (q, v) in [("0.5", service.mttr_p50), ("0.95", service.mttr_p95)] {
        if let Some(ms) = v {
            let _ = writeln!(
                o,
                "drover_mttr_seconds{{quantile=\"{q}\"}} {}",
                ms as f64 / 1000.0
            );
        }
    }

    family(
        &mut o,
        "drover_alerts_active",
        "gauge",
        "Active alerts by severity and acknowledgement.",
    );
    let mut by: std::collections::BTreeMap<(String, bool), u32> = Default::default();
    for a in &snap.alerts {
        let sev = serde_json::to_value(a.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        *by.entry((sev, a.acked.is_some())).or_default() += 1;
    }
    for ((sev, acked), n) in by {
        let _ = writeln!(
            o,
            "drover_alerts_active{{severity=\"{sev}\",acked=\"{acked}\"}} {n}"
        );
    }

    family(
        &mut o,
        "drover_locks",
        "gauge",
        "Task locks held upstream, and how many are stale.",
    );
    let stale = snap.locks.iter().filter(|l| l.stale).count();
    let _ = writeln!(
        o,
        "drover_locks{{stale=\"false\"}} {}",
        snap.locks.len() - stale
    );
    let _ = writeln!(o, "drover_locks{{stale=\"true\"}} {stale}");
    o
}

/// Binds `addr` (the caller has validated it) and serves until `stop` fires.
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
        let snap = snapshots.borrow().clone();
        tokio::spawn(async move {
            if let Err(e) = respond(stream, snap).await {
                tracing::debug!(error = %e, "metrics client dropped");
            }
            drop(permit);
        });
    }
}

async fn respond(mut stream: TcpStream, snap: Arc<Snapshot>) -> std::io::Result<()> {
    let head = match tokio::time::timeout(HEADER_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no request head in time",
            ));
        }
    };
    let Some(head) = head else {
        let answer = reply(&mut stream, "431 Request Header Fields Too Large", "", "");
        return timed(answer).await;
    };
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let answer = match (method, path) {
        ("GET", "/metrics") => {
            let body = crate::secrets::mask_owned(render(&snap));
            return timed(reply(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            ))
            .await;
        }
        ("GET", _) => reply(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "only /metrics here\n",
        ),
        _ => reply(&mut stream, "405 Method Not Allowed", "text/plain", ""),
    };
    timed(answer).await
}

async fn timed(f: impl Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
    tokio::time::timeout(IO_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The request head: `Ok(None)` when the client closed first, `Ok(Some(None))` when it is too
/// large.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Option<Vec<u8>>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return Ok(Some(None));
        }
    }
    Ok(Some(Some(head)))
}

async fn reply(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        let _ = write!(head, "Content-Type: {content_type}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Fleet, FleetSpec, RoleSpec};

    #[test]
    fn exposition_parses_and_escapes_label_values() {
        let spec = FleetSpec::new("f", vec![RoleSpec::new("w\"eird", 2, "h")]);
        let fleet = Fleet::restore(spec, 1, Default::default());
        let snap = fleet.snapshot(1_000);
        let text = render(&snap);
        let parsed =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(parsed.samples.len(), samples, "{text}");
        assert!(text.contains(r#"role="w\"eird""#), "{text}");
        let one_hot: f64 = parsed
            .samples
            .iter()
            .filter(|s| s.metric == "drover_slot_state")
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) => v,
                _ => 0.0,
            })
            .sum();
        assert_eq!(one_hot, 2.0, "exactly one state per slot");
    }

    /// Every sample follows its own family's `# TYPE` line, families never interleave (the
    /// text format requires it; lenient parsers would not notice).
    #[test]
    fn each_family_is_one_group_even_with_test_runs() {
        use crate::core::{Input, TestSummary, Verdict};
        let spec = FleetSpec::new("f", vec![RoleSpec::new("w", 2, "h")]);
        let mut fleet = Fleet::restore(spec, 1, Default::default());
        for slot in ["w-1", "w-2"] {
            fleet.handle(
                1_000,
                Input::TestRunRecorded {
                    slot: slot.into(),
                    summary: TestSummary {
                        passed: 3,
                        failed: 1,
                        skipped: 0,
                        errors: 0,
                        verdict: Verdict::Fail,
                        failing: vec!["t".into()],
                    },
                },
            );
        }
        let text = render(&fleet.snapshot(2_000));
        assert!(
            text.contains("drover_slot_tests_passing{slot=\"w-2\""),
            "{text}"
        );
        let mut family = String::new();
        let mut seen = std::collections::HashSet::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split_whitespace().next().unwrap_or("").to_string();
                assert!(seen.insert(family.clone()), "{family} declared twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or("");
                assert_eq!(name, family, "sample outside its family group:\n{text}");
            }
        }
    }
}
