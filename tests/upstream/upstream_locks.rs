//! Lock table and claim history against real agent clones pushing to a real bare repo.

use crate::upstream_support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use drover::upstream::{
    ClaimEvent, ClaimEventKind, Holder, Lock, LockFileKind, UpstreamError, UpstreamRepo,
};
use upstream_support::{SEED_TIME, Upstream, git_ok};

const T: i64 = SEED_TIME;

fn ms(secs: i64) -> i64 {
    secs * 1000
}

fn file(name: &str) -> Holder {
    Holder::File(name.to_owned())
}

type LockRow = (String, Holder, i64, String);
type EventRow = (ClaimEventKind, String, Holder, i64, String);

fn lock_rows(locks: &[Lock]) -> Vec<LockRow> {
    locks
        .iter()
        .map(|l| {
            (
                l.task.clone(),
                l.holder.clone(),
                l.claimed_at_ms,
                l.claim_commit.clone(),
            )
        })
        .collect()
}

fn lock(task: &str, holder: Holder, secs: i64, commit: &str) -> LockRow {
    (task.to_owned(), holder, ms(secs), commit.to_owned())
}

fn event_rows<'a>(events: impl IntoIterator<Item = &'a ClaimEvent>) -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = events
        .into_iter()
        .map(|e| {
            (
                e.kind,
                e.task.clone(),
                e.holder.clone(),
                e.time_ms,
                e.commit.clone(),
            )
        })
        .collect();
    // Concurrent commits have no meaningful order among themselves; all times here are distinct.
    rows.sort_by(|a, b| (a.3, &a.1).cmp(&(b.3, &b.1)));
    rows
}

fn ev(kind: ClaimEventKind, task: &str, holder: Holder, secs: i64, commit: &str) -> EventRow {
    (kind, task.to_owned(), holder, ms(secs), commit.to_owned())
}

fn open(up: &Upstream) -> UpstreamRepo {
    UpstreamRepo::open(&up.bare, None, "current_tasks", "PROGRESS.md").expect("open upstream")
}

/// Checks the lock table and the whole history, and that the refresh saw exactly `new`.
fn assert_state(repo: &mut UpstreamRepo, new: &[EventRow], all: &[EventRow], locks: &[LockRow]) {
    let refresh = repo.refresh().expect("refresh");
    assert_eq!(event_rows(&refresh.new_entries), new, "new history entries");
    assert_eq!(
        lock_rows(&repo.lock_table().expect("locks")),
        locks,
        "lock table"
    );
    assert_eq!(
        event_rows(repo.history().expect("history").events()),
        all,
        "whole history"
    );
}

