//! `drover report --upstream`: a 4 000-commit history built with the conventions real fleets
//! use (one shared git identity, `Lock task: …` / `Remove task lock: … (completed)` subjects,
//! lock files naming the agent, several extensions, a hidden `.keep`, two-lock commits, equal
//! commit times, merges from side branches) by `git fast-import`, then the binary's JSON
//! figures checked against an independent count made here from `git log` output.

use crate::upstream_support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use upstream_support::git_ok;

const COMMITS: usize = 4_000;
const START: i64 = 1_760_000_000;
const AUTHOR: &str = "Fleet Agent <agent@fleet.local>";

/// Deterministic xorshift, so every run builds the same history.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn data(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
    out.push(b'\n');
}

struct Builder {
    out: Vec<u8>,
    mark: usize,
    main_tip: usize,
    time: i64,
    commits: usize,
}

impl Builder {
    /// One commit on `branch` (parent `from`, plus `merge`), with file ops `M`/`D`.
    fn commit(
        &mut self,
        branch: &str,
        from: Option<usize>,
        merge: Option<usize>,
        msg: &str,
        ops: &[(bool, String, String)],
    ) -> usize {
        self.mark += 1;
        self.commits += 1;
        let o = &mut self.out;
        o.extend_from_slice(
            format!("commit refs/heads/{branch}\nmark :{}\n", self.mark).as_bytes(),
        );
        for who in ["author", "committer"] {
            o.extend_from_slice(format!("{who} {AUTHOR} {} +0000\n", self.time).as_bytes());
        }
        data(o, msg.as_bytes());
        if let Some(f) = from {
            o.extend_from_slice(format!("from :{f}\n").as_bytes());
        }
        if let Some(m) = merge {
            o.extend_from_slice(format!("merge :{m}\n").as_bytes());
        }
        for (add, path, content) in ops {
            if *add {
                o.extend_from_slice(format!("M 100644 inline {path}\n").as_bytes());
                data(o, content.as_bytes());
            } else {
                o.extend_from_slice(format!("D {path}\n").as_bytes());
            }
        }
        o.push(b'\n');
        self.mark
    }
}

fn lock_content(agent: u64, task: &str, rng: &mut Rng) -> String {
    // The forms seen in real fleets: a labelled agent line, free prose, a hostname line.
    match rng.below(3) {
        0 => format!("Agent: agent-{agent}\nTask: {task}\nStarted: reading the spec\n"),
        1 => format!("Locked by agent-{agent}\n\nWorking on {task}; see PROGRESS.md.\n"),
        _ => format!("# {task}\nOwner: agent-{agent}\nHostname: agent-{agent}\n"),
    }
}

