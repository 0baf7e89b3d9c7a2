//! Release races driven deterministically through the `before_apply` hook: a second repo handle
//! plays the agent pushing between drover building its commit and moving the branch.

use std::path::Path;

use git2::{FileMode, Oid, Repository, RepositoryInitOptions, Signature, build::TreeUpdateBuilder};

use super::*;
use crate::upstream::{Holder, UpstreamRepo};

const BRANCH: &str = "refs/heads/main";

fn init_bare(path: &Path) -> Repository {
    let mut opts = RepositoryInitOptions::new();
    opts.bare(true).initial_head("main");
    Repository::init_opts(path, &opts).expect("init bare repo")
}

/// Commits on `main` as `author`: upserts files and removes paths. Returns the new tip.
fn commit(git: &Repository, author: &str, upserts: &[(&str, &[u8])], removes: &[&str]) -> Oid {
    let parent = git
        .find_reference(BRANCH)
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let mut update = TreeUpdateBuilder::new();
    for (path, content) in upserts {
        let blob = git.blob(content).expect("write blob");
        update.upsert(*path, blob, FileMode::Blob);
    }
    for path in removes {
        update.remove(*path);
    }
    let base = match &parent {
        Some(p) => p.tree().expect("parent tree"),
        None => {
            let empty = git
                .treebuilder(None)
                .expect("treebuilder")
                .write()
                .expect("empty tree");
            git.find_tree(empty).expect("empty tree")
        }
    };
    let tree_id = update.create_updated(git, &base).expect("tree");
    let tree = git.find_tree(tree_id).expect("tree");
    let sig = Signature::now(author, &format!("{author}@agents")).expect("signature");
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    git.commit(Some(BRANCH), &sig, &sig, "agent work", &tree, &parents)
        .expect("commit")
}

fn tip(git: &Repository) -> Oid {
    git.refname_to_id(BRANCH).expect("branch tip")
}

fn setup() -> (tempfile::TempDir, Repository, UpstreamRepo) {
    let dir = tempfile::tempdir().expect("tempdir");
    let git = init_bare(dir.path());
    commit(
        &git,
        "implementer-1",
        &[
            ("current_tasks/parser.txt", b"agent: implementer-1\n"),
            ("PROGRESS.md", b"# notes\n"),
        ],
        &[],
    );
    let upstream =
        UpstreamRepo::open(dir.path(), None, "current_tasks", "PROGRESS.md").expect("open");
    (dir, git, upstream)
}

#[test]
fn release_adds_one_commit_on_top_naming_operator_and_reason() {
    let (_dir, git, mut upstream) = setup();
    let before = tip(&git);
    let outcome = upstream
        .release_lock("parser", "alice", "agent crashed\nat noon")
        .expect("release");
    let ReleaseOutcome::Released { commit, attempts } = outcome else {
        panic!("expected a release, got {outcome:?}");
    };
    assert_eq!(attempts, 1);
    let new_tip = tip(&git);
    assert_eq!(new_tip.to_string(), commit);
    let released = git.find_commit(new_tip).expect("release commit");
    assert_eq!(released.parent_ids().collect::<Vec<_>>(), vec![before]);
    assert_eq!(
        released.summary(),
        Ok(Some(
            "drover: release lock parser (by alice: agent crashed at noon)"
        ))
    );
    assert_eq!(released.author().name(), Ok("drover"));
    assert_eq!(released.author().email(), Ok("drover@localhost"));
    assert!(upstream.lock_table().expect("locks").is_empty());
    let tree = released.tree().expect("tree");
    assert!(
        tree.get_path(Path::new("PROGRESS.md")).is_ok(),
        "other files kept"
    );
}

#[test]
fn release_rebuilds_on_an_agent_push_that_lands_first() {
    let (_dir, git, mut upstream) = setup();
    let mut agent_commit = None;
    let outcome = upstream
        .release_lock_observed("parser", None, "alice", "stale", &mut |attempt| {
            if attempt == 1 {
                agent_commit = Some(commit(
                    &git,
                    "implementer-2",
                    &[("current_tasks/lexer.txt", b"agent: implementer-2\n")],
                    &[],
                ));
            }
        })
        .expect("release");
    assert!(
        matches!(outcome, ReleaseOutcome::Released { attempts: 2, .. }),
        "{outcome:?}"
    );
    let agent_commit = agent_commit.expect("agent pushed");
    let new_tip = tip(&git);
    assert_eq!(
        git.find_commit(new_tip).expect("tip").parent_id(0).ok(),
        Some(agent_commit)
    );
    let locks = upstream.lock_table().expect("locks");
    let tasks: Vec<_> = locks
        .iter()
        .map(|l| (l.task.as_str(), l.holder.clone()))
        .collect();
    assert_eq!(tasks, vec![("lexer", Holder::File("implementer-2".into()))]);
}

