//! `drover bench fleet`: the real supervisor (in this process) over N real containers of the
//! demo image, each printing a line a second. Per N it reports drover's CPU and RSS while the
//! fleet idles, dockerd's CPU with and without drover watching, and — with one container
//! SIGKILLed every second — how long a death takes to show in the published snapshot.
//! `--soak` runs the churn for a long time and samples memory, open files, threads and tasks.
//!
//! Invariants: every container it creates carries a bench-only fleet label and is removed at
//! the end, whatever happened; figures are printed, never judged (no pass/fail here).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::watch;

use super::procfs::{self, CpuMeter, show_kib, show_percent};
use super::proxy::DockerProxy;
use crate::core::{SlotState, Snapshot};
use crate::supervisor::{self, SupervisorHandle, SupervisorOptions};
use drover_runtime::docker::Docker;

/// Image tag the benchmark builds (from this binary) and runs.
pub const BENCH_IMAGE: &str = "drover-bench:latest";

/// How long a killed container may take to show in a snapshot before it counts as missed.
const LATENCY_CAP: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct FleetBenchOptions {
    /// Fleet sizes to measure, in order.
    pub agents: Vec<u32>,
    /// Length of each measured window (idle, baseline, churn).
    pub window: Duration,
    /// Instead of the windows: churn this long at `agents[0]` and sample every `sample_every`.
    pub soak: Option<Duration>,
    pub sample_every: Duration,
    /// With `soak`: the SVG file the memory curve is drawn into.
    pub chart: Option<PathBuf>,
    /// Seconds between agent log lines (1 = a line a second).
    pub pace: f64,
    /// Instead of the windows: a peer TUI's binary name to measure side by side with drover
    /// (headless and TUI) over the same containers, at `agents[0]`.
    pub compare: Option<String>,
}

/// Runs the benchmark and prints its figures on stdout.
pub async fn run(opts: FleetBenchOptions) -> anyhow::Result<()> {
    let image = crate::demo::image::ensure_demo_image(BENCH_IMAGE).await?;
    println!(
        "image {} ({}); dockerd pid {}; {} cores; agents print a line every {:.1} s",
        image.tag,
        if image.built { "built" } else { "reused" },
        procfs::dockerd_pid().unwrap_or_else(|| "not visible".into()),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        opts.pace
    );
    let docker = Docker::connect(None).await?;
    if let Some(peer) = opts.compare.clone() {
        let n = opts.agents.first().copied().unwrap_or(50);
        let window = opts.window;
        return with_fleet(&docker, n, &opts, |b| async move {
            // Create the fleet, then leave it running with nothing watching it.
            let (handle, task) = b.start().await?;
            b.all_running(&handle).await?;
            stop(handle, task).await;
            println!("fleet {n} agents up; measuring each watcher alone");
            super::compare::compare(&b.config, &peer, window).await
        })
        .await;
    }
    if let Some(soak) = opts.soak {
        let n = opts.agents.first().copied().unwrap_or(50);
        let (every, chart) = (opts.sample_every, opts.chart.clone());
        return with_fleet(&docker, n, &opts, |h| soak_run(h, soak, every, chart)).await;
    }
    for &n in &opts.agents {
        with_fleet(&docker, n, &opts, |h| scale_run(h, n, opts.window)).await?;
    }
    Ok(())
}

/// A started fleet of `n` agents; always cleaned up.
async fn with_fleet<F, Fut>(
    docker: &Docker,
    n: u32,
    opts: &FleetBenchOptions,
    body: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Bench) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let dir = tempfile::tempdir().context("creating the bench folder")?;
    let fleet = format!("drover-bench-{}-{n}", std::process::id());
    // drover reaches Docker through a counting proxy, for the API requests per minute.
    let proxy = DockerProxy::start(&dir.path().join("docker.sock"), Path::new(&docker_socket()))
        .context("starting the Docker proxy")?;
    let config_path = dir.path().join("drover.toml");
    std::fs::write(
        &config_path,
        config_text(&fleet, dir.path(), n, opts.pace, &proxy.host()),
    )?;
    let bench = Bench {
        docker: docker.clone(),
        config: config_path,
        fleet: fleet.clone(),
        n,
        proxy,
    };
    let result = body(bench).await;
    let left = docker.list_fleet(&fleet).await.unwrap_or_default();
    for c in &left {
        let _ = docker.remove(&c.id).await;
    }
    result
}

/// The local daemon socket the proxy forwards to (`DOCKER_HOST` when it names a unix socket).
fn docker_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".into())
}

