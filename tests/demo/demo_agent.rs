//! The simulated agents against a real bare repo made by the demo's own `prepare`: claims and
//! releases are real commits, push races have exactly one winner, and each behaviour does what
//! the demo promises. Agents run in-process with no pauses and a round cap or deadline.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use drover::demo::team_repo::{Edit, TeamRepo, lock_path};
use drover::demo::{AgentOptions, Behaviour, DemoLayout, DemoOptions, prepare, run_agent_with};
use git2::{Repository, Sort};

fn demo(dir: &Path) -> DemoLayout {
    prepare(&dir.join("demo"), &DemoOptions::default()).expect("prepare")
}

fn opts(layout: &DemoLayout, behaviour: Behaviour, slot: &str) -> AgentOptions {
    AgentOptions {
        upstream: layout.upstream.clone(),
        slot: slot.into(),
        pace: 0.0,
        deadline: Some(Duration::from_secs(60)),
        ..AgentOptions::new(behaviour)
    }
}

/// Runs an agent to completion; returns (exit code, output lines).
fn run(o: AgentOptions, env: &[(&str, &str)]) -> (i32, Vec<String>) {
    let mut out = Vec::new();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let code = run_agent_with(o, &mut out, &|k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("agent run");
    let text = String::from_utf8(out).expect("utf-8 output");
    (code, text.lines().map(str::to_string).collect())
}

/// One commit of the branch, oldest first, with the lock files it added and removed.
#[derive(Debug)]
struct Step {
    summary: String,
    author: String,
    parents: usize,
    added: Vec<(String, String)>,
    removed: Vec<String>,
}

fn locks_at(repo: &Repository, commit: &git2::Commit<'_>) -> BTreeMap<String, String> {
    let tree = commit.tree().unwrap();
    let Ok(entry) = tree.get_path(Path::new("current_tasks")) else {
        return BTreeMap::new();
    };
    let dir = repo.find_tree(entry.id()).unwrap();
    dir.iter()
        .filter_map(|e| {
            let name = e.name().ok()?.strip_suffix(".txt")?.to_string();
            let blob = repo.find_blob(e.id()).ok()?;
            Some((name, String::from_utf8_lossy(blob.content()).into_owned()))
        })
        .collect()
}

fn history(upstream: &Path) -> Vec<Step> {
    let repo = Repository::open_bare(upstream).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_ref("refs/heads/main").unwrap();
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).unwrap();
    let mut steps = Vec::new();
    for id in walk {
        let c = repo.find_commit(id.unwrap()).unwrap();
        let now = locks_at(&repo, &c);
        let before = match c.parent(0) {
            Ok(p) => locks_at(&repo, &p),
            Err(_) => BTreeMap::new(),
        };
        steps.push(Step {
            summary: c.summary().unwrap().unwrap_or_default().to_string(),
            author: c.author().name().unwrap_or_default().to_string(),
            parents: c.parent_count(),
            added: now
                .iter()
                .filter(|(k, _)| !before.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            removed: before
                .keys()
                .filter(|k| !now.contains_key(*k))
                .cloned()
                .collect(),
        });
    }
    steps
}

fn tip_text(upstream: &Path, path: &str) -> String {
    let repo = Repository::open_bare(upstream).unwrap();
    let tree = repo.head().unwrap().peel_to_tree().unwrap();
    match tree.get_path(Path::new(path)) {
        Ok(e) => String::from_utf8_lossy(repo.find_blob(e.id()).unwrap().content()).into_owned(),
        Err(_) => String::new(),
    }
}

#[test]
fn worker_claims_and_releases_as_real_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    let o = AgentOptions {
        rounds: Some(2),
        ..opts(&layout, Behaviour::Worker, "worker-1")
    };
    let (code, out) = run(o, &[]);
    assert_eq!(code, 0, "{out:#?}");

    let steps = history(&layout.upstream);
    assert_eq!(steps[0].summary, "Seed the task list and notes");
    let work: Vec<&Step> = steps[1..].iter().collect();
    // Per task: claim (adds the lock), progress (notes + tick), release (removes the lock).
    assert_eq!(work.len(), 6, "{work:#?}");
    for chunk in work.chunks(3) {
        let (claim, progress, release) = (chunk[0], chunk[1], chunk[2]);
        assert_eq!(claim.added.len(), 1, "{claim:?}");
        let (task, content) = &claim.added[0];
        assert_eq!(claim.summary, format!("claim {task}"));
        assert!(content.starts_with("agent: worker-1\n"), "{content}");
        assert_eq!(progress.summary, format!("progress: {task} done"));
        assert_eq!(release.summary, format!("release {task}"));
        assert_eq!(release.removed, vec![task.clone()]);
        for s in chunk {
            assert_eq!(s.author, "worker-1");
            assert_eq!(s.parents, 1);
        }
    }
    assert_eq!(
        tip_text(&layout.upstream, "current_tasks/.keep"),
        "",
        "the folder placeholder stays"
    );
    let tasks = tip_text(&layout.upstream, "TASKS.md");
    assert_eq!(tasks.matches("- [x] ").count(), 2, "{tasks}");
    let progress = tip_text(&layout.upstream, "PROGRESS.md");
    assert_eq!(progress.matches("worker-1: ").count(), 2, "{progress}");
    // The push output a person would see, and a real runner summary per test run.
    assert!(out.iter().any(|l| l.ends_with("HEAD -> main")), "{out:#?}");
    let summaries = out
        .iter()
        .filter(|l| l.starts_with("test result: ") || (l.starts_with("===") && l.contains(" in ")))
        .count();
    assert!(summaries >= 2, "{out:#?}");
}

