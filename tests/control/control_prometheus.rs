//! A real Prometheus server (Debian's `prometheus` package) scrapes a daemon's metrics
//! endpoint every second; the fleet's series are queried back through Prometheus's HTTP API.
//! Then 1 000 idle connections are held open on the metrics port: `drover ctl pause` still
//! answers, and Prometheus still gets a scrape that shows the pause.

use crate::common;
use crate::control_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use control_support::{Fleet, free_port};

/// The Prometheus server process, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_binary() -> &'static str {
    let found = Command::new("sh")
        .args(["-c", "command -v prometheus"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "the `prometheus` binary is missing: install Debian's `prometheus` package \
         (apt-get install prometheus; .ci/run does it)"
    );
    "prometheus"
}

fn start_prometheus(target_port: u16) -> Prometheus {
    let bin = prometheus_binary();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: drover\n    static_configs:\n      \
             - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus");
    Prometheus {
        child,
        port,
        _dir: dir,
    }
}

/// The `result` vector of an instant query, or `None` while Prometheus cannot answer yet.
fn query(port: u16, promql: &str) -> Option<Vec<serde_json::Value>> {
    let mut encoded = String::new();
    for b in promql.bytes() {
        if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /api/v1/query?query={encoded} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    (v["status"] == "success").then(|| v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// The value of the single series `promql` selects, once Prometheus has it.
fn value(port: u16, promql: &str) -> Option<f64> {
    let r = query(port, promql)?;
    let [one] = r.as_slice() else { return None };
    one["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_the_fleet_and_keeps_scraping_through_an_idle_flood() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("prom");
    let _guard = common::FleetGuard(name.clone());
    let metrics_port = free_port();
    let fleet = Fleet::new(
        &name,
        &format!(
            r#"
[[roles]]
name = "worker"
replicas = 2
image = "{image}"
command = ["sh", "-c", "while true; do sleep 1; done"]

[metrics]
listen = "127.0.0.1:{metrics_port}"
"#
        ),
    );
    let mut daemon = fleet.start_daemon();
    fleet.wait_status("both slots running", |s| {
        s["slots"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x["state"] == "running"))
    });
    let prom = start_prometheus(metrics_port);

    let running = |slot: &str| {
        format!(
            "drover_slot_state{{job=\"drover\",slot=\"{slot}\",role=\"worker\",state=\"running\"}}"
        )
    };
    fleet.wait_for(
        "Prometheus to scrape both slots as running",
        Duration::from_secs(60),
        || {
            value(prom.port, &running("worker-1")) == Some(1.0)
                && value(prom.port, &running("worker-2")) == Some(1.0)
        },
    );
    assert_eq!(value(prom.port, "up{job=\"drover\"}"), Some(1.0));
    assert_eq!(value(prom.port, "drover_docker_up"), Some(1.0));
    assert_eq!(
        value(prom.port, "drover_slots{state=\"running\"}"),
        Some(2.0)
    );
    // The counter keeps its documented series name.
    let restarts = query(prom.port, "drover_slot_restarts_total").unwrap();
    assert_eq!(restarts.len(), 2, "{restarts:?}");
    assert_eq!(value(prom.port, "drover_locks{stale=\"false\"}"), Some(0.0));

    // 1 000 idle connections held open on the metrics port.
    let addr: SocketAddr = ([127, 0, 0, 1], metrics_port).into();
    let mut idle = Vec::new();
    for _ in 0..1_000 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            idle.push(s);
        }
    }
    assert_eq!(idle.len(), 1_000, "the idle connections could not all open");

    let out = fleet.run(&["ctl", "pause", "worker-1"]);
    assert!(
        out.status.success(),
        "ctl pause during the flood: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let paused = "drover_slot_state{job=\"drover\",slot=\"worker-1\",state=\"paused\"}";
    fleet.wait_for(
        "a scrape showing the pause while the flood is connected",
        Duration::from_secs(30),
        || value(prom.port, paused) == Some(1.0),
    );
    assert_eq!(value(prom.port, "up{job=\"drover\"}"), Some(1.0));
    drop(idle);
    drop(prom);
    daemon.stop();
}
