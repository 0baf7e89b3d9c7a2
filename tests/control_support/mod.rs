//! Helpers for the control-plane tests: a real `drover run --no-tui` daemon process on a small
//! fleet, the client commands run as real processes against it, and tmux for attached TUIs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DROVER: &str = env!("CARGO_BIN_EXE_drover");

/// A fleet config in a temp folder with its own runtime dir (so its socket is private to it).
pub struct Fleet {
    pub name: String,
    pub dir: tempfile::TempDir,
}

impl Fleet {
    /// `roles` is the `[[roles]]` TOML (and anything after it).
    pub fn new(name: &str, roles: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("drover-ctl")
            .tempdir_in("/tmp")
            .unwrap();
        let f = Self {
            name: name.to_string(),
            dir,
        };
        f.write_config(roles);
        std::fs::create_dir_all(f.runtime()).unwrap();
        f
    }

    pub fn write_config(&self, roles: &str) {
        let text = format!(
            "[fleet]\nname = \"{}\"\ndata_dir = \"data\"\n\n{roles}\n",
            self.name
        );
        std::fs::write(self.config(), text).unwrap();
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("drover.toml")
    }

    pub fn runtime(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime()
            .join("drover")
            .join(format!("{}.sock", self.name))
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// A `drover` command aimed at this fleet.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DROVER);
        c.arg("--config")
            .arg(self.config())
            .args(args)
            .env("XDG_RUNTIME_DIR", self.runtime())
            .env("USER", "tester")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run drover")
    }

    /// Starts the daemon and waits until its socket answers.
    pub fn start_daemon(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let child = self
            .cmd(&["run", "--no-tui"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the daemon");
        let d = Daemon { child: Some(child) };
        self.wait_for("the daemon to answer", Duration::from_secs(30), || {
            self.run(&["status", "--json"]).status.success()
        });
        d
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", "--json"]);
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// Polls `status --json` until `pred` holds (no event exists for "the fleet looks like").
    pub fn wait_status(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.status();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status: {s:#}\nlog:\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn wait_for(&self, what: &str, limit: Duration, mut pred: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !pred() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

/// A slot of a `status --json` view.
pub fn slot<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["slots"]
        .as_array()
        .and_then(|s| s.iter().find(|v| v["slot"] == name))
        .unwrap_or_else(|| panic!("no slot {name} in {status:#}"))
}

pub fn docker_state(container: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Status}}", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn fleet_containers(fleet: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.drover.fleet={fleet}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The daemon process; killed (SIGKILL) if still running when dropped.
pub struct Daemon {
    pub child: Option<Child>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGTERM and wait (bounded) for a clean exit.
    pub fn stop(&mut self) {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(30));
    }

    pub fn kill(&mut self) {
        self.signal("KILL");
        self.wait_exit(Duration::from_secs(10));
    }

    fn wait_exit(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.alive() {
            assert!(Instant::now() < deadline, "the daemon did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = None;
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free loopback port (bound then released; good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