#[test]
fn two_agents_pushing_a_claim_on_the_same_tip_exactly_one_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    for round in 0..10 {
        let task = format!("race-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["worker-1", "worker-2"]
            .into_iter()
            .map(|slot| {
                let upstream = layout.upstream.clone();
                let barrier = barrier.clone();
                let task = task.clone();
                std::thread::spawn(move || {
                    let repo = TeamRepo::open(&upstream).unwrap();
                    let tip = repo.fetch().unwrap();
                    let edit = Edit::Write {
                        path: lock_path(&task),
                        content: format!("agent: {slot}\n").into_bytes(),
                    };
                    let commit = repo
                        .commit_on(tip.commit, slot, &format!("claim {task}"), &[edit])
                        .unwrap();
                    // Both built their claim on the same tip before either pushes.
                    barrier.wait();
                    (slot, repo.push(tip.commit, commit, "claim"))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<&str> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, r) in &results {
            if let Err(e) = r {
                assert!(e.is_rejection(), "{e}");
            }
        }
        let tip = TeamRepo::open(&layout.upstream).unwrap().fetch().unwrap();
        assert_eq!(tip.holder(&task), Some(winners[0]));
    }
    let steps = history(&layout.upstream);
    assert_eq!(steps.len(), 11, "one seed commit and ten winning claims");
    assert!(steps.iter().skip(1).all(|s| s.parents == 1));
}

#[test]
fn concurrent_workers_never_hold_or_finish_the_same_task_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    let handles: Vec<_> = (1..=3)
        .map(|n| {
            let o = AgentOptions {
                rounds: Some(5),
                ..opts(&layout, Behaviour::Worker, &format!("worker-{n}"))
            };
            std::thread::spawn(move || run(o, &[]))
        })
        .collect();
    let outputs: Vec<(i32, Vec<String>)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(outputs.iter().all(|(c, _)| *c == 0));

    // Replay the lock table commit by commit: a claim only ever adds a free lock, a release
    // only removes the releasing agent's own lock, and history stays linear.
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    let mut claims: BTreeMap<String, u32> = BTreeMap::new();
    for s in history(&layout.upstream).iter().skip(1) {
        assert_eq!(s.parents, 1, "{s:?}");
        for (task, content) in &s.added {
            let holder = content
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("agent: ");
            assert_eq!(holder, s.author);
            assert!(held.insert(task.clone(), holder.to_string()).is_none());
            *claims.entry(task.clone()).or_default() += 1;
        }
        for task in &s.removed {
            assert_eq!(
                held.remove(task).as_deref(),
                Some(s.author.as_str()),
                "{s:?}"
            );
        }
    }
    assert!(held.is_empty(), "locks left: {held:?}");
    assert!(claims.values().all(|&n| n == 1), "{claims:?}");
    let tasks = tip_text(&layout.upstream, "TASKS.md");
    assert_eq!(tasks.matches("- [x] ").count(), 12, "{tasks}");
    let progress = tip_text(&layout.upstream, "PROGRESS.md");
    assert_eq!(
        progress.matches(" done — tests pass").count(),
        12,
        "{progress}"
    );
}

#[test]
fn a_seed_replays_the_same_choices() {
    let claims = |seed: u64| {
        let tmp = tempfile::tempdir().unwrap();
        let layout = demo(tmp.path());
        let o = AgentOptions {
            rounds: Some(4),
            seed: Some(seed),
            ..opts(&layout, Behaviour::Worker, "worker-1")
        };
        run(o, &[]);
        history(&layout.upstream)
            .into_iter()
            .filter(|s| s.summary.starts_with("claim "))
            .map(|s| s.summary)
            .collect::<Vec<_>>()
    };
    let a = claims(42);
    assert_eq!(a.len(), 4);
    assert_eq!(a, claims(42));
    assert_ne!(a, claims(7), "a different seed picks differently");
}

#[test]
fn crasher_exits_2_with_the_same_fatal_line_every_time() {
    let o = AgentOptions::new(Behaviour::Crasher);
    let (code, out) = run(
        AgentOptions {
            pace: 0.0,
            ..o.clone()
        },
        &[],
    );
    assert_eq!(code, 2);
    let fatal =
        "FATAL: cannot connect to model endpoint http://127.0.0.1:9/v1 (connection refused)";
    assert_eq!(out.last().map(String::as_str), Some(fatal));
    let (_, again) = run(AgentOptions { pace: 0.0, ..o }, &[]);
    assert_eq!(again.last().map(String::as_str), Some(fatal));
}

#[test]
fn missing_env_fails_without_the_key_and_works_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    let o = opts(&layout, Behaviour::MissingEnv, "missing-env-1");
    let (code, out) = run(o.clone(), &[("DEMO_API_KEY", " ")]);
    assert_eq!(code, 1);
    assert_eq!(
        out.last().map(String::as_str),
        Some("ERROR: Missing environment variable: DEMO_API_KEY")
    );
    let secret = "sk-demo-secret-value";
    let (code, out) = run(
        AgentOptions {
            rounds: Some(1),
            ..o
        },
        &[("DEMO_API_KEY", secret)],
    );
    assert_eq!(code, 0);
    assert!(
        out.iter().all(|l| !l.contains(secret)),
        "the key value was printed"
    );
    assert_eq!(
        history(&layout.upstream)
            .iter()
            .filter(|s| s.summary.starts_with("claim ") && s.author == "missing-env-1")
            .count(),
        1
    );
}

#[test]
fn looper_repeats_one_block_with_varying_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    let o = AgentOptions {
        rounds: Some(4),
        ..opts(&layout, Behaviour::Looper, "looper-1")
    };
    let (code, out) = run(o, &[]);
    assert_eq!(code, 0);
    let start = out
        .iter()
        .position(|l| l.starts_with("● Bash(cargo build"))
        .expect("loop block");
    let blocks: Vec<&[String]> = out[start..].chunks(8).collect();
    assert_eq!(blocks.len(), 4);
    let shape = |l: &str| l.replace(|c: char| c.is_ascii_hexdigit(), "#");
    for b in &blocks[1..] {
        assert_eq!(b.len(), 8);
        for (x, y) in b.iter().zip(blocks[0].iter()) {
            assert_eq!(shape(x), shape(y));
        }
        assert_ne!(b[1], blocks[0][1], "request ids vary");
    }
    // It holds the task it claimed while looping.
    let tip = TeamRepo::open(&layout.upstream).unwrap().fetch().unwrap();
    assert_eq!(tip.locks.len(), 1);
    assert_eq!(
        tip.holder(tip.locks.keys().next().unwrap()),
        Some("looper-1")
    );
}

