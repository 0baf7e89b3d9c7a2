//! Secrets by value against a real daemon and a real container: an agent that prints its
//! `pass_env` token (`auth rejected for bearer <token>`) and a secret-looking literal `env`
//! value must leave neither in the slot reason, `status --json`, `events`, `drover.db`, the
//! per-slot log files, drover's own log or its stderr — while the line itself is kept, masked.
//! Also: the audit `who` comes from the socket peer's uid, not the client's `$USER`, and
//! `check-config` prints `env` names with values redacted unless `--show-values`.

use crate::common;
use crate::control_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use control_support::{Daemon, Fleet, slot};

const TOKEN_VAR: &str = "DROVER_TEST_UPSTREAM_TOKEN";

fn roles(image: &str, literal: &str) -> String {
    format!(
        r#"
[[roles]]
name = "worker"
replicas = 1
image = "{image}"
pass_env = ["{TOKEN_VAR}"]
env = {{ SERVICE_PASSWORD = "{literal}", MODE = "fast" }}
command = ["sh", "-c", "echo \"connecting with $SERVICE_PASSWORD\"; echo \"error: auth rejected for bearer ${TOKEN_VAR}\" >&2; exit 3"]

[roles.restart]
initial_backoff = "100ms"
max_backoff = "200ms"
"#
    )
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            hits.push(p.display().to_string());
        }
    }
    hits
}

fn any_file_contains(dir: &Path, needle: &str) -> bool {
    !files_containing(dir, needle).is_empty()
}

