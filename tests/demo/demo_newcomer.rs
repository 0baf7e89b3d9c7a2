//! A newcomer's first minutes, on real Docker and a real terminal (tmux): `drover demo` opens
//! the TUI; `drover status` from another folder finds the running demo without `--config`;
//! take-over (`t`) opens a real shell in an agent's container; quitting prints what to do next;
//! a second `drover demo` resumes the first (its agents adopted, same containers); `--clean`
//! refuses while a drover supervises the demo, then removes exactly it and says so in words.
//!
//! Everything is this test's own: fleet name, image tag, demo folder, and the per-user folders
//! (`XDG_RUNTIME_DIR`, `XDG_DATA_HOME`, `XDG_CONFIG_HOME`) where clients look for daemons.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::tmux::Tmux;

struct World {
    _tmp: tempfile::TempDir,
    fleet: String,
    image: String,
    dir: PathBuf,
    /// A folder with no drover.toml, where the client commands run.
    elsewhere: PathBuf,
    env: Vec<(String, PathBuf)>,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = common::unique_fleet("nc");
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

    fn demo_args(&self) -> Vec<String> {
        vec![
            "demo".into(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--fleet".into(),
            self.fleet.clone(),
            "--image".into(),
            self.image.clone(),
            "--pace".into(),
            "0.3".into(),
        ]
    }

    /// `drover <args>` run from the folder without a config, in this world's environment.
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

    fn status(&self) -> Output {
        self.client(&["status"]).output().unwrap()
    }

    /// Polls `drover status` until it answers (a daemon offers no event to wait on).
    fn wait_status(&self, what: &str) -> Output {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self.status();
            if out.status.success() {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: status never answered: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn container_id(&self, slot: &str) -> String {
        let out = Command::new("docker")
            .args(["inspect", "--format", "{{.Id}}"])
            .arg(format!("drover-{}-{slot}", self.fleet))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn demo_quit_demo_again_status_take_over_and_clean() {
    common::require_docker();
    let w = World::new();
    // Dropped last: containers go first, so the image is removed, not just untagged.
    let _image = common::ImageGuard(w.image.clone());
    let _containers = common::FleetGuard(w.fleet.clone());
    let stderr_file = w.dir.with_extension("stderr");

    // 1. `drover demo` with the TUI, in a real terminal.
    let mut cmd = String::from("env -u DROVER_CONFIG");
    for (k, v) in &w.env {
        cmd.push_str(&format!(" {k}={}", shell_quote(&v.display().to_string())));
    }
    cmd.push_str(&format!(" {}", shell_quote(env!("CARGO_BIN_EXE_drover"))));
    for a in w.demo_args() {
        cmd.push_str(&format!(" {}", shell_quote(&a)));
    }
    cmd.push_str(&format!(
        " 2>{}; echo DEMO-EXITED; sleep 600",
        shell_quote(&stderr_file.display().to_string())
    ));
    let tmux = Tmux::start(&w.fleet, &cmd);
    tmux.wait_for_secs("the demo fleet with a running worker", 180, |s| {
        s.contains("worker-1") && s.contains("● running")
    });

    // 2. `drover status` from a folder with no config finds the running demo.
    let out = w.wait_status("status while the TUI runs");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("worker-1"), "{stdout}");
    assert!(
        stderr.contains(&format!("using the running fleet `{}`", w.fleet)),
        "{stderr}"
    );

    // 3. Take-over: `t` on worker-1 opens a shell in its container, here in the terminal.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "worker-1"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("only worker-1, running", |s| {
        s.lines()
            .any(|l| l.contains("▶worker-1") && l.contains("running"))
            && !s.contains("worker-2")
    });
    tmux.keys(&["t"]);
    let screen = tmux.wait_for("the take-over question or a shell", |s| {
        s.contains("Take over") || s.contains("# ") || s.contains("$ ")
    });
    if screen.contains("Take over") {
        tmux.keys(&["Enter"]);
    }
    tmux.wait_for("a shell prompt", |s| {
        s.lines()
            .any(|l| l.trim_end().ends_with('#') || l.trim_end().ends_with('$'))
    });
    tmux.keys(&["-l", "echo shell-$((6*7)); ls /upstream"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the shell's answer", |s| s.contains("shell-42"));
    assert!(!screen.contains("executable file not found"), "{screen}");
    tmux.keys(&["-l", "exit"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the hand-back question", |s| {
        s.contains("Hand worker-1 back")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("worker-1 handed back", |s| {
        !s.contains("Hand worker-1 back")
    });
    let worker = w.container_id("worker-2");

    // 4. Quit: the terminal says what to do next.
    tmux.keys(&["q"]);
    tmux.wait_for("the demo to exit", |s| s.contains("DEMO-EXITED"));
    let said = std::fs::read_to_string(&stderr_file).unwrap();
    assert!(said.contains("new fleet"), "{said}");
    assert!(said.contains("stopped supervising"), "{said}");
    assert!(
        said.contains(&format!("drover demo --dir {}", w.dir.display())),
        "{said}"
    );
    assert!(said.contains("drover demo --clean"), "{said}");
    drop(tmux);
    let gone = w.status();
    assert_eq!(
        gone.status.code(),
        Some(1),
        "no daemon, no config: {gone:?}"
    );
    assert!(
        text(&gone.stderr).contains("new here? try `drover demo`"),
        "{}",
        text(&gone.stderr)
    );

    // 5. `drover demo` again resumes it: same containers, adopted.
    let log = std::fs::File::create(w.dir.with_extension("second")).unwrap();
    let mut second = w.client(&[]);
    second
        .args(w.demo_args())
        .arg("--no-tui")
        .stdout(Stdio::null())
        .stderr(log);
    let mut child = second.spawn().unwrap();
    let out = w.wait_status("status of the resumed demo");
    assert!(text(&out.stdout).contains("worker-2"));
    let said = std::fs::read_to_string(w.dir.with_extension("second")).unwrap();
    assert!(said.contains("resuming the demo"), "{said}");
    assert_eq!(
        w.container_id("worker-2"),
        worker,
        "the agent was adopted, not recreated"
    );

    // 6. `--clean` refuses while the demo is supervised, then removes exactly it.
    let refused = w
        .client(&["demo", "--clean", "--dir"])
        .arg(&w.dir)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("supervising the demo"),
        "{}",
        text(&refused.stderr)
    );
    assert!(w.dir.exists());
    let int = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(int.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let clean = w
        .client(&["demo", "--clean", "--dir"])
        .arg(&w.dir)
        .output()
        .unwrap();
    let words = text(&clean.stdout);
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    assert!(
        words.contains("removed 7 containers"),
        "missing-env never had one: {words}"
    );
    assert!(words.contains("removed 7 containers"), "{words}");
    assert!(
        words.contains(&format!("removed image {}", w.image)),
        "{words}"
    );
    assert!(words.contains("removed folder"), "{words}");
    assert!(!words.contains("CleanReport"), "{words}");
    assert!(!w.dir.exists());
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label=io.drover.fleet={}", w.fleet))
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "{}", text(&left.stdout));
    assert!(!Path::new(&w.dir).exists());
}
