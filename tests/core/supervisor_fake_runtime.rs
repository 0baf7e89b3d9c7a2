//! The whole supervisor (driver loop, executor, runtime link, log followers, store) against the
//! in-memory engine of `drover_runtime::fake`: adoption, the order of lifecycle calls, a lost
//! and regained engine, deaths with their last lines, and operator commands — in seconds and
//! without a daemon. The same behaviours against real Docker live in the `runtime` tests. An
//! idle worker's waiting lines, through the whole output pipeline, raise no loop alert unless
//! the worker pays a model for them.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use drover::core::{
    AlertKind, Command, CommandReply, CommandRequest, DockerStatus, SlotState, Snapshot,
};
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};
use drover_runtime::fake::{Call, FakeRuntime};

const FLEET: &str = "fk";

fn config(data: &Path, replicas: u32) -> drover::config::Config {
    let text = format!(
        r#"
[fleet]
name = "{FLEET}"
data_dir = "{data}"

[[roles]]
name = "worker"
replicas = {replicas}
image = "agent:1"
command = ["run-agent"]
"#,
        data = data.display(),
    );
    drover::config::parse(&text, Path::new("fleet.toml")).expect("test config")
}

fn options(fake: &FakeRuntime) -> SupervisorOptions {
    SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 7,
        connector: Some(fake.connector()),
        ..Default::default()
    }
}

async fn start(fake: &FakeRuntime, data: &Path, replicas: u32) -> Running {
    let (handle, task) = supervisor::start(config(data, replicas), options(fake))
        .await
        .expect("supervisor starts");
    Running { handle, task }
}

struct Running {
    handle: SupervisorHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn wait(&self, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        common::wait_for_snapshot(&self.handle, what, 20, pred).await
    }

    async fn stop(self) {
        self.handle.shutdown.cancel();
        self.task.await.expect("supervisor task ends");
    }
}

fn running(s: &Snapshot, slot: &str) -> bool {
    s.slot(slot)
        .is_some_and(|v| v.state == SlotState::Running && v.container_id.is_some())
}

fn name(slot: &str) -> String {
    format!("drover-{FLEET}-{slot}")
}

/// The lifecycle calls that touched `target`, in order (listings and inspects left out).
fn ops_on(calls: &[Call], target: &str) -> Vec<&'static str> {
    calls
        .iter()
        .filter(|c| c.target == target)
        .filter(|c| !matches!(c.op, "inspect" | "logs" | "read_folder" | "exec"))
        .map(|c| c.op)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_is_created_then_adopted_by_the_next_drover_without_a_single_create() {
    let fake = FakeRuntime::new();
    let data = tempfile::tempdir().unwrap();
    let first = start(&fake, data.path(), 2).await;
    let snap = first
        .wait("both workers running", |s| {
            running(s, "worker-1") && running(s, "worker-2")
        })
        .await;
    let ids: Vec<String> = ["worker-1", "worker-2"]
        .iter()
        .map(|s| snap.slot(s).unwrap().container_id.clone().unwrap())
        .collect();
    for slot in ["worker-1", "worker-2"] {
        assert_eq!(
            ops_on(&fake.calls(), &name(slot)),
            ["create", "start"],
            "a new slot is created once and started once"
        );
    }
    first.stop().await;
    // drover left its agents running for the next one.
    assert!(
        fake.containers()
            .iter()
            .all(|c| c.status == drover_runtime::EngineStatus::Running)
    );

    let calls_before = fake.calls().len();
    let second = start(&fake, data.path(), 2).await;
    let snap = second
        .wait("both workers adopted", |s| {
            running(s, "worker-1") && running(s, "worker-2")
        })
        .await;
    for (slot, id) in ["worker-1", "worker-2"].iter().zip(&ids) {
        assert_eq!(snap.slot(slot).unwrap().container_id.as_ref(), Some(id));
    }
    let later = &fake.calls()[calls_before..];
    assert!(
        later
            .iter()
            .all(|c| !matches!(c.op, "create" | "start" | "stop" | "remove" | "kill")),
        "adoption must not touch the running containers: {later:?}"
    );
    assert_eq!(fake.containers().len(), 2, "no duplicate container");
    second.stop().await;
}

