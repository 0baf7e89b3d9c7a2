//! One fleet over two real Docker Engines: the machine's own and a second `dockerd` this test
//! starts (its own data-root, exec-root, pidfile, socket, an empty config file and its own
//! bridge — never `--bridge none`, which would delete the machine's docker0), loaded with the
//! test image through `docker save | docker -H … load`. Stopping the second engine must mark
//! its slots `host down` within 10 s while the first host's agents carry on; starting it again
//! must adopt its containers without a duplicate. The engine is stopped by its pid and
//! everything it made is removed, also when the test fails.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover::core::{SlotState, Snapshot};
use drover::supervisor::{self, SupervisorOptions};

/// A second Docker Engine owned by the test.
struct SecondEngine {
    dir: tempfile::TempDir,
    bridge: String,
    daemon: Option<Child>,
}

impl SecondEngine {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Creates the bridge and starts the engine; the image comes from the machine's engine.
    fn start_new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dv-hosts-engine")
            .tempdir()
            .expect("engine dir");
        // Interface names are at most 15 bytes; the subnet is this process's own.
        let pid = std::process::id();
        let bridge = format!("dvh{}", pid % 1_000_000);
        let subnet = format!("10.213.{}.1/24", 16 + pid % 200);
        let ip = |args: &[&str]| {
            let ok = Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?} failed (the second engine needs root)");
        };
        let mut engine = SecondEngine {
            dir,
            bridge: bridge.clone(),
            daemon: None,
        };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &subnet, "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        std::fs::write(engine.dir.path().join("daemon.json"), "{}").unwrap();
        engine.start();
        let mut save = Command::new("docker")
            .args(["save", common::TEST_IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save");
        let load = Command::new("docker")
            .args(["-H", &engine.host(), "load"])
            .stdin(save.stdout.take().expect("save stdout"))
            .stdout(Stdio::null())
            .status()
            .expect("docker load");
        assert!(
            save.wait().is_ok_and(|s| s.success()) && load.success(),
            "loading the test image into the second engine failed"
        );
        engine
    }

    /// Starts (or restarts) the daemon on the same folders, and waits until it answers.
    fn start(&mut self) {
        let d = self.dir.path();
        let storage = Command::new("docker")
            .args(["info", "--format", "{{.Driver}}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(self.host())
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .args(["--bridge", &self.bridge])
            // The machine's firewall rules are not this test's to change.
            .args(["--iptables=false", "--ip-masq=false"]);
        if !storage.is_empty() {
            cmd.args(["--storage-driver", &storage]);
        }
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd (the second engine needs root)");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = Command::new("docker")
                .args([
                    "-H",
                    &self.host(),
                    "version",
                    "--format",
                    "{{.Server.Version}}",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the second engine did not answer within 30 s: {}",
                std::fs::read_to_string(d.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the daemon by its pid (SIGTERM, as a host shutting down) and waits for it.
    fn stop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Names of the fleet's containers on this engine.
    fn containers(&self, fleet: &str) -> Vec<String> {
        docker_names(Some(&self.host()), fleet)
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            // Containers first, so the engine leaves no mounts behind.
            let ids = Command::new("docker")
                .args(["-H", &self.host(), "ps", "-aq"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["-H", &self.host(), "rm", "-f"])
                    .args(&ids)
                    .stdout(Stdio::null())
                    .status();
            }
        }
        self.stop();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        // Mounts a killed engine left would make the folder undeletable.
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
            if Path::new(m).starts_with(self.dir.path()) {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
        }
    }
}

fn docker_names(host: Option<&str>, fleet: &str) -> Vec<String> {
    let mut cmd = Command::new("docker");
    if let Some(h) = host {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=io.drover.fleet={fleet}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker ps");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn running(s: &Snapshot, slot: &str) -> bool {
    s.slot(slot).is_some_and(|v| {
        v.state == SlotState::Running && v.container_id.is_some() && v.host_down_since.is_none()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_stopped_is_host_down_and_adopted_when_it_returns() {
    common::ensure_test_image();
    let fleet = common::unique_fleet("dv-hosts");
    let _guard = common::FleetGuard(fleet.clone());
    let mut second = SecondEngine::start_new();
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[hosts]]
name = "local"
docker_host = "unix:///var/run/docker.sock"

[[hosts]]
name = "second"
docker_host = "{second}"
request_timeout = "5s"

[[roles]]
name = "worker"
replicas = 2
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do echo working; sleep 1; done"]
[roles.restart]
initial_backoff = "0s"
"#,
        data = data.path().display(),
        second = second.host(),
        image = common::TEST_IMAGE,
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 7,
        ..Default::default()
    };
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();
    let snap = common::wait_for_snapshot(&handle, "both workers running", 60, |s| {
        running(s, "worker-1") && running(s, "worker-2")
    })
    .await;
    let w1 = snap.slot("worker-1").unwrap().clone();
    let w2 = snap.slot("worker-2").unwrap().clone();
    assert_eq!(w1.host.as_deref(), Some("local"));
    assert_eq!(w2.host.as_deref(), Some("second"));
    let name = |slot: &str| format!("drover-{fleet}-{slot}");
    assert_eq!(docker_names(None, &fleet), [name("worker-1")]);
    assert_eq!(second.containers(&fleet), [name("worker-2")]);

    // The second engine goes away: noticed within 10 s, the first host carries on.
    let stopped = Instant::now();
    second.stop();
    let snap = common::wait_for_snapshot(&handle, "worker-2 host down", 30, |s| {
        s.slot("worker-2")
            .is_some_and(|v| v.host_down_since.is_some())
    })
    .await;
    let noticed = stopped.elapsed();
    eprintln!("host down noticed after {noticed:?}");
    assert!(noticed < Duration::from_secs(10), "took {noticed:?}");
    let v1 = snap.slot("worker-1").unwrap();
    assert_eq!(v1.state, SlotState::Running);
    assert_eq!(v1.container_id, w1.container_id, "worker-1 untouched");
    assert!(
        snap.slot("worker-2")
            .unwrap()
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("host down"),
        "{:?}",
        snap.slot("worker-2")
    );
    assert_eq!(
        docker_names(None, &fleet),
        [name("worker-1")],
        "nothing moved to local"
    );

    // Back: its container is adopted (and restarted, as the engine stopped it), never doubled.
    let restarted = Instant::now();
    second.start();
    let snap = common::wait_for_snapshot(&handle, "worker-2 running again", 60, |s| {
        running(s, "worker-1") && running(s, "worker-2")
    })
    .await;
    eprintln!(
        "host back and its slot running after {:?}",
        restarted.elapsed()
    );
    assert_eq!(
        second.containers(&fleet),
        [name("worker-2")],
        "no duplicate"
    );
    assert_eq!(docker_names(None, &fleet), [name("worker-1")]);
    assert_eq!(
        snap.slot("worker-1").unwrap().container_id,
        w1.container_id,
        "worker-1 ran on throughout"
    );
    let id2 = snap.slot("worker-2").unwrap().container_id.clone().unwrap();
    assert!(id2.starts_with("second/"), "{id2}");

    handle.shutdown.cancel();
    task.await.unwrap();
}

/// The figures of the README's "Scaling out": 2 hosts × N agents printing a line a second
/// (`DROVER_HOSTS_AGENTS`, default 10 per host) over a `WINDOW` of idling: drover's CPU and RSS
/// (this process), Docker API requests a minute per host (counted by a proxy in front of each
/// engine), death → snapshot latency, and how long a stopped host takes to be noticed and its
/// slots to run again when it returns. Run with
/// `cargo test --test runtime docker_hosts -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: a minute or more, run by hand for the README figures"]
async fn figures_for_two_hosts() {
    use drover::bench::procfs::{self, CpuMeter};
    use drover::bench::proxy::DockerProxy;

    common::ensure_test_image();
    let per_host: u32 = std::env::var("DROVER_HOSTS_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let window = Duration::from_secs(
        std::env::var("DROVER_HOSTS_WINDOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    );
    let fleet = common::unique_fleet("dv-hosts-fig");
    let _guard = common::FleetGuard(fleet.clone());
    let mut second = SecondEngine::start_new();
    let dir = tempfile::tempdir().unwrap();
    let local_proxy = DockerProxy::start(
        &dir.path().join("local.sock"),
        Path::new("/var/run/docker.sock"),
    )
    .unwrap();
    let second_proxy =
        DockerProxy::start(&dir.path().join("second.sock"), &second.socket()).unwrap();
    let text = format!(
        r#"
[fleet]
name = "{fleet}"
data_dir = "{data}"

[[hosts]]
name = "local"
docker_host = "{local}"

[[hosts]]
name = "second"
docker_host = "{second}"
request_timeout = "5s"

[[roles]]
name = "worker"
replicas = {replicas}
image = "{image}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do echo working; sleep 1; done"]
[roles.limits]
memory = "64m"
[roles.restart]
initial_backoff = "0s"
"#,
        data = dir.path().join("data").display(),
        local = local_proxy.host(),
        second = second_proxy.host(),
        replicas = per_host * 2,
        image = common::TEST_IMAGE,
    );
    let cfg = drover::config::parse(&text, Path::new("fleet.toml")).unwrap();
    let opts = SupervisorOptions {
        env: Arc::new(|_| None),
        seed: 7,
        ..Default::default()
    };
    let began = Instant::now();
    let (handle, task) = supervisor::start(cfg, opts).await.unwrap();
    let slots: Vec<String> = (1..=per_host * 2).map(|n| format!("worker-{n}")).collect();
    let all_running = |s: &Snapshot| slots.iter().all(|n| running(s, n));
    common::wait_for_snapshot(&handle, "every worker running", 180, all_running).await;
    println!(
        "2 hosts × {per_host} agents running after {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let me = std::process::id().to_string();
    let (l0, s0) = (local_proxy.requests(), second_proxy.requests());
    let cpu = CpuMeter::start(&me);
    tokio::time::sleep(window).await;
    let minutes = window.as_secs_f64() / 60.0;
    println!(
        "idle {}s: drover CPU {} RSS {}; API requests/min local {:.0}, second {:.0}",
        window.as_secs(),
        procfs::show_percent(cpu.percent()),
        procfs::show_kib(procfs::rss_kib(&me)),
        (local_proxy.requests() - l0) as f64 / minutes,
        (second_proxy.requests() - s0) as f64 / minutes,
    );

    // Death → snapshot: kill a container on each host in turn, time until the death shows.
    let mut lat = Vec::new();
    for (i, slot) in slots.iter().take(10).enumerate() {
        let host = if i % 2 == 0 {
            None
        } else {
            Some(second.host())
        };
        let before = handle
            .snapshot
            .borrow()
            .slot(slot)
            .map(|v| v.starts)
            .unwrap_or(0);
        let name = format!("drover-{fleet}-{slot}");
        let killed = Instant::now();
        let mut kill = Command::new("docker");
        if let Some(h) = &host {
            kill.args(["-H", h]);
        }
        assert!(
            kill.args(["kill", &name])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success()
        );
        common::wait_for_snapshot(&handle, "the death shown", 30, |s| {
            s.slot(slot).is_some_and(|v| {
                v.last_exit
                    .as_ref()
                    .is_some_and(|e| e.at >= s.at.saturating_sub(30_000))
                    && (v.state != SlotState::Running || v.starts > before)
            })
        })
        .await;
        lat.push(killed.elapsed());
    }
    lat.sort();
    println!(
        "death → snapshot over {} kills: median {:?}, max {:?}",
        lat.len(),
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    common::wait_for_snapshot(&handle, "every worker running", 120, all_running).await;

    let stopped = Instant::now();
    second.stop();
    let on_second: Vec<String> = slots.iter().skip(1).step_by(2).cloned().collect();
    common::wait_for_snapshot(&handle, "second's slots host down", 30, |s| {
        on_second
            .iter()
            .all(|n| s.slot(n).is_some_and(|v| v.host_down_since.is_some()))
    })
    .await;
    let noticed = stopped.elapsed();
    let restarted = Instant::now();
    second.start();
    common::wait_for_snapshot(&handle, "every worker running again", 180, all_running).await;
    println!(
        "host stopped → its {} slots host down: {:.1} s; engine back → all running: {:.1} s",
        on_second.len(),
        noticed.as_secs_f64(),
        restarted.elapsed().as_secs_f64()
    );
    assert!(noticed < Duration::from_secs(10));
    assert_eq!(
        second.containers(&fleet).len(),
        per_host as usize,
        "no duplicate"
    );
    handle.shutdown.cancel();
    task.await.unwrap();
}
