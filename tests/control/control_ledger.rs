//! The run ledger through a real SQLite file: records persisted through the single writer are
//! read back as a restarted drover resumes them (open run, finished runs, today's spend), and
//! `drover report`'s cost figures and its commit lookup come from the same rows.

use drover::control::cost;
use drover::core::{LandedCommit, RunEnd, RunRecord};
use drover::store::{BatchPolicy, Store};
use drover::supervisor::persist;

fn run(
    started_at: u64,
    ended: Option<(u64, RunEnd)>,
    cost_micros: u64,
    commits: &[&str],
) -> RunRecord {
    RunRecord {
        slot: "worker-1".into(),
        role: "worker".into(),
        generation: 3,
        container: "c0001".into(),
        started_at,
        ended_at: ended.as_ref().map(|e| e.0),
        end: ended.map(|e| e.1),
        cost_micros,
        commit_count: commits.len() as u64,
        commits: commits
            .iter()
            .enumerate()
            .map(|(i, c)| LandedCommit {
                commit: (*c).into(),
                at: started_at + 1_000 * (i as u64 + 1),
                summary: format!("subject {c}"),
            })
            .collect(),
        locks_released: vec!["parser".into()],
        ..RunRecord::default()
    }
}

#[tokio::test]
async fn runs_and_todays_spend_survive_a_restart_and_feed_the_cost_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let writer = store.spawn_writer(BatchPolicy::default());
    let done = run(
        1_000_000,
        Some((1_600_000, RunEnd::Exited { code: 1 })),
        2_000_000,
        &["aaaa1111", "bbbb2222"],
    );
    let mut open = run(2_000_000, None, 100_000, &[]);
    for op in [
        persist::run_op(&done).unwrap(),
        persist::run_op(&open).unwrap(),
        persist::spend_op(19_675, 2_100_000),
    ] {
        writer.submit(op).await.unwrap();
    }
    // The open run's totals move on: the row is updated in place, not duplicated.
    open.cost_micros = 400_000;
    writer
        .submit(persist::run_op(&open).unwrap())
        .await
        .unwrap();
    writer
        .submit(persist::spend_op(19_675, 2_400_000))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    store.close().await;

    let store = Store::open_in(dir.path()).await.unwrap();
    let resume = persist::load_resume(&store).await.unwrap();
    assert_eq!(resume.runs, vec![done.clone(), open.clone()]);
    assert_eq!(resume.spend_day, Some((19_675, 2_400_000)));

    let runs = cost::load(&store, 0).await.unwrap();
    let report = cost::compute(&runs);
    let w = &report.slots["worker-1"];
    assert_eq!(w.cost_micros, 2_400_000);
    assert_eq!(w.commits, 2);
    assert_eq!(w.per_commit_micros, Some(1_200_000));
    assert_eq!(w.per_task_micros, Some(1_200_000));
    assert_eq!(report.roles["worker"].ends["open"], 1);
    let (found, log) = cost::run_of_commit(&store, "bbbb")
        .await
        .unwrap()
        .expect("the run that landed it");
    assert_eq!(found.started_at, done.started_at);
    assert_eq!(log, "logs/worker-1/3.log");
    assert!(cost::run_of_commit(&store, "cccc").await.unwrap().is_none());
    store.close().await;
}

/// What a restarted drover shows from its first frame comes back from the same SQLite file: a
/// `ctl scale` override (until it is deleted by a record equal to the config) and each slot's
/// latest test run.
#[tokio::test]
async fn scale_overrides_and_each_slots_last_test_run_survive_a_restart() {
    use drover::core::{ScaleOverride, Verdict};
    use drover::signals::{Finding, TestRun, scan_bytes};
    use drover::store::StoreOp;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let writer = store.spawn_writer(BatchPolicy::default());
    let test_op = |slot: &str, ts_ms: i64, run: &TestRun| StoreOp::TestRun {
        slot: slot.into(),
        ts_ms,
        runner: "pytest".into(),
        verdict: "x".into(),
        passed: run.passed as i64,
        failed: run.failed as i64,
        skipped: 0,
        errors: 0,
        duration_ms: None,
        sampled: false,
        record: serde_json::to_value(run).unwrap(),
    };
    let run_of = |text: &str| {
        scan_bytes(text.as_bytes())
            .into_iter()
            .find_map(|f| match f {
                Finding::TestRun { run, .. } => Some(run),
                _ => None,
            })
            .expect("a test run")
    };
    let session = |items: &str, summary: &str| {
        format!(
            "============================= test session starts ==============================\n\
             collected 5 items\n\ntests/test_a.py {items}    [100%]\n\n\
             ========================= {summary} =========================\n"
        )
    };
    let older = run_of(&session("...", "3 passed in 0.50s"));
    let newer = run_of(&session("...F.", "1 failed, 4 passed in 0.70s"));
    for op in [
        test_op("worker-1", 1_000, &older),
        test_op("worker-1", 2_000, &newer),
        test_op("worker-2", 1_500, &older),
    ] {
        writer.submit(op).await.unwrap();
    }
    let scaled = |role: &str, replicas, configured| ScaleOverride {
        role: role.into(),
        replicas,
        configured,
    };
    for o in [
        scaled("worker", 5, 3),
        scaled("critic", 2, 1),
        scaled("critic", 1, 1), // scaled back to the config: no override any more
    ] {
        writer.submit(persist::scale_op(&o)).await.unwrap();
    }
    writer.flush().await.unwrap();
    store.close().await;

    let store = Store::open_in(dir.path()).await.unwrap();
    let resume = persist::load_resume(&store).await.unwrap();
    assert_eq!(resume.scale_overrides, vec![scaled("worker", 5, 3)]);
    let mut tests = resume.last_tests.clone();
    tests.sort_by(|a, b| a.0.cmp(&b.0));
    let got: Vec<(String, u64, u64, u64, Verdict)> = tests
        .into_iter()
        .map(|(slot, at, s)| (slot, at, s.passed, s.failed, s.verdict))
        .collect();
    assert_eq!(
        got,
        vec![
            ("worker-1".into(), 2_000, 4, 1, Verdict::Fail),
            ("worker-2".into(), 1_500, 3, 0, Verdict::Pass),
        ]
    );
    store.close().await;
}