/// Builds the history into a new bare repo at `bare`.
fn build(bare: &Path) {
    git_ok(
        bare.parent().expect("parent"),
        &["init", "--bare", "-q", "fleet.git"],
        None,
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut b = Builder {
        out: Vec::new(),
        mark: 0,
        main_tip: 0,
        time: START,
        commits: 0,
    };
    let exts = [".txt", ".txt", ".txt", ".md", ".lock", ""];
    let mut held: BTreeMap<String, String> = BTreeMap::new(); // task → path
    let seed = b.commit(
        "main",
        None,
        None,
        "Initial commit",
        &[
            (true, "README.md".into(), "# project\n".into()),
            (true, "current_tasks/.keep".into(), String::new()),
        ],
    );
    b.main_tip = seed;
    while b.commits < COMMITS {
        // Gaps of 0..15 minutes; a zero gap makes equal committer times.
        b.time += i64::try_from(rng.below(16) * 60).expect("small");
        let r = rng.below(100);
        let agent = rng.below(16) + 1;
        let from = Some(b.main_tip);
        if b.commits % 500 == 250 {
            // A side branch claims a task and main merges it: first-parent counts it once, at
            // the merge.
            let task = format!("side-{}", rng.below(50));
            if held.contains_key(&task) {
                continue;
            }
            let path = format!("current_tasks/{task}.txt");
            let content = lock_content(agent, &task, &mut rng);
            let op = (true, path.clone(), content);
            let side = b.commit(
                "side",
                from,
                None,
                &format!("Lock task: {task}"),
                std::slice::from_ref(&op),
            );
            b.time += 60;
            b.main_tip = b.commit("main", from, Some(side), "Merge branch 'side'", &[op]);
            held.insert(task, path);
        } else if r < 36 && held.len() < 24 {
            let n = if rng.below(20) == 0 { 2 } else { 1 };
            let mut ops = Vec::new();
            let mut names = Vec::new();
            for _ in 0..n {
                let task = format!("task-{}", rng.below(300));
                if held.contains_key(&task) || names.contains(&task) {
                    continue;
                }
                let ext = exts[usize::try_from(rng.below(6)).expect("small")];
                let path = format!("current_tasks/{task}{ext}");
                ops.push((true, path.clone(), lock_content(agent, &task, &mut rng)));
                held.insert(task.clone(), path);
                names.push(task);
            }
            if ops.is_empty() {
                continue;
            }
            let msg = format!("Lock task: {}", names.join(", "));
            b.main_tip = b.commit("main", from, None, &msg, &ops);
        } else if r < 66 && !held.is_empty() {
            let i = usize::try_from(rng.below(held.len() as u64)).expect("small");
            let (task, path) = held
                .iter()
                .nth(i)
                .map(|(t, p)| (t.clone(), p.clone()))
                .expect("some");
            held.remove(&task);
            let msg = format!("Remove task lock: {task} (completed)");
            b.main_tip = b.commit("main", from, None, &msg, &[(false, path, String::new())]);
        } else if r < 70 && !held.is_empty() {
            // A lock rewritten in place: neither a claim nor a release.
            let (task, path) = held
                .iter()
                .next()
                .map(|(t, p)| (t.clone(), p.clone()))
                .expect("some");
            let content = format!("Agent: agent-{agent}\nTask: {task}\nStatus: tests pass\n");
            b.main_tip = b.commit(
                "main",
                from,
                None,
                &format!("Update lock: {task}"),
                &[(true, path, content)],
            );
        } else if r < 72 {
            // Hidden files under the locks folder are not locks.
            let content = format!("note {}\n", b.commits);
            b.main_tip = b.commit(
                "main",
                from,
                None,
                "Touch hidden note",
                &[(true, "current_tasks/.notes".into(), content)],
            );
        } else {
            let file = format!("src/mod_{}.rs", rng.below(40));
            let ops = [
                (true, file, format!("// {}\n", b.commits)),
                (
                    true,
                    "PROGRESS.md".into(),
                    format!("# Progress\n- step {}\n", b.commits),
                ),
            ];
            b.main_tip = b.commit(
                "main",
                from,
                None,
                &format!("Implement step {}", b.commits),
                &ops,
            );
        }
    }
    let mut child = Command::new("git")
        .args(["-c", "safe.directory=*", "fast-import", "--quiet"])
        .current_dir(bare)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&b.out)
        .expect("stream written");
    assert!(
        child.wait().expect("fast-import ends").success(),
        "fast-import failed"
    );
    git_ok(bare, &["symbolic-ref", "HEAD", "refs/heads/main"], None);
}

/// The task a lock path names: below the folder, a final `.ext` of 1–10 letters/digits dropped.
fn task_of(path: &str) -> String {
    let rel = path.strip_prefix("current_tasks/").expect("in folder");
    match rel.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && !stem.ends_with('/')
                && (1..=10).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem.to_owned()
        }
        _ => rel.to_owned(),
    }
}

fn is_lock(path: &str) -> bool {
    path.strip_prefix("current_tasks/")
        .is_some_and(|rel| !rel.split('/').any(|c| c.starts_with('.')))
}

fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// The figures, counted from `git log --first-parent` output alone.
fn independent_count(bare: &Path) -> serde_json::Value {
    let log = git_ok(
        bare,
        &[
            "log",
            "--first-parent",
            "--reverse",
            "--no-renames",
            "--diff-merges=first-parent",
            "--format=C %ct",
            "--name-status",
            "main",
        ],
        None,
    );
    let mut time = 0i64;
    let mut claims = 0u64;
    let mut releases = 0u64;
    let mut per_task: HashMap<String, u64> = HashMap::new();
    let mut open: HashMap<String, i64> = HashMap::new();
    let mut holds = Vec::new();
    let mut steps: Vec<(i64, i64)> = Vec::new();
    for line in log.lines() {
        if let Some(t) = line.strip_prefix("C ") {
            time = t.parse().expect("commit time");
            continue;
        }
        let Some((status, path)) = line.split_once('\t') else {
            continue;
        };
        if !is_lock(path) {
            continue;
        }
        match status {
            "A" => {
                claims += 1;
                *per_task.entry(task_of(path)).or_default() += 1;
                open.insert(path.to_owned(), time);
                steps.push((time, 1));
            }
            "D" => {
                releases += 1;
                let at = open.remove(path).expect("released lock was claimed");
                holds.push(time - at);
                steps.push((time, -1));
            }
            _ => {}
        }
    }
    holds.sort_unstable();
    steps.sort_unstable();
    let (mut now, mut max) = (0i64, 0i64);
    for (_, d) in steps {
        now += d;
        max = max.max(now);
    }
    let tip_files = git_ok(
        bare,
        &["ls-tree", "-r", "--name-only", "main", "current_tasks/"],
        None,
    );
    let never: HashSet<&str> = tip_files.lines().filter(|p| is_lock(p)).collect();
    assert_eq!(never.len(), open.len(), "tip and replay agree");
    serde_json::json!({
        "claims": claims,
        "tasks": per_task.len(),
        "reclaimed_tasks": per_task.values().filter(|c| **c > 1).count(),
        "max_claims": per_task.values().max().copied().unwrap_or(0),
        "releases": releases,
        "never_released": never.len(),
        "hold_p50_s": nearest_rank(&holds, 50),
        "hold_p90_s": nearest_rank(&holds, 90),
        "max_concurrent": max,
    })
}

#[test]
fn a_4000_commit_fleet_history_matches_an_independent_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("fleet.git");
    build(&bare);
    let commits = git_ok(
        &bare,
        &["rev-list", "--first-parent", "--count", "main"],
        None,
    );
    assert!(
        commits.parse::<usize>().expect("count") >= COMMITS - 20,
        "{commits}"
    );

    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--upstream"])
        .arg(&bare)
        .arg("--json")
        .output()
        .expect("drover runs");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    eprintln!("report of {commits} first-parent commits took {elapsed:?}");
    assert!(elapsed.as_secs() < 10, "took {elapsed:?}");

    let expected = independent_count(&bare);
    let locks = &report["locks"];
    for (key, want) in expected.as_object().expect("object") {
        assert_eq!(&locks[key], want, "locks.{key}");
    }
    // The history exercised what it meant to.
    assert!(locks["claims"].as_u64() > Some(1000), "{locks}");
    assert!(locks["reclaimed_tasks"].as_u64() > Some(50), "{locks}");
    assert!(locks["never_released"].as_u64() > Some(0), "{locks}");
    // Holders come from the lock files, not the shared author.
    let by_author = locks["by_author"].as_array().expect("list");
    assert_eq!(by_author.len(), 1, "{by_author:?}");
    let by_holder = locks["by_holder"].as_array().expect("list");
    assert_eq!(by_holder.len(), 16, "{by_holder:?}");
    assert!(
        by_holder
            .iter()
            .all(|h| h["name"].as_str().is_some_and(|n| n.starts_with("agent-")))
    );

    // The human form carries the same figures.
    let text = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--upstream"])
        .arg(&bare)
        .output()
        .expect("drover runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "{} claims of {} tasks",
            expected["claims"], expected["tasks"]
        )),
        "{text}"
    );
    assert!(text.contains("re-claimed tasks (top 10)"), "{text}");
    assert!(text.contains("claims per"), "{text}");
}