fn config_text(fleet: &str, dir: &Path, n: u32, pace: f64, host: &str) -> String {
    format!(
        r#"[fleet]
name = "{fleet}"
data_dir = "{data}"
docker_host = "{host}"

[[roles]]
name = "agent"
replicas = {n}
image = "{BENCH_IMAGE}"
command = ["drover", "agent-sim", "--behaviour", "chatter", "--pace", "{pace}"]
# A SIGKILL every few seconds is the benchmark's doing, not a failing agent: restart at once,
# never block.
[roles.restart]
initial_backoff = "0s"
max_backoff = "1s"
reset_after = "1s"
max_restarts = 1000000
[roles.crash_loop]
min_uptime = "1s"
identical_failures_to_block = 1000000
[roles.limits]
memory = "32m"
cpus = 0.1
pids = 16
"#,
        data = dir.join("data").display(),
    )
}

struct Bench {
    docker: Docker,
    config: PathBuf,
    fleet: String,
    n: u32,
    proxy: DockerProxy,
}

impl Bench {
    async fn start(&self) -> anyhow::Result<(SupervisorHandle, tokio::task::JoinHandle<()>)> {
        let cfg = crate::config::load(&self.config)?;
        let (handle, task) = supervisor::start(cfg, SupervisorOptions::default()).await?;
        Ok((handle, task))
    }

    /// Waits until every slot runs (container creation at scale takes a while).
    async fn all_running(&self, handle: &SupervisorHandle) -> anyhow::Result<Duration> {
        let t0 = Instant::now();
        let mut rx = handle.snapshot.clone();
        let n = self.n as usize;
        let wait = async {
            loop {
                let snap = Arc::clone(&rx.borrow_and_update());
                if running(&snap) == n {
                    return Ok(());
                }
                rx.changed().await?;
            }
        };
        tokio::time::timeout(Duration::from_secs(60 + 3 * u64::from(self.n)), wait)
            .await
            .context("the fleet did not come up in time")?
            .map_err(|e: watch::error::RecvError| anyhow::anyhow!("supervisor gone: {e}"))?;
        Ok(t0.elapsed())
    }
}

fn running(snap: &Snapshot) -> usize {
    snap.slots
        .iter()
        .filter(|s| s.state == SlotState::Running && s.container_id.is_some())
        .count()
}

async fn stop(handle: SupervisorHandle, task: tokio::task::JoinHandle<()>) {
    handle.shutdown.cancel();
    let _ = task.await;
}

/// Idle window, the same window without drover, then the churn window.
async fn scale_run(b: Bench, n: u32, window: Duration) -> anyhow::Result<()> {
    let dockerd = procfs::dockerd_pid();
    let (handle, task) = b.start().await?;
    let up = b.all_running(&handle).await?;
    // Let the first-start burst settle before measuring idle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let me = CpuMeter::start("self");
    let daemon = dockerd.as_deref().map(CpuMeter::start);
    let requests = b.proxy.requests();
    tokio::time::sleep(window).await;
    let idle_requests = b.proxy.requests() - requests;
    let idle_cpu = me.percent();
    let idle_dockerd = daemon.as_ref().and_then(CpuMeter::percent);
    let idle_rss = procfs::rss_kib("self");
    stop(handle, task).await;

    // The same fleet, left running, without drover watching.
    let daemon = dockerd.as_deref().map(CpuMeter::start);
    tokio::time::sleep(window).await;
    let alone_dockerd = daemon.as_ref().and_then(CpuMeter::percent);

    let (handle, task) = b.start().await?;
    b.all_running(&handle).await?;
    let me = CpuMeter::start("self");
    let daemon = dockerd.as_deref().map(CpuMeter::start);
    let churn = churn(&b, &handle, window).await;
    let churn_cpu = me.percent();
    let churn_dockerd = daemon.as_ref().and_then(CpuMeter::percent);
    let churn_rss = procfs::rss_kib("self");
    stop(handle, task).await;
    let churn = churn?;

    println!(
        "fleet {n:>3} agents: all running after {up:.1?}\n\
         \x20 idle  {window:?}: drover cpu {} rss {}; dockerd cpu {} (without drover {}); \
         {:.1} Docker API requests/min\n\
         \x20 churn {window:?}: {} kills; drover cpu {} rss {}; dockerd cpu {}\n\
         \x20 death → snapshot latency p50 {} p99 {} max {} ({} of {} seen within {LATENCY_CAP:?})\n\
         \x20   of which after Docker's die event (drover's part): p50 {} p99 {} max {}",
        show_percent(idle_cpu),
        show_kib(idle_rss),
        show_percent(idle_dockerd),
        show_percent(alone_dockerd),
        idle_requests as f64 * 60.0 / window.as_secs_f64(),
        churn.kills,
        show_percent(churn_cpu),
        show_kib(churn_rss),
        show_percent(churn_dockerd),
        ms(churn.quantile(0.50)),
        ms(churn.quantile(0.99)),
        ms(churn.quantile(1.0)),
        churn.latencies.len(),
        churn.kills,
        ms(quantile(&churn.after_event, 0.50)),
        ms(quantile(&churn.after_event, 0.99)),
        ms(quantile(&churn.after_event, 1.0)),
    );
    Ok(())
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "n/a".into(),
        |d| format!("{:.0} ms", d.as_secs_f64() * 1e3),
    )
}

