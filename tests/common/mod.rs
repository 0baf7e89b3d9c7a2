//! Shared helpers for tests that need the real Docker Engine: a tiny local image (no registry
//! exists here) and unique fleet names so tests can run in parallel and clean up after
//! themselves.
#![allow(dead_code)]

pub mod tmux;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A busybox-only image built from Debian's `busybox-static` with `docker import`.
pub const TEST_IMAGE: &str = "drover-test-busybox:1";

/// Panics with a clear message unless the Docker daemon answers: Docker tests never pass
/// vacuously.
pub fn require_docker() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs a running Docker Engine (docker info failed); start dockerd or set DOCKER_HOST"
    );
}

/// Builds [`TEST_IMAGE`] once per test process if it is missing.
pub fn ensure_test_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        require_docker();
        let present = Command::new("docker")
            .args(["image", "inspect", TEST_IMAGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if present {
            return;
        }
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "the Docker tests build their image from /bin/busybox: apt-get install busybox-static"
        );
        let root = tempfile::tempdir().expect("tempdir");
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        std::fs::copy(busybox, bin.join("busybox")).unwrap();
        for applet in [
            "sh", "echo", "sleep", "cat", "yes", "seq", "printf", "kill", "true", "false", "head",
            "date", "env", "ls", "mkdir", "rm", "test", "id", "grep", "wc", "tr",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        // Same image id regardless of who builds it: the content is fixed.
        let mut tar = Command::new("tar")
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C"])
            .arg(root.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar");
        let status = Command::new("docker")
            .args(["import", "-c", "CMD [\"/bin/sh\"]", "-", TEST_IMAGE])
            .stdin(tar.stdout.take().expect("tar stdout"))
            .stdout(Stdio::null())
            .status()
            .expect("docker import");
        assert!(
            tar.wait().map(|s| s.success()).unwrap_or(false),
            "tar of the test rootfs failed"
        );
        assert!(status.success(), "docker import of the test image failed");
    });
    TEST_IMAGE
}

/// A fleet name unique to this test run, so parallel tests never see each other's containers.
pub fn unique_fleet(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}-{}",
        std::process::id(),
        prefix,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes every container of `fleet` (by label), whatever state it is in.
pub fn remove_fleet_containers(fleet: &str) {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.drover.fleet={fleet}"),
        ])
        .output()
        .expect("docker ps");
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&ids)
            .stdout(Stdio::null())
            .status();
    }
}

/// Removes the fleet's containers when dropped, also when the test panics.
pub struct FleetGuard(pub String);

impl Drop for FleetGuard {
    fn drop(&mut self) {
        remove_fleet_containers(&self.0);
    }
}

/// Waits (bounded by `secs`) until the supervisor publishes a snapshot satisfying `pred` and
/// returns it; panics with Docker's state, the slots and alerts on timeout.
pub async fn wait_for_snapshot(
    handle: &drover::supervisor::SupervisorHandle,
    what: &str,
    secs: u64,
    pred: impl Fn(&drover::core::Snapshot) -> bool,
) -> std::sync::Arc<drover::core::Snapshot> {
    let mut rx = handle.snapshot.clone();
    let waited = tokio::time::timeout(std::time::Duration::from_secs(secs), async {
        loop {
            let snap = rx.borrow_and_update().clone();
            if pred(&snap) {
                return snap;
            }
            rx.changed().await.expect("supervisor alive");
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        let snap = handle.snapshot.borrow().clone();
        panic!(
            "timed out waiting for {what}; docker {:?}, slots {:#?}\nalerts {:#?}",
            snap.docker, snap.slots, snap.alerts
        )
    })
}

/// `docker inspect`'s `State.Status` of a container (name or id): running, paused, exited, …
pub fn container_status(container: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Status}}", container])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes an image (by tag) when dropped, also when the test panics. Declare it before the
/// fleet's [`FleetGuard`], so the containers go first and the image is removed, not untagged.
pub struct ImageGuard(pub String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
