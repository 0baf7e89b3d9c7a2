//! `drover run --no-tui --log-format json` tells the upstream's story in its journal alone:
//! the empty upstream, then a claim, a PROGRESS.md update, a release and a re-claim, each a JSON
//! line with its kind, task, holder and commit — against a real fleet (Docker) and real pushes.

use crate::common;
use crate::upstream_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use upstream_support::{Agent, git_ok};

/// Waits (bounded) for the next JSON line matching `pred`; returns it.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    what: &str,
    seen: &mut Vec<String>,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(_) => panic!("no line for {what}; saw:\n{}", seen.join("\n")),
        };
        seen.push(line.clone());
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && pred(&v)
        {
            return v;
        }
    }
}

#[test]
fn the_headless_journal_tells_claims_releases_reclaims_and_progress() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("uphead");
    let _guard = common::FleetGuard(fleet.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("up.git");
    git_ok(
        dir.path(),
        &["init", "--bare", "-q", "-b", "main", "up.git"],
        None,
    );
    let config = dir.path().join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[upstream]
repo = "{bare}"

[[roles]]
name = "worker"
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"#,
            data = dir.path().join("data").display(),
            bare = bare.display(),
            image = common::TEST_IMAGE,
        ),
    )
    .expect("config written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "run", "--no-tui"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("drover runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let kind = |k: &'static str| move |v: &serde_json::Value| v["kind"] == k;

    let empty = wait_line(&rx, "the empty upstream", &mut seen, kind("upstream"));
    assert_eq!(
        empty["message"],
        "upstream empty — waiting for the first push"
    );
    wait_line(&rx, "worker-1 started", &mut seen, kind("started"));

    let clone = dir.path().join("clone");
    git_ok(
        dir.path(),
        &[
            "clone",
            "-q",
            &bare.to_string_lossy(),
            &clone.to_string_lossy(),
        ],
        None,
    );
    git_ok(&clone, &["checkout", "-q", "-b", "main"], None);
    git_ok(&clone, &["config", "user.name", "Shared Agent"], None);
    git_ok(&clone, &["config", "user.email", "agent@fleet.local"], None);
    let a = Agent {
        name: "Shared Agent".into(),
        dir: clone,
    };
    let t = 1_760_000_000;
    a.write("PROGRESS.md", b"# Progress\n");
    a.write("current_tasks/lexer.txt", b"Agent: worker-1\nTask: lexer\n");
    a.commit_all("Lock task: lexer", t);
    a.push().expect("push");
    let claim = wait_line(&rx, "the claim", &mut seen, kind("claim"));
    assert_eq!(claim["task"], "lexer");
    assert_eq!(claim["holder"], "worker-1");
    assert!(
        claim["message"]
            .as_str()
            .is_some_and(|m| m.contains("Lock task: lexer"))
    );

    a.write("PROGRESS.md", b"# Progress\n- lexer: tokens done\n");
    a.commit_all("Update progress", t + 60);
    a.push().expect("push");
    let progress = wait_line(&rx, "the PROGRESS.md update", &mut seen, kind("progress"));
    assert_eq!(progress["added"], 1);

    a.release("lexer", t + 600);
    a.push().expect("push");
    let release = wait_line(&rx, "the release", &mut seen, kind("release"));
    assert_eq!(release["task"], "lexer");
    assert_eq!(release["held_ms"], 600_000);

    a.write(
        "current_tasks/lexer.txt",
        b"Agent: worker-1\nTask: lexer again\n",
    );
    a.commit_all("Lock task: lexer", t + 700);
    a.push().expect("push");
    let reclaim = wait_line(&rx, "the re-claim", &mut seen, kind("reclaim"));
    assert_eq!(reclaim["task"], "lexer");

    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("drover stops on SIGINT")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}
