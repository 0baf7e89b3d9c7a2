//! Chaos: a real drover process is killed with SIGKILL at random points while it creates and
//! restarts containers, twenty times in a row. Afterwards there is no duplicate and no orphan
//! container, every slot is adopted, and the event log only ever grew (committed events
//! survive every kill).

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use drover::core::SlotState;
use drover::store::Store;
use drover::supervisor::{self, SupervisorOptions};

const ROUNDS: u32 = 20;

fn write_config(dir: &Path, fleet: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "data"

[[roles]]
name = "worker"
replicas = 3
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do echo working; sleep 1; done"]
[roles.limits]
memory = "32m"
cpus = 0.2

# One agent session per container: exits cleanly after a moment and is started again at once,
# so restarts are always in flight when drover is killed.
[[roles]]
name = "session"
replicas = 2
image = "{image}"
command = ["sh", "-c", "echo session; sleep 0.3; exit 0"]
[roles.limits]
memory = "32m"
cpus = 0.2
"#,
        image = common::TEST_IMAGE
    );
    let path = dir.join("drover.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A tiny deterministic generator so a failing schedule can be replayed from its seed.
struct Lcg(u64);
impl Lcg {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

fn containers_by_slot(fleet: &str) -> HashMap<String, Vec<String>> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=io.drover.fleet={fleet}"),
            "--format",
            "{{.ID}} {{.Label \"io.drover.slot\"}}",
        ])
        .output()
        .unwrap();
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((id, slot)) = line.split_once(' ') {
            map.entry(slot.to_string())
                .or_default()
                .push(id.to_string());
        }
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_twenty_times_leaves_no_duplicate_or_orphan() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("chaos");
    let _guard = common::FleetGuard(fleet.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fleet);
    let seed = std::env::var("DROVER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261122u64);
    let mut rng = Lcg(seed);
    let mut committed_before = 0i64;
    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["run", "--no-tui", "--config"])
            .arg(&config)
            .env("DROVER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The kill point is the random input of this test, not a synchronisation.
        let delay = 150 + rng.next_ms(1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap();
        child.wait().unwrap();

        let store = Store::open(&dir.path().join("data/drover.db"))
            .await
            .expect("store opens after kill -9");
        assert_eq!(
            store.integrity_check().await.unwrap(),
            "ok",
            "round {round} (seed {seed})"
        );
        let count = store.event_count().await.unwrap();
        assert!(
            count >= committed_before,
            "round {round} (seed {seed}): events went from {committed_before} to {count}"
        );
        committed_before = count;
        store.close().await;

        for (slot, ids) in containers_by_slot(&fleet) {
            assert!(
                ids.len() <= 1,
                "round {round} (seed {seed}, kill after {delay} ms): slot {slot} has containers {ids:?}"
            );
        }
    }
    assert!(
        committed_before > 0,
        "drover committed events during the rounds"
    );

    // A final drover adopts everything and brings every slot back into service.
    let cfg = drover::config::load(&config).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();
    let mut rx = handle.snapshot.clone();
    // The watch guard is dropped at once: holding it would block the supervisor's publishing.
    let ok = tokio::time::timeout(Duration::from_secs(60), async {
        rx.wait_for(|s| {
            s.docker_synced
                && s.slots
                    .iter()
                    .filter(|v| v.role == "worker")
                    .all(|v| v.state == SlotState::Running)
        })
        .await
        .is_ok()
    })
    .await;
    assert!(
        ok == Ok(true),
        "workers not all running after the chaos: {:#?}",
        handle
            .snapshot
            .borrow()
            .slots
            .iter()
            .map(|s| (&s.slot, &s.state))
            .collect::<Vec<_>>()
    );
    let snap = handle.snapshot.borrow().clone();
    let by_slot = containers_by_slot(&fleet);
    let known: Vec<&str> = snap.slots.iter().map(|s| s.slot.as_str()).collect();
    for (slot, ids) in &by_slot {
        assert!(
            known.contains(&slot.as_str()),
            "orphan container for unknown slot {slot}: {ids:?}"
        );
        assert_eq!(ids.len(), 1, "slot {slot} has {ids:?}");
    }
    for w in ["worker-1", "worker-2", "worker-3"] {
        let view = snap.slot(w).unwrap();
        let id = view.container_id.as_deref().unwrap();
        assert!(
            by_slot[w][0].starts_with(&id[..12]),
            "{w} adopted its own container"
        );
    }
    handle.shutdown.cancel();
    task.await.unwrap();
}
