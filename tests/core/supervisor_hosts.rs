//! One fleet over two in-memory engines behind `drover_runtime::hosts`: replicas placed round
//! the hosts and kept there, a host lost (its slots shown `host down` with their last state,
//! commands for them refused, the other host carrying on) and regained (its containers
//! adopted, none created twice). The same against a second real Docker Engine lives in
//! `runtime::docker_hosts`.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drover::core::{Command, CommandReply, CommandRequest, SlotState, Snapshot};
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};
use drover_runtime::fake::FakeRuntime;
use drover_runtime::hosts::{HostEndpoint, HostsConnector};

const FLEET: &str = "fkh";

fn config(data: &Path) -> drover::config::Config {
    let text = format!(
        r#"
[fleet]
name = "{FLEET}"
data_dir = "{data}"

[[hosts]]
name = "a"
docker_host = "unix:///run/a.sock"

[[hosts]]
name = "b"
docker_host = "unix:///run/b.sock"

[[roles]]
name = "worker"
replicas = 4
image = "agent:1"
command = ["run-agent"]
"#,
        data = data.display(),
    );
    drover::config::parse(&text, Path::new("fleet.toml")).expect("test config")
}

fn options(a: &FakeRuntime, b: &FakeRuntime) -> SupervisorOptions {
    let endpoint = |name: &str, fake: &FakeRuntime| HostEndpoint {
        name: name.into(),
        connector: fake.connector(),
        timeout: Duration::from_secs(2),
    };
    SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 7,
        connector: Some(Arc::new(HostsConnector::new(vec![
            endpoint("a", a),
            endpoint("b", b),
        ]))),
        ..Default::default()
    }
}

struct Running {
    handle: SupervisorHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(data: &Path, a: &FakeRuntime, b: &FakeRuntime) -> Self {
        let (handle, task) = supervisor::start(config(data), options(a, b))
            .await
            .expect("supervisor starts");
        Self { handle, task }
    }

    async fn wait(&self, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        common::wait_for_snapshot(&self.handle, what, 20, pred).await
    }

    async fn stop(self) {
        self.handle.shutdown.cancel();
        self.task.await.expect("supervisor task ends");
    }
}

const SLOTS: [&str; 4] = ["worker-1", "worker-2", "worker-3", "worker-4"];

fn all_running(s: &Snapshot) -> bool {
    SLOTS.iter().all(|n| {
        s.slot(n).is_some_and(|v| {
            v.state == SlotState::Running && v.container_id.is_some() && v.host_down_since.is_none()
        })
    })
}

fn slots_on(fake: &FakeRuntime) -> Vec<String> {
    let mut s: Vec<String> = fake.containers().into_iter().map(|c| c.slot).collect();
    s.sort();
    s
}

