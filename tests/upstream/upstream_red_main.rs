//! Red main, end to end with real Docker and real git: `[upstream.check]` runs a real check
//! container (the busybox test image) on a checkout of every new tip of a real bare repo, the
//! check being a shell script in the repo that prints cargo-test output and fails when
//! `status.txt` says `broken`. A pushed breaking commit opens `upstream_red` naming that
//! commit and the slot whose run landed it within two check intervals; with
//! `on_red = "hold"` a slot whose run ends while red is not restarted (a `fixes_main` role's
//! is) and `status --json` says why; the fix turns main green and ends the hold by itself;
//! two commits pushed at once (one harmless, one breaking) are bisected to the breaking one.

use crate::common;
use crate::upstream_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use drover::control::view::StatusView;
use drover::core::{AlertKind, MainState, Snapshot};
use drover::supervisor::{self, SupervisorHandle, SupervisorOptions};
use upstream_support::{Agent, Upstream};

/// The check: cargo-test output, failing when the repo's status.txt says so.
const CHECK_SH: &str = r#"if grep -q broken status.txt; then
  printf 'running 2 tests\ntest app::works ... ok\ntest app::status_ok ... FAILED\n\nfailures:\n    app::status_ok\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\n'
  exit 101
fi
printf 'running 2 tests\ntest app::works ... ok\ntest app::status_ok ... ok\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\n'
"#;

const EVERY_S: u64 = 5;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Removes the fleet's check container if a test leaves one behind.
struct CheckGuard(String);

impl Drop for CheckGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &format!("drover-{}-check", self.0)])
            .output();
    }
}

/// The `[upstream.check]` of the red-main tests.
fn hold_check() -> String {
    format!(
        r#"image = "{}"
command = ["sh", "check.sh"]
every = "{EVERY_S}s"
timeout = "60s"
max_bisect = 4
on_red = "hold""#,
        common::TEST_IMAGE
    )
}

async fn start(
    up: &Upstream,
    prefix: &str,
    check: &str,
) -> (SupervisorHandle, String, tempfile::TempDir, String) {
    common::ensure_test_image();
    let fleet = common::unique_fleet(prefix);
    let data = tempfile::tempdir().expect("tempdir");
    let seeder = up.agent("seeder2");
    seeder.write("check.sh", CHECK_SH.as_bytes());
    seeder.write("status.txt", b"ok\n");
    seeder.commit_all("add the check", now_secs());
    seeder.push().expect("push");
    // Workers end a run every 6 s (clean exit, restarted at once under `always`).
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[upstream]
repo = "{bare}"

[upstream.check]
{check}

[[roles]]
name = "worker"
image = "{image}"
command = ["sh", "-c", "sleep 6"]

[[roles]]
name = "fixer"
image = "{image}"
command = ["sh", "-c", "sleep 6"]
fixes_main = true
"#,
        data = data.path().display(),
        bare = up.bare.display(),
        image = common::TEST_IMAGE,
    );
    let (handle, _task) = launch(&text).await;
    (handle, fleet, data, text)
}

async fn launch(text: &str) -> (SupervisorHandle, tokio::task::JoinHandle<()>) {
    let cfg = drover::config::parse(text, Path::new("fleet.toml")).expect("config");
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 7,
        ..Default::default()
    };
    supervisor::start(cfg, opts).await.expect("supervisor")
}

fn main_state(s: &Snapshot) -> Option<MainState> {
    s.main.as_ref().map(|m| m.state)
}

fn red_alert(s: &Snapshot) -> Option<String> {
    s.alerts
        .iter()
        .find(|a| a.key.kind == AlertKind::UpstreamRed)
        .map(|a| a.message.clone())
}

