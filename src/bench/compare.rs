//! `drover bench fleet --compare oxker`: drover and a peer container TUI side by side over the
//! same running containers. The fleet is created once, then each watcher runs alone as its own
//! process — drover headless (adopting the fleet), drover's TUI and the peer, each TUI in a
//! 200x50 tmux pane — and its own CPU, RSS and the extra CPU it costs dockerd are measured
//! against a window in which nothing watches.
//!
//! Invariants: figures are of the watcher's own process (never the bench's); each watcher is
//! stopped before the next starts; the fleet is removed at the end by the caller's guard.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::procfs::{self, CpuMeter, show_kib, show_percent};

/// One measured window of one watcher.
struct Row {
    name: String,
    cpu: Option<f64>,
    rss_kib: Option<u64>,
    dockerd: Option<f64>,
}

/// Settling time before a window: adoption, first listing, first frames.
const WARM_UP: Duration = Duration::from_secs(10);

/// Measures the running fleet of `config` with nothing watching, then with each watcher.
pub async fn compare(config: &Path, peer: &str, window: Duration) -> anyhow::Result<()> {
    let peer_bin = which(peer).with_context(|| format!("`{peer}` is not on PATH"))?;
    if which("tmux").is_none() {
        bail!("the TUI comparison runs each TUI in a tmux pane: install tmux");
    }
    let dockerd = procfs::dockerd_pid();
    let drover = std::env::current_exe().context("locating drover's own binary")?;
    let drover = drover.display().to_string();
    let cfg = config.display().to_string();

    let meter = dockerd.as_deref().map(CpuMeter::start);
    tokio::time::sleep(window).await;
    let baseline = meter.as_ref().and_then(CpuMeter::percent);

    let mut rows = Vec::new();
    let headless = Command::new(&drover)
        .args(["--config", &cfg, "-q", "run", "--no-tui"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting drover headless")?;
    rows.push(
        measure_child(
            "drover headless (adopted)",
            headless,
            dockerd.as_deref(),
            window,
        )
        .await,
    );
    let tui = format!("{drover} --config {cfg} run");
    rows.push(measure_tmux("drover TUI", &tui, dockerd.as_deref(), window).await?);
    rows.push(measure_tmux(peer, &peer_bin, dockerd.as_deref(), window).await?);

    println!(
        "side by side over the same containers ({window:?} windows; dockerd alone {}):",
        show_percent(baseline)
    );
    println!(
        "  {:<28} {:>9} {:>11} {:>18}",
        "", "own CPU", "RSS", "extra dockerd CPU"
    );
    for r in &rows {
        let extra = match (r.dockerd, baseline) {
            (Some(d), Some(b)) => Some(d - b),
            _ => None,
        };
        println!(
            "  {:<28} {:>9} {:>11} {:>18}",
            r.name,
            show_percent(r.cpu),
            show_kib(r.rss_kib),
            extra.map_or_else(|| "n/a".into(), |e| format!("{e:+.1} %"))
        );
    }
    Ok(())
}

async fn measure_child(
    name: &str,
    mut child: Child,
    dockerd: Option<&str>,
    window: Duration,
) -> Row {
    let pid = child.id().to_string();
    let row = measure(name, &pid, dockerd, window).await;
    stop_pid(&pid);
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    row
}

/// Runs `command` in a detached 200x50 tmux session and measures the pane's process.
async fn measure_tmux(
    name: &str,
    command: &str,
    dockerd: Option<&str>,
    window: Duration,
) -> anyhow::Result<Row> {
    let session = format!("drover-bench-{}", std::process::id());
    let ok = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "200",
            "-y",
            "50",
            command,
        ])
        .env("TERM", "xterm-256color")
        .status()
        .context("starting tmux")?
        .success();
    if !ok {
        bail!("tmux could not start `{command}`");
    }
    let pid = Command::new("tmux")
        .args(["list-panes", "-t", &session, "-F", "#{pane_pid}"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty());
    let row = match pid {
        Some(pid) => measure(name, &pid, dockerd, window).await,
        None => Row {
            name: name.into(),
            cpu: None,
            rss_kib: None,
            dockerd: None,
        },
    };
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    // Let the TUI's process go before the next one starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(row)
}

async fn measure(name: &str, pid: &str, dockerd: Option<&str>, window: Duration) -> Row {
    tokio::time::sleep(WARM_UP).await;
    let me = CpuMeter::start(pid);
    let daemon = dockerd.map(CpuMeter::start);
    tokio::time::sleep(window).await;
    Row {
        name: name.into(),
        cpu: me.percent(),
        rss_kib: procfs::rss_kib(pid),
        dockerd: daemon.as_ref().and_then(CpuMeter::percent),
    }
}

fn stop_pid(pid: &str) {
    let _ = Command::new("kill").args(["-TERM", pid]).status();
}

fn which(bin: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}
