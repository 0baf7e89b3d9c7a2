//! The metrics endpoint under a connection flood: a daemon with the common 1 024 file
//! descriptor limit, 1 100 idle loopback connections held open on its metrics port, and the
//! control socket must keep answering `status` promptly; scrapes work again once the idle
//! connections' header deadline has passed.

use crate::common;
use crate::control_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use control_support::{DROVER, Daemon, Fleet, free_port};

fn roles(image: &str, port: u16) -> String {
    format!(
        r#"
[[roles]]
name = "worker"
replicas = 1
image = "{image}"
command = ["sh", "-c", "while true; do sleep 1; done"]

[metrics]
listen = "127.0.0.1:{port}"
"#
    )
}

/// `drover status --json` with a hard deadline: `None` if it did not finish in time.
fn status_within(fleet: &Fleet, limit: Duration) -> Option<bool> {
    let mut child = fleet
        .cmd(&["status", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    raw.starts_with("HTTP/1.1 200").then_some(raw)
}

#[test]
fn idle_metrics_connections_do_not_stall_the_control_socket() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("mflood");
    let _guard = common::FleetGuard(name.clone());
    let port = free_port();
    let fleet = Fleet::new(&name, &roles(image, port));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(fleet.log())
        .unwrap();
    // The usual default soft limit (systemd services, most shells).
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
        .arg(DROVER)
        .arg("--config")
        .arg(fleet.config())
        .args(["run", "--no-tui"])
        .env("XDG_RUNTIME_DIR", fleet.runtime())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the daemon");
    let mut daemon = Daemon { child: Some(child) };
    fleet.wait_for("the daemon to answer", Duration::from_secs(30), || {
        status_within(&fleet, Duration::from_secs(5)) == Some(true)
    });
    fleet.wait_for("the metrics endpoint", Duration::from_secs(10), || {
        scrape(port).is_some()
    });

    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut idle = Vec::new();
    for _ in 0..1_100 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            idle.push(s);
        }
    }
    assert!(
        idle.len() >= 1_000,
        "only {} connections opened",
        idle.len()
    );

    // While they are held open the control socket answers, every time, promptly.
    for i in 0..5 {
        let started = Instant::now();
        let ok = status_within(&fleet, Duration::from_secs(2));
        assert_eq!(
            ok,
            Some(true),
            "status #{i} with {} idle metrics connections (after {:?}); log:\n{}",
            idle.len(),
            started.elapsed(),
            fleet.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // And scrapes recover while the flood is still connected.
    fleet.wait_for("a scrape during the flood", Duration::from_secs(15), || {
        scrape(port).is_some()
    });
    drop(idle);
    daemon.stop();
}
