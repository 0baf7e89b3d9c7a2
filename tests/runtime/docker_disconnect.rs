//! Docker's connection cut under a running supervisor: drover talks to the real daemon through
//! a proxy socket, the test cuts the proxy (every connection closed, the socket gone), kills a
//! container behind drover's back through the real socket while drover is blind, then brings
//! the proxy back. drover must report Docker down, reconnect by itself, notice the death that
//! happened meanwhile, restart the slot once and record it all in the store.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use drover::bench::proxy::DockerProxy;
use drover::core::{DockerStatus, SlotState, Snapshot};
use drover::store::EventFilter;
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};

const DAEMON_SOCKET: &str = "/var/run/docker.sock";

async fn wait_for(
    handle: &SupervisorHandle,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    common::wait_for_snapshot(handle, what, 60, pred).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_docker_connection_is_reported_survived_and_caught_up() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("cut");
    let _guard = common::FleetGuard(fleet.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut proxy =
        DockerProxy::start(&dir.path().join("docker.sock"), Path::new(DAEMON_SOCKET)).unwrap();
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"
docker_host = "{host}"

[[roles]]
name = "worker"
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do echo working; sleep 1; done"]
[roles.restart]
initial_backoff = "0s"
"#,
        data = dir.path().join("data").display(),
        host = proxy.host(),
        image = common::TEST_IMAGE
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 7,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();
    let snap = wait_for(&handle, "worker running", |s| {
        s.slot("worker-1")
            .is_some_and(|v| v.state == SlotState::Running && v.container_id.is_some())
    })
    .await;
    let first = snap.slot("worker-1").unwrap().container_id.clone().unwrap();
    assert!(
        proxy.requests() > 0,
        "drover's API calls go through the proxy"
    );

    proxy.cut().await;
    wait_for(&handle, "Docker reported down", |s| {
        matches!(s.docker, DockerStatus::Down { .. })
    })
    .await;

    // While drover cannot see Docker, its container dies.
    let real = drover_runtime::docker::Docker::connect(None)
        .await
        .expect("the real Docker socket");
    real.kill(&first).await.expect("kill behind drover's back");

    proxy.resume().unwrap();
    let snap = wait_for(&handle, "reconnected and restarted", |s| {
        s.docker == DockerStatus::Up
            && s.slot("worker-1")
                .is_some_and(|v| v.state == SlotState::Running && v.starts >= 2)
    })
    .await;
    let worker = snap.slot("worker-1").unwrap();
    assert_eq!(worker.starts, 2, "one restart for one death, no more");
    let listed = real.list_fleet(&fleet).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "one container for the slot after the outage: {listed:?}"
    );

    handle.writer.flush().await.unwrap();
    let events = handle.store.events(&EventFilter::default()).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let at = |kind: &str, from: usize| {
        kinds[from..]
            .iter()
            .position(|k| *k == kind)
            .map(|i| i + from)
            .unwrap_or_else(|| panic!("no `{kind}` after event {from}: {kinds:?}"))
    };
    let down = at("docker_down", 0);
    let up = at("docker_up", down);
    let died = at("died", up);
    at("started", died);
    let died_payload = &events[died].payload;
    assert!(
        died_payload.contains("137") || died_payload.contains("killed"),
        "the death seen after reconnecting carries its exit: {died_payload}"
    );

    handle.shutdown.cancel();
    task.await.unwrap();
}
