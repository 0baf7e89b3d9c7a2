//! `drover down` against real Docker: quitting a headless daemon names the containers still
//! running and how to take them down; `down` is refused while a drover supervises the fleet,
//! then stops and removes exactly drover's containers (a look-alike wearing the fleet's label
//! is named and left alone), keeps the data folder unless `--purge`, names what it deletes,
//! and a second run finds nothing.

use crate::common;
use crate::control_support;

use std::process::Command;

use control_support::{Fleet, fleet_containers};

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn down_removes_drovers_containers_and_purge_its_data_but_nothing_else() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("dv-otel-down");
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
            .is_some_and(|a| a.len() == 2 && a.iter().all(|x| x["state"] == "running"))
    });
    // A look-alike: the fleet's label, not drover's name or fleet id.
    let lookalike = format!("{name}-lookalike");
    let created = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &lookalike,
            "--label",
            &format!("io.drover.fleet={name}"),
            "--label",
            "io.drover.slot=worker-9",
            image,
            "sh",
            "-c",
            "while true; do sleep 1; done",
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", out(&created));

    let refused = fleet.run(&["down"]);
    assert!(!refused.status.success(), "down while supervised");
    assert!(
        out(&refused).contains("is supervising fleet"),
        "{}",
        out(&refused)
    );
    assert_eq!(fleet_containers(&name).len(), 3, "nothing was touched");

    daemon.stop();
    let log = fleet.daemon_log();
    assert!(
        log.contains("its containers keep running: worker-1 (running), worker-2 (running)"),
        "{log}"
    );
    assert!(log.contains(" down --config "), "{log}");

    let data = fleet.dir.path().join("data");
    let first = fleet.run(&["down"]);
    let said = out(&first);
    assert!(first.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "stopping and removing 2 containers: drover-{name}-worker-1, drover-{name}-worker-2"
        )),
        "{said}"
    );
    assert!(said.contains(&format!("left alone: {lookalike}")), "{said}");
    assert!(said.contains("kept the data folder"), "{said}");
    assert!(data.join("drover.db").exists());
    let left = fleet_containers(&name);
    assert_eq!(left.len(), 1, "only the look-alike is left: {left:?}");

    let purge = fleet.run(&["down", "--purge"]);
    let said = out(&purge);
    assert!(purge.status.success(), "{said}");
    assert!(
        said.contains("no container of drover's to remove"),
        "{said}"
    );
    assert!(
        said.contains(&format!("deleting the data folder {}", data.display())),
        "{said}"
    );
    assert!(!data.exists(), "the data folder is gone");
    assert_eq!(fleet_containers(&name).len(), 1, "the look-alike stays");

    let again = fleet.run(&["down", "--purge"]);
    let said = out(&again);
    assert!(again.status.success(), "{said}");
    assert!(
        said.contains("no container of drover's to remove"),
        "{said}"
    );
    assert!(said.contains("nothing to purge"), "{said}");
}