#[test]
fn claims_races_merges_and_releases_match_at_every_step() {
    let up = Upstream::new();
    let mut repo = open(&up);
    let (a, b, c) = (
        up.agent("implementer-1"),
        up.agent("implementer-2"),
        up.agent("implementer-3"),
    );
    let mut all = Vec::new();
    assert_state(&mut repo, &[], &all, &[]);

    // A claims the parser.
    let a1 = a.claim("parser", T + 100);
    a.push().expect("first claim is accepted");
    let new = vec![ev(
        ClaimEventKind::Claimed,
        "parser",
        file("implementer-1"),
        T + 100,
        &a1,
    )];
    all.extend(new.clone());
    assert_state(
        &mut repo,
        &new,
        &all,
        &[lock("parser", file("implementer-1"), T + 100, &a1)],
    );

    // B and C race for the lexer: git accepts B's push and rejects C's.
    b.sync();
    c.sync();
    let b1 = b.claim("lexer", T + 200);
    c.claim("lexer", T + 210);
    b.push().expect("B wins the race");
    let rejected = c.push().expect_err("C loses the race");
    assert!(rejected.contains("rejected"), "{rejected}");
    let new = vec![ev(
        ClaimEventKind::Claimed,
        "lexer",
        file("implementer-2"),
        T + 200,
        &b1,
    )];
    all.extend(new.clone());
    assert_state(
        &mut repo,
        &new,
        &all,
        &[
            lock("lexer", file("implementer-2"), T + 200, &b1),
            lock("parser", file("implementer-1"), T + 100, &a1),
        ],
    );

    // C drops its claim and takes another task.
    c.reset_to_upstream();
    let c2 = c.claim("codegen", T + 300);
    c.push().expect("C's second claim");
    // A finishes.
    a.sync();
    let a2 = a.release("parser", T + 400);
    a.push().expect("A's release");
    let new = vec![
        ev(
            ClaimEventKind::Claimed,
            "codegen",
            file("implementer-3"),
            T + 300,
            &c2,
        ),
        ev(
            ClaimEventKind::Released,
            "parser",
            file("implementer-1"),
            T + 400,
            &a2,
        ),
    ];
    all.extend(new.clone());
    assert_state(
        &mut repo,
        &new,
        &all,
        &[
            lock("codegen", file("implementer-3"), T + 300, &c2),
            lock("lexer", file("implementer-2"), T + 200, &b1),
        ],
    );
    let release = repo
        .history()
        .expect("history")
        .events()
        .last()
        .cloned()
        .expect("an event");
    assert_eq!(
        release.held_ms,
        Some(300_000),
        "parser was held from T+100 to T+400"
    );
    assert_eq!(release.author, "implementer-1");

    // B and C claim different tasks from the same base; C merges B's push and pushes the merge.
    // Each claim is counted once, at its own commit; the merge commit adds nothing.
    b.sync();
    c.sync();
    let b2 = b.claim("docs", T + 500);
    let c3 = c.claim("tests", T + 510);
    b.push().expect("B pushes first");
    c.push().expect_err("C is behind");
    let merge = c.merge_upstream(T + 520);
    c.push().expect("C pushes the merge");
    // A human claims with free prose: the commit author is the holder.
    let human = up.agent("Alice Human");
    human.write("current_tasks/ci.txt", b"looking into the flaky CI\n");
    let h1 = human.commit_all("ci", T + 600);
    human.push().expect("human claim");
    let new = vec![
        ev(
            ClaimEventKind::Claimed,
            "docs",
            file("implementer-2"),
            T + 500,
            &b2,
        ),
        ev(
            ClaimEventKind::Claimed,
            "tests",
            file("implementer-3"),
            T + 510,
            &c3,
        ),
        ev(
            ClaimEventKind::Claimed,
            "ci",
            Holder::Author("Alice Human".into()),
            T + 600,
            &h1,
        ),
    ];
    all.extend(new.clone());
    assert_state(
        &mut repo,
        &new,
        &all,
        &[
            lock("ci", Holder::Author("Alice Human".into()), T + 600, &h1),
            lock("codegen", file("implementer-3"), T + 300, &c2),
            lock("docs", file("implementer-2"), T + 500, &b2),
            lock("lexer", file("implementer-2"), T + 200, &b1),
            lock("tests", file("implementer-3"), T + 510, &c3),
        ],
    );
    let history = repo.history().expect("history");
    assert!(
        history.events().all(|e| e.commit != merge),
        "merge commit blamed for a claim"
    );

    // Per-task statistics.
    let parser = history.task("parser").expect("parser stats");
    assert_eq!((parser.claim_count, parser.release_count), (1, 1));
    assert_eq!(
        parser
            .spans
            .iter()
            .map(|s| s.duration_ms())
            .collect::<Vec<_>>(),
        vec![Some(300_000)]
    );
    let lexer = history.task("lexer").expect("lexer stats");
    assert_eq!(lexer.claim_count, 1, "the rejected push is not a claim");
    assert_eq!(lexer.holders, vec![file("implementer-2")]);
    assert!(lexer.is_held());

    // Oracle: the lock files git itself lists at the tip.
    let listed = git_ok(
        &up.bare,
        &["ls-tree", "-r", "--name-only", "main", "current_tasks"],
        None,
    );
    let ours: Vec<String> = repo
        .lock_table()
        .expect("locks")
        .into_iter()
        .map(|l| l.path)
        .collect();
    let mut theirs: Vec<&str> = listed.lines().collect();
    theirs.sort_by_key(|p| {
        p.trim_start_matches("current_tasks/")
            .trim_end_matches(".txt")
            .to_owned()
    });
    assert_eq!(ours, theirs);
}

