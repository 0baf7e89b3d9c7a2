//! Exact log resume after restarts in place, whatever the line lengths: a container printing
//! 100 KB lines (cut at `max_line`) restarted 7 times delivers and writes every line once, and
//! the lines after a 10 MB line are neither lost nor repeated. Real Docker; each run is
//! followed once it has exited, like the other log tests (Docker's own live reader of >16 KiB
//! lines is not deterministic).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover::logs::follow::{Follow, FollowLimits, LineSink, follow_container};
use drover::logs::logfile::ReverseLogReader;
use drover::logs::ring::LogHub;
use drover_runtime::docker::Docker;
use drover_runtime::spec::container_name;
use tokio_util::sync::CancellationToken;

struct Collect(Arc<Mutex<Vec<String>>>);

impl LineSink for Collect {
    fn line(&mut self, _ts: u64, _stderr: bool, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
}

const MAX_LINE: usize = 64 * 1024;

async fn container(fleet: &str, script: &str) -> (Docker, String) {
    let text = format!(
        "[fleet]\nname = \"{fleet}\"\n[[roles]]\nname = \"w\"\nimage = \"{}\"\ncommand = [\"sh\", \"-c\", '''{script}''']\n",
        common::TEST_IMAGE
    );
    let cfg = drover::config::parse(&text, Path::new("t.toml")).unwrap();
    let spec = cfg.container_spec(&cfg.file.roles[0]);
    let docker = Docker::connect(None).await.unwrap();
    let id = docker
        .create(
            &container_name(fleet, "w-1"),
            spec.create_body("w-1", 1, "h", &|_| None),
        )
        .await
        .unwrap();
    (docker, id)
}

/// Starts (or restarts in place) the container, waits for it to exit, then follows it to the
/// end of its output; returns the lines delivered by this follow.
async fn run_and_follow(docker: &Docker, id: &str, file: &Path) -> Vec<String> {
    docker.start(id).await.unwrap();
    let waited = Command::new("docker").args(["wait", id]).output().unwrap();
    assert!(waited.status.success());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let target = Follow {
        docker: std::sync::Arc::new(docker.clone()),
        id: id.to_string(),
        slot: "w-1".into(),
        file: file.to_path_buf(),
        limits: FollowLimits {
            max_line: MAX_LINE,
            file_max: 64 << 20,
            keep_files: 2,
            slot_max: 1 << 30,
        },
        hub: LogHub::new(100, 1 << 20),
    };
    tokio::time::timeout(
        Duration::from_secs(120),
        follow_container(
            target,
            Box::new(Collect(lines.clone())),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("the output of an exited container ends");
    lines.lock().unwrap().clone()
}

/// The file's records, oldest first, as their first 40 characters.
fn file_records(file: &Path) -> Vec<String> {
    let mut r = ReverseLogReader::open(file, MAX_LINE);
    let mut out = Vec::new();
    while let Some(l) = r.prev_line().unwrap() {
        out.push(l.text.chars().take(40).collect::<String>());
    }
    out.reverse();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_of_100_kb_lines_restarted_7_times_delivers_every_line_once() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("resume");
    let _guard = common::FleetGuard(fleet.clone());
    // The run number lives in the container's own filesystem, which a restart in place keeps.
    // Each run ends with a long line, so the last record of the log is one cut at max_line.
    let script = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; \
                  echo \"run $n start\"; \
                  for i in 1 2 3; do printf \"run $n line $i \"; head -c 102400 /dev/zero | tr '\\0' a; echo; done";
    let (docker, id) = container(&fleet, script).await;
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("logs/w-1/1.log");
    let mut delivered = Vec::new();
    for run in 1..=7 {
        let got = run_and_follow(&docker, &id, &file).await;
        let heads: Vec<String> = got
            .iter()
            .map(|l| l.chars().take(15).collect::<String>())
            .collect();
        assert_eq!(
            heads,
            [
                format!("run {run} start"),
                format!("run {run} line 1 aa"),
                format!("run {run} line 2 aa"),
                format!("run {run} line 3 aa"),
            ],
            "run {run} delivered"
        );
        delivered.extend(got);
    }
    assert_eq!(delivered.len(), 28);
    let records = file_records(&file);
    assert_eq!(records.len(), 28, "records in the file: {records:#?}");
    let starts = records.iter().filter(|r| r.ends_with(" start")).count();
    assert_eq!(starts, 7, "one start record per run");
    docker.remove(&id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lines_after_a_10_mb_line_are_kept_and_not_repeated() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("resume10");
    let _guard = common::FleetGuard(fleet.clone());
    let script =
        "echo before; head -c 10485760 /dev/zero | tr '\\0' x; echo; echo last-1; echo last-2";
    let (docker, id) = container(&fleet, script).await;
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("logs/w-1/1.log");
    for run in 1..=3 {
        let got = run_and_follow(&docker, &id, &file).await;
        let heads: Vec<String> = got
            .iter()
            .map(|l| l.chars().take(8).collect::<String>())
            .collect();
        assert_eq!(
            heads,
            ["before", "xxxxxxxx", "last-1", "last-2"],
            "run {run} delivered"
        );
        assert!(got[1].ends_with("bytes dropped]"), "the 10 MB line is cut");
    }
    let records = file_records(&file);
    assert_eq!(records.len(), 12, "records in the file: {records:#?}");
    assert_eq!(records.last().map(String::as_str), Some("last-2"));
    docker.remove(&id).await.unwrap();
}
