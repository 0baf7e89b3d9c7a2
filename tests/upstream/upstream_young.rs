//! Young upstreams and who holds a lock, against real git: an empty bare repo at start (no
//! commit, HEAD naming a branch nobody pushed) reads as empty and the watcher picks the branch
//! up at the first push; holders are named from lock-file content (container id, hostname,
//! labelled lines), never from the shared author.

use crate::upstream_support;

use std::time::Duration;

use drover::core::{HolderEvidence, SlotDirectory};
use drover::upstream::{UpstreamRepo, UpstreamUpdate, WatchOptions, spawn_watcher};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use upstream_support::{Agent, git_ok};

const T: i64 = 1_700_000_000;
const WAIT: Duration = Duration::from_secs(10);

async fn next(rx: &mut mpsc::Receiver<UpstreamUpdate>) -> UpstreamUpdate {
    timeout(WAIT, rx.recv())
        .await
        .expect("an update within the time bound")
        .expect("watcher still running")
}

/// A clone of an empty bare repo (git warns but clones), committing as `name`.
fn agent(bare: &std::path::Path, parent: &std::path::Path, name: &str) -> Agent {
    let dir = parent.join(format!("clone-{name}"));
    git_ok(
        parent,
        &[
            "clone",
            "-q",
            &bare.to_string_lossy(),
            &dir.to_string_lossy(),
        ],
        None,
    );
    git_ok(&dir, &["config", "user.name", name], None);
    git_ok(&dir, &["config", "user.email", "shared@agents.local"], None);
    git_ok(&dir, &["checkout", "-q", "-b", "main"], None);
    Agent {
        name: name.to_owned(),
        dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_bare_repo_waits_for_the_first_push_then_follows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("up.git");
    // `-b master`: HEAD names a branch the agents will never push (they push `main`).
    git_ok(
        dir.path(),
        &["init", "--bare", "-q", "-b", "master", "up.git"],
        None,
    );
    let repo = UpstreamRepo::open(&bare, None, "current_tasks", "PROGRESS.md")
        .expect("an empty repo opens");
    let (tx, mut rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let options = WatchOptions {
        safety_poll: Duration::from_secs(3600),
        ..WatchOptions::default()
    };
    let task = spawn_watcher(repo, tx, options, cancel.clone()).expect("watch");

    let first = next(&mut rx).await;
    assert!(first.empty, "{first:?}");
    assert!(first.locks.is_empty() && first.tip.is_empty());

    let a = agent(&bare, dir.path(), "Shared Agent");
    a.write("PROGRESS.md", b"# Progress\n");
    a.write("current_tasks/parser.txt", b"Agent: implementer-1\n");
    a.commit_all("Lock task: parser", T);
    a.push().expect("first push");

    let update = next(&mut rx).await;
    assert!(!update.empty, "{update:?}");
    assert_eq!(update.locks.len(), 1);
    assert_eq!(update.locks[0].task, "parser");
    assert_eq!(update.locks[0].evidence.named, ["implementer-1"]);
    assert!(update.progress.is_some());
    assert!(update.history_rescanned);
    let kinds: Vec<_> = update
        .new_history_entries
        .iter()
        .map(|e| (e.kind, e.task.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [(drover::upstream::ClaimEventKind::Claimed, "parser")]
    );
    cancel.cancel();
    timeout(WAIT, task).await.expect("stops").expect("no panic");
}

fn directory() -> (SlotDirectory, String) {
    let mut d = SlotDirectory::default();
    for s in ["implementer-1", "implementer-2", "implementer-3"] {
        d.add_slot(s, s);
    }
    let old_id = format!("{:064x}", 0xfeed_beef_u64);
    // A container of an earlier generation of implementer-3.
    d.add_container("implementer-3", &old_id);
    (d, old_id)
}

#[test]
fn holders_come_from_the_lock_file_not_the_shared_author() {
    let dir = tempfile::tempdir().expect("tempdir");
    git_ok(
        dir.path(),
        &["init", "--bare", "-q", "-b", "main", "up.git"],
        None,
    );
    let bare = dir.path().join("up.git");
    let a = agent(&bare, dir.path(), "Claude Opus");
    let (d, old_id) = directory();
    a.write(
        "current_tasks/by-id.txt",
        format!("Working on the lexer in container {}\n", &old_id[..12]).as_bytes(),
    );
    a.write(
        "current_tasks/by-host.md",
        b"Hostname: implementer-2\nnotes\n",
    );
    a.write(
        "current_tasks/by-slot",
        b"Slot: implementer-1\nHost: implementer-2\n",
    );
    a.write("current_tasks/nobody.txt", b"Agent: claude-7\nworking\n");
    a.write("current_tasks/.keep", b"");
    a.commit_all("Lock task: several", T);
    a.push().expect("push");

    let mut repo = UpstreamRepo::open(&bare, None, "current_tasks", "PROGRESS.md").expect("open");
    let locks = repo.lock_table().expect("locks");
    let holders: Vec<(String, Option<String>)> = locks
        .iter()
        .map(|l| (l.task.clone(), d.attribute(&l.evidence)))
        .collect();
    let want = |t: &str, h: Option<&str>| (t.to_owned(), h.map(str::to_owned));
    assert_eq!(
        holders,
        vec![
            want("by-host", Some("implementer-2")),
            want("by-id", Some("implementer-3")),
            want("by-slot", Some("implementer-1")),
            // Shared author, a name that is no slot: unknown, never a wrong slot.
            want("nobody", None),
        ]
    );
    // The claim history carries the same evidence and the commit subject.
    let history = repo.history().expect("history");
    let claim = history.events().find(|e| e.task == "by-id").expect("claim");
    assert_eq!(claim.summary, "Lock task: several");
    assert_eq!(
        d.attribute(&claim.evidence).as_deref(),
        Some("implementer-3")
    );
    assert_eq!(claim.evidence.author.as_deref(), Some("Claude Opus"));
}

#[test]
fn the_author_names_the_holder_only_when_it_is_a_slot() {
    let (d, _) = directory();
    let ev = |author: &str| HolderEvidence {
        author: Some(author.to_owned()),
        ..HolderEvidence::default()
    };
    assert_eq!(
        d.attribute(&ev("implementer-2")).as_deref(),
        Some("implementer-2")
    );
    assert_eq!(d.attribute(&ev("Claude Opus 4.6")), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_briefly_missing_repo_reports_an_error_then_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("up.git");
    git_ok(
        dir.path(),
        &["init", "--bare", "-q", "-b", "main", "up.git"],
        None,
    );
    let a = agent(&bare, dir.path(), "Shared Agent");
    a.write("current_tasks/parser.txt", b"Agent: implementer-1\n");
    a.commit_all("Lock task: parser", T);
    a.push().expect("push");
    let repo = UpstreamRepo::open(&bare, None, "current_tasks", "PROGRESS.md").expect("open");
    let (tx, mut rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let options = WatchOptions {
        safety_poll: Duration::from_millis(200),
        ..WatchOptions::default()
    };
    let task = spawn_watcher(repo, tx, options, cancel.clone()).expect("watch");
    let first = next(&mut rx).await;
    assert_eq!(first.locks.len(), 1);

    let away = dir.path().join("away.git");
    std::fs::rename(&bare, &away).expect("move away");
    let failed = next(&mut rx).await;
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("up.git")),
        "{failed:?}"
    );
    assert!(!failed.empty, "an unreadable repo is not an empty one");

    std::fs::rename(&away, &bare).expect("move back");
    let back = next(&mut rx).await;
    assert_eq!(back.error, None);
    assert_eq!(back.locks.len(), 1, "{back:?}");
    cancel.cancel();
    timeout(WAIT, task).await.expect("stops").expect("no panic");
}
