//! drover adopts or removes only its own containers: named `drover-<fleet>-<slot>` for their
//! slot label and carrying the fleet id kept in its store. A container that merely wears the
//! fleet's labels (another name, no or another fleet id, a forged generation of u64::MAX) is
//! left alone and named in a warning alert; a second drover using the same fleet name with
//! another store is refused. Real daemon, real Docker.

use crate::common;
use crate::control_support;

use std::process::Command;

use control_support::{Fleet, slot};

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts a container wearing `fleet`'s labels for `slot` at `generation`.
fn forge(image: &str, name: &str, fleet: &str, slot: &str, generation: &str) -> String {
    docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--label",
        &format!("io.drover.fleet={fleet}"),
        "--label",
        &format!("io.drover.slot={slot}"),
        "--label",
        "io.drover.role=worker",
        "--label",
        &format!("io.drover.generation={generation}"),
        "--label",
        "io.drover.spec-hash=0000000000000000",
        image,
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ])
}

fn roles(image: &str) -> String {
    format!(
        r#"
[[roles]]
name = "worker"
replicas = 1
image = "{image}"
command = ["sh", "-c", "while true; do echo busy; sleep 1; done"]
"#
    )
}

#[test]
fn look_alike_containers_are_left_alone_and_a_second_drover_is_refused() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("adopt");
    let _guard = common::FleetGuard(name.clone());
    let fleet = Fleet::new(&name, &roles(image));
    let mut daemon = fleet.start_daemon();
    let status = fleet.wait_status("a running worker", |s| {
        slot(s, "worker-1")["state"] == "running"
    });
    let own = slot(&status, "worker-1")["container"]
        .as_str()
        .unwrap()
        .to_string();
    daemon.stop();

    // While drover is away: a container of another name claiming worker-1 at generation 99,
    // and one with drover's name for a slot that does not exist, generation u64::MAX.
    let evil = format!("evil-{name}");
    let evil_id = forge(image, &evil, &name, "worker-1", "99");
    let max = u64::MAX.to_string();
    let orphan = format!("drover-{name}-worker-7");
    let orphan_id = forge(image, &orphan, &name, "worker-7", &max);

    let mut daemon = fleet.start_daemon();
    let status = fleet.wait_status("one alert per look-alike container", |s| {
        let alerts = s["alerts"].to_string();
        alerts.contains(&evil) && alerts.contains(&orphan)
    });
    let alerts: Vec<&serde_json::Value> = status["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a.to_string().contains("foreign_container"))
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    // The real container stays the slot's; the look-alikes are neither adopted nor removed,
    // also after the next listings (a SIGHUP reload asks for none, so wait out a few events).
    assert_eq!(slot(&status, "worker-1")["container"], own.as_str());
    let out = fleet.run(&["ctl", "restart", "worker-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    fleet.wait_status("worker-1 restarted", |s| {
        let w = slot(s, "worker-1");
        w["state"] == "running" && w["restarts"].as_u64().unwrap_or(0) >= 1
    });
    for id in [&evil_id, &orphan_id] {
        assert_eq!(common::container_status(id), "running", "{id} was touched");
    }
    let status = fleet.status();
    assert!(
        slot(&status, "worker-1")["generation"].as_u64().unwrap() < 99,
        "the forged generation was adopted: {status:#}"
    );

    // Another drover (its own store, so its own fleet id) with the same fleet name.
    let second = Fleet::new(&name, &roles(image));
    let out = second
        .cmd(&["run", "--no-tui"])
        .output()
        .expect("run a second drover");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second drover must be refused");
    assert!(
        stderr.contains("already used on this Docker host by another drover")
            && stderr.contains(&format!("drover-{name}-worker-1")),
        "{stderr}"
    );
    assert_eq!(common::container_status(&own), "running");
    daemon.stop();
}