#[test]
fn secret_values_are_masked_everywhere_drover_writes() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("secrets");
    let _guard = common::FleetGuard(name.clone());
    let token = format!("tok-{}", name.replace('-', ""));
    let literal = format!(
        "lit-{}",
        name.replace('-', "").chars().rev().collect::<String>()
    );
    let fleet = Fleet::new(&name, &roles(image, &literal));

    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(fleet.log())
        .unwrap();
    let child = fleet
        .cmd(&["-v", "run", "--no-tui"])
        .env(TOKEN_VAR, &token)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the daemon");
    let mut daemon = Daemon { child: Some(child) };
    fleet.wait_for("the daemon to answer", Duration::from_secs(30), || {
        fleet.run(&["status", "--json"]).status.success()
    });

    // Three identical failures block the slot with its error line as the reason.
    let status = fleet.wait_status("the worker blocked with a reason", |s| {
        slot(s, "worker-1")["reason"]
            .as_str()
            .is_some_and(|r| r.contains("auth rejected"))
            && slot(s, "worker-1")["state"] == "blocked"
    });
    let reason = slot(&status, "worker-1")["reason"].as_str().unwrap_or("");
    assert_eq!(
        reason, "error: auth rejected for bearer <redacted>",
        "the reason keeps the line, masked"
    );
    let raw_status = String::from_utf8_lossy(&fleet.run(&["status", "--json"]).stdout).into_owned();
    assert!(!raw_status.contains(&token), "status --json: {raw_status}");
    let table = String::from_utf8_lossy(&fleet.run(&["status"]).stdout).into_owned();
    assert!(!table.contains(&token), "status: {table}");
    let events = fleet.run(&["events", "--json", "--since", "10m"]);
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    assert!(events.contains("auth rejected"), "events: {events}");
    assert!(
        !events.contains(&token) && !events.contains(&literal),
        "events: {events}"
    );

    // The audit `who` is the socket peer's user, not the client's `$USER` (set to "tester").
    let out = fleet.run(&[
        "ctl",
        "unblock",
        "worker-1",
        "--reason",
        "rotated the token",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = fleet.run(&["events", "--json", "--since", "10m"]);
    let audit = String::from_utf8_lossy(&audit.stdout).into_owned();
    let me = String::from_utf8_lossy(
        &std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string();
    let line = audit
        .lines()
        .find(|l| l.contains("rotated the token"))
        .unwrap_or_else(|| panic!("no audit event for the unblock: {audit}"));
    assert!(
        line.contains(&format!("\"{me}\"")),
        "who should be {me}: {line}"
    );
    assert!(!line.contains("tester"), "who came from $USER: {line}");

    daemon.stop();
    let data = fleet.dir.path().join("data");
    // The lines were written (masked) to the per-slot log files.
    assert!(
        any_file_contains(&data, "auth rejected for bearer <redacted>"),
        "no masked line in the slot logs"
    );
    assert!(any_file_contains(&data, "connecting with <redacted>"));
    for secret in [&token, &literal] {
        let hits = files_containing(&data, secret);
        assert!(hits.is_empty(), "secret found in {hits:?}");
        assert!(
            !fleet.daemon_log().contains(secret.as_str()),
            "secret on drover's stderr:\n{}",
            fleet.daemon_log()
        );
    }
    // The masking is by value: MODE=fast (short, not secret) is untouched, and so is the
    // literal's name.
    let cfg = fleet.run(&["check-config"]);
    let cfg = String::from_utf8_lossy(&cfg.stdout).into_owned();
    assert!(cfg.contains("SERVICE_PASSWORD=<redacted>"), "{cfg}");
    assert!(cfg.contains("MODE=<redacted>"), "{cfg}");
    assert!(!cfg.contains(&literal), "{cfg}");
    let shown = fleet.run(&["check-config", "--show-values"]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains("MODE=fast") && shown.contains(&literal),
        "{shown}"
    );
    assert!(
        !shown.contains(&token),
        "pass_env values are never printed: {shown}"
    );
}

/// A lock pushed under a name that holds a secret value (an agent that put its token in a task
/// name) is shown, logged and stored masked, and the operator can still release it by the name
/// drover shows.
#[test]
fn a_secret_in_a_lock_name_is_masked_and_the_lock_still_releases() {
    let image = common::ensure_test_image();
    let name = common::unique_fleet("lockname");
    let _guard = common::FleetGuard(name.clone());
    let token = format!("tok-{}", name.replace('-', ""));
    let up = crate::upstream_support::Upstream::new();
    let roles = format!(
        r#"
[upstream]
repo = "{}"
branch = "main"

[[roles]]
name = "worker"
replicas = 1
image = "{image}"
pass_env = ["{TOKEN_VAR}"]
command = ["sh", "-c", "while true; do sleep 1; done"]
"#,
        up.bare.display()
    );
    let fleet = Fleet::new(&name, &roles);
    let child = fleet
        .cmd(&["run", "--no-tui"])
        .env(TOKEN_VAR, &token)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let mut daemon = Daemon { child: Some(child) };
    let agent = up.agent("worker-1");
    agent.write(format!("current_tasks/deploy-{token}.txt"), b"worker-1\n");
    agent.commit_all(
        "claim the deploy task",
        crate::upstream_support::SEED_TIME + 10,
    );
    agent.push().expect("push");

    let status = fleet.wait_status("the lock in the table", |s| {
        s["locks"].as_array().is_some_and(|l| l.len() == 1)
    });
    let raw = serde_json::to_string(&status).unwrap_or_default();
    assert!(!raw.contains(&token), "status --json: {raw}");
    let task = status["locks"][0]["task"].as_str().unwrap_or("").to_owned();
    assert_eq!(task, "deploy-<redacted>", "{raw}");
    // The board (read by the daemon from the repo, not from the core) is masked too.
    assert_eq!(
        status["board"]["in_progress"]["items"][0]["task"], "deploy-<redacted>",
        "{raw}"
    );

    let out = fleet.run(&["ctl", "release-lock", &task]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fleet.wait_status("the lock released", |s| {
        s["locks"].as_array().is_some_and(Vec::is_empty)
    });
    let events = fleet.run(&["events", "--json", "--since", "10m"]);
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    assert!(events.contains("deploy-<redacted>"), "events: {events}");
    assert!(!events.contains(&token), "events: {events}");
    daemon.stop();
    let hits = files_containing(&fleet.dir.path().join("data"), &token);
    assert!(hits.is_empty(), "secret found in {hits:?}");
}