#[test]
fn staller_goes_silent_holding_its_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    let o = AgentOptions {
        deadline: Some(Duration::from_millis(300)),
        ..opts(&layout, Behaviour::Staller, "staller-1")
    };
    let (code, out) = run(o, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out.last().map(String::as_str),
        Some("  ⎿  waiting for database at db:5432 ...")
    );
    let tip = TeamRepo::open(&layout.upstream).unwrap().fetch().unwrap();
    let task = tip.locks.keys().next().expect("a lock").clone();
    assert_eq!(tip.holder(&task), Some("staller-1"));
}

#[test]
fn flaky_test_runs_alternate_fail_and_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    let o = AgentOptions {
        rounds: Some(3),
        ..opts(&layout, Behaviour::Flaky, "flaky-1")
    };
    let (_, out) = run(o, &[]);
    // Each run starts with its command; its verdict is its first summary line.
    let mut runs: Vec<Option<bool>> = Vec::new();
    for l in &out {
        if l.starts_with("● Bash(cargo test") || l.starts_with("● Bash(python -m pytest") {
            runs.push(None);
        } else if let Some(last @ None) = runs.last_mut() {
            if l.starts_with("test result: ") {
                *last = Some(l.starts_with("test result: ok"));
            } else if l.starts_with("===") && l.contains(" in ") {
                *last = Some(!l.contains("failed"));
            }
        }
    }
    let runs: Vec<bool> = runs
        .into_iter()
        .map(|r| r.expect("every run has a summary"))
        .collect();
    assert!(runs.len() >= 4, "{runs:?}");
    assert!(runs.windows(2).all(|w| w[0] != w[1]), "{runs:?}");
    assert!(out.iter().any(|l| l.contains("retry fired after")));
}

#[test]
fn reclaimer_claims_the_same_failing_task_again_and_again() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = demo(tmp.path());
    let o = AgentOptions {
        rounds: Some(4),
        ..opts(&layout, Behaviour::Reclaimer, "reclaimer-1")
    };
    let (code, _) = run(o, &[]);
    assert_eq!(code, 0);
    let claims: Vec<String> = history(&layout.upstream)
        .into_iter()
        .filter(|s| s.summary.starts_with("claim "))
        .map(|s| s.summary)
        .collect();
    assert_eq!(claims.len(), 4);
    assert!(claims.iter().all(|c| *c == claims[0]), "{claims:?}");
    let progress = tip_text(&layout.upstream, "PROGRESS.md");
    assert_eq!(progress.matches(" FAILED — tests still failing").count(), 4);
    assert!(!tip_text(&layout.upstream, "TASKS.md").contains("- [x]"));
}

#[test]
fn an_unusable_upstream_is_a_clear_error_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let o = AgentOptions {
        upstream: tmp.path().join("nope.git"),
        pace: 0.0,
        ..AgentOptions::new(Behaviour::Worker)
    };
    let (code, out) = run(o, &[]);
    assert_eq!(code, 1);
    assert!(
        out.last()
            .unwrap()
            .starts_with("ERROR: cannot open upstream repository"),
        "{out:?}"
    );
}
