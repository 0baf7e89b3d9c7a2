//! The TUI driven through tmux as a person would: start drover on a real small fleet, read the
//! screen with `capture-pane`, filter with `/`, pause a slot with `p` (and see Docker pause it),
//! open the logs, switch detail tabs, shrink the terminal to 80x24, resume through the `:`
//! palette (and see Docker run it again), quit with `q`; then under `NO_COLOR` no colour is sent.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::Tmux;

#[test]
fn operator_filters_pauses_and_quits_through_the_tui() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("tui");
    let _guard = common::FleetGuard(fleet.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("drover.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[fleet]
name = "{fleet}"
data_dir = "data"

[[roles]]
name = "worker"
replicas = 2
image = "{image}"
command = ["sh", "-c", "while true; do echo working on the login page; sleep 1; done"]

[[roles]]
name = "crasher"
image = "{image}"
command = ["sh", "-c", "echo 'ERROR: Missing environment variable: OPENAI_API_KEY' >&2; exit 1"]
"#,
            image = common::TEST_IMAGE
        ),
    )
    .unwrap();
    let cmd = format!(
        "{} run --config {}",
        env!("CARGO_BIN_EXE_drover"),
        config.display()
    );
    let tmux = Tmux::start(&fleet, &cmd);

    tmux.wait_for("two running workers and a blocked crasher", |s| {
        s.matches("● running").count() >= 2 && s.contains("⊘ blocked")
    });

    // Filter to one slot.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "worker-2"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the filter to leave only worker-2", |s| {
        s.contains("worker-2") && !s.contains("worker-1") && !s.contains("crasher-1 ")
    });
    assert!(screen.contains("● running"), "{screen}");

    // Pause it: the screen says so and Docker really paused the container.
    tmux.keys(&["p"]);
    tmux.wait_for("worker-2 paused", |s| s.contains("paused"));
    assert_eq!(
        common::container_status(&format!("drover-{fleet}-worker-2")),
        "paused"
    );

    // The logs pane shows what the agent printed.
    tmux.wait_for("the agent's output in the logs pane", |s| {
        s.contains("working on the login page")
    });

    // The next detail tab is the test runs.
    tmux.keys(&["]"]);
    tmux.wait_for("the Tests tab", |s| s.contains("[Tests]"));

    // Shrinking the terminal to 80x24 keeps the fleet readable and nothing wider than it.
    assert!(
        Command::new("tmux")
            .args(["resize-window", "-t", &tmux.session, "-x", "80", "-y", "24"])
            .status()
            .unwrap()
            .success()
    );
    let screen = tmux.wait_for("the fleet redrawn at 80x24", |s| {
        s.lines().count() <= 24 && s.contains("worker-2") && s.contains("paused")
    });
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");

    // Resume through the command palette: Docker runs the container again.
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "resume worker-2"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("worker-2 running again", |s| {
        s.contains("● running") && !s.contains("‖ paused")
    });
    assert_eq!(
        common::container_status(&format!("drover-{fleet}-worker-2")),
        "running"
    );

    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "drover did not quit on q:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(Path::new(&dir.path().join("data/drover.db")).exists());
    drop(tmux);

    // NO_COLOR: the same screen, with no colour escape at all (symbols and words remain).
    let mono = Tmux::start(&format!("{fleet}-mono"), &format!("env NO_COLOR=1 {cmd}"));
    mono.wait_for("the fleet under NO_COLOR", |s| s.contains("● running"));
    let out = Command::new("tmux")
        .args(["capture-pane", "-e", "-p", "-t", &mono.session])
        .output()
        .unwrap();
    let styled = String::from_utf8_lossy(&out.stdout);
    // Every SGR parameter: colours are 30-38, 40-48, 90-97, 100-107 (39/49 only reset).
    for seq in styled.split("\x1b[").skip(1) {
        let Some(end) = seq.find(|c: char| c.is_ascii_alphabetic()) else {
            continue;
        };
        if !seq[end..].starts_with('m') {
            continue;
        }
        for p in seq[..end].split(';').filter_map(|p| p.parse::<u32>().ok()) {
            let colour = matches!(p, 30..=38 | 40..=48 | 90..=97 | 100..=107);
            assert!(!colour, "colour parameter {p} under NO_COLOR:\n{styled:?}");
        }
    }
    mono.keys(&["q"]);
}
