//! `drover attach` driven in tmux against a real daemon: two operators attached at once, one
//! pauses a slot (Docker pauses it) and the other sees it; killing the daemon makes both say
//! so and exit; a restarted daemon adopts the same containers (no duplicates) and attach works
//! again.

use crate::common;
use crate::control_support;

use std::time::{Duration, Instant};

use common::tmux::Tmux;
use control_support::{DROVER, Fleet, docker_state, fleet_containers};

fn attach_cmd(fleet: &Fleet) -> String {
    // The tmux server does not inherit this process's environment: pass it explicitly, and
    // keep the pane open after drover exits so the test can read what it said.
    format!(
        "env XDG_RUNTIME_DIR={} USER=tester {DROVER} --config {} attach; echo \"attach exited with $?\"; sleep 60",
        fleet.runtime().display(),
        fleet.config().display()
    )
}

#[test]
fn two_operators_attach_pause_and_survive_a_daemon_restart() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("attach");
    let _guard = common::FleetGuard(name.clone());
    let fleet = Fleet::new(
        &name,
        &format!(
            r#"
[[roles]]
name = "worker"
replicas = 2
image = "{image}"
command = ["sh", "-c", "while true; do echo working on the login page; sleep 1; done"]
"#
        ),
    );
    let mut daemon = fleet.start_daemon();
    fleet.wait_status("two running workers", |s| {
        s["slots"]
            .as_array()
            .is_some_and(|v| v.len() == 2 && v.iter().all(|s| s["state"] == "running"))
    });

    let started = Instant::now();
    let a = Tmux::start(&format!("{name}-a"), &attach_cmd(&fleet));
    let b = Tmux::start(&format!("{name}-b"), &attach_cmd(&fleet));
    for t in [&a, &b] {
        t.wait_for("the attached fleet", |s| {
            s.matches("● running").count() >= 2 && s.contains("worker-2")
        });
    }
    eprintln!("attach showed the fleet after {:?}", started.elapsed());

    // Operator A filters to worker-2 and pauses it.
    a.keys(&["/"]);
    a.keys(&["-l", "worker-2"]);
    a.keys(&["Enter"]);
    a.wait_for("the filter to leave only worker-2", |s| {
        s.contains("worker-2") && !s.contains("worker-1")
    });
    a.keys(&["p"]);
    a.wait_for("worker-2 paused on A", |s| s.contains("paused"));
    let container = format!("drover-{name}-worker-2");
    fleet.wait_for("Docker to pause worker-2", Duration::from_secs(20), || {
        docker_state(&container) == "paused"
    });
    // Operator B sees A's action.
    b.wait_for("worker-2 paused on B", |s| s.contains("paused"));
    // The log pane is fed through the socket too.
    a.wait_for("agent output in A's log pane", |s| {
        s.contains("working on the login page")
    });

    let before: Vec<String> = fleet_containers(&name);
    assert_eq!(before.len(), 2);

    // Kill the daemon hard: both clients say it is gone and exit with the documented code.
    daemon.kill();
    for t in [&a, &b] {
        let screen = t.wait_for("attach to notice the daemon is gone", |s| {
            s.contains("attach exited with 3")
        });
        assert!(screen.contains("daemon is gone"), "{screen}");
    }

    // Start again: the same containers are adopted, nothing is duplicated, attach works.
    let _daemon = fleet.start_daemon();
    let s = fleet.wait_status("worker-1 running and worker-2 still paused", |s| {
        control_support::slot(s, "worker-1")["state"] == "running"
            && control_support::slot(s, "worker-2")["state"] == "paused"
    });
    let mut after = fleet_containers(&name);
    let mut before = before;
    after.sort();
    before.sort();
    assert_eq!(
        after, before,
        "the restarted daemon adopted, not recreated: {s:#}"
    );
    let c = Tmux::start(&format!("{name}-c"), &attach_cmd(&fleet));
    c.wait_for("the fleet after the restart", |s| {
        s.contains("worker-1") && s.contains("paused")
    });
    c.keys(&["q"]);
    c.wait_for("attach to quit on q", |s| {
        s.contains("attach exited with 0")
    });
    // Quitting the attached TUI leaves the daemon running.
    assert!(fleet.run(&["status"]).status.success());
}