struct Churn {
    kills: usize,
    /// From the kill request to the snapshot that shows the death (Docker's part included).
    latencies: Vec<Duration>,
    /// From Docker's `die` event (its own timestamp) to that snapshot: drover's part.
    after_event: Vec<Duration>,
}

fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied()
}

impl Churn {
    fn quantile(&self, q: f64) -> Option<Duration> {
        quantile(&self.latencies, q)
    }
}

type DeathTimes = Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>;

/// Docker's `die` timestamps (Unix ns) by container id, read from the engine's own event
/// stream beside drover's, so a death's latency can be split into Docker's and drover's part.
fn watch_deaths(docker: &Docker, fleet: &str) -> (DeathTimes, tokio::task::JoinHandle<()>) {
    let seen = DeathTimes::default();
    let mut events = Box::pin(docker.fleet_events(fleet, None));
    let into = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        while let Some(Ok(ev)) = futures::StreamExt::next(&mut events).await {
            if matches!(ev.action, drover_runtime::ContainerAction::Die { .. }) {
                into.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(ev.id, ev.time_nano);
            }
        }
    });
    (seen, task)
}

fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// SIGKILLs one running container a second (round robin over slots) for `window`, and times
/// each death until a snapshot no longer shows that container running.
async fn churn(b: &Bench, handle: &SupervisorHandle, window: Duration) -> anyhow::Result<Churn> {
    let end = Instant::now() + window;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut next = 0usize;
    let mut waits = tokio::task::JoinSet::new();
    let mut kills = 0usize;
    let (deaths, death_watch) = watch_deaths(&b.docker, &b.fleet);
    while Instant::now() < end {
        tick.tick().await;
        let snap = Arc::clone(&handle.snapshot.borrow());
        let Some((slot, id)) = (0..snap.slots.len()).find_map(|k| {
            let s = &snap.slots[(next + k) % snap.slots.len()];
            (s.state == SlotState::Running)
                .then(|| Some((s.slot.clone(), s.container_id.clone()?)))
                .flatten()
        }) else {
            continue;
        };
        next = snap.slots.iter().position(|s| s.slot == slot).unwrap_or(0) + 1;
        let mut rx = handle.snapshot.clone();
        rx.mark_unchanged();
        // The watcher runs before and during the kill request: Docker answers a SIGKILL only
        // after the container is gone, and a snapshot published meanwhile must be timed when
        // it is published, not when the request returns.
        let t0 = Instant::now();
        let target = id.clone();
        let watcher = waits.spawn(async move {
            let seen = async {
                loop {
                    let gone = {
                        let snap = rx.borrow_and_update();
                        snap.slot(&slot).is_none_or(|s| {
                            s.container_id.as_deref() != Some(target.as_str())
                                || s.state != SlotState::Running
                        })
                    };
                    if gone {
                        return Some((t0.elapsed(), unix_nanos(), target.clone()));
                    }
                    rx.changed().await.ok()?;
                }
            };
            tokio::time::timeout(LATENCY_CAP, seen).await.ok().flatten()
        });
        if b.docker.kill(&id).await.is_err() {
            watcher.abort();
            continue;
        }
        kills += 1;
    }
    let mut latencies = Vec::new();
    let mut seen_at = Vec::new();
    while let Some(r) = waits.join_next().await {
        if let Ok(Some((d, at, id))) = r {
            latencies.push(d);
            seen_at.push((at, id));
        }
    }
    latencies.sort();
    death_watch.abort();
    let mut after_event: Vec<Duration> = {
        let deaths = deaths.lock().unwrap_or_else(|e| e.into_inner());
        seen_at
            .iter()
            .filter_map(|(at, id)| {
                let died = deaths.get(id)?;
                Some(Duration::from_nanos(u64::try_from(at - died).unwrap_or(0)))
            })
            .collect()
    };
    after_event.sort();
    if kills == 0 {
        bail!("no container of fleet {} could be killed", b.fleet);
    }
    Ok(Churn {
        kills,
        latencies,
        after_event,
    })
}

