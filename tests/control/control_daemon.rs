//! A real headless daemon (`drover run --no-tui`) on a real fleet of containers, driven by the
//! real client commands: `ctl` changes real containers, `status --json` matches Docker,
//! `events --follow` receives the transitions in order, the metrics endpoint parses, SIGHUP
//! reloads (and a bad config is refused with its location), and a second daemon is refused.

use crate::common;
use crate::control_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use control_support::{Fleet, docker_state, fleet_containers, free_port, slot};

fn roles(image: &str, replicas: u32, metrics_port: u16) -> String {
    format!(
        r#"
[[roles]]
name = "worker"
replicas = {replicas}
image = "{image}"
command = ["sh", "-c", "while true; do echo working on the login page; sleep 1; done"]

[metrics]
listen = "127.0.0.1:{metrics_port}"
"#
    )
}

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    body.to_string()
}

#[test]
fn ctl_status_events_metrics_reload_and_single_daemon() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("ctl");
    let _guard = common::FleetGuard(name.clone());
    let port = free_port();
    let fleet = Fleet::new(&name, &roles(image, 2, port));
    let mut daemon = fleet.start_daemon();

    let status = fleet.wait_status("two running workers", |s| {
        s["slots"]
            .as_array()
            .is_some_and(|v| v.len() == 2 && v.iter().all(|s| s["state"] == "running"))
    });
    assert_eq!(status["fleet"], name);
    assert_eq!(status["docker"], "up");
    // status --json matches Docker: each slot's container exists and runs.
    for s in status["slots"].as_array().unwrap() {
        let id = s["container"]
            .as_str()
            .expect("a running slot has a container");
        assert_eq!(docker_state(id), "running", "{s}");
        assert!(s["restarts"].is_u64() && s["generation"].is_u64(), "{s}");
        assert!(
            s.get("reason").is_some() && s.get("last_test").is_some(),
            "{s}"
        );
    }
    assert!(status["locks"].is_array() && status["alerts"].is_array());
    assert!(status["mttr"].get("p50_s").is_some() && status["mttr"]["incidents"].is_u64());

    // Follow the event log from now on.
    let mut follow = fleet
        .cmd(&["events", "--follow", "--json", "--since", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, events) = mpsc::channel::<serde_json::Value>();
    let out = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).expect("events --json lines");
            if tx.send(v).is_err() {
                break;
            }
        }
    });

    // ctl pause: Docker really pauses the container.
    let out = fleet.run(&["ctl", "pause", "worker-1", "--reason", "testing ctl"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("worker-1: accepted"));
    let container = format!("drover-{name}-worker-1");
    fleet.wait_for("Docker to pause worker-1", Duration::from_secs(20), || {
        docker_state(&container) == "paused"
    });
    let s = fleet.wait_status("worker-1 paused in status", |s| {
        slot(s, "worker-1")["state"] == "paused"
    });
    assert_eq!(slot(&s, "worker-2")["state"], "running");

    // Idempotent: pausing again is fine and says so.
    let again = fleet.run(&["ctl", "pause", "worker-1", "--json"]);
    assert!(again.status.success());
    let reply: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        reply["results"][0]["reply"]["reply"], "unchanged",
        "{reply}"
    );

    // Distinct exit codes: no such slot = 4; refused = 5; a block without a reason is a
    // usage error = 2.
    let missing = fleet.run(&["ctl", "pause", "no-such-slot"]);
    assert_eq!(missing.status.code(), Some(4));
    let no_reason = fleet.run(&["ctl", "block", "worker-2"]);
    assert_eq!(
        no_reason.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&no_reason.stderr)
    );
    let takeover = fleet.run(&["ctl", "takeover", "worker-2"]);
    assert_eq!(takeover.status.code(), Some(0));
    let refused = fleet.run(&["ctl", "pause", "worker-2"]);
    assert_eq!(
        refused.status.code(),
        Some(5),
        "pausing a taken-over slot is refused: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    assert_eq!(
        fleet.run(&["ctl", "handback", "worker-2"]).status.code(),
        Some(0)
    );

    // Resume by role: every slot of the role.
    let out = fleet.run(&["ctl", "resume", "worker"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    fleet.wait_for(
        "Docker to unpause worker-1",
        Duration::from_secs(20),
        || docker_state(&container) == "running",
    );

    // The follower saw pause then unpause of worker-1, in order, ids increasing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(s, k): &(String, String)| s == "worker-1" && k == "unpaused")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("events --follow missed transitions; saw {seen:?}"));
        seen.push((
            e["slot"].as_str().unwrap_or("-").to_string(),
            e["kind"].as_str().unwrap().to_string(),
        ));
    }
    let pos = |kind: &str| {
        seen.iter()
            .position(|(s, k)| s == "worker-1" && k == kind)
            .unwrap_or_else(|| panic!("no {kind} in {seen:?}"))
    };
    assert!(pos("paused") < pos("unpaused"), "{seen:?}");

    // Metrics: real exposition text, every line understood by a real parser.
    let body = scrape(port);
    let scrape =
        prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let sample_lines = body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(scrape.samples.len(), sample_lines, "no line was ignored");
    let value = |metric: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(value("drover_docker_up", &[]), Some(1.0));
    assert_eq!(
        value(
            "drover_slot_state",
            &[("slot", "worker-1"), ("state", "running")]
        ),
        Some(1.0),
        "{body}"
    );
    assert!(value("drover_slot_restarts_total", &[("slot", "worker-2")]).is_some());

    // A second daemon for the fleet is refused, naming the running one.
    let second = fleet.run(&["run", "--no-tui"]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("pid {}", daemon.pid())) && err.contains("already supervising"),
        "{err}"
    );

    // SIGHUP with a broken config: refused with file:line:col, the daemon keeps going.
    std::fs::write(
        fleet.config(),
        std::fs::read_to_string(fleet.config())
            .unwrap()
            .replace("replicas = 2", "replicas = \"two\""),
    )
    .unwrap();
    daemon.signal("HUP");
    fleet.wait_for(
        "the reload refusal in the log",
        Duration::from_secs(20),
        || fleet.daemon_log().contains("config reload refused"),
    );
    let log = fleet.daemon_log();
    let line = log
        .lines()
        .find(|l| l.contains("config reload refused"))
        .unwrap();
    assert!(line.contains("drover.toml:"), "{line}");
    assert!(daemon.alive());
    assert_eq!(fleet.status()["slots"].as_array().unwrap().len(), 2);

    // SIGHUP with a valid config: scaled to three without a restart.
    fleet.write_config(&roles(image, 3, port));
    daemon.signal("HUP");
    fleet.wait_status("three running workers after reload", |s| {
        s["slots"]
            .as_array()
            .is_some_and(|v| v.len() == 3 && v.iter().all(|s| s["state"] == "running"))
    });
    assert_eq!(fleet_containers(&name).len(), 3);

    // `report` reads the store without the daemon's help.
    let report = fleet.run(&["report", "--since", "1h", "--json"]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert!(report["fleet"]["incidents"].is_u64(), "{report}");

    daemon.stop();
    // The follower says the daemon is gone and exits with the documented code.
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(st) = follow.try_wait().unwrap() {
            break st.code();
        }
        assert!(Instant::now() < deadline, "events --follow did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(3));
    let mut err = String::new();
    follow
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("gone"), "{err}");
    assert!(!fleet.socket().exists(), "socket removed on shutdown");

    // Without a daemon: exit 3 for the clients, the store is still readable.
    let down = fleet.run(&["status"]);
    assert_eq!(down.status.code(), Some(3));
    let events = fleet.run(&["events", "--since", "1h", "--slot", "worker-1"]);
    assert!(events.status.success());
    assert!(String::from_utf8_lossy(&events.stdout).contains("paused"));
}