#[test]
fn the_same_task_claimed_twenty_times_counts_twenty_claims() {
    let up = Upstream::new();
    let mut repo = open(&up);
    repo.refresh().expect("first scan");
    let agents: Vec<_> = (1..=4)
        .map(|i| up.agent(&format!("implementer-{i}")))
        .collect();
    for round in 0..20 {
        let agent = &agents[round % agents.len()];
        let start = T + 1000 * i64::try_from(round).expect("small");
        agent.sync();
        agent.claim("flaky", start + 10);
        agent.push().expect("claim");
        let refresh = repo.refresh().expect("refresh");
        assert_eq!(refresh.commits_walked, 1, "only the new commit is walked");
        assert_eq!(refresh.new_entries.len(), 1);
        agent.release("flaky", start + 70);
        agent.push().expect("release");
        assert_eq!(repo.refresh().expect("refresh").commits_walked, 1);
    }
    let history = repo.history().expect("history");
    let flaky = history.task("flaky").expect("stats");
    assert_eq!(flaky.claim_count, 20);
    assert_eq!(flaky.release_count, 20);
    assert_eq!(
        flaky.holders,
        (1..=4)
            .map(|i| file(&format!("implementer-{i}")))
            .collect::<Vec<_>>()
    );
    assert!(flaky.spans.iter().all(|s| s.duration_ms() == Some(60_000)));
    assert_eq!(history.events().len(), 40);
    assert!(!flaky.is_held());
    assert!(repo.lock_table().expect("locks").is_empty());
}

#[test]
fn odd_lock_files_never_crash_and_display_clearly() {
    let up = Upstream::new();
    let agent = up.agent("implementer-9");
    agent.write("current_tasks/parser.txt", b"agent: implementer-1\n");
    agent.write("current_tasks/empty.txt", b"");
    agent.write("current_tasks/bin.txt", &(0..=255u8).collect::<Vec<_>>());
    agent.write("current_tasks/huge.txt", &vec![b'x'; 10 * 1024 * 1024]);
    agent.write("current_tasks/esc.txt", b"\x1b[31mred\n");
    agent.write(
        "current_tasks/web/login.txt",
        b"agent: implementer-5\nnested\n",
    );
    agent.write(
        PathBuf::from(OsStr::from_bytes(b"current_tasks/caf\xe9.txt")),
        b"agent: implementer-6\n",
    );
    agent.write(
        PathBuf::from(OsStr::from_bytes(b"current_tasks/bad\x1bname.txt")),
        b"implementer-7\n",
    );
    std::os::unix::fs::symlink("parser.txt", agent.dir.join("current_tasks/link.txt"))
        .expect("symlink");
    let commit = agent.commit_all("odd claims", T + 100);
    agent.push().expect("push");

    let mut repo = open(&up);
    let locks = repo.lock_table().expect("odd files are read");
    let author = || Holder::Author("implementer-9".into());
    let rows: Vec<_> = locks
        .iter()
        .map(|l| {
            (
                l.task.as_str(),
                l.kind,
                l.holder.clone(),
                l.text_preview.as_str(),
            )
        })
        .collect();
    let huge_preview = format!("{}…\n… (10.0 MiB in all)", "x".repeat(160));
    assert_eq!(
        rows,
        vec![
            (
                "bad\\u{1b}name",
                LockFileKind::Text,
                file("implementer-7"),
                "implementer-7"
            ),
            ("bin", LockFileKind::Binary, author(), "[binary, 256 B]"),
            (
                "caf\u{fffd}",
                LockFileKind::Text,
                file("implementer-6"),
                "agent: implementer-6"
            ),
            ("empty", LockFileKind::Empty, author(), "[empty]"),
            ("esc", LockFileKind::Text, author(), "\\u{1b}[31mred"),
            ("huge", LockFileKind::Text, author(), huge_preview.as_str()),
            (
                "link",
                LockFileKind::Symlink,
                author(),
                "[symlink -> parser.txt]"
            ),
            (
                "parser",
                LockFileKind::Text,
                file("implementer-1"),
                "agent: implementer-1"
            ),
            (
                "web/login",
                LockFileKind::Text,
                file("implementer-5"),
                "agent: implementer-5\nnested"
            ),
        ]
    );
    let huge = locks.iter().find(|l| l.task == "huge").expect("huge lock");
    assert_eq!(huge.size, 10 * 1024 * 1024);
    let odd_name = locks
        .iter()
        .find(|l| l.task.starts_with("caf"))
        .expect("non-UTF-8 name");
    assert_eq!(odd_name.raw_path, b"current_tasks/caf\xe9.txt");
    assert_eq!(odd_name.path, "current_tasks/caf\u{fffd}.txt");
    assert!(
        locks
            .iter()
            .all(|l| l.claim_commit == commit && l.claimed_at_ms == ms(T + 100))
    );

    let history = repo.history().expect("history");
    assert_eq!(history.events().len(), 9);
    assert!(history.events().all(|e| e.kind == ClaimEventKind::Claimed));
}

