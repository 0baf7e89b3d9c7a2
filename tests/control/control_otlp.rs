//! OpenTelemetry export against a real OTLP/HTTP receiver: a hyper server in the test decodes
//! what a real daemon posts to `/v1/logs`, `/v1/traces` and `/v1/metrics` with the official
//! protobuf types (`opentelemetry-proto`). A crashing agent gives died events (logs), its runs
//! (spans with exit reason, tokens, cost, commits; a run still going at shutdown is marked
//! `still_running`) and the fleet metrics under their Prometheus names; neither the agent's
//! secret `env` value nor the configured header's value appears in any byte received. Then a
//! daemon whose collector is unreachable supervises and answers `ctl` as usual, with one
//! rate-limited warning.

use crate::common;
use crate::control_support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;

use control_support::{Fleet, free_port};

/// One request the receiver got.
#[derive(Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// Serves OTLP/HTTP on a loopback port from its own thread, answering every post with 200 and
/// an empty (valid) protobuf response.
fn start_receiver() -> (u16, Inbox) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let inbox: Inbox = Arc::default();
    let got = Arc::clone(&inbox);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let got = Arc::clone(&got);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let got = Arc::clone(&got);
                        async move {
                            let path = req.uri().path().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| {
                                    (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())
                                })
                                .collect();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes().to_vec())
                                .unwrap_or_default();
                            got.lock().unwrap().push(Received {
                                path,
                                headers,
                                body,
                            });
                            let mut resp = Response::new(Full::new(Bytes::new()));
                            resp.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                hyper::header::HeaderValue::from_static("application/x-protobuf"),
                            );
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (port, inbox)
}

fn received(inbox: &Inbox, path: &str) -> Vec<Received> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

/// (body, attributes, trace id) of every log record received.
fn log_records(inbox: &Inbox) -> Vec<(String, HashMap<String, String>, Vec<u8>)> {
    let mut out = Vec::new();
    for r in received(inbox, "/v1/logs") {
        let req = ExportLogsServiceRequest::decode(r.body.as_slice()).expect("logs decode");
        for rl in req.resource_logs {
            for sl in rl.scope_logs {
                for l in sl.log_records {
                    out.push((text(&l.body), attrs(&l.attributes), l.trace_id));
                }
            }
        }
    }
    out
}

struct SpanSeen {
    name: String,
    attrs: HashMap<String, String>,
    trace_id: Vec<u8>,
    start: u64,
    end: u64,
    resource: HashMap<String, String>,
}

