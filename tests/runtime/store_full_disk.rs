//! A full disk under the data dir: nothing is acknowledged that is not committed, nothing is
//! dropped, nobody stalls, and the store catches up by itself when space returns. The data dir
//! is a small real tmpfs filled to the last byte (these tests mount, so they run as root and
//! fail loudly when mounting is not permitted).

use crate::common;
use crate::control_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drover::store::{BatchPolicy, EventFilter, EventRecord, Store};

/// A tmpfs of `size` mounted at `dir`; unmounted when dropped (also when the test panics).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "this test needs to mount a small tmpfs (run it as root): mount failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` to the last byte; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let big = vec![0u8; 64 * 1024];
    while f.write_all(&big).is_ok() {}
    while f.write_all(&[0u8]).is_ok() {}
    let _ = f.sync_all();
    path
}

fn event(ts_ms: i64, kind: &str) -> EventRecord {
    EventRecord {
        ts_ms,
        slot: Some("worker-1".into()),
        kind: kind.into(),
        who: Some("tester".into()),
        payload: serde_json::json!({"note": "x".repeat(2000)}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_flush_at_once_and_the_records_are_written_when_space_returns() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let _mnt = Tmpfs::mount(&data, "2m");
    let store = Store::open_in(&data).await.unwrap();
    let w = store.spawn_writer(BatchPolicy::default());
    w.append(event(1, "before")).await.unwrap();
    w.flush().await.expect("a healthy store commits");

    let filler = fill(&data);
    for i in 0..20 {
        w.append(event(10 + i, "while-full")).await.unwrap();
    }
    let t = Instant::now();
    let err = w
        .flush()
        .await
        .expect_err("nothing stored may be acknowledged");
    let first = t.elapsed();
    assert!(err.to_string().contains("full"), "{err}");
    // A second command during the outage answers as fast: no stall per command.
    w.append(event(40, "while-full")).await.unwrap();
    let t = Instant::now();
    w.flush().await.expect_err("still full");
    let second = t.elapsed();
    assert!(
        first < Duration::from_secs(2) && second < Duration::from_secs(2),
        "flush took {first:?} then {second:?} on a full disk"
    );
    eprintln!("flush on a full disk answered in {first:?}, then {second:?}");
    assert_eq!(w.stats().borrow().pending_ops, 21, "kept, not dropped");

    std::fs::remove_file(&filler).unwrap();
    // The writer retries by itself: wait for its stats to show nothing pending.
    let mut stats = w.stats();
    tokio::time::timeout(
        Duration::from_secs(20),
        stats.wait_for(|s| s.pending_ops == 0),
    )
    .await
    .expect("the writer recovers by itself when space returns")
    .unwrap();
    w.flush().await.expect("healthy again");
    let events = store.events(&EventFilter::default()).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.len(), 22, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "while-full").count(), 21);
    // Submission order is kept.
    let ts: Vec<i64> = events.iter().map(|e| e.ts_ms).collect();
    assert!(ts.is_sorted(), "{ts:?}");
    store.close().await;
}

/// The same outage seen from the operator: `drover ctl block` on a real daemon exits non-zero
/// saying the command was not stored, `status` keeps answering, and once space returns the
/// block's audit event is in the database and the next command is acknowledged.
#[test]
fn ctl_exits_non_zero_while_the_data_dir_is_full_and_the_daemon_recovers() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("full");
    let _guard = common::FleetGuard(name.clone());
    let roles = format!(
        r#"
[[roles]]
name = "worker"
replicas = 1
image = "{image}"
command = ["sh", "-c", "while true; do sleep 1; done"]
"#
    );
    let fleet = control_support::Fleet::new(&name, &roles);
    let data = fleet.dir.path().join("data");
    let _mnt = Tmpfs::mount(&data, "4m");
    let mut daemon = fleet.start_daemon();
    fleet.wait_status("a running worker", |s| s["slots"][0]["state"] == "running");

    let filler = fill(&data);
    let t = Instant::now();
    let out = fleet.run(&["ctl", "block", "worker-1", "--reason", "disk test"]);
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !out.status.success(),
        "a command whose record was not stored must not succeed: {stdout}\nlog:\n{}",
        fleet.daemon_log()
    );
    assert!(stdout.contains("NOT STORED"), "{stdout}");
    eprintln!("ctl block on a full data dir answered in {took:?}");
    assert!(took < Duration::from_secs(5), "ctl took {took:?}");
    // The driver loop keeps running: status answers, and shows the block in effect.
    let t = Instant::now();
    let status = fleet.status();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "status took {:?}",
        t.elapsed()
    );
    assert!(
        status["slots"][0]["state"].to_string().contains("blocked"),
        "{status:#}"
    );

    std::fs::remove_file(&filler).unwrap();
    fleet.wait_for(
        "the block's audit event to be committed after space returned",
        Duration::from_secs(30),
        || {
            let out = fleet.run(&["events", "--json", "--since", "10m"]);
            String::from_utf8_lossy(&out.stdout).contains("disk test")
        },
    );
    let out = fleet.run(&["ctl", "unblock", "worker-1"]);
    assert!(
        out.status.success(),
        "acknowledged again once the store is healthy: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    daemon.stop();
}

/// The disk fills and frees twice while commands and reads share the store's connections. After
/// each outage every command (a record and its flush) must be stored within a second: a commit
/// that failed on the full disk may not leave its connection holding the write lock (before,
/// the pooled connection kept it and half of all later commands waited 5 s for
/// `database is locked`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_full_disk_freed_twice_every_command_is_stored_within_a_second() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let _mnt = Tmpfs::mount(&data, "3m");
    let store = Store::open_in(&data).await.unwrap();
    let w = store.spawn_writer(BatchPolicy::default());
    w.append(event(1, "before")).await.unwrap();
    w.flush().await.expect("a healthy store commits");
    let mut ts = 10;
    for round in 0..2 {
        let filler = fill(&data);
        // A few seconds of commands and reads against the full disk.
        let outage = Instant::now();
        while outage.elapsed() < Duration::from_secs(3) {
            ts += 1;
            w.append(event(ts, "while-full")).await.unwrap();
            let _ = tokio::time::timeout(Duration::from_secs(10), w.flush())
                .await
                .expect("a flush answers on a full disk");
            let _ = store.events(&EventFilter::default()).await;
        }
        std::fs::remove_file(&filler).unwrap();
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            ts += 1;
            let t = Instant::now();
            w.append(event(ts, "after")).await.unwrap();
            let r = tokio::time::timeout(Duration::from_secs(10), w.flush())
                .await
                .expect("a flush answers");
            let took = t.elapsed();
            assert!(
                r.is_ok(),
                "round {round}: a command after space returned was not stored: {r:?}"
            );
            slowest = slowest.max(took);
            // Readers keep taking pooled connections in between.
            store.events(&EventFilter::default()).await.unwrap();
        }
        eprintln!("round {round}: slowest command after space returned: {slowest:?}");
        assert!(
            slowest < Duration::from_secs(1),
            "round {round}: a command took {slowest:?} after space returned"
        );
    }
    assert_eq!(w.stats().borrow().pending_ops, 0);
    store.close().await;
}