#[test]
fn progress_is_read_at_the_tip_with_its_last_change_and_new_lines() {
    let up = Upstream::new();
    let seed = up.tip();
    let mut repo = open(&up);
    let p0 = repo.progress().expect("read").expect("present");
    assert_eq!(p0.content, "# Progress\n- nothing yet\n");
    let change = p0.last_change.clone().expect("a change");
    assert_eq!(
        (change.commit.as_deref(), change.time_ms),
        (Some(seed.as_str()), ms(T))
    );

    let agent = up.agent("implementer-1");
    agent.write(
        "PROGRESS.md",
        b"# Progress\n- parser done\n- lexer failing\n",
    );
    let edit = agent.commit_all("progress", T + 100);
    agent.claim("lexer", T + 200);
    agent.push().expect("push");
    let p1 = repo.progress().expect("read").expect("present");
    let change = p1.last_change.clone().expect("a change");
    assert_eq!(
        change.commit.as_deref(),
        Some(edit.as_str()),
        "the lock commit did not touch it"
    );
    assert_eq!(change.time_ms, ms(T + 100));
    assert_eq!(change.summary.as_deref(), Some("progress"));
    let diff = p1.changes_since(&p0.content);
    assert_eq!((diff.new_lines, diff.removed_lines), (vec![1, 2], 1));

    git_ok(&agent.dir, &["rm", "-q", "PROGRESS.md"], None);
    agent.commit_all("drop notes", T + 300);
    agent.push().expect("push");
    assert_eq!(repo.progress().expect("read"), None);
}

#[test]
fn progress_can_come_from_a_host_file() {
    let up = Upstream::new();
    let host = up.dir.path().join("host-PROGRESS.md");
    let mut repo = open(&up).with_host_progress(&host);
    assert_eq!(repo.progress().expect("read"), None);
    std::fs::write(&host, "# host notes\n").expect("write");
    let p = repo.progress().expect("read").expect("present");
    assert_eq!(p.content, "# host notes\n");
    assert!(
        p.last_change
            .is_some_and(|c| c.commit.is_none() && c.time_ms > 0)
    );
}