fn creates(fake: &FakeRuntime) -> usize {
    fake.calls().iter().filter(|c| c.op == "create").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_go_round_the_hosts_and_a_lost_host_freezes_only_its_slots() {
    let (a, b) = (FakeRuntime::new(), FakeRuntime::new());
    let data = tempfile::tempdir().unwrap();
    let sup = Running::start(data.path(), &a, &b).await;
    let snap = sup.wait("four workers running", all_running).await;

    // Round the hosts in order; the id names the host holding the container.
    assert_eq!(slots_on(&a), ["worker-1", "worker-3"]);
    assert_eq!(slots_on(&b), ["worker-2", "worker-4"]);
    for (slot, host) in SLOTS.iter().zip(["a", "b", "a", "b"]) {
        let v = snap.slot(slot).unwrap();
        assert_eq!(v.host.as_deref(), Some(host), "{slot}");
        let id = v.container_id.as_deref().unwrap();
        assert!(id.starts_with(&format!("{host}/")), "{slot}: {id}");
    }
    let json = serde_json::to_value(&*snap).unwrap();
    assert_eq!(
        json["slots"][1]["host"], "b",
        "status --json names the host"
    );
    assert_eq!(snap.hosts.len(), 2);

    // Host b goes away: its slots keep their last state, marked host down; a carries on.
    b.go_down();
    let snap = sup
        .wait("worker-2 and worker-4 host down", |s| {
            ["worker-2", "worker-4"]
                .iter()
                .all(|n| s.slot(n).is_some_and(|v| v.host_down_since.is_some()))
        })
        .await;
    for slot in ["worker-2", "worker-4"] {
        let v = snap.slot(slot).unwrap();
        assert_eq!(v.state, SlotState::Running, "last known state kept");
        assert!(
            v.reason.as_deref().unwrap_or("").starts_with("host down"),
            "{v:?}"
        );
    }
    assert!(snap.hosts.iter().any(|h| h.name == "b" && h.down.is_some()));
    assert_eq!(snap.metrics.by_state.get("host_down"), Some(&2));
    assert!(
        snap.alerts
            .iter()
            .any(|a| a.message.contains("host b unreachable")),
        "{:?}",
        snap.alerts
    );
    // A command for a slot there is refused with the reason, never acknowledged as done.
    let reply = sup
        .handle
        .command(CommandRequest::new(
            Command::Restart {
                slot: "worker-2".into(),
            },
            "op",
        ))
        .await;
    match reply {
        Some(CommandReply::Refused { why }) => assert!(why.contains("host b"), "{why}"),
        other => panic!("a restart on a lost host must be refused, got {other:?}"),
    }
    // Host a carries on: a crash there is restarted while b is away.
    let before = a.container("drover-fkh-worker-1").unwrap().starts;
    a.exit("drover-fkh-worker-1", 1);
    sup.wait("worker-1 restarted on a", |s| {
        s.slot("worker-1")
            .is_some_and(|v| v.state == SlotState::Running && v.starts >= 2)
    })
    .await;
    assert!(a.container("drover-fkh-worker-1").unwrap().starts > before);
    let b_creates = creates(&b);

    // b comes back: its containers are adopted, nothing is created twice.
    b.come_up();
    let snap = sup.wait("every worker running again", all_running).await;
    assert!(
        snap.hosts.iter().all(|h| h.down.is_none()),
        "{:?}",
        snap.hosts
    );
    assert_eq!(slots_on(&b), ["worker-2", "worker-4"], "no duplicate on b");
    assert_eq!(creates(&b), b_creates, "adopted, not recreated");
    assert!(
        !snap.alerts.iter().any(|a| a.message.contains("host b")),
        "the host alert clears"
    );
    sup.stop().await;

    // The next drover places every slot where it was and creates nothing.
    let (ca, cb) = (creates(&a), creates(&b));
    let again = Running::start(data.path(), &a, &b).await;
    let snap = again.wait("four workers adopted", all_running).await;
    for (slot, host) in SLOTS.iter().zip(["a", "b", "a", "b"]) {
        assert_eq!(snap.slot(slot).unwrap().host.as_deref(), Some(host));
    }
    assert_eq!((creates(&a), creates(&b)), (ca, cb));
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_down_at_start_is_waited_for_not_replaced() {
    let (a, b) = (FakeRuntime::new(), FakeRuntime::new());
    let data = tempfile::tempdir().unwrap();
    b.go_down();
    let sup = Running::start(data.path(), &a, &b).await;
    let snap = sup
        .wait("a's workers running, b's host down", |s| {
            ["worker-1", "worker-3"]
                .iter()
                .all(|n| s.slot(n).is_some_and(|v| v.state == SlotState::Running))
                && ["worker-2", "worker-4"]
                    .iter()
                    .all(|n| s.slot(n).is_some_and(|v| v.host_down_since.is_some()))
        })
        .await;
    assert_eq!(
        slots_on(&a),
        ["worker-1", "worker-3"],
        "b's slots are not moved to a"
    );
    assert!(snap.slot("worker-2").unwrap().container_id.is_none());
    b.come_up();
    sup.wait("every worker running", all_running).await;
    assert_eq!(slots_on(&b), ["worker-2", "worker-4"]);
    sup.stop().await;
}
