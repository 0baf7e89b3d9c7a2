//! The uptime of an exit drover did not see start comes from Docker's StartedAt/FinishedAt:
//! an exit that happened while drover was stopped reports the run's real length, and so does
//! the exit of a container adopted running after a drover restart (not "after 0s"). Real
//! daemon, real Docker.

use crate::common;
use crate::control_support;

use std::process::Command;
use std::time::Duration;

use control_support::{Fleet, slot};

/// Uptimes (ms) of the exits with code 3 in the event log, oldest first.
fn exit_uptimes(fleet: &Fleet) -> Vec<u64> {
    let out = fleet.run(&["events", "--json", "--since", "10m"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["payload"]["exit_code"] == 3)
        .filter_map(|e| e["payload"]["uptime_ms"].as_u64())
        .collect()
}

#[test]
fn exits_seen_after_a_drover_restart_report_dockers_run_length() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("uptime");
    let _guard = common::FleetGuard(name.clone());
    let roles = format!(
        r#"
[[roles]]
name = "worker"
replicas = 1
image = "{image}"
command = ["sh", "-c", "sleep 5; exit 3"]
"#
    );
    let fleet = Fleet::new(&name, &roles);
    let mut daemon = fleet.start_daemon();
    let status = fleet.wait_status("a running worker", |s| {
        slot(s, "worker-1")["state"] == "running"
    });
    let id = slot(&status, "worker-1")["container"]
        .as_str()
        .unwrap()
        .to_string();
    daemon.stop();

    // Exited while drover was away: the run lasted about 5 s, whenever drover looks.
    let waited = Command::new("docker").args(["wait", &id]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&waited.stdout).trim(), "3");
    std::thread::sleep(Duration::from_secs(3));
    let mut daemon = fleet.start_daemon();
    fleet.wait_for("the missed exit", Duration::from_secs(30), || {
        !exit_uptimes(&fleet).is_empty()
    });
    let missed = exit_uptimes(&fleet)[0];
    assert!(
        (4_000..7_500).contains(&missed),
        "missed exit reported {missed} ms for a ~5 s run"
    );

    // Adopted running after a restart of drover, then seen exiting.
    let status = fleet.wait_status("the worker running again", |s| {
        slot(s, "worker-1")["state"] == "running"
    });
    assert!(status["slots"].is_array());
    daemon.stop();
    let mut daemon = fleet.start_daemon();
    fleet.wait_for("the adopted run's exit", Duration::from_secs(60), || {
        exit_uptimes(&fleet).len() >= 2
    });
    let adopted = exit_uptimes(&fleet)[1];
    assert!(
        (4_000..7_500).contains(&adopted),
        "adopted run's exit reported {adopted} ms for a ~5 s run"
    );
    daemon.stop();
}
