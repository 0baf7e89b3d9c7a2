//! `drover demo --no-tui` for a bounded time tells the story it promises, with real drover
//! behaviour: tasks claimed and released in the upstream repo by real commits, the missing-env
//! agent blocked with its reason and never started, the crash-looper blocked after at most three
//! starts, the output looper alerted, test runs recorded with their counts; `--clean` leaves no
//! container, image or folder behind.

use crate::common;

use std::process::Command;

use drover::store::{EventFilter, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_happens_and_clean_removes_it() {
    common::require_docker();
    let fleet = common::unique_fleet("demo");
    let image = format!("drover-demo-test:{fleet}");
    let _image = common::ImageGuard(image.clone());
    let _guard = common::FleetGuard(fleet.clone());
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args([
            "demo",
            "--image",
            &image,
            "--no-tui",
            "--duration",
            "40s",
            "--fleet",
            &fleet,
            "--pace",
            "0.3",
            "--dir",
        ])
        .arg(&dir)
        .env(
            "DEMO_API_KEY",
            "set-in-the-shell-but-the-demo-must-not-pass-it",
        )
        .output()
        .expect("run drover demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "drover demo failed:\n{stderr}");

    let store = Store::open(&dir.join("data/drover.db")).await.unwrap();
    let events = store.events(&EventFilter::default()).await.unwrap();
    let of = |slot: &str, kind: &str| {
        events
            .iter()
            .filter(|e| e.slot.as_deref() == Some(slot) && e.kind == kind)
            .count()
    };
    assert!(
        of("missing-env-1", "blocked") >= 1,
        "missing-env blocked:\n{stderr}"
    );
    assert_eq!(
        of("missing-env-1", "started"),
        0,
        "missing-env never started"
    );
    let blocked = events
        .iter()
        .find(|e| e.slot.as_deref() == Some("missing-env-1") && e.kind == "blocked")
        .unwrap();
    assert!(
        blocked.payload.contains("DEMO_API_KEY"),
        "{}",
        blocked.payload
    );
    assert!(
        of("crasher-1", "blocked") >= 1,
        "crasher blocked:\n{stderr}"
    );
    let crasher_starts = of("crasher-1", "started");
    assert!(
        (1..=3).contains(&crasher_starts),
        "crasher started {crasher_starts} times"
    );

    // Real claims and releases in the upstream repo.
    let log = Command::new("git")
        .args(["-c", "safe.directory=*", "--git-dir"])
        .arg(dir.join("upstream.git"))
        .args(["log", "--name-status", "--format=%s", "--", "current_tasks"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.lines().any(|l| l.starts_with("A\tcurrent_tasks/")),
        "claims in upstream:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.starts_with("D\tcurrent_tasks/")),
        "finished tasks released in upstream:\n{log}"
    );

    // The looper's repeated output became one loop alert (with the repeated lines as
    // evidence), and its printed token usage a budget alert.
    let alerts = store.active_alerts().await.unwrap();
    let of_looper = |detector: &str| {
        alerts.iter().find(|a| {
            a["key"]["slot"] == "looper-1"
                && a["key"]["kind"]["kind"] == "loop"
                && a["key"]["kind"]["detector"] == detector
        })
    };
    let repetition = of_looper("output_repetition")
        .unwrap_or_else(|| panic!("looper loop alert in {alerts:#?}\n{stderr}"));
    assert!(
        repetition["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("Bash(cargo build -p engine")),
        "{repetition}"
    );
    assert!(
        of_looper("budget").is_some(),
        "looper budget alert in {alerts:#?}"
    );
    assert!(
        !alerts.iter().any(|a| a["key"]["slot"]
            .as_str()
            .is_some_and(|s| s.starts_with("worker-"))
            && a["key"]["kind"]["kind"] == "loop"
            && a["key"]["kind"]["detector"] != "budget"),
        "healthy workers raise no loop alert: {alerts:#?}"
    );

    // Test runs parsed from the agents' real-format runner output, with consistent counts.
    let mut runs = Vec::new();
    for w in ["worker-1", "worker-2", "worker-3", "flaky-1"] {
        runs.extend(store.test_runs(w, 50).await.unwrap());
    }
    assert!(!runs.is_empty(), "test runs recorded:\n{stderr}");
    for r in &runs {
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        assert_eq!(
            n("total"),
            n("passed") + n("failed") + n("skipped") + n("errors"),
            "{r}"
        );
        let verdict = r["verdict"].as_str().unwrap();
        assert_eq!(
            verdict == "pass",
            n("total") > 0 && n("failed") == 0 && n("errors") == 0,
            "{r}"
        );
    }
    store.close().await;

    let clean = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["demo", "--clean", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(!dir.exists(), "demo folder removed");
    let image = Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .unwrap();
    assert!(!image.status.success(), "demo image removed");
    let left = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.drover.fleet={fleet}"),
        ])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "containers left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
