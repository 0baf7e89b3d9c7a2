//! The data dir holds the audit log and agent output: drover creates it 0700 and every file in
//! it 0600 (database, WAL, container logs), and tightens a folder that others could read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use drover::logs::files::RotatingFile;
use drover::store::{EventRecord, Store};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_new_data_dir_and_its_files_are_private() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("fresh").join("data");
    let store = Store::open_in(&data).await.unwrap();
    let writer = store.spawn_writer(Default::default());
    writer
        .append(EventRecord {
            ts_ms: 1,
            slot: None,
            kind: "test".into(),
            who: None,
            payload: serde_json::json!({}),
        })
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert_eq!(mode(&data), 0o700, "data dir");
    for name in ["drover.db", "drover.db-wal", "drover.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let log = data.join("logs").join("impl-1").join("1.log");
    let mut f = RotatingFile::open(log.clone(), 4096, 2).unwrap();
    for _ in 0..10 {
        f.write(&[b'a'; 1000]).unwrap();
    }
    assert_eq!(mode(&data.join("logs")), 0o700, "logs dir");
    assert_eq!(mode(&data.join("logs").join("impl-1")), 0o700, "slot dir");
    assert_eq!(mode(&log), 0o600, "container log");
    let rotated = drover::logs::files::rotated_part(&log, 1);
    assert_eq!(mode(&rotated), 0o600, "rotated part");
    store.close().await;
}

#[tokio::test]
async fn an_existing_open_data_dir_is_tightened_with_a_notice() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let logs = data.join("logs").join("w-1");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("3.log"), "x\n").unwrap();
    std::fs::write(data.join("drover.db"), "").unwrap();
    for (p, m) in [
        (&data, 0o755),
        (&data.join("logs"), 0o755),
        (&logs, 0o775),
        (&logs.join("3.log"), 0o644),
        (&data.join("drover.db"), 0o666),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    let notice = drover::store::private::prepare_data_dir(&data)
        .unwrap()
        .expect("a notice naming what was tightened");
    assert_eq!(notice.tightened, 5, "{notice:?}");
    assert!(
        notice.to_string().contains(&data.display().to_string()),
        "{notice}"
    );
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("logs")), 0o700);
    assert_eq!(mode(&logs), 0o700);
    assert_eq!(mode(&logs.join("3.log")), 0o600);
    assert_eq!(mode(&data.join("drover.db")), 0o600);
    // Already private: nothing to say the second time.
    assert!(
        drover::store::private::prepare_data_dir(&data)
            .unwrap()
            .is_none()
    );
}