fn labels_for<'a>(slot: &'a str, fleet_id: &'a str) -> [(&'static str, &'a str); 6] {
    [
        ("io.drover.fleet", FLEET),
        ("io.drover.fleet-id", fleet_id),
        ("io.drover.slot", slot),
        ("io.drover.role", "worker"),
        ("io.drover.generation", "5"),
        ("io.drover.spec-hash", "0000000000000000"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alikes_are_named_in_an_alert_never_touched_and_a_second_drover_is_refused() {
    let fake = FakeRuntime::new();
    let data = tempfile::tempdir().unwrap();
    // The fleet's labels for worker-1 under another name: not drover's container.
    let evil = fake.add_container("evil-worker", &labels_for("worker-1", "forged"), true);
    let sup = start(&fake, data.path(), 1).await;
    let snap = sup
        .wait("worker-1 running and the look-alike named", |s| {
            running(s, "worker-1") && s.alerts.iter().any(|a| a.message.contains("evil-worker"))
        })
        .await;
    assert_ne!(
        snap.slot("worker-1").unwrap().container_id.as_ref(),
        Some(&evil)
    );
    let touched: Vec<Call> = fake
        .calls()
        .into_iter()
        .filter(|c| c.target == "evil-worker")
        .filter(|c| matches!(c.op, "start" | "stop" | "kill" | "pause" | "remove"))
        .collect();
    assert!(
        touched.is_empty(),
        "the look-alike was touched: {touched:?}"
    );
    sup.stop().await;
    assert_eq!(
        fake.container("evil-worker").map(|c| c.status),
        Some(drover_runtime::EngineStatus::Running),
        "the look-alike still runs"
    );

    // drover's own name for a slot, but another store's fleet id: another drover owns this
    // fleet name on this engine, and a second one must not start fighting over it.
    fake.add_container(
        &name("worker-9"),
        &labels_for("worker-9", "another-store"),
        true,
    );
    let refused = supervisor::start(config(data.path(), 1), options(&fake)).await;
    let Err(error) = refused else {
        panic!("a second drover for the same fleet name was allowed to start");
    };
    assert!(error.to_string().contains(&name("worker-9")), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_is_reported_with_its_last_lines_and_restarted_in_order() {
    let fake = FakeRuntime::new();
    let data = tempfile::tempdir().unwrap();
    let sup = start(&fake, data.path(), 1).await;
    let snap = sup.wait("worker running", |s| running(s, "worker-1")).await;
    let first_id = snap.slot("worker-1").unwrap().container_id.clone().unwrap();
    let container = name("worker-1");
    fake.print(&container, "working on task 12", false);
    fake.print(
        &container,
        "Error: ANTHROPIC_API_KEY is not set; cannot continue",
        true,
    );
    fake.exit(&container, 1);

    let snap = sup
        .wait("the crash recorded", |s| {
            s.slot("worker-1")
                .and_then(|v| v.last_exit.as_ref())
                .is_some_and(|e| e.code == Some(1))
        })
        .await;
    let exit = snap.slot("worker-1").unwrap().last_exit.clone().unwrap();
    assert_eq!(
        exit.line.as_deref(),
        Some("Error: ANTHROPIC_API_KEY is not set; cannot continue"),
        "the explaining line comes from the container's last output"
    );
    sup.wait("restarted after the backoff", |s| {
        running(s, "worker-1") && s.slot("worker-1").unwrap().restarts >= 1
    })
    .await;
    // Every lifecycle call on the slot's name, in order: never a create while a container of
    // the slot exists, never a start of a container that is not the current one.
    let ops = ops_on(&fake.calls(), &container);
    assert_eq!(ops.first(), Some(&"create"));
    assert_eq!(ops.get(1), Some(&"start"));
    let after_crash = &ops[2..];
    assert!(
        after_crash == ["start"] || after_crash == ["remove", "create", "start"],
        "restart order: {after_crash:?}"
    );
    assert_eq!(fake.containers().len(), 1, "one container for one slot");
    let now_id = fake.container(&container).unwrap().id;
    if after_crash == ["start"] {
        assert_eq!(now_id, first_id, "restarted in place");
    }
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_engine_is_reported_and_what_happened_meanwhile_is_caught_up_on_return() {
    let fake = FakeRuntime::new();
    let data = tempfile::tempdir().unwrap();
    let sup = start(&fake, data.path(), 2).await;
    sup.wait("workers running", |s| {
        running(s, "worker-1") && running(s, "worker-2")
    })
    .await;

    fake.go_down();
    sup.wait("the engine reported down", |s| {
        matches!(s.docker, DockerStatus::Down { .. })
    })
    .await;
    // While drover cannot see it, worker-2's agent finishes and exits.
    fake.exit(&name("worker-2"), 0);
    let connects = fake.connects();
    fake.come_up();

    let snap = sup
        .wait("reconnected, and the exit seen and acted on", |s| {
            s.docker == DockerStatus::Up
                && running(s, "worker-1")
                && s.slot("worker-2").is_some_and(|v| v.starts >= 2)
        })
        .await;
    assert!(fake.connects() > connects, "the link reconnected");
    assert!(running(&snap, "worker-2"), "worker-2 runs again");
    assert_eq!(fake.containers().len(), 2);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_pause_and_resume_reach_the_engine_and_are_acknowledged_once_stored() {
    let fake = FakeRuntime::new();
    let data = tempfile::tempdir().unwrap();
    let sup = start(&fake, data.path(), 1).await;
    sup.wait("worker running", |s| running(s, "worker-1")).await;
    let container = name("worker-1");

    let reply = sup
        .handle
        .command(CommandRequest::new(
            Command::Pause {
                slot: "worker-1".into(),
            },
            "operator",
        ))
        .await
        .expect("reply");
    assert!(matches!(reply, CommandReply::Accepted), "{reply:?}");
    sup.wait("paused", |s| {
        matches!(s.slot("worker-1").unwrap().state, SlotState::Paused { .. })
    })
    .await;
    assert_eq!(
        fake.container(&container).unwrap().status,
        drover_runtime::EngineStatus::Paused
    );
    // A repeat changes nothing and calls nothing.
    let before = ops_on(&fake.calls(), &container).len();
    let again = sup
        .handle
        .command(CommandRequest::new(
            Command::Pause {
                slot: "worker-1".into(),
            },
            "operator",
        ))
        .await
        .expect("reply");
    assert!(matches!(again, CommandReply::Unchanged), "{again:?}");
    assert_eq!(ops_on(&fake.calls(), &container).len(), before);

    sup.handle
        .command(CommandRequest::new(
            Command::Resume {
                slot: "worker-1".into(),
            },
            "operator",
        ))
        .await
        .expect("reply");
    sup.wait("running again", |s| running(s, "worker-1")).await;
    assert_eq!(
        ops_on(&fake.calls(), &container),
        ["create", "start", "pause", "unpause"]
    );
    sup.stop().await;
}

/// A loop alert on `slot` from `detector` (any loop detector when `None`).
fn loop_alert(s: &Snapshot, slot: &str, detector: Option<&str>) -> bool {
    s.alerts.iter().any(|a| {
        a.key.slot.as_deref() == Some(slot)
            && matches!(&a.key.kind, AlertKind::Loop { detector: d } if detector.is_none_or(|x| x == d))
    })
}

/// The demo's idle worker prints "No open tasks left … waiting for new work" at every poll;
/// the README says heartbeats do not fire, and through the whole pipeline (log follower,
/// detectors, core) they do not. The same words as paid model turns (stream-JSON with usage:
/// an agent asking its model at every poll) are a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_waiting_for_work_raises_no_loop_alert_unless_it_pays_for_the_polls() {
    let fake = FakeRuntime::new();
    let data = tempfile::tempdir().unwrap();
    let sup = start(&fake, data.path(), 2).await;
    sup.wait("workers running", |s| {
        running(s, "worker-1") && running(s, "worker-2")
    })
    .await;
    let idle = "No open tasks left at 3f9a2c1 — waiting for new work";
    for _ in 0..30 {
        fake.print(&name("worker-1"), idle, false);
    }
    // A usage line after the polls: once the core has counted it, every line before it has
    // been judged (one ordered stream per slot).
    fake.print(&name("worker-1"), "poller stats: tokens=7", false);
    for i in 0..30 {
        fake.print(
            &name("worker-2"),
            &format!(
                r#"{{"type":"assistant","message":{{"id":"msg_{i:04}","role":"assistant","content":[{{"type":"text","text":"{idle}"}}],"usage":{{"input_tokens":1200,"output_tokens":40}}}}}}"#
            ),
            false,
        );
    }
    let snap = sup
        .wait(
            "the paying poller's loop alert and the idle worker's usage",
            |s| {
                loop_alert(s, "worker-2", Some("chant"))
                    && s.slot("worker-1")
                        .is_some_and(|v| v.usage.session_tokens >= 7)
            },
        )
        .await;
    assert!(
        !loop_alert(&snap, "worker-1", None),
        "an idle worker raised a loop alert: {:?}",
        snap.alerts
    );
    let paid = snap
        .alerts
        .iter()
        .find(|a| {
            a.key.slot.as_deref() == Some("worker-2")
                && matches!(&a.key.kind, AlertKind::Loop { detector } if detector == "chant")
        })
        .unwrap();
    assert!(
        paid.evidence.iter().any(|l| l.contains("token usage")),
        "{:?}",
        paid.evidence
    );
    sup.stop().await;
}
