//! Releasing a stale lock while real agents push: no agent commit is ever lost, whichever
//! side moves the branch first.

use crate::upstream_support;

use drover::upstream::{ClaimEventKind, Holder, ReleaseOutcome, UpstreamRepo};
use upstream_support::{SEED_TIME, Upstream, git, git_ok};

const T: i64 = SEED_TIME;

fn open(up: &Upstream) -> UpstreamRepo {
    UpstreamRepo::open(&up.bare, None, "current_tasks", "PROGRESS.md").expect("open upstream")
}

fn is_ancestor(up: &Upstream, commit: &str) -> bool {
    let args = ["merge-base", "--is-ancestor", commit, "refs/heads/main"].map(std::ffi::OsStr::new);
    git(&up.bare, &args, None).status.success()
}

fn tasks(repo: &mut UpstreamRepo) -> Vec<String> {
    repo.lock_table()
        .expect("locks")
        .into_iter()
        .map(|l| l.task)
        .collect()
}

/// A stale claim of `parser` by implementer-1, pushed.
fn with_stale_claim() -> Upstream {
    let up = Upstream::new();
    let holder = up.agent("implementer-1");
    holder.claim("parser", T + 100);
    holder.push().expect("claim");
    up
}

#[test]
fn agent_push_landing_between_read_and_update_is_kept() {
    let up = with_stale_claim();
    let mut repo = open(&up);
    let prepared = repo
        .prepare_release("parser", "alice", "holder container gone")
        .expect("prepare")
        .expect("lock present");

    let agent = up.agent("implementer-2");
    let pushed = agent.claim("lexer", T + 200);
    agent.push().expect("agent push lands first");

    assert!(
        !repo.apply_release(&prepared).expect("apply"),
        "stale base must not apply"
    );
    assert_eq!(up.tip(), pushed, "branch untouched by the failed swap");

    let outcome = repo
        .release_lock("parser", "alice", "holder container gone")
        .expect("release");
    let ReleaseOutcome::Released { commit, .. } = outcome else {
        panic!("expected a release, got {outcome:?}");
    };
    assert_eq!(up.tip(), commit);
    assert!(is_ancestor(&up, &pushed), "agent commit lost");
    assert_eq!(tasks(&mut repo), vec!["lexer"]);
    // The agent continues as usual: its next pull is a fast-forward.
    agent.sync();
    assert_eq!(agent.head(), commit);
}

#[test]
fn agent_push_after_a_release_is_rejected_then_merged_without_loss() {
    let up = with_stale_claim();
    let agent = up.agent("implementer-2");
    let local = agent.claim("lexer", T + 200);

    let mut repo = open(&up);
    let outcome = repo
        .release_lock("parser", "alice", "stale")
        .expect("release");
    let ReleaseOutcome::Released {
        commit: release,
        attempts: 1,
    } = outcome
    else {
        panic!("expected a first-try release, got {outcome:?}");
    };

    let rejected = agent.push().expect_err("agent is behind the release");
    assert!(rejected.contains("rejected"), "{rejected}");
    agent.merge_upstream(T + 300);
    agent.push().expect("merged push");
    assert!(is_ancestor(&up, &release), "release commit lost");
    assert!(is_ancestor(&up, &local), "agent commit lost");
    assert_eq!(tasks(&mut repo), vec!["lexer"]);

    let history = repo.history().expect("history");
    let released = history
        .events()
        .find(|e| e.kind == ClaimEventKind::Released)
        .expect("release recorded");
    assert_eq!(released.commit, release);
    assert_eq!(released.holder, Holder::File("implementer-1".into()));
    assert_eq!(released.author, "drover");
    assert_eq!(
        released.summary,
        "drover: release lock parser (by alice: stale)"
    );
}

#[test]
fn release_racing_a_stream_of_real_pushes_loses_nothing() {
    let up = with_stale_claim();
    let agent = up.agent("implementer-2");
    let mut repo = open(&up).with_max_release_attempts(50);

    let pusher = std::thread::spawn(move || {
        let mut pushed = Vec::new();
        for i in 0..10 {
            agent.write(format!("work/{i}.txt"), b"done\n");
            let commit = agent.commit_all(&format!("work {i}"), T + 200 + i);
            // Like an agent: on rejection, merge what is upstream and push again.
            let mut tries = 0;
            while agent.push().is_err() {
                tries += 1;
                assert!(tries < 50, "agent could never push");
                agent.merge_upstream(T + 200 + i);
            }
            pushed.push(commit);
        }
        pushed
    });
    let outcome = repo
        .release_lock("parser", "alice", "stale")
        .expect("release");
    let pushed = pusher.join().expect("pusher thread");

    let ReleaseOutcome::Released {
        commit: release, ..
    } = outcome
    else {
        panic!("expected a release, got {outcome:?}");
    };
    assert!(is_ancestor(&up, &release), "release commit lost");
    for commit in &pushed {
        assert!(is_ancestor(&up, commit), "agent commit {commit} lost");
    }
    assert!(tasks(&mut repo).is_empty());
    let drover_commits = git_ok(&up.bare, &["log", "--format=%an", "main"], None)
        .lines()
        .filter(|a| *a == "drover")
        .count();
    assert_eq!(
        drover_commits, 1,
        "exactly one release commit on the branch"
    );
}

#[test]
fn release_works_on_packed_refs_after_gc() {
    let up = with_stale_claim();
    git_ok(&up.bare, &["gc", "-q"], None);
    assert!(
        !up.bare.join("refs/heads/main").exists(),
        "branch ref is packed"
    );
    let mut repo = open(&up);
    let before = up.tip();
    let outcome = repo
        .release_lock("parser", "alice", "stale")
        .expect("release");
    let ReleaseOutcome::Released {
        commit,
        attempts: 1,
    } = outcome
    else {
        panic!("expected a first-try release, got {outcome:?}");
    };
    assert_eq!(up.tip(), commit, "git sees the new tip");
    assert!(is_ancestor(&up, &before));
    assert!(tasks(&mut repo).is_empty());
}

/// The operator asked to release the claim they saw; meanwhile its agent released the task and
/// claimed it again. The new claim must survive: the release is refused, and names the claim.
#[test]
fn a_release_of_a_claim_that_was_replaced_is_refused_and_the_new_claim_kept() {
    let up = Upstream::new();
    let agent = up.agent("implementer-1");
    let first = agent.claim("parser", T + 100);
    agent.push().expect("claim");
    agent.release("parser", T + 200);
    let second = agent.claim("parser", T + 300);
    agent.push().expect("release and claim again");

    let mut repo = open(&up);
    let tip = up.tip();
    let outcome = repo
        .release_claim("parser", &first[..10], "alice", "stale")
        .expect("release");
    assert_eq!(
        outcome,
        ReleaseOutcome::ClaimChanged {
            holder: Some("implementer-1".into()),
            claim_commit: second.clone(),
        }
    );
    assert_eq!(up.tip(), tip, "nothing was committed");
    assert_eq!(tasks(&mut repo), vec!["parser"]);

    // Releasing the claim that is there works.
    let outcome = repo
        .release_claim("parser", &second, "alice", "stale")
        .expect("release");
    assert!(
        matches!(outcome, ReleaseOutcome::Released { .. }),
        "{outcome:?}"
    );
    assert!(tasks(&mut repo).is_empty());
    assert!(is_ancestor(&up, &second));
}
