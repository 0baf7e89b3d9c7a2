//! The supervisor against the real Docker Engine: a fleet comes up; containers killed or removed
//! behind drover's back are restarted or recreated; a crasher with a fixed error line is blocked
//! after at most three starts with that line; a missing variable blocks before any start;
//! operator pause/resume reach Docker; a restarted drover adopts everything without a duplicate.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use drover::core::{Command, CommandReply, CommandRequest, SlotState, Snapshot};
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};

fn fleet_config(fleet: &str, data: &Path) -> drover::config::Config {
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[roles]]
name = "worker"
replicas = 2
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do echo working; sleep 1; done"]
[roles.limits]
memory = "32m"
cpus = 0.2

[[roles]]
name = "crasher"
image = "{image}"
command = ["sh", "-c", "echo booting; echo 'ERROR: Missing environment variable: OPENAI_API_KEY' >&2; exit 1"]

[[roles]]
name = "needsenv"
image = "{image}"
pass_env = ["DROVER_TEST_ABSENT_KEY"]
required_env = ["DROVER_TEST_ABSENT_KEY"]
"#,
        data = data.display(),
        image = common::TEST_IMAGE
    );
    drover::config::parse(&text, Path::new("fleet.toml")).expect("test config")
}

fn options() -> SupervisorOptions {
    SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 42,
        ..Default::default()
    }
}

async fn wait_for(
    handle: &SupervisorHandle,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    common::wait_for_snapshot(handle, what, 60, pred).await
}

fn state<'a>(snap: &'a Snapshot, slot: &str) -> &'a SlotState {
    &snap
        .slot(slot)
        .unwrap_or_else(|| panic!("no slot {slot}"))
        .state
}

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_recovers_blocks_and_is_adopted_without_duplicates() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("sup");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let (handle, task) = supervisor::start(fleet_config(&fleet, data.path()), options())
        .await
        .unwrap();

    // The workers come up; the missing variable blocks before any container exists.
    let snap = wait_for(&handle, "workers running, needsenv blocked", |s| {
        s.slots
            .iter()
            .filter(|v| v.role == "worker")
            .all(|v| v.state == SlotState::Running)
            && matches!(state(s, "needsenv-1"), SlotState::Blocked { .. })
    })
    .await;
    let needsenv = snap.slot("needsenv-1").unwrap();
    assert_eq!(needsenv.starts, 0);
    assert!(
        needsenv
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("DROVER_TEST_ABSENT_KEY"),
        "{:?}",
        needsenv.reason
    );
    assert_eq!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("name=drover-{fleet}-needsenv-1")
        ]),
        "",
        "no container for a blocked slot"
    );

    // The crasher is blocked after at most three starts, with its own error line as reason.
    let snap = wait_for(&handle, "crasher blocked", |s| {
        matches!(state(s, "crasher-1"), SlotState::Blocked { .. })
    })
    .await;
    let crasher = snap.slot("crasher-1").unwrap();
    assert!(
        crasher.starts <= 3,
        "crasher started {} times",
        crasher.starts
    );
    assert_eq!(
        crasher.reason.as_deref(),
        Some("ERROR: Missing environment variable: OPENAI_API_KEY")
    );

    // Killed behind drover's back → restarted.
    let w1 = snap.slot("worker-1").unwrap().clone();
    docker(&["kill", w1.container_id.as_deref().unwrap()]);
    wait_for(&handle, "worker-1 restarted", |s| {
        s.slot("worker-1")
            .is_some_and(|v| v.starts > w1.starts && v.state == SlotState::Running)
    })
    .await;

    // Removed behind drover's back → recreated as a new generation.
    let w2 = handle.snapshot.borrow().slot("worker-2").unwrap().clone();
    docker(&["rm", "-f", w2.container_id.as_deref().unwrap()]);
    let snap = wait_for(&handle, "worker-2 recreated", |s| {
        s.slot("worker-2")
            .is_some_and(|v| v.generation > w2.generation && v.state == SlotState::Running)
    })
    .await;
    let w2_new = snap.slot("worker-2").unwrap().container_id.clone().unwrap();

    // Operator pause reaches Docker, resume brings it back; repeating is a no-op.
    let pause = CommandRequest::new(
        Command::Pause {
            slot: "worker-2".into(),
        },
        "tester",
    )
    .because("test");
    assert_eq!(
        handle.command(pause.clone()).await,
        Some(CommandReply::Accepted)
    );
    wait_for(&handle, "worker-2 paused", |s| {
        matches!(state(s, "worker-2"), SlotState::Paused { .. })
    })
    .await;
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &w2_new]),
        "paused"
    );
    assert_eq!(handle.command(pause).await, Some(CommandReply::Unchanged));
    let resume = CommandRequest::new(
        Command::Resume {
            slot: "worker-2".into(),
        },
        "tester",
    );
    assert_eq!(handle.command(resume).await, Some(CommandReply::Accepted));
    wait_for(&handle, "worker-2 running again", |s| {
        *state(s, "worker-2") == SlotState::Running
    })
    .await;

    // The operator's actions are in the audit log with who and why.
    let events = handle
        .store
        .events(&drover::store::EventFilter {
            slot: Some("worker-2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "command" && e.who.as_deref() == Some("tester")),
        "{events:#?}"
    );

    // Stop drover (agents keep running) and start a new one: everything is adopted.
    handle.shutdown.cancel();
    task.await.unwrap();
    let before = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=io.drover.fleet={fleet}"),
    ]);
    let (handle, task) = supervisor::start(fleet_config(&fleet, data.path()), options())
        .await
        .unwrap();
    let snap = wait_for(&handle, "adopted after restart", |s| {
        s.docker_synced
            && s.slots
                .iter()
                .filter(|v| v.role == "worker")
                .all(|v| v.state == SlotState::Running)
    })
    .await;
    assert!(
        matches!(state(&snap, "crasher-1"), SlotState::Blocked { .. }),
        "blocked survives a restart"
    );
    assert!(matches!(
        state(&snap, "needsenv-1"),
        SlotState::Blocked { .. }
    ));
    assert_eq!(
        snap.slot("worker-2").unwrap().container_id.as_deref(),
        Some(w2_new.as_str()),
        "adopted, not recreated"
    );
    let after = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=io.drover.fleet={fleet}"),
    ]);
    let mut before: Vec<&str> = before.lines().collect();
    let mut after: Vec<&str> = after.lines().collect();
    before.sort();
    after.sort();
    assert_eq!(
        before, after,
        "a restarted drover creates and removes nothing"
    );
    handle.shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_its_time_limit_is_stopped_and_started_again() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("lim");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[roles]]