/// How far resident memory may move after warm-up: flat is within ± this.
const SOAK_RSS_BAND_MIB: f64 = 5.0;
/// The end of warm-up: rings, caches and the allocator's pools have found their size.
const SOAK_WARM_UP_MINUTES: f64 = 5.0;

/// One soak sample of this process.
struct SoakSample {
    minute: f64,
    rss_kib: u64,
    fds: u64,
    threads: u64,
    tasks: usize,
}

/// Churn for `soak` with the default log rings, sampling this process every `every`; prints
/// the samples and how far RSS moved from the end of warm-up to the end, and with `chart`
/// draws the curve.
async fn soak_run(
    b: Bench,
    soak: Duration,
    every: Duration,
    chart: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (handle, task) = b.start().await?;
    b.all_running(&handle).await?;
    println!(
        "soak: {} agents, one SIGKILL a second, {soak:?}; sample every {every:?}; MALLOC_ARENA_MAX={}",
        b.n,
        std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "unset".into())
    );
    println!("  minute   rss        fds   threads  tasks  kills  latency p99");
    let started = Instant::now();
    let mut samples: Vec<SoakSample> = Vec::new();
    let mut total_kills = 0usize;
    while started.elapsed() < soak {
        let left = soak.saturating_sub(started.elapsed()).min(every);
        let c = churn(&b, &handle, left).await?;
        total_kills += c.kills;
        let minute = started.elapsed().as_secs_f64() / 60.0;
        let rss = procfs::rss_kib("self").unwrap_or(0);
        let fds = procfs::open_fds("self").unwrap_or(0);
        let threads = procfs::threads("self").unwrap_or(0);
        let tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        println!(
            "  {:>6.1}   {:<10} {:<5} {:<8} {:<6} {:<6} {}",
            minute,
            show_kib(Some(rss)),
            fds,
            threads,
            tasks,
            c.kills,
            ms(c.quantile(0.99)),
        );
        samples.push(SoakSample {
            minute,
            rss_kib: rss,
            fds,
            threads,
            tasks,
        });
    }
    stop(handle, task).await;
    // Growth is judged from the first sample after warm-up (the second sample in a short run).
    let first = samples
        .iter()
        .find(|s| s.minute >= SOAK_WARM_UP_MINUTES)
        .or(samples.get(1))
        .or(samples.first());
    if let (Some(first), Some(last)) = (first, samples.last()) {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let (lo, hi) = samples
            .iter()
            .filter(|s| s.minute >= first.minute)
            .map(|s| mib(s.rss_kib))
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(r), hi.max(r)));
        let moved = (hi - mib(first.rss_kib)).max(mib(first.rss_kib) - lo);
        println!(
            "soak result: {total_kills} kills; rss minute {:.0} → {:.0}: {} → {} ({:+.1} MiB, range {lo:.1}–{hi:.1}; flat within ±{SOAK_RSS_BAND_MIB} MiB: {}), fds {} → {}, threads {} → {}, tasks {} → {}",
            first.minute,
            last.minute,
            show_kib(Some(first.rss_kib)),
            show_kib(Some(last.rss_kib)),
            mib(last.rss_kib) - mib(first.rss_kib),
            if moved <= SOAK_RSS_BAND_MIB {
                "met"
            } else {
                "MISSED"
            },
            first.fds,
            last.fds,
            first.threads,
            last.threads,
            first.tasks,
            last.tasks
        );
        if let Some(path) = chart {
            let points: Vec<(f64, f64)> =
                samples.iter().map(|s| (s.minute, mib(s.rss_kib))).collect();
            let title = format!(
                "drover soak: {} agents, a SIGKILL a second, resident memory",
                b.n
            );
            let svg = super::chart::rss_svg(&title, &points, first.minute, SOAK_RSS_BAND_MIB);
            std::fs::write(&path, svg)
                .with_context(|| format!("writing the chart {}", path.display()))?;
            println!("chart written to {}", path.display());
        }
    }
    Ok(())
}