/// The agent commits as its slot (so the fleet attributes it) while the slot's run is live.
async fn commit_in_run(handle: &SupervisorHandle, agent: &Agent, slot: &str, msg: &str) -> String {
    common::wait_for_snapshot(handle, &format!("{slot} running"), 60, |s| {
        s.slot(slot)
            .is_some_and(|v| v.state == drover::core::SlotState::Running)
    })
    .await;
    agent.commit_all(msg, now_secs())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaking_push_turns_main_red_names_who_landed_it_holds_runs_and_a_fix_ends_it() {
    let up = Upstream::new();
    let (handle, fleet, _data, text) = start(&up, "redmain", &hold_check()).await;
    let _guard = common::FleetGuard(fleet.clone());
    let _check = CheckGuard(fleet.clone());

    common::wait_for_snapshot(&handle, "main green", 60, |s| {
        main_state(s) == Some(MainState::Green)
    })
    .await;
    let worker = up.agent("worker-1");
    worker.sync();
    worker.write("status.txt", b"broken\n");
    let bad = commit_in_run(&handle, &worker, "worker-1", "break the status").await;
    worker.push().expect("push");
    let pushed = Instant::now();
    let short = &bad[..8];
    let snap = common::wait_for_snapshot(&handle, "upstream_red naming commit and slot", 60, |s| {
        red_alert(s).is_some_and(|m| m.contains(short) && m.contains("worker-1"))
    })
    .await;
    let took = pushed.elapsed();
    assert!(
        took <= Duration::from_secs(2 * EVERY_S),
        "red named {took:?} after the push (every = {EVERY_S}s)"
    );
    let main = snap.main.clone().expect("main");
    assert_eq!(main.state, MainState::Red);
    assert!(main.hold);
    let culprit = main.culprit.expect("culprit");
    assert_eq!(culprit.commit.id, bad);
    assert_eq!(culprit.commit.author, "worker-1 <worker-1@agents.local>");
    assert_eq!(culprit.landed_by.expect("landed by").slot, "worker-1");
    assert!(culprit.failing.iter().any(|t| t.contains("app::status_ok")));
    let message = red_alert(&snap).unwrap();
    assert!(message.contains("app::status_ok"), "{message}");

    // The hold: worker-1's run ends (every 6 s) and is not restarted; the fixer's is.
    let held = common::wait_for_snapshot(&handle, "worker-1 held", 60, |s| {
        s.slot("worker-1")
            .and_then(|v| v.reason.clone())
            .is_some_and(|r| r.contains("main is red"))
    })
    .await;
    let starts = held.slot("worker-1").unwrap().starts;
    let fixer = held.slot("fixer-1").unwrap().starts;
    common::wait_for_snapshot(&handle, "fixer-1 restarted while red", 30, |s| {
        s.slot("fixer-1").is_some_and(|v| v.starts > fixer)
    })
    .await;
    let snap = handle.snapshot.borrow().clone();
    assert_eq!(snap.slot("worker-1").unwrap().starts, starts, "held");
    let status = serde_json::to_value(StatusView::from_snapshot(&snap)).unwrap();
    assert_eq!(status["upstream"]["main"]["state"], "red");
    assert_eq!(status["upstream"]["main"]["commit"], bad.as_str());
    assert!(status["upstream"]["main"]["since"].as_u64().is_some());
    assert_eq!(status["upstream"]["main"]["hold"], true);
    let why = status["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slot"] == "worker-1")
        .and_then(|s| s["reason"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("held: main is red since"), "{why}");

    // drover restarts while main is red: it resumes red, held, with who broke it.
    handle.shutdown.cancel();
    let (handle, _task) = launch(&text).await;
    let resumed =
        common::wait_for_snapshot(&handle, "main resumed", 30, |s| s.main.is_some()).await;
    let main = resumed.main.clone().expect("resumed at start");
    assert_eq!(main.state, MainState::Red);
    assert!(main.hold);
    assert_eq!(main.commit.as_deref(), Some(bad.as_str()));
    assert_eq!(
        main.culprit.and_then(|c| c.landed_by).map(|l| l.slot),
        Some("worker-1".to_string())
    );

    // The fix: green again, the hold ends by itself and worker-1 starts.
    let fixer_agent = up.agent("fixer-1");
    fixer_agent.sync();
    fixer_agent.write("status.txt", b"ok\n");
    fixer_agent.commit_all("fix the status", now_secs());
    fixer_agent.push().expect("push");
    let snap = common::wait_for_snapshot(&handle, "green and worker-1 started", 60, |s| {
        main_state(s) == Some(MainState::Green)
            && s.slot("worker-1").is_some_and(|v| v.starts > starts)
    })
    .await;
    assert!(red_alert(&snap).is_none(), "upstream_red cleared");
    assert!(!snap.main.as_ref().unwrap().hold);
    handle.writer.flush().await.expect("flush");
    let events = handle
        .store
        .events(&drover::store::EventFilter::default())
        .await
        .expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "main_green" && e.payload.contains("hold ended")),
        "a main_green event says the hold ended"
    );
    let periods = handle.store.main_red_since(0).await.expect("periods");
    assert_eq!(periods.len(), 1);
    assert_eq!(periods[0].commit, bad);
    assert_eq!(periods[0].slot.as_deref(), Some("worker-1"));
    assert!(periods[0].until_ms.is_some());
    // `drover report` (the CLI, on the store read-only): red time per day, the commit that
    // broke main, by slot.
    let db = _data.path().join("drover.db");
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--json", "--db"])
        .arg(&db)
        .output()
        .expect("drover report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let main = &report["main"];
    assert_eq!(main["breaks"][0]["commit"], bad.as_str());
    assert_eq!(main["breaks"][0]["slot"], "worker-1");
    assert_eq!(
        main["breaks"][0]["author"],
        "worker-1 <worker-1@agents.local>"
    );
    assert_eq!(main["by_slot"]["worker-1"], 1);
    assert!(main["red_days"][0]["red_s"].as_f64().unwrap() > 0.0);
    let text = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--db"])
        .arg(&db)
        .output()
        .expect("drover report");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Commits that broke main:"), "{text}");
    assert!(text.contains(&bad[..10]), "{text}");
    handle.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_pushed_at_once_are_bisected_to_the_breaking_one() {
    let up = Upstream::new();
    let (handle, fleet, _data, _) = start(&up, "redbisect", &hold_check()).await;
    let _guard = common::FleetGuard(fleet.clone());
    let _check = CheckGuard(fleet.clone());
    common::wait_for_snapshot(&handle, "main green", 60, |s| {
        main_state(s) == Some(MainState::Green)
    })
    .await;
    let worker = up.agent("worker-1");
    worker.sync();
    worker.write("src/harmless.txt", b"a harmless change\n");
    let harmless = commit_in_run(&handle, &worker, "worker-1", "harmless change").await;
    worker.write("status.txt", b"broken\n");
    let bad = worker.commit_all("breaking change", now_secs());
    worker.push().expect("push");
    let snap = common::wait_for_snapshot(&handle, "bisection names a culprit", 90, |s| {
        s.main
            .as_ref()
            .and_then(|m| m.culprit.as_ref())
            .is_some_and(|c| c.exact)
    })
    .await;
    let main = snap.main.clone().unwrap();
    let culprit = main.culprit.unwrap();
    assert_eq!(culprit.commit.id, bad, "not the harmless {harmless}");
    assert!(main.checks.iter().any(|c| c.bisect && c.commit == harmless));
    assert_eq!(
        main.checks.iter().filter(|c| c.bisect).count(),
        1,
        "one extra check decides between two commits"
    );
    handle.shutdown.cancel();
}

fn labels_of(container: &str) -> Option<serde_json::Value> {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{json .Config.Labels}}", container])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_times_out_is_its_own_failure_and_its_container_is_never_a_slot() {
    let up = Upstream::new();
    let check = format!(
        r#"image = "{}"
command = ["sh", "-c", "sleep 30"]
every = "1s"
timeout = "3s""#,
        common::TEST_IMAGE
    );
    let (handle, fleet, _data, _) = start(&up, "redtimeout", &check).await;
    let _guard = common::FleetGuard(fleet.clone());
    let _check = CheckGuard(fleet.clone());
    // While the check runs: drover's check label, none of a slot's.
    let name = format!("drover-{fleet}-check");
    let deadline = Instant::now() + Duration::from_secs(60);
    let labels = loop {
        if let Some(l) = labels_of(&name) {
            break l;
        }
        assert!(Instant::now() < deadline, "no check container appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(labels["io.drover.check"], fleet.as_str());
    assert!(labels.get("io.drover.fleet").is_none(), "{labels}");
    assert!(labels.get("io.drover.slot").is_none(), "{labels}");
    let snap = common::wait_for_snapshot(&handle, "the timeout reported", 60, |s| {
        s.main
            .as_ref()
            .and_then(|m| m.check_error.as_deref())
            .is_some_and(|e| e.contains("timed out after 3s"))
    })
    .await;
    let main = snap.main.clone().unwrap();
    assert_eq!(main.state, MainState::Unknown, "neither red nor green");
    assert!(!main.hold);
    assert!(red_alert(&snap).is_none());
    assert_eq!(main.checks[0].verdict(), "failed");
    // The fleet never took the check container for one of its own or a foreign look-alike.
    assert!(snap.slots.iter().all(|s| s.slot != "check"));
    assert!(
        snap.alerts
            .iter()
            .all(|a| !matches!(a.key.kind, AlertKind::ForeignContainer { .. })),
        "{:?}",
        snap.alerts
    );
    let status = serde_json::to_value(StatusView::from_snapshot(&snap)).unwrap();
    assert_eq!(status["upstream"]["main"]["state"], "unknown");
    assert!(
        status["upstream"]["main"]["check_error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out"))
    );
    handle.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_check_image_is_reported_as_such() {
    let up = Upstream::new();
    let check = r#"image = "dv-red-no-such-image:0"
command = ["sh", "check.sh"]
every = "1s""#;
    let (handle, fleet, _data, _) = start(&up, "rednoimage", check).await;
    let _guard = common::FleetGuard(fleet.clone());
    let snap = common::wait_for_snapshot(&handle, "the missing image reported", 60, |s| {
        s.main
            .as_ref()
            .and_then(|m| m.check_error.as_deref())
            .is_some_and(|e| e.contains("dv-red-no-such-image:0 is missing"))
    })
    .await;
    let main = snap.main.clone().unwrap();
    assert_eq!(main.state, MainState::Unknown);
    assert!(red_alert(&snap).is_none());
    handle.shutdown.cancel();
}
