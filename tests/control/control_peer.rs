//! The control socket's peer check uses the daemon's effective uid from the kernel, not the
//! owner of `/proc/self`: without a usable procfs (a sandbox, a mount namespace with another
//! or no `/proc`) that check refused the daemon's own user. Here the daemon runs as `nobody`
//! in a mount namespace whose `/proc` is an empty tmpfs, and a client as `nobody` must be
//! served; the audit log names the peer's user (`nobody`), not the client's `$USER`.
//!
//! Needs root (to switch uids with `setpriv` and mount with `unshare`); Docker is not needed
//! (the daemon runs with Docker unreachable, which the control socket does not depend on).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DROVER: &str = env!("CARGO_BIN_EXE_drover");
const NOBODY: u32 = 65534;

fn as_nobody(dir: &Path, hide_proc: bool, args: &[&str]) -> Command {
    let mut c = if hide_proc {
        let mut c = Command::new("unshare");
        c.args([
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs none /proc && exec \"$0\" \"$@\"",
            "setpriv",
        ]);
        c
    } else {
        Command::new("setpriv")
    };
    c.args(["--reuid", &NOBODY.to_string()]);
    c.args(["--regid", &NOBODY.to_string(), "--clear-groups", DROVER])
        .arg("--config")
        .arg(dir.join("drover.toml"))
        .args(args)
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("USER", "tester")
        .env(
            "DOCKER_HOST",
            format!("unix://{}", dir.join("no-docker.sock").display()),
        )
        .current_dir(dir)
        .stdin(Stdio::null());
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    as_nobody(dir, false, args).output().expect("run drover")
}

#[test]
fn peers_are_checked_against_the_effective_uid_and_named_by_it() {
    if drover::peer::current_uid() != 0 {
        eprintln!("skipped: switching uids needs root");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("drover-peer")
        .tempdir_in("/tmp")
        .unwrap();
    let fleet = format!("peer-{}", std::process::id());
    std::fs::write(
        dir.path().join("drover.toml"),
        format!(
            "[fleet]\nname = \"{fleet}\"\ndata_dir = \"data\"\n\n[[roles]]\nname = \"worker\"\nreplicas = 1\nimage = \"drover-test-never-pulled:none\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("run")).unwrap();
    for p in [dir.path().to_path_buf(), dir.path().join("run")] {
        std::os::unix::fs::chown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut daemon = as_nobody(dir.path(), true, &["run", "--no-tui"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the daemon");
    let deadline = Instant::now() + Duration::from_secs(20);
    let daemon_log = || std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
    loop {
        let out = run(dir.path(), &["status", "--json"]);
        if out.status.success() {
            break;
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            let _ = daemon.wait();
            panic!(
                "the daemon's own user was not served: {}\nlog:\n{}",
                String::from_utf8_lossy(&out.stderr),
                daemon_log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = run(
        dir.path(),
        &["ctl", "block", "worker-1", "--reason", "peer check"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = run(dir.path(), &["events", "--json", "--since", "10m"]);
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    let line = events
        .lines()
        .find(|l| l.contains("peer check"))
        .unwrap_or_else(|| panic!("no audit event: {events}"));
    assert!(
        line.contains("\"nobody\""),
        "who is not the peer's user: {line}"
    );
    assert!(!line.contains("tester"), "who came from $USER: {line}");
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
}