#[test]
fn release_reports_already_released_when_the_agent_removed_it_meanwhile() {
    let (_dir, git, mut upstream) = setup();
    let mut agent_commit = None;
    let outcome = upstream
        .release_lock_observed("parser", None, "alice", "stale", &mut |attempt| {
            if attempt == 1 {
                agent_commit = Some(commit(
                    &git,
                    "implementer-1",
                    &[],
                    &["current_tasks/parser.txt"],
                ));
            }
        })
        .expect("release");
    assert_eq!(outcome, ReleaseOutcome::AlreadyReleased);
    assert_eq!(Some(tip(&git)), agent_commit, "drover added nothing");
}

#[test]
fn release_gives_up_after_the_configured_attempts_without_losing_commits() {
    let (_dir, git, upstream) = setup();
    let mut upstream = upstream.with_max_release_attempts(3);
    let mut pushed = Vec::new();
    let err = upstream
        .release_lock_observed("parser", None, "alice", "stale", &mut |attempt| {
            let path = format!("notes/{attempt}.txt");
            pushed.push(commit(&git, "implementer-2", &[(path.as_str(), b"x")], &[]));
        })
        .expect_err("branch never stops moving");
    assert!(
        matches!(err, UpstreamError::CasRetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(pushed.len(), 3);
    assert_eq!(pushed.last().copied(), Some(tip(&git)));
    assert_eq!(
        upstream.lock_table().expect("locks").len(),
        1,
        "lock still held"
    );
}

#[test]
fn prepared_release_does_not_apply_over_a_moved_branch() {
    let (_dir, git, upstream) = setup();
    let prepared = upstream
        .prepare_release("current_tasks/parser.txt", "alice", "")
        .expect("prepare")
        .expect("lock present");
    assert_eq!(
        prepared.message.lines().next(),
        Some("drover: release lock parser (by alice)")
    );
    let agent = commit(&git, "implementer-3", &[("README", b"hi")], &[]);
    assert!(!upstream.apply_release(&prepared).expect("apply"));
    assert_eq!(tip(&git), agent);
}

#[test]
fn unknown_and_previously_released_tasks_are_told_apart() {
    let (_dir, git, mut upstream) = setup();
    let err = upstream
        .release_lock("nope", "alice", "x")
        .expect_err("no such lock");
    assert!(matches!(err, UpstreamError::LockNotFound { .. }), "{err}");
    commit(&git, "implementer-1", &[], &["current_tasks/parser.txt"]);
    assert_eq!(
        upstream
            .release_lock("parser", "alice", "x")
            .expect("release"),
        ReleaseOutcome::AlreadyReleased
    );
}

#[test]
fn ambiguous_names_are_refused_and_exact_paths_work() {
    let (_dir, git, mut upstream) = setup();
    commit(
        &git,
        "implementer-2",
        &[("current_tasks/parser", b"agent: implementer-2")],
        &[],
    );
    let err = upstream
        .release_lock("parser", "alice", "x")
        .expect_err("two files match");
    assert!(
        matches!(err, UpstreamError::AmbiguousTask { ref paths, .. } if paths.len() == 2),
        "{err}"
    );
    let outcome = upstream
        .release_lock("current_tasks/parser.txt", "alice", "x")
        .expect("release by path");
    assert!(matches!(outcome, ReleaseOutcome::Released { .. }));
    let locks = upstream.lock_table().expect("locks");
    assert_eq!(
        locks.iter().map(|l| l.path.as_str()).collect::<Vec<_>>(),
        vec!["current_tasks/parser"]
    );
}

#[test]
fn releasing_a_non_utf8_named_lock_removes_exactly_that_file() {
    let (_dir, git, mut upstream) = setup();
    // Built by hand: TreeUpdateBuilder paths are C strings, so raw bytes go in as a Vec<u8>.
    let base = git.find_commit(tip(&git)).expect("tip");
    let blob = git.blob(b"agent: implementer-4").expect("blob");
    let tree = TreeUpdateBuilder::new()
        .upsert(b"current_tasks/caf\xe9.txt".to_vec(), blob, FileMode::Blob)
        .create_updated(&git, &base.tree().expect("tree"))
        .expect("tree");
    let tree = git.find_tree(tree).expect("tree");
    let sig = Signature::now("implementer-4", "i4@agents").expect("sig");
    git.commit(Some(BRANCH), &sig, &sig, "claim", &tree, &[&base])
        .expect("commit");

    let locks = upstream.lock_table().expect("locks");
    let odd = locks
        .iter()
        .find(|l| l.raw_path.ends_with(b"caf\xe9.txt"))
        .expect("odd lock listed");
    assert_eq!(odd.task, "caf\u{fffd}");
    let task = odd.task.clone();
    upstream.release_lock(&task, "alice", "x").expect("release");
    let left: Vec<_> = upstream
        .lock_table()
        .expect("locks")
        .into_iter()
        .map(|l| l.task)
        .collect();
    assert_eq!(left, vec!["parser"]);
}