name = "sleeper"
image = "{image}"
command = ["sleep", "1000000"]
[roles.limits]
memory = "32m"
run_timeout = "8s"
"#,
        data = data.path().display(),
        image = common::TEST_IMAGE
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).expect("test config");
    let (handle, task) = supervisor::start(cfg, options()).await.unwrap();

    let first = wait_for(&handle, "sleeper running", |s| {
        state(s, "sleeper-1") == &SlotState::Running
    })
    .await;
    let first_id = first.slot("sleeper-1").unwrap().container_id.clone();
    let snap = wait_for(&handle, "the first run timed out", |s| {
        s.slot("sleeper-1").is_some_and(|v| {
            v.last_exit
                .as_ref()
                .is_some_and(|e| e.reason == Some(drover::core::ExitReason::Timeout))
        })
    })
    .await;
    let exit = snap.slot("sleeper-1").unwrap().last_exit.clone().unwrap();
    assert!(
        (8_000..12_000).contains(&exit.uptime),
        "stopped {} ms after its start (limit 8 s)",
        exit.uptime
    );
    assert_eq!(exit.line.as_deref(), Some("timed out after 8s"));
    // The restart policy starts it again: a second run of the same container.
    let snap = wait_for(&handle, "started again", |s| {
        s.slot("sleeper-1")
            .is_some_and(|v| v.starts >= 2 && v.state == SlotState::Running)
    })
    .await;
    let view = snap.slot("sleeper-1").unwrap();
    assert!(!matches!(view.state, SlotState::Blocked { .. }));
    assert_eq!(view.container_id, first_id, "restarted in place");
    handle.shutdown.cancel();
    task.await.unwrap();
}
