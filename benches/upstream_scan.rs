//! Upstream scan figures on a 10 000-commit bare repo built once with `git fast-import`:
//! initial scan, incremental update after one push, an idle poll, and push-to-update latency of
//! the watcher. Run with `cargo bench --bench upstream_scan`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use drover::upstream::{UpstreamRepo, WatchOptions, spawn_watcher};
use tokio_util::sync::CancellationToken;

const COMMITS: usize = 10_000;
const TASKS: usize = 50;
const SOURCE_FILES: usize = 200;
const START: i64 = 1_700_000_000;

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(["-c", "safe.directory=*", "-c", "init.defaultBranch=main"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("git runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn blob(stream: &mut Vec<u8>, path: &str, content: &str) {
    let _ = write!(
        ByteWriter(stream),
        "M 100644 inline {path}\ndata {}\n{content}\n",
        content.len()
    );
}

/// `fmt::Write` over a byte buffer, so the stream can be built with `write!`.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A history that looks like a busy fleet: every fourth commit claims or releases one of 50
/// tasks, every fourth edits PROGRESS.md, the rest change source files.
fn history_stream() -> Vec<u8> {
    let mut s = Vec::with_capacity(COMMITS * 300);
    let mut held = [false; TASKS];
    for i in 0..COMMITS {
        let agent = i % 8 + 1;
        let time = START + i64::try_from(i).unwrap_or(0) * 60;
        let _ = write!(
            ByteWriter(&mut s),
            "commit refs/heads/main\nmark :{}\nauthor implementer-{agent} <i{agent}@agents> {time} +0000\n\
             committer implementer-{agent} <i{agent}@agents> {time} +0000\ndata 11\ncommit {i:04}\n",
            i + 1
        );
        if i > 0 {
            let _ = writeln!(ByteWriter(&mut s), "from :{i}");
        }
        if i == 0 {
            for f in 0..SOURCE_FILES {
                blob(&mut s, &format!("src/file{f}.rs"), "fn main() {}");
            }
            blob(&mut s, "PROGRESS.md", "# Progress\n");
        }
        match i % 4 {
            0 => {
                let task = (i / 4) % TASKS;
                let path = format!("current_tasks/task-{task}.txt");
                if held[task] {
                    let _ = writeln!(ByteWriter(&mut s), "D {path}");
                } else {
                    blob(
                        &mut s,
                        &path,
                        &format!("agent: implementer-{agent}\nworking"),
                    );
                }
                held[task] = !held[task];
            }
            1 => blob(&mut s, "PROGRESS.md", &format!("# Progress\n- step {i}")),
            _ => blob(
                &mut s,
                &format!("src/file{}.rs", i % SOURCE_FILES),
                &format!("// {i}"),
            ),
        }
        s.push(b'\n');
    }
    s
}

fn fast_import(bare: &Path, stream: &[u8]) {
    let mut child = git(bare)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import starts");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stream)
        .expect("stream written");
    assert!(child.wait().expect("fast-import ends").success());
}

/// One more commit on top of the branch, as a push would add.
fn push_one(bare: &Path, n: usize) {
    let time = START + 1_000_000 + i64::try_from(n).unwrap_or(0);
    let mut s = Vec::new();
    let _ = write!(
        ByteWriter(&mut s),
        "commit refs/heads/main\nauthor implementer-1 <i1@agents> {time} +0000\n\
         committer implementer-1 <i1@agents> {time} +0000\ndata 5\nclaim\nfrom refs/heads/main^0\n"
    );
    blob(
        &mut s,
        &format!("current_tasks/new-{n}.txt"),
        "agent: implementer-1",
    );
    fast_import(bare, &s);
}

fn open(bare: &Path) -> UpstreamRepo {
    UpstreamRepo::open(bare, None, "current_tasks", "PROGRESS.md").expect("open")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("upstream.git");
    run(git(dir.path()).args(["init", "--bare", "-q", "upstream.git"]));
    let built = Instant::now();
    fast_import(&bare, &history_stream());
    println!(
        "built {COMMITS}-commit bare repo in {}",
        ms(built.elapsed())
    );

    // Initial scan: history + lock table + PROGRESS, on a fresh handle each time.
    let mut initial = Vec::new();
    let mut events = 0;
    for _ in 0..5 {
        let mut repo = open(&bare);
        let t = Instant::now();
        let update = repo.poll_update().expect("scan").expect("first update");
        initial.push(t.elapsed());
        events = update.new_history_entries.len();
    }
    println!(
        "initial scan ({COMMITS} commits, {events} claim events): median {} (min {}, max {})",
        ms(median(initial.clone())),
        ms(*initial.iter().min().expect("runs")),
        ms(*initial.iter().max().expect("runs"))
    );

    // Incremental: one commit pushed, then an update.
    let mut repo = open(&bare);
    repo.poll_update().expect("scan");
    let mut incremental = Vec::new();
    for n in 0..20 {
        push_one(&bare, n);
        let t = Instant::now();
        let update = repo.poll_update().expect("update").expect("changed");
        incremental.push(t.elapsed());
        assert_eq!(update.new_history_entries.len(), 1);
    }
    println!(
        "incremental update after one push: median {} (max {})",
        ms(median(incremental.clone())),
        ms(*incremental.iter().max().expect("runs"))
    );

    let mut idle = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        assert!(repo.poll_update().expect("poll").is_none());
        idle.push(t.elapsed());
    }
    println!("idle poll (nothing changed): median {}", ms(median(idle)));

    watcher_latency(&bare);
}

/// Time from a push (ref updated) to the update arriving on the channel.
fn watcher_latency(bare: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let options = WatchOptions {
            safety_poll: Duration::from_secs(3600),
            ..WatchOptions::default()
        };
        let cancel = CancellationToken::new();
        let task = spawn_watcher(open(bare), tx, options, cancel.clone()).expect("watch");
        rx.recv().await.expect("initial update");
        let mut latencies = Vec::new();
        for n in 100..120 {
            let bare = bare.to_owned();
            tokio::task::spawn_blocking(move || push_one(&bare, n))
                .await
                .expect("push");
            let pushed = Instant::now();
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("update arrives")
                .expect("watcher alive");
            latencies.push(pushed.elapsed());
        }
        let max = *latencies.iter().max().expect("runs");
        println!(
            "watcher: push finished -> update received: median {} (max {}; debounce {})",
            ms(median(latencies)),
            ms(max),
            ms(options.debounce)
        );
        cancel.cancel();
        let _ = task.await;
    });
}
