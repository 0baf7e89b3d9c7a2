//! Loop detection end to end: a real container printing the same block of output again and
//! again is caught by drover's output pipeline, the `[loops]` action really pauses it in
//! Docker, the alert carries the repeated lines, and the notification hook receives the alert
//! as JSON on stdin. A healthy neighbour printing varied output raises nothing.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drover::core::{Actor, AlertKind, SlotState, Snapshot};
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};

async fn wait_for(handle: &SupervisorHandle, what: &str, pred: impl Fn(&Snapshot) -> bool) {
    common::wait_for_snapshot(handle, what, 90, pred).await;
}

const LOOPER: &str = r#"trap 'exit 0' TERM; n=0; while true; do n=$((n+1));
echo "⏺ Bash(cargo build -p engine)";
echo "  ⎿  error[E0502]: cannot borrow self.buf as mutable (attempt $n)";
echo "I see the borrow error. Let me read the file.";
echo "⏺ Read(engine/src/buffer.rs)";
echo "  ⎿  Read $((180 + n % 7)) lines";
echo "I will clone the slice before the loop.";
echo "⏺ Update(engine/src/buffer.rs)";
sleep 0.05; done"#;

const HEALTHY: &str = r#"trap 'exit 0' TERM; n=0; while true; do n=$((n+1));
echo "working on module_$n: wrote $((n * 37 % 101)) lines of $(printf '%x' $((n * 7919)))";
sleep 0.05; done"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_agent_is_paused_and_the_hook_is_told() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("loops");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let fifo = data.path().join("hook.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let toml_list = |items: &[&str]| {
        items
            .iter()
            .map(|i| toml::Value::String(i.to_string()).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[roles]]
name = "looper"
image = "{image}"
command = [{looper}]

[[roles]]
name = "healthy"
image = "{image}"
command = [{healthy}]

[loops.output_repetition]
action = "pause"

[notify]
hook = [{hook}]
hook_timeout = "20s"
"#,
        data = data.path().display(),
        image = common::TEST_IMAGE,
        looper = toml_list(&["sh", "-c", LOOPER]),
        healthy = toml_list(&["sh", "-c", HEALTHY]),
        hook = toml_list(&["sh", "-c", "cat > \"$0\"", fifo.to_str().unwrap()]),
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 5,
        ..Default::default()
    };
    // Reading the FIFO blocks until the hook writes the alert and closes it.
    let reader = tokio::task::spawn_blocking({
        let fifo = fifo.clone();
        move || std::fs::read_to_string(fifo)
    });
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();

    wait_for(&handle, "looper-1 paused by drover", |s| {
        s.slot("looper-1")
            .is_some_and(|v| v.state == SlotState::Paused { by: Actor::Drover })
    })
    .await;
    let snap = handle.snapshot.borrow().clone();
    let alert = snap
        .alerts
        .iter()
        .find(|a| a.key.slot.as_deref() == Some("looper-1"))
        .expect("loop alert");
    let AlertKind::Loop { detector } = &alert.key.kind else {
        panic!("{alert:?}");
    };
    assert!(
        ["output_repetition", "repeated_block"].contains(&detector.as_str()),
        "{detector}"
    );
    assert!(
        alert
            .evidence
            .iter()
            .any(|l| l.contains("Read(engine/src/buffer.rs)")),
        "{:?}",
        alert.evidence
    );
    let id = snap.slot("looper-1").unwrap().container_id.clone().unwrap();
    let paused = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Paused}}", &id])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&paused.stdout).trim(), "true");

    let payload = match tokio::time::timeout(Duration::from_secs(60), reader).await {
        Ok(read) => read.unwrap().unwrap(),
        Err(_) => {
            // Release the blocked reader so the runtime can shut down, then fail.
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
            panic!("the hook did not run within 60 s");
        }
    };
    let v: serde_json::Value = serde_json::from_str(payload.trim()).expect("JSON on stdin");
    assert_eq!(v["fleet"], fleet.as_str());
    assert_eq!(v["alert"]["key"]["slot"], "looper-1");
    assert_eq!(v["alert"]["key"]["kind"]["kind"], "loop");

    let healthy = snap.slot("healthy-1").unwrap();
    assert_eq!(healthy.state, SlotState::Running);
    assert!(
        !snap
            .alerts
            .iter()
            .any(|a| a.key.slot.as_deref() == Some("healthy-1")),
        "{:?}",
        snap.alerts
    );

    handle.shutdown.cancel();
    task.await.unwrap();
}
