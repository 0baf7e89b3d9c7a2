//! The store keeps every committed event through a `kill -9` of a real drover process in the
//! middle of a write burst, and a damaged database file is refused with a clear message.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use drover::store::{EventFilter, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_write_burst_loses_no_committed_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("burst.db");
    for round in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args([
                "bench",
                "store",
                "--progress",
                "--events",
                "5000000",
                "--db",
            ])
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start drover");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Wait for a few committed batches (an event, not a sleep), then kill without warning.
        let mut committed = 0u64;
        let target_batches = 3 + round * 2;
        let mut seen = 0;
        while seen < target_batches {
            let line = lines
                .next()
                .expect("drover exited before committing")
                .expect("read progress");
            committed = line
                .strip_prefix("committed ")
                .and_then(|n| n.parse().ok())
                .expect("progress line");
            seen += 1;
        }
        child.kill().expect("kill -9"); // SIGKILL on Unix
        child.wait().unwrap();

        let store = Store::open(&db).await.expect("reopen after kill -9");
        assert_eq!(store.integrity_check().await.unwrap(), "ok");
        // Each round appends a fresh run whose payload seq starts at 1; the committed prefix of
        // this round must be complete and in order.
        let events = store.events(&EventFilter::default()).await.unwrap();
        let this_round: Vec<u64> = events
            .iter()
            .rev()
            .map(|e| {
                serde_json::from_str::<serde_json::Value>(&e.payload).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .take_while({
                let mut prev = u64::MAX;
                move |seq| {
                    let keep = *seq < prev;
                    prev = *seq;
                    keep
                }
            })
            .collect();
        let max_seq = this_round.first().copied().unwrap_or(0);
        assert!(
            max_seq >= committed,
            "round {round}: drover reported {committed} committed but only {max_seq} are stored"
        );
        assert_eq!(
            this_round.len() as u64,
            max_seq,
            "round {round}: a gap in the committed events"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_damaged_database_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("drover.db");
    std::fs::write(
        &db,
        b"this is not a sqlite database, just garbage bytes \xff\xfe".repeat(200),
    )
    .unwrap();
    let err = Store::open(&db)
        .await
        .expect_err("garbage must be refused")
        .to_string();
    assert!(err.contains("move it aside"), "{err}");
    // Nothing was lost: the file is left as it was for the operator to inspect.
    assert!(
        std::fs::read(&db)
            .unwrap()
            .starts_with(b"this is not a sqlite database")
    );
}

#[tokio::test]
async fn store_roundtrips_every_row_kind() {
    use drover::store::{BatchPolicy, EventRecord, StoreOp};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let w = store.spawn_writer(BatchPolicy::default());
    w.append(EventRecord {
        ts_ms: 5,
        slot: Some("impl-1".into()),
        kind: "started".into(),
        who: Some("alice".into()),
        payload: serde_json::json!({"generation": 2}),
    })
    .await
    .unwrap();
    w.submit(StoreOp::SlotState {
        slot: "impl-1".into(),
        updated_ms: 5,
        record: serde_json::json!({"blocked": "why"}),
    })
    .await
    .unwrap();
    w.submit(StoreOp::SlotState {
        slot: "impl-1".into(),
        updated_ms: 6,
        record: serde_json::json!({"blocked": null}),
    })
    .await
    .unwrap();
    w.submit(StoreOp::Incident {
        id: 1,
        slot: "impl-1".into(),
        opened_ms: 1,
        closed_ms: None,
        record: serde_json::json!({"id": 1}),
    })
    .await
    .unwrap();
    w.submit(StoreOp::Incident {
        id: 2,
        slot: "impl-1".into(),
        opened_ms: 1,
        closed_ms: Some(9),
        record: serde_json::json!({"id": 2}),
    })
    .await
    .unwrap();
    w.submit(StoreOp::Alert {
        id: 7,
        slot: None,
        kind: "docker_down".into(),
        first_ms: 3,
        cleared_ms: None,
        record: serde_json::json!({"id": 7}),
    })
    .await
    .unwrap();
    w.flush().await.unwrap();
    let events = store
        .events(&EventFilter {
            slot: Some("impl-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].who.as_deref(), Some("alice"));
    assert_eq!(
        store.slot_states().await.unwrap(),
        vec![("impl-1".to_string(), serde_json::json!({"blocked": null}))]
    );
    assert_eq!(store.incidents(10).await.unwrap().len(), 2);
    assert_eq!(
        store.active_alerts().await.unwrap(),
        vec![serde_json::json!({"id": 7})]
    );
    assert_eq!(store.max_ids().await.unwrap(), (2, 7));
    // Reopening keeps everything (migrations are idempotent).
    store.close().await;
    let again = Store::open_in(dir.path()).await.unwrap();
    assert_eq!(again.event_count().await.unwrap(), 1);
}

/// A batch that cannot be committed (here: its table was dropped behind the writer's back)
/// must fail `flush()`, so nothing that depends on it is acknowledged; it is kept and committed
/// with the next successful attempt, which answers `Ok` again.
#[tokio::test]
async fn flush_reports_a_batch_that_could_not_be_committed() {
    use drover::store::{BatchPolicy, EventRecord, StoreError};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let w = store.spawn_writer(BatchPolicy::default());
    let event = |ts_ms| EventRecord {
        ts_ms,
        slot: None,
        kind: "note".into(),
        who: None,
        payload: serde_json::json!({}),
    };
    w.append(event(1)).await.unwrap();
    w.flush().await.expect("a healthy batch commits");

    sqlx::query("ALTER TABLE events RENAME TO events_aside")
        .execute(store.pool())
        .await
        .unwrap();
    w.append(event(2)).await.unwrap();
    let err = w
        .flush()
        .await
        .expect_err("the failed batch must not be acknowledged");
    assert!(matches!(err, StoreError::NotCommitted(_)), "{err}");
    assert_eq!(
        w.stats().borrow().pending_ops,
        1,
        "kept for a retry, not dropped"
    );

    sqlx::query("ALTER TABLE events_aside RENAME TO events")
        .execute(store.pool())
        .await
        .unwrap();
    w.append(event(3)).await.unwrap();
    w.flush()
        .await
        .expect("the writer recovers once the table is back");
    assert_eq!(
        store.event_count().await.unwrap(),
        3,
        "the event of the failed batch is committed on recovery"
    );
}