#[test]
fn forward_pushes_are_walked_incrementally_and_rewrites_rescan() {
    let up = Upstream::new();
    let agent = up.agent("implementer-1");
    for i in 0..5 {
        agent.claim(&format!("t{i}"), T + 10 * i);
    }
    agent.push().expect("push");
    let mut repo = open(&up);
    let first = repo.refresh().expect("first scan");
    assert_eq!((first.commits_walked, first.history_rescanned), (6, true));
    assert_eq!(first.new_entries.len(), 5);
    let again = repo.refresh().expect("no change");
    assert_eq!((again.commits_walked, again.tip_changed), (0, false));

    agent.claim("t5", T + 100);
    agent.push().expect("push");
    let step = repo.refresh().expect("one push");
    assert_eq!(
        (
            step.commits_walked,
            step.history_rescanned,
            step.new_entries.len()
        ),
        (1, false, 1)
    );

    // Rewrite: drop the last three claims and force-push another one.
    git_ok(&agent.dir, &["reset", "-q", "--hard", "HEAD~3"], None);
    let other = agent.claim("other", T + 200);
    git_ok(
        &agent.dir,
        &["push", "-q", "--force", "origin", "HEAD:main"],
        None,
    );
    // Prune the dropped commits (the old tip included) and pack the refs, as `git gc` does.
    git_ok(&up.bare, &["gc", "-q", "--prune=now"], None);
    assert!(
        !up.bare.join("refs/heads/main").exists(),
        "branch ref is packed"
    );
    let rewritten = repo.refresh().expect("rewrite");
    assert!(rewritten.history_rescanned);
    let fresh = open(&up).history().expect("fresh scan").clone();
    assert_eq!(
        event_rows(&rewritten.new_entries),
        event_rows(fresh.events())
    );
    assert_eq!(repo.history().expect("history"), &fresh);
    let tasks: Vec<_> = repo
        .lock_table()
        .expect("locks")
        .into_iter()
        .map(|l| l.task)
        .collect();
    assert_eq!(tasks, vec!["other", "t0", "t1", "t2"]);
    assert_eq!(repo.lock_table().expect("locks")[0].claim_commit, other);
}

#[test]
fn setup_errors_say_what_is_wrong() {
    let up = Upstream::new();
    let missing = up.dir.path().join("nope.git");
    let err = UpstreamRepo::open(&missing, None, "current_tasks", "PROGRESS.md").err();
    assert!(
        matches!(err, Some(UpstreamError::RepoMissing { .. })),
        "{err:?}"
    );

    let clone = up.agent("implementer-1");
    let err = UpstreamRepo::open(&clone.dir, None, "current_tasks", "PROGRESS.md").err();
    assert!(
        matches!(err, Some(UpstreamError::NotBare { .. })),
        "{err:?}"
    );
    assert!(
        err.map(|e| e.to_string())
            .is_some_and(|m| m.contains("not a bare repo"))
    );

    let plain = tempfile::tempdir().expect("tempdir");
    let err = UpstreamRepo::open(plain.path(), None, "current_tasks", "PROGRESS.md").err();
    assert!(
        matches!(err, Some(UpstreamError::NotARepo { .. })),
        "{err:?}"
    );

    // A branch nobody pushed yet is not an error: the repo reads as empty until it appears.
    let mut young = UpstreamRepo::open(&up.bare, Some("release"), "current_tasks", "PROGRESS.md")
        .expect("a missing branch opens");
    assert_eq!(young.branch(), "refs/heads/release");
    assert!(!young.has_branch().expect("readable"));
    assert!(young.lock_table().expect("empty table").is_empty());

    let err = UpstreamRepo::open(&up.bare, Some("main"), "../etc", "PROGRESS.md").err();
    assert!(
        matches!(err, Some(UpstreamError::InvalidSetting { .. })),
        "{err:?}"
    );

    let ok = UpstreamRepo::open(
        &up.bare,
        Some("refs/heads/main"),
        "/current_tasks/",
        "PROGRESS.md",
    )
    .expect("explicit branch and slashes are fine");
    assert_eq!(
        (ok.branch(), ok.locks_dir()),
        ("refs/heads/main", "current_tasks")
    );
}

#[test]
fn placeholder_files_that_keep_the_folder_are_not_locks() {
    let up = Upstream::new();
    let agent = up.agent("implementer-1");
    agent.write("current_tasks/.keep", b"");
    agent.write("current_tasks/web/.gitkeep", b"");
    agent.commit_all("keep the locks folder", T + 5);
    agent.push().expect("push placeholders");
    agent.claim("parser", T + 10);
    agent.push().expect("claim");
    let mut repo = open(&up);
    repo.refresh().expect("scan");
    let tasks: Vec<String> = repo
        .lock_table()
        .expect("locks")
        .into_iter()
        .map(|l| l.task)
        .collect();
    assert_eq!(tasks, vec!["parser".to_string()]);
    let history = repo.history().expect("history");
    assert!(history.task(".keep").is_none() && history.task("web/.gitkeep").is_none());
}
