//! Context health end to end: real containers print a real compaction sequence (Claude Code
//! session lines from a public transcript, tests/fixtures in drover-signals) through drover's
//! log pipeline. The one that goes silent after the compaction raises `idle_after_compaction`;
//! the one that goes on working does not. Both show the compaction, and `status --json` carries
//! the context, the compaction count and the fleet's limits.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use drover::control::view::StatusView;
use drover::core::{AlertKind, SlotState, Snapshot};
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};

const TRANSCRIPT: &str = include_str!(
    "../../crates/drover-signals/tests/fixtures/context/claude-session-spotter-autocompact.jsonl"
);

async fn wait_for(handle: &SupervisorHandle, what: &str, pred: impl Fn(&Snapshot) -> bool) {
    common::wait_for_snapshot(handle, what, 90, pred).await;
}

fn idle_alert(s: &Snapshot, slot: &str) -> bool {
    s.alerts.iter().any(|a| {
        a.key.slot.as_deref() == Some(slot)
            && matches!(&a.key.kind, AlertKind::Loop { detector } if detector == "idle_after_compaction")
    })
}

/// A shell script printing `lines` as they are, then running `then`.
fn script(lines: &[&str], then: &str) -> String {
    let mut s = String::from("trap 'exit 0' TERM; cat <<'EOF'\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("EOF\n");
    s.push_str(then);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_after_a_real_compaction_is_caught_and_work_after_it_is_not() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("dv-ctx");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let lines: Vec<&str> = TRANSCRIPT.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "assistant message, compact_boundary, assistant message"
    );
    // Up to the compaction, then nothing more (a `sleep` that ends on TERM).
    let silent = script(&lines[..2], "while true; do sleep 1; done");
    // The whole sequence, then one line of work a second.
    let working = script(
        &lines,
        "n=0; while true; do n=$((n+1)); echo \"editing step $n\"; sleep 1; done",
    );
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
name = "silent"
image = "{image}"
command = [{silent}]
stall_after = "1h"

[[roles]]
name = "working"
image = "{image}"
command = [{working}]
stall_after = "1h"

[loops.idle_after_compaction]
after = "4s"
"#,
        data = data.path().display(),
        image = common::TEST_IMAGE,
        silent = toml_list(&["sh", "-c", &silent]),
        working = toml_list(&["sh", "-c", &working]),
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 9,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();

    wait_for(&handle, "silent-1 raises idle_after_compaction", |s| {
        idle_alert(s, "silent-1")
    })
    .await;
    // The working agent printed the same compaction earlier than 4 s ago and kept working.
    wait_for(&handle, "working-1 compacted and read after", |s| {
        s.slot("working-1")
            .is_some_and(|v| v.compactions == 1 && v.context.is_some())
    })
    .await;
    // Give the working agent the same silence budget past its compaction: still no alert.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let snap = handle.snapshot.borrow().clone();
    assert!(!idle_alert(&snap, "working-1"), "{:?}", snap.alerts);

    let silent = snap.slot("silent-1").unwrap();
    assert_eq!(
        silent.state,
        SlotState::Running,
        "the default action is an alert"
    );
    assert_eq!(silent.compactions, 1);
    let last = silent
        .last_compaction
        .clone()
        .expect("last compaction shown");
    assert_eq!(last.pre_tokens, Some(170_251));
    assert_eq!(last.percent, Some(85), "170251 of claude-opus-4-6's 200k");
    assert!(silent.context.is_none(), "no reading since the compaction");
    assert_eq!(silent.run.as_ref().map(|r| r.compactions), Some(1));
    assert_eq!(
        silent.run.as_ref().and_then(|r| r.peak_context_percent),
        Some(82)
    );

    let working = snap.slot("working-1").unwrap();
    let ctx = working.context.clone().unwrap();
    assert_eq!(
        (ctx.used, ctx.window, ctx.percent),
        (36_081, Some(200_000), Some(18))
    );

    // What `drover status --json` prints for them.
    let json = serde_json::to_value(StatusView::from_snapshot(&snap)).unwrap();
    let slot = |name: &str| {
        json["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slot"] == name)
            .cloned()
            .unwrap()
    };
    let w = slot("working-1");
    assert_eq!(w["context"]["used"], 36_081);
    assert_eq!(w["context"]["window"], 200_000);
    assert_eq!(w["context"]["percent"], 18);
    assert_eq!(w["compactions"], 1);
    assert!(w["throttled_until"].is_null());
    assert_eq!(slot("silent-1")["compactions"], 1);
    assert_eq!(json["limits"]["throttled"], 0);
    assert_eq!(json["limits"]["slots"], 2);
    assert!(json["limits"]["next_reset"].is_null());
    assert_eq!(json["limits"]["groups"], serde_json::json!([]));

    handle.shutdown.cancel();
    task.await.unwrap();
}
