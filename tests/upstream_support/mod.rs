//! Real git repos for the upstream tests: a bare upstream plus agent clones driven by the `git`
//! CLI, with fixed commit times so claim times and durations can be asserted exactly.

#![allow(dead_code)] // each test file uses a different subset

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Runs git isolated from the user's and system's config.
pub fn git(dir: &Path, args: &[&OsStr], epoch_secs: Option<i64>) -> Output {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(["-c", "safe.directory=*", "-c", "init.defaultBranch=main"])
        .args(["-c", "advice.detachedHead=false", "-c", "pull.rebase=false"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(secs) = epoch_secs {
        let date = format!("@{secs} +0000");
        cmd.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    cmd.output().expect("git runs")
}

/// Runs git and panics with its stderr when it fails; returns trimmed stdout.
pub fn git_ok(dir: &Path, args: &[&str], epoch_secs: Option<i64>) -> String {
    let os_args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let out = git(dir, &os_args, epoch_secs);
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare upstream seeded with a README and PROGRESS.md (commit time `SEED_TIME`).
pub struct Upstream {
    pub dir: TempDir,
    pub bare: PathBuf,
}

pub const SEED_TIME: i64 = 1_700_000_000;

impl Upstream {
    pub fn new() -> Upstream {
        let dir = tempfile::tempdir().expect("tempdir");
        let bare = dir.path().join("upstream.git");
        git_ok(dir.path(), &["init", "--bare", "-q", "upstream.git"], None);
        let seeder = Agent::clone_from(&bare, "seeder", dir.path());
        seeder.write("README.md", b"# project\n");
        seeder.write("PROGRESS.md", b"# Progress\n- nothing yet\n");
        seeder.commit_all("seed", SEED_TIME);
        seeder.push().expect("seed push");
        Upstream { dir, bare }
    }

    pub fn tip(&self) -> String {
        git_ok(&self.bare, &["rev-parse", "refs/heads/main"], None)
    }

    /// A clone working as `name` (also its git user.name).
    pub fn agent(&self, name: &str) -> Agent {
        Agent::clone_from(&self.bare, name, self.dir.path())
    }
}

/// One agent's clone of the upstream.
pub struct Agent {
    pub name: String,
    pub dir: PathBuf,
}

impl Agent {
    fn clone_from(bare: &Path, name: &str, parent: &Path) -> Agent {
        let dir = parent.join(format!("clone-{name}"));
        let bare = bare.to_string_lossy().into_owned();
        let target = dir.to_string_lossy().into_owned();
        git_ok(parent, &["clone", "-q", &bare, &target], None);
        git_ok(&dir, &["config", "user.name", name], None);
        git_ok(
            &dir,
            &["config", "user.email", &format!("{name}@agents.local")],
            None,
        );
        Agent {
            name: name.to_owned(),
            dir,
        }
    }

    pub fn write(&self, path: impl AsRef<Path>, content: &[u8]) {
        let full = self.dir.join(path);
        fs::create_dir_all(full.parent().expect("has parent")).expect("mkdir");
        fs::write(full, content).expect("write");
    }

    /// Stages everything and commits at `epoch_secs`; returns the commit id.
    pub fn commit_all(&self, message: &str, epoch_secs: i64) -> String {
        git_ok(&self.dir, &["add", "-A"], None);
        git_ok(
            &self.dir,
            &["commit", "-q", "-m", message],
            Some(epoch_secs),
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git_ok(&self.dir, &["rev-parse", "HEAD"], None)
    }

    /// Writes `current_tasks/<task>.txt` naming this agent and commits it.
    pub fn claim(&self, task: &str, epoch_secs: i64) -> String {
        let content = format!("agent: {}\nstarted {task}\n", self.name);
        self.write(format!("current_tasks/{task}.txt"), content.as_bytes());
        self.commit_all(&format!("claim {task}"), epoch_secs)
    }

    /// Removes `current_tasks/<task>.txt` and commits.
    pub fn release(&self, task: &str, epoch_secs: i64) -> String {
        git_ok(
            &self.dir,
            &["rm", "-q", &format!("current_tasks/{task}.txt")],
            None,
        );
        self.commit_all(&format!("done {task}"), epoch_secs)
    }

    /// `git push origin HEAD:main`; `Err(stderr)` when rejected.
    pub fn push(&self) -> Result<(), String> {
        let out = git(
            &self.dir,
            &[
                OsStr::new("push"),
                OsStr::new("-q"),
                OsStr::new("origin"),
                OsStr::new("HEAD:main"),
            ],
            None,
        );
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Fast-forwards to the upstream (panics if that needs a merge).
    pub fn sync(&self) {
        git_ok(
            &self.dir,
            &["pull", "-q", "--ff-only", "origin", "main"],
            None,
        );
    }

    /// Gives up local work and takes the upstream as is (what an agent does after losing a race).
    pub fn reset_to_upstream(&self) {
        git_ok(&self.dir, &["fetch", "-q", "origin"], None);
        git_ok(&self.dir, &["reset", "-q", "--hard", "origin/main"], None);
    }

    /// `git pull` with a merge commit made at `epoch_secs`.
    pub fn merge_upstream(&self, epoch_secs: i64) -> String {
        git_ok(
            &self.dir,
            &["pull", "-q", "--no-rebase", "--no-edit", "origin", "main"],
            Some(epoch_secs),
        );
        self.head()
    }
}
