//! Test statistics end to end: an agent container prints real captured pytest output (a failing
//! run, then the "390 passed" run) and drover records each run with exact counts, the verdict and
//! the failing tests with their reasons — in the core's snapshot and in the store.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drover::core::Verdict;
use drover::supervisor::{self, SupervisorOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_output_becomes_recorded_test_runs() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("tests");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/drover-signals/tests/fixtures/signals/pytest");
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[roles]]
name = "agent"
image = "{image}"
command = ["sh", "-c", "echo working on task; cat /fixtures/fail.txt; echo fixing; cat /fixtures/large.txt; echo done; sleep 300"]
[[roles.mounts]]
source = "{fixtures}"
target = "/fixtures"
read_only = true
"#,
        data = data.path().display(),
        image = common::TEST_IMAGE,
        fixtures = fixtures.display(),
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 1,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();

    let mut rx = handle.snapshot.clone();
    let reached = tokio::time::timeout(Duration::from_secs(60), async {
        rx.wait_for(|s| s.slot("agent-1").is_some_and(|v| v.test_trend.len() >= 2))
            .await
            .is_ok()
    })
    .await;
    let snap = handle.snapshot.borrow().clone();
    let view = snap.slot("agent-1").unwrap().clone();
    assert_eq!(reached, Ok(true), "two runs expected, slot: {view:#?}");
    let last = view.last_test.as_ref().unwrap();
    assert_eq!((last.summary.passed, last.summary.failed), (390, 0));
    assert_eq!(
        last.summary.verdict,
        Verdict::Pass,
        "390 passed, 0 failed is a pass"
    );

    // Both runs are in the store with their counts, and the failing run keeps its reasons.
    handle.writer.flush().await.unwrap();
    let runs = handle.store.test_runs("agent-1", 10).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let failing = &runs[1];
    assert_eq!(failing["verdict"], "fail");
    assert_eq!(
        (
            failing["passed"].as_u64(),
            failing["failed"].as_u64(),
            failing["errors"].as_u64()
        ),
        (Some(1), Some(4), Some(1))
    );
    let reasons = failing["failures"].to_string();
    assert!(reasons.contains("assert 11 == 10"), "{reasons}");
    assert!(reasons.contains("KeyError: 'pear'"), "{reasons}");
    handle.shutdown.cancel();
    task.await.unwrap();
}

/// `[roles.tests] junit_dir`: reports the agent writes inside its container (here: real
/// cargo-nextest JUnit captures, the failing one, then the passing one) are read through Docker
/// and recorded as runs, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_reports_written_in_the_container_become_runs() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("junit");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/drover-signals/tests/fixtures/signals/nextest");
    // The second report is written after the first was surely read; its arrival is what the
    // test waits for, not the time.
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[roles]]
name = "agent"
image = "{image}"
command = ["sh", "-c", "mkdir -p /tmp/results && cp /fixtures/fail-junit.xml /tmp/results/run.xml && echo wrote report && sleep 7 && cp /fixtures/pass-junit.xml /tmp/results/run2.xml && echo wrote second && sleep 300"]
[roles.tests]
junit_dir = "/tmp/results"
[[roles.mounts]]
source = "{fixtures}"
target = "/fixtures"
read_only = true
"#,
        data = data.path().display(),
        image = common::TEST_IMAGE,
        fixtures = fixtures.display(),
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 1,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();
    let mut rx = handle.snapshot.clone();
    let reached = tokio::time::timeout(Duration::from_secs(60), async {
        rx.wait_for(|s| s.slot("agent-1").is_some_and(|v| v.test_trend.len() >= 2))
            .await
            .is_ok()
    })
    .await;
    let view = handle.snapshot.borrow().slot("agent-1").cloned().unwrap();
    assert_eq!(reached, Ok(true), "two runs expected: {view:#?}");
    let counts: Vec<(u64, u64)> = view
        .test_trend
        .iter()
        .map(|p| (p.passed, p.failed))
        .collect();
    assert_eq!(counts, vec![(3, 4), (5, 0)]);
    assert_eq!(view.last_test.unwrap().summary.verdict, Verdict::Pass);

    handle.writer.flush().await.unwrap();
    let runs = handle.store.test_runs("agent-1", 10).await.unwrap();
    assert_eq!(runs.len(), 2, "each report recorded once: {runs:#?}");
    assert!(
        runs.iter().all(|r| r["runner"] == "cargo-nextest"),
        "{runs:#?}"
    );
    handle.shutdown.cancel();
    task.await.unwrap();
}

/// Reports below `junit_dir` are found wherever the runner writes them and in both formats:
/// a JUnit file in a nested folder (as Surefire's `target/surefire-reports/TEST-*.xml`; here a
/// real PHPUnit `--log-junit` capture) and a TRX file (`dotnet test --logger trx`, a real
/// report) each become a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_junit_and_trx_reports_become_runs() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("trx");
    let _guard = common::FleetGuard(fleet.clone());
    let data = tempfile::tempdir().unwrap();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/drover-signals/tests/fixtures/signals");
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[roles]]
name = "agent"
image = "{image}"
command = ["sh", "-c", "mkdir -p /work/target/surefire-reports /work/TestResults && cp /fixtures/phpunit/w2-cap-log-junit.xml /work/target/surefire-reports/TEST-CartTest.xml && cp /fixtures/dotnet/repo-liquid-xunit-net8.trx /work/TestResults/run.trx && echo wrote reports && sleep 300"]
[roles.tests]
junit_dir = "/work"
[[roles.mounts]]
source = "{fixtures}"
target = "/fixtures"
read_only = true
"#,
        data = data.path().display(),
        image = common::TEST_IMAGE,
        fixtures = fixtures.display(),
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 1,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();
    let mut rx = handle.snapshot.clone();
    let reached = tokio::time::timeout(Duration::from_secs(60), async {
        rx.wait_for(|s| s.slot("agent-1").is_some_and(|v| v.test_trend.len() >= 2))
            .await
            .is_ok()
    })
    .await;
    let view = handle.snapshot.borrow().slot("agent-1").cloned().unwrap();
    assert_eq!(reached, Ok(true), "two runs expected: {view:#?}");

    handle.writer.flush().await.unwrap();
    let runs = handle.store.test_runs("agent-1", 10).await.unwrap();
    let mut seen: Vec<(String, u64, u64)> = runs
        .iter()
        .map(|r| {
            (
                r["runner"].as_str().unwrap_or_default().to_owned(),
                r["passed"].as_u64().unwrap_or(0),
                r["failed"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![("dotnet-test".to_owned(), 3, 3), ("junit".to_owned(), 4, 1)],
        "{runs:#?}"
    );
    handle.shutdown.cancel();
    task.await.unwrap();
}
