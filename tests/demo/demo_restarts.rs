//! The newcomer's path with restarts, on real Docker: `drover demo --no-tui`, then drover is
//! stopped and started again three times while the agents keep landing commits. The run
//! ledger must continue each adopted container's open run (whatever the skew between the start
//! time drover noted and Docker's `StartedAt`), so `drover report` counts exactly the commits
//! `git log` shows — not one more per restart — and no run ends as vanished.
//!
//! Everything is this test's own: fleet name, image tag, demo folder, the per-user folders.

use crate::common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct World {
    _tmp: tempfile::TempDir,
    fleet: String,
    image: String,
    dir: PathBuf,
    elsewhere: PathBuf,
    env: Vec<(String, PathBuf)>,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = common::unique_fleet("rs");
        let image = format!("drover-demo-test:{fleet}");
        let root = tmp.path().to_path_buf();
        let env = ["XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"]
            .iter()
            .map(|k| (k.to_string(), root.join(k.to_lowercase())))
            .collect::<Vec<_>>();
        for (_, d) in &env {
            std::fs::create_dir_all(d).unwrap();
        }
        let elsewhere = root.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        Self {
            dir: root.join("demo"),
            _tmp: tmp,
            fleet,
            image,
            elsewhere,
            env,
        }
    }

    fn client(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drover"));
        c.args(args)
            .current_dir(&self.elsewhere)
            .env_remove("DROVER_CONFIG");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// `drover demo --no-tui`: a first one prepares the demo, the next ones resume it.
    fn start(&self, n: usize) -> Child {
        let log = std::fs::File::create(self.dir.with_extension(format!("log{n}"))).unwrap();
        let dir = self.dir.display().to_string();
        self.client(&[
            "demo",
            "--dir",
            &dir,
            "--fleet",
            &self.fleet,
            "--image",
            &self.image,
            "--pace",
            "0.3",
            "--no-tui",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
    }

    /// Polls `drover status` until the daemon answers (it offers no event to wait on).
    fn wait_status(&self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let out = self.client(&["status"]).output().unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "status never answered: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Commits the demo's agents landed upstream (`git log`: their identity is the slot; the
    /// root commit is the demo's seed).
    fn agent_commits(&self) -> u64 {
        let repo = git2::Repository::open_bare(self.dir.join("upstream.git")).unwrap();
        let Ok(head) = repo.head() else {
            return 0;
        };
        let mut walk = repo.revwalk().unwrap();
        walk.push(head.target().unwrap()).unwrap();
        walk.filter(|id| {
            let c = repo.find_commit(*id.as_ref().unwrap()).unwrap();
            c.parent_count() > 0
                && c.author()
                    .email()
                    .is_ok_and(|e| e.ends_with("@agents.drover-demo"))
        })
        .count() as u64
    }

    fn wait_commits(&self, at_least: u64) {
        let deadline = Instant::now() + Duration::from_secs(180);
        while self.agent_commits() < at_least {
            assert!(
                Instant::now() < deadline,
                "only {} agent commits",
                self.agent_commits()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `drover report --json` on the demo's database (read while the daemon runs).
    fn report(&self) -> serde_json::Value {
        let db = self.dir.join("data").join("drover.db");
        let out = self
            .client(&["report", "--json", "--db", &db.display().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn interrupt(child: &mut Child) {
    let int = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(int.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "{s:?}");
            return;
        }
        assert!(Instant::now() < deadline, "drover did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_restarts_of_drover_during_a_run_count_each_commit_once() {
    common::require_docker();
    let w = World::new();
    let _image = common::ImageGuard(w.image.clone());
    let _containers = common::FleetGuard(w.fleet.clone());

    let mut child = w.start(0);
    w.wait_status();
    w.wait_commits(3);
    for round in 1..=3 {
        interrupt(&mut child);
        // The containers keep running and pushing while no drover watches.
        let seen = w.agent_commits();
        child = w.start(round);
        w.wait_status();
        w.wait_commits(seen + 2);
    }
    // Freeze the agents (paused containers push nothing), then wait for the ledger to catch up
    // with the upstream: it must reach exactly git's count, never more.
    for role in ["worker", "flaky", "staller", "looper", "crasher"] {
        let _ = w
            .client(&["ctl", "pause", role, "--fleet", &w.fleet])
            .output()
            .unwrap();
    }
    let expected = w.agent_commits();
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let r = w.report();
        let counted = r["cost"]["fleet"]["commits"].as_u64().unwrap_or(0);
        assert!(
            counted <= expected,
            "report counts {counted} commits, git log shows {expected}: {r:#}"
        );
        if counted == expected || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        report["cost"]["fleet"]["commits"].as_u64(),
        Some(expected),
        "{report:#}"
    );
    let ends = &report["cost"]["fleet"]["ends"];
    assert!(ends.get("vanished").is_none(), "no run split: {ends}");
    interrupt(&mut child);
}
