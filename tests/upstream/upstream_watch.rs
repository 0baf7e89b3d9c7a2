//! The watcher task against real pushes: updates arrive on the channel (awaited with a timeout,
//! never slept for), carry only what is new, and drover's own reads cause none.

use crate::upstream_support;

use std::time::Duration;

use drover::upstream::{
    ClaimEventKind, ClaimHistory, Holder, ProgressSnapshot, ReleaseOutcome, UpstreamRepo,
    UpstreamUpdate, WatchOptions, spawn_watcher,
};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use upstream_support::{SEED_TIME, Upstream, git_ok};

const T: i64 = SEED_TIME;
/// Generous bound for a slow CI machine; the latency itself is measured by the benchmark.
const WAIT: Duration = Duration::from_secs(10);

fn open(up: &Upstream) -> UpstreamRepo {
    UpstreamRepo::open(&up.bare, None, "current_tasks", "PROGRESS.md").expect("open upstream")
}

/// Watch options whose safety poll never fires during a test, so file events alone must work.
fn events_only() -> WatchOptions {
    WatchOptions {
        safety_poll: Duration::from_secs(3600),
        ..WatchOptions::default()
    }
}

async fn next(rx: &mut mpsc::Receiver<UpstreamUpdate>) -> UpstreamUpdate {
    timeout(WAIT, rx.recv())
        .await
        .expect("an update within the time bound")
        .expect("watcher still running")
}

/// Runs blocking git work off the runtime's worker threads.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_shows_up_as_an_update_with_only_the_new_entries() {
    let up = Upstream::new();
    let (tx, mut rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let task = spawn_watcher(open(&up), tx, events_only(), cancel.clone()).expect("watch");

    let first = next(&mut rx).await;
    assert!(first.history_rescanned);
    assert!(first.locks.is_empty() && first.new_history_entries.is_empty());
    let Some(ProgressSnapshot::Present(progress)) = &first.progress else {
        panic!("first update carries PROGRESS: {:?}", first.progress);
    };
    assert_eq!(progress.content, "# Progress\n- nothing yet\n");
    let mut consumer = ClaimHistory::new();

    let bare = up.bare.clone();
    let agent = up.agent("implementer-1");
    let (agent, claim) = blocking(move || {
        let claim = agent.claim("parser", T + 100);
        agent.push().expect("push");
        (agent, claim)
    })
    .await;
    let update = next(&mut rx).await;
    assert_eq!(update.tip, claim);
    assert!(!update.history_rescanned);
    assert_eq!(update.progress, None, "PROGRESS did not change");
    let locks: Vec<_> = update
        .locks
        .iter()
        .map(|l| (l.task.as_str(), l.holder.clone()))
        .collect();
    assert_eq!(
        locks,
        vec![("parser", Holder::File("implementer-1".into()))]
    );
    let entries: Vec<_> = update
        .new_history_entries
        .iter()
        .map(|e| (e.kind, e.commit.as_str()))
        .collect();
    assert_eq!(entries, vec![(ClaimEventKind::Claimed, claim.as_str())]);
    update
        .new_history_entries
        .into_iter()
        .for_each(|e| consumer.record(e));

    // PROGRESS edits arrive too.
    let agent = blocking(move || {
        agent.write("PROGRESS.md", b"# Progress\n- parser started\n");
        agent.commit_all("notes", T + 200);
        agent.push().expect("push");
        agent
    })
    .await;
    let update = next(&mut rx).await;
    let Some(ProgressSnapshot::Present(progress)) = update.progress else {
        panic!("PROGRESS change not reported");
    };
    assert_eq!(progress.content, "# Progress\n- parser started\n");

    // A release by drover (another handle, as an operator command would use) is seen like a push.
    let outcome = blocking(move || {
        let mut operator =
            UpstreamRepo::open(&bare, None, "current_tasks", "PROGRESS.md").expect("open");
        operator
            .release_lock("parser", "alice", "stale")
            .expect("release")
    })
    .await;
    assert!(matches!(outcome, ReleaseOutcome::Released { .. }));
    let update = next(&mut rx).await;
    assert!(update.locks.is_empty());
    assert_eq!(update.new_history_entries.len(), 1);
    assert_eq!(update.new_history_entries[0].kind, ClaimEventKind::Released);
    update
        .new_history_entries
        .into_iter()
        .for_each(|e| consumer.record(e));

    // The consumer's copy of the history matches a fresh scan.
    let fresh = blocking({
        let bare = up.bare.clone();
        move || {
            let mut repo =
                UpstreamRepo::open(&bare, None, "current_tasks", "PROGRESS.md").expect("open");
            repo.history().expect("history").clone()
        }
    })
    .await;
    assert_eq!(consumer, fresh);

    // Reading the repo (a fetch, a log) changes nothing and must not produce an update.
    blocking(move || {
        agent.sync();
        git_ok(&agent.dir, &["log", "--oneline"], None);
    })
    .await;
    assert!(
        timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "an update without a change"
    );

    cancel.cancel();
    timeout(WAIT, task)
        .await
        .expect("watcher stops when cancelled")
        .expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_progress_file_change_shows_up() {
    let up = Upstream::new();
    let host = up.dir.path().join("notes").join("PROGRESS.md");
    std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
    std::fs::write(&host, "# day 1\n").expect("write");
    let repo = open(&up).with_host_progress(&host);
    let (tx, mut rx) = mpsc::channel(8);
    let task = spawn_watcher(repo, tx, events_only(), CancellationToken::new()).expect("watch");

    let first = next(&mut rx).await;
    assert!(
        matches!(&first.progress, Some(ProgressSnapshot::Present(p)) if p.content == "# day 1\n")
    );

    // Another file in the same folder is not PROGRESS and must not matter; the edit must.
    std::fs::write(host.with_file_name("other.md"), "x").expect("write");
    std::fs::write(&host, "# day 1\n# day 2\n").expect("write");
    let update = next(&mut rx).await;
    assert_eq!(update.tip, first.tip);
    assert!(update.new_history_entries.is_empty());
    let Some(ProgressSnapshot::Present(progress)) = update.progress else {
        panic!("host PROGRESS change not reported: {:?}", update.progress);
    };
    assert_eq!(progress.changes_since("# day 1\n").new_lines, vec![1]);

    std::fs::remove_file(&host).expect("remove");
    let update = next(&mut rx).await;
    assert_eq!(update.progress, Some(ProgressSnapshot::Missing));

    // Dropping the receiver ends the task.
    drop(rx);
    timeout(WAIT, task)
        .await
        .expect("watcher stops without a receiver")
        .expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safety_poll_catches_what_no_file_event_reports() {
    let up = Upstream::new();
    // File events are held back by an hour-long debounce, as if inotify had missed them
    // (packed refs, network filesystems); only the fast periodic poll can report the push.
    let (tx, mut rx) = mpsc::channel(8);
    let options = WatchOptions {
        debounce: Duration::from_secs(3600),
        safety_poll: Duration::from_millis(100),
    };
    let task = spawn_watcher(open(&up), tx, options, CancellationToken::new()).expect("watch");
    next(&mut rx).await;
    let agent = up.agent("implementer-1");
    let claim = blocking(move || {
        let claim = agent.claim("parser", T + 100);
        agent.push().expect("push");
        claim
    })
    .await;
    assert_eq!(next(&mut rx).await.tip, claim);
    drop(rx);
    timeout(WAIT, task).await.expect("stops").expect("no panic");
}
