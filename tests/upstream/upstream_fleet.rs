//! A supervised fleet on a brand-new upstream, end to end with real Docker and real git: the
//! empty bare repo (HEAD naming a branch nobody pushes) does not stop supervision, the snapshot
//! and `status` say "upstream empty — waiting for the first push", the first push is picked up,
//! and a lock file that names only the container's short id — committed under the shared
//! identity real fleets use — is attributed to the right slot. Containers get hostname = slot
//! and `DROVER_SLOT` / `DROVER_FLEET` / `DROVER_GENERATION`.

use crate::common;
use crate::upstream_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use drover::control::view::StatusView;
use drover::core::{SlotState, UpstreamState};
use drover::supervisor::{self, SupervisorOptions};
use upstream_support::{Agent, git_ok};

fn inspect(id: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", format, id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_upstream_is_supervised_and_the_first_push_names_its_holder() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("upempty");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().expect("tempdir");
    let bare = data.path().join("up.git");
    git_ok(
        data.path(),
        &["init", "--bare", "-q", "-b", "master", "up.git"],
        None,
    );
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[upstream]
repo = "{bare}"

[[roles]]
name = "worker"
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"#,
        data = data.path().display(),
        bare = bare.display(),
        image = common::TEST_IMAGE,
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).expect("config");
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 7,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts)
        .await
        .expect("supervisor starts");

    common::wait_for_snapshot(&handle, "worker-1 running on an empty upstream", 90, |s| {
        s.upstream.state == UpstreamState::Empty
            && s.slot("worker-1")
                .is_some_and(|v| v.state == SlotState::Running && v.container_id.is_some())
    })
    .await;
    let snap = handle.snapshot.borrow().clone();
    let status = StatusView::from_snapshot(&snap);
    assert_eq!(status.upstream.state, "empty");
    assert!(
        status
            .to_text()
            .contains("upstream empty — waiting for the first push"),
        "{}",
        status.to_text()
    );
    let id = snap
        .slot("worker-1")
        .and_then(|v| v.container_id.clone())
        .expect("container id");
    assert_eq!(inspect(&id, "{{.Config.Hostname}}"), "worker-1");
    let env = inspect(&id, "{{json .Config.Env}}");
    for want in [
        "DROVER_SLOT=worker-1".to_owned(),
        format!("DROVER_FLEET={fleet}"),
        "DROVER_GENERATION=1".to_owned(),
    ] {
        assert!(env.contains(&want), "{want} missing from {env}");
    }

    // The first push, by the shared identity, naming only the container's short id.
    let clone = data.path().join("clone");
    git_ok(
        data.path(),
        &[
            "clone",
            "-q",
            &bare.to_string_lossy(),
            &clone.to_string_lossy(),
        ],
        None,
    );
    git_ok(&clone, &["checkout", "-q", "-b", "main"], None);
    git_ok(&clone, &["config", "user.name", "Shared Agent"], None);
    git_ok(&clone, &["config", "user.email", "agent@fleet.local"], None);
    let agent = Agent {
        name: "Shared Agent".into(),
        dir: clone,
    };
    agent.write(
        "current_tasks/parser.md",
        format!("Working on the parser from {}\n", &id[..12]).as_bytes(),
    );
    agent.commit_all("Lock task: parser", 1_760_000_000);
    agent.push().expect("first push");

    common::wait_for_snapshot(&handle, "the lock attributed to worker-1", 30, |s| {
        s.upstream.state == UpstreamState::Ready
            && s.locks
                .iter()
                .any(|l| l.task == "parser" && l.holder.as_deref() == Some("worker-1"))
    })
    .await;

    handle.shutdown.cancel();
    task.await.expect("supervisor ends");
}