#[test]
fn an_empty_repo_reports_no_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    git_ok(dir.path(), &["init", "--bare", "-q", "empty.git"], None);
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["report", "--json", "--upstream"])
        .arg(dir.path().join("empty.git"))
        .output()
        .expect("drover runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["commits"], 0);
    assert_eq!(report["locks"]["claims"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_fleets_report_carries_its_upstream_lock_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("up.git");
    git_ok(
        dir.path(),
        &["init", "--bare", "-q", "-b", "main", "up.git"],
        None,
    );
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
    git_ok(&clone, &["config", "user.name", "Fleet Agent"], None);
    git_ok(&clone, &["config", "user.email", "agent@fleet.local"], None);
    let a = upstream_support::Agent {
        name: "Fleet Agent".into(),
        dir: clone,
    };
    // Recent commits, so the default 24 h window counts them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    a.claim("parser", now - 3600);
    a.release("parser", now - 1800);
    a.claim("lexer", now - 600);
    a.push().expect("push");

    let data = dir.path().join("data");
    let store = drover::store::Store::open_in(&data).await.expect("store");
    store.close().await;
    let config = dir.path().join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            "[fleet]\nname = \"rep\"\ndata_dir = \"{}\"\n\n[upstream]\nrepo = \"{}\"\n\n[[roles]]\nname = \"w\"\nimage = \"busybox\"\n",
            data.display(),
            bare.display()
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("--config")
        .arg(&config)
        .args(["report", "--json"])
        .output()
        .expect("drover runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let locks = &v["upstream"]["locks"];
    assert_eq!(locks["claims"], 2, "{v}");
    assert_eq!(locks["releases"], 1);
    assert_eq!(locks["never_released"], 1);
    assert_eq!(locks["hold_p50_s"], 1800);
    assert!(
        v["fleet"].is_object(),
        "the reliability figures are still there: {v}"
    );
    // No [pricing]: the report says so instead of $0.00.
    assert_eq!(v["cost"]["prices_configured"], false, "{v}");

    // From a folder with no config, the fleet is found through the running daemon's
    // registration (a listening control socket makes it live): the upstream section and the
    // missing prices are still reported.
    let elsewhere = dir.path().join("elsewhere");
    let registry = elsewhere.join("run").join("drover").join("running");
    std::fs::create_dir_all(&registry).expect("registry");
    let socket = elsewhere.join("rep.sock");
    let _listening = std::os::unix::net::UnixListener::bind(&socket).expect("socket");
    std::fs::write(
        registry.join(format!("{}.json", std::process::id())),
        serde_json::json!({
            "pid": std::process::id(),
            "fleet": "rep",
            "config": config,
            "socket": socket,
        })
        .to_string(),
    )
    .expect("registration");
    let through_daemon = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drover"));
        c.current_dir(&elsewhere)
            .arg("report")
            .env("XDG_RUNTIME_DIR", elsewhere.join("run"))
            .env("HOME", &elsewhere)
            .env_remove("DROVER_CONFIG")
            .env_remove("XDG_CONFIG_HOME");
        if json {
            c.arg("--json");
        }
        let out = c.output().expect("drover runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let v: serde_json::Value = serde_json::from_str(&through_daemon(true)).expect("json");
    assert_eq!(v["upstream"]["locks"]["claims"], 2, "{v}");
    let text = through_daemon(false);
    assert!(text.contains("no prices configured"), "{text}");
    assert!(!text.contains("$0.00"), "{text}");
    assert!(text.contains("claims"), "the upstream section: {text}");
}