fn spans(inbox: &Inbox) -> Vec<SpanSeen> {
    let mut out = Vec::new();
    for r in received(inbox, "/v1/traces") {
        let req = ExportTraceServiceRequest::decode(r.body.as_slice()).expect("traces decode");
        for rs in req.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| attrs(&r.attributes))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(SpanSeen {
                        name: s.name,
                        attrs: attrs(&s.attributes),
                        trace_id: s.trace_id,
                        start: s.start_time_unix_nano,
                        end: s.end_time_unix_nano,
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    out
}

/// metric name → (monotonic sum?, points as (attributes, value)).
#[allow(clippy::type_complexity)]
fn metrics(inbox: &Inbox) -> HashMap<String, (bool, Vec<(HashMap<String, String>, f64)>)> {
    let mut out: HashMap<String, (bool, Vec<(HashMap<String, String>, f64)>)> = HashMap::new();
    for r in received(inbox, "/v1/metrics") {
        let req = ExportMetricsServiceRequest::decode(r.body.as_slice()).expect("metrics decode");
        for rm in req.resource_metrics {
            for sm in rm.scope_metrics {
                for m in sm.metrics {
                    let (monotonic, points) = match m.data {
                        Some(metric::Data::Gauge(g)) => (false, g.data_points),
                        Some(metric::Data::Sum(s)) => (s.is_monotonic, s.data_points),
                        _ => continue,
                    };
                    let points = points
                        .iter()
                        .map(|p| {
                            let v = match p.value {
                                Some(number_data_point::Value::AsInt(i)) => i as f64,
                                Some(number_data_point::Value::AsDouble(d)) => d,
                                None => f64::NAN,
                            };
                            (attrs(&p.attributes), v)
                        })
                        .collect();
                    // The newest export of each metric wins.
                    out.insert(m.name, (monotonic, points));
                }
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_real_otlp_receiver_gets_events_runs_and_metrics_with_no_secret() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("dv-otel");
    let _guard = common::FleetGuard(name.clone());
    let secret = format!("pw-{}", name.replace('-', ""));
    let header_secret = format!(
        "hdr-{}",
        name.replace('-', "").chars().rev().collect::<String>()
    );
    let (port, inbox) = start_receiver();
    let fleet = Fleet::new(
        &name,
        &format!(
            r#"
[[roles]]
name = "worker"
replicas = 1
image = "{image}"
env = {{ SERVICE_PASSWORD = "{secret}" }}
command = ["sh", "-c", "echo tokens=1500; echo \"connecting with $SERVICE_PASSWORD\"; sleep 2; exit 3"]

[roles.restart]
initial_backoff = "100ms"
max_backoff = "200ms"

[[roles]]
name = "steady"
replicas = 1
image = "{image}"
command = ["sh", "-c", "while true; do sleep 1; done"]

[pricing.default]
input = 10.0
output = 10.0

[telemetry]
otlp_endpoint = "http://127.0.0.1:{port}"
service_name = "drover-otlp-test"
metrics_interval = "1s"

[telemetry.headers]
authorization = "Bearer {header_secret}"
"#
        ),
    );
    let mut daemon = fleet.start_daemon();

    // Runs end every ~2 s; wait for an ended run's span with its tokens, and a died log.
    fleet.wait_for(
        "a span of an ended run with its tokens",
        Duration::from_secs(60),
        || {
            spans(&inbox).iter().any(|s| {
                s.attrs.get("end").is_some_and(|e| e == "exited")
                    && s.attrs.get("tokens.other").is_some_and(|t| t == "1500")
            })
        },
    );
    fleet.wait_for(
        "a died event as a log record",
        Duration::from_secs(30),
        || {
            log_records(&inbox)
                .iter()
                .any(|(_, a, _)| a.get("kind").is_some_and(|k| k == "died"))
        },
    );
    fleet.wait_for(
        "the fleet metrics under their Prometheus names, restarts counted",
        Duration::from_secs(30),
        || {
            // Exported once a second; wait for one made after the first restart.
            let m = metrics(&inbox);
            m.contains_key("drover_slot_state")
                && m.get("drover_slot_restarts").is_some_and(|(_, points)| {
                    points
                        .iter()
                        .any(|(a, v)| a["slot"] == "worker-1" && *v >= 1.0)
                })
        },
    );
    daemon.stop();

    // The run's span: one per run, start before end, with what the run did.
    let all = spans(&inbox);
    let run = all
        .iter()
        .find(|s| {
            s.attrs.get("end").is_some_and(|e| e == "exited")
                && s.attrs.get("tokens.other").is_some_and(|t| t == "1500")
        })
        .unwrap();
    assert_eq!(run.name, "container run");
    assert_eq!(run.attrs["slot"], "worker-1");
    assert_eq!(run.attrs["role"], "worker");
    assert_eq!(run.attrs["exit_code"], "3");
    assert_eq!(run.attrs["exit_reason"], "exit 3");
    assert_eq!(run.attrs["commits"], "0");
    assert!(run.attrs["run"].starts_with("worker-1@"), "{:?}", run.attrs);
    assert!(run.attrs.contains_key("generation"), "{:?}", run.attrs);
    // 1 500 tokens of unknown kind, priced as input: $10 per million.
    assert_eq!(run.attrs["cost_usd"].parse::<f64>().unwrap(), 0.015);
    assert!(run.start < run.end, "a run's span spans its run");
    assert!(
        run.end - run.start >= 1_000_000_000,
        "the run lasted about 2 s: {} ns",
        run.end - run.start
    );
    assert_eq!(run.resource["service.name"], "drover-otlp-test");
    assert_eq!(run.resource["drover.fleet"], name);
    // A run still going when drover stops is sent, marked as such, at shutdown.
    let steady = all
        .iter()
        .find(|s| s.attrs["slot"] == "steady-1")
        .unwrap_or_else(|| panic!("no span for the run drover left running"));
    assert_eq!(
        steady.attrs.get("still_running").map(String::as_str),
        Some("true")
    );
    assert!(!steady.attrs.contains_key("end"), "{:?}", steady.attrs);
    let mut runs: Vec<&String> = all
        .iter()
        .filter(|s| !s.attrs.contains_key("still_running"))
        .map(|s| &s.attrs["run"])
        .collect();
    let n = runs.len();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), n, "one span per run");

    // Events as logs, with slot, role, run, generation and kind, inside their run's trace.
    let logs = log_records(&inbox);
    let died = logs
        .iter()
        .find(|(_, a, _)| a.get("kind").is_some_and(|k| k == "died") && a.contains_key("run"))
        .unwrap_or_else(|| panic!("no died record with its run: {logs:?}"));
    assert_eq!(died.1["slot"], "worker-1");
    assert_eq!(died.1["role"], "worker");
    assert!(died.1.contains_key("generation"), "{:?}", died.1);
    assert!(
        all.iter()
            .any(|s| s.trace_id == died.2 && s.attrs["run"] == died.1["run"]),
        "the died record carries its run's trace context"
    );
    assert!(
        logs.iter()
            .any(|(_, a, _)| a.get("kind").is_some_and(|k| k == "started")),
        "{logs:?}"
    );

    // The fleet metrics: same names and labels as the Prometheus endpoint.
    let m = metrics(&inbox);
    let (monotonic, restarts) = &m["drover_slot_restarts"];
    assert!(*monotonic, "restarts is a counter");
    assert!(
        restarts
            .iter()
            .any(|(a, v)| a["slot"] == "worker-1" && a["role"] == "worker" && *v >= 1.0),
        "{restarts:?}"
    );
    let (_, states) = &m["drover_slot_state"];
    assert!(
        states.iter().all(|(a, _)| a.contains_key("slot")
            && a.contains_key("role")
            && a.contains_key("state")),
        "{states:?}"
    );
    assert!(m.contains_key("drover_docker_up"), "{:?}", m.keys());

    // The header went out with every request; no secret is in any byte received.
    let everything = inbox.lock().unwrap().clone();
    assert!(!everything.is_empty());
    for r in &everything {
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {header_secret}").as_str()),
            "{}",
            r.path
        );
        assert!(
            !contains(&r.body, &secret),
            "the env secret reached {}",
            r.path
        );
        assert!(
            !contains(&r.body, &header_secret),
            "the header secret reached {}",
            r.path
        );
    }
    // The agent's line is kept, masked.
    assert!(
        everything
            .iter()
            .any(|r| contains(&r.body, "connecting with <redacted>")),
        "the died event's last line is exported masked"
    );
    assert!(!fleet.daemon_log().contains(&header_secret));
}

#[test]
fn an_unreachable_collector_costs_one_warning_and_nothing_else() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("dv-otel-dead");
    let _guard = common::FleetGuard(name.clone());
    // Bound then released: nothing listens there.
    let dead = free_port();
    let fleet = Fleet::new(
        &name,
        &format!(
            r#"
[[roles]]
name = "worker"
replicas = 2
image = "{image}"
command = ["sh", "-c", "while true; do echo working; sleep 1; done"]

[telemetry]
otlp_endpoint = "http://127.0.0.1:{dead}"
metrics_interval = "1s"
"#
        ),
    );
    let mut daemon = fleet.start_daemon();
    fleet.wait_status("both slots running", |s| {
        s["slots"]
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|x| x["state"] == "running"))
    });
    let warning = "OpenTelemetry export failed";
    fleet.wait_for(
        "the warning about the unreachable collector",
        Duration::from_secs(30),
        || fleet.daemon_log().contains(warning),
    );
    // Supervision and commands go on while every export fails.
    let out = fleet.run(&["ctl", "pause", "worker-1"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    fleet.wait_status("worker-1 paused", |s| {
        control_support::slot(s, "worker-1")["state"] == "paused"
    });
    // Metrics every second, logs and spans every 2 s, all failing: still one warning a minute.
    std::thread::sleep(Duration::from_secs(4));
    let log = fleet.daemon_log();
    assert_eq!(log.matches(warning).count(), 1, "{log}");
    daemon.stop();
    assert!(!daemon.alive());
}
