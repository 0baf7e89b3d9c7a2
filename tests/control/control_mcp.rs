//! `drover mcp` driven by the official MCP Python SDK as its client, against a real daemon
//! supervising real containers: the client lists the tools, reads the fleet, is refused an
//! action that was not allowed, and pauses a container when `--allow pause` is given; the
//! audit log names the MCP client as `who`.

use crate::common;
use crate::control_support;

use std::process::Command;
use std::time::Duration;

use control_support::{DROVER, Fleet, docker_state, slot};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/control/mcp/client.py");

/// Runs the Python MCP client; its JSON report.
fn client(fleet: &Fleet, target: &str, allow: Option<&str>) -> serde_json::Value {
    let sdk = Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .expect("python3");
    assert!(
        sdk.status.success(),
        "the MCP Python SDK is missing: `python3 -m pip install mcp` (.ci/run does it)"
    );
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "python3", CLIENT, DROVER])
        .arg(fleet.config())
        .arg(target)
        .args(allow)
        .env("XDG_RUNTIME_DIR", fleet.runtime());
    let out = cmd.output().expect("run the MCP client");
    assert!(
        out.status.success(),
        "MCP client failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn mcp_client_reads_the_fleet_is_refused_then_pauses_when_allowed() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("mcp");
    let _guard = common::FleetGuard(name.clone());
    let fleet = Fleet::new(
        &name,
        &format!(
            r#"
[[roles]]
name = "worker"
replicas = 2
image = "{image}"
command = ["sh", "-c", "while true; do sleep 1; done"]
"#
        ),
    );
    let mut daemon = fleet.start_daemon();
    fleet.wait_status("both slots running", |s| {
        s["slots"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x["state"] == "running"))
    });
    let container = format!("drover-{name}-worker-1");

    // Read-only: every read tool, no action tool, and the fleet as the daemon sees it.
    let ro = client(&fleet, "worker-1", None);
    let tools: Vec<&str> = ro["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    for t in [
        "fleet_status",
        "slot_detail",
        "recent_events",
        "log_tail",
        "locks",
        "progress",
        "report",
    ] {
        assert!(tools.contains(&t), "{t} missing from {tools:?}");
    }
    assert!(!tools.contains(&"pause"), "{tools:?}");
    assert_eq!(ro["status_error"], false, "{ro:#}");
    assert_eq!(ro["status"]["fleet"], name.as_str(), "{ro:#}");
    assert_eq!(
        slot(&ro["status"], "worker-1")["state"],
        "running",
        "{ro:#}"
    );
    assert_eq!(ro["read_errors"], serde_json::json!({}), "{ro:#}");
    assert_eq!(ro["refused_error"], true, "{ro:#}");
    assert!(
        ro["refused_text"].as_str().unwrap().contains("refused"),
        "{ro:#}"
    );
    assert_eq!(
        docker_state(&container),
        "running",
        "a refused pause paused"
    );

    // Allowed: the pause goes through and Docker pauses the container.
    let rw = client(&fleet, "worker-1", Some("pause"));
    assert!(
        rw["tools"].as_array().unwrap().iter().any(|t| t == "pause"),
        "{rw:#}"
    );
    assert_eq!(rw["pause_error"], false, "{rw:#}");
    fleet.wait_for("Docker to pause worker-1", Duration::from_secs(20), || {
        docker_state(&container) == "paused"
    });

    // The audit log names the MCP client.
    let out = fleet.run(&["events", "--json", "--slot", "worker-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let by_mcp: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["who"] == "mcp:drover-test-agent")
        .collect();
    assert!(
        by_mcp.iter().any(|e| e["slot"] == "worker-1"),
        "no event of worker-1 by mcp:drover-test-agent in {events:#?}"
    );
    daemon.stop();
}
