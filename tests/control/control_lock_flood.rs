//! 100 000 lock files in one push against a real daemon: the lock table is capped at
//! `MAX_LOCKS` with a "lock table truncated" alert, and `status`/`ctl` keep answering promptly
//! (before the cap, the status reply outgrew the frame limit, was dropped, and the client waited
//! forever).

use crate::common;
use crate::control_support;
use crate::upstream_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use control_support::Fleet;
use upstream_support::{Upstream, git_ok};

const LOCKS: usize = 100_000;

/// Puts `LOCKS` lock files at the tip of `main` in one commit, written with git plumbing
/// straight into the bare repository (what a push does to it), sharing one blob.
fn flood(up: &Upstream) {
    let bare = &up.bare;
    let blob = {
        let mut c = Command::new("git")
            .args(["hash-object", "-w", "--stdin"])
            .current_dir(bare)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(b"agent: outside-agent\nstarted a task\n")
            .unwrap();
        let out = c.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mktree = |entries: &str| -> String {
        let mut c = Command::new("git")
            .arg("mktree")
            .current_dir(bare)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(entries.as_bytes())
            .unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let locks: String = (0..LOCKS)
        .map(|i| format!("100644 blob {blob}\ttask-{i:06}.txt\n"))
        .collect();
    let sub = mktree(&locks);
    let tip = up.tip();
    let mut root = git_ok(bare, &["ls-tree", &tip], None);
    root.push_str(&format!("\n040000 tree {sub}\tcurrent_tasks\n"));
    let tree = mktree(&root);
    let out = Command::new("git")
        .args(["commit-tree", &tree, "-p", &tip, "-m", "claim 100000 tasks"])
        .current_dir(bare)
        .env("GIT_AUTHOR_NAME", "outside-agent")
        .env("GIT_AUTHOR_EMAIL", "outside-agent@agents.local")
        .env("GIT_COMMITTER_NAME", "outside-agent")
        .env("GIT_COMMITTER_EMAIL", "outside-agent@agents.local")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    git_ok(
        bare,
        &["update-ref", "refs/heads/main", &commit, &tip],
        None,
    );
}

/// A client command with a hard deadline: `None` if it did not finish in time.
fn within(fleet: &Fleet, args: &[&str], limit: Duration) -> Option<std::process::Output> {
    let child = fleet
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.ok(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            None
        }
    }
}

#[test]
fn a_hundred_thousand_lock_files_are_capped_and_status_keeps_answering() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("lockflood");
    let _guard = common::FleetGuard(name.clone());
    let up = Upstream::new();
    let roles = format!(
        r#"
[upstream]
repo = "{}"
branch = "main"

[[roles]]
name = "worker"
replicas = 1
image = "{image}"
command = ["sh", "-c", "while true; do sleep 1; done"]
"#,
        up.bare.display()
    );
    let fleet = Fleet::new(&name, &roles);
    let mut daemon = fleet.start_daemon();
    flood(&up);

    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        let out = within(&fleet, &["status", "--json"], Duration::from_secs(10))
            .unwrap_or_else(|| panic!("status hung; log:\n{}", fleet.daemon_log()));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if s["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["kind"] == "locks_truncated"))
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no truncation alert; last status: {s:#}\nlog:\n{}",
            fleet.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        status["locks"].as_array().map(Vec::len),
        Some(drover::core::MAX_LOCKS)
    );
    let alert = status["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["kind"] == "locks_truncated"))
        .cloned()
        .unwrap_or_default();
    assert!(
        alert["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("lock table truncated") && m.contains("100000")),
        "{alert}"
    );
    for _ in 0..3 {
        let out = within(&fleet, &["status", "--json"], Duration::from_secs(10));
        assert!(
            out.is_some_and(|o| o.status.success()),
            "status hung or failed"
        );
    }
    let out = within(
        &fleet,
        &["ctl", "pause", "worker-1", "--reason", "flood"],
        Duration::from_secs(10),
    )
    .expect("ctl answered");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.stop();
}
