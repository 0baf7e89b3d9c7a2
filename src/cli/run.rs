//! `drover run`: supervise a fleet with the TUI in front, or headless until SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::logging::{self, LogFormat, LogSink};
use crate::supervisor::{self, SupervisorOptions};
use crate::ui;

/// How the supervised fleet is faced.
#[derive(Clone, Copy, Debug)]
pub enum FaceChoice {
    Tui { read_only: bool },
    Headless,
}

/// Installs logging for `face` (the TUI owns the terminal: file only).
pub fn init_logging(
    cfg: &Config,
    face: FaceChoice,
    format: LogFormat,
    level: &str,
) -> anyhow::Result<logging::LogGuard> {
    let sink = match face {
        FaceChoice::Tui { .. } => LogSink::FileOnly,
        FaceChoice::Headless => LogSink::FileAndStderr(format),
    };
    // Private before anything is written there; the notice waits for the logger.
    let notice = crate::store::private::prepare_data_dir(&cfg.data_dir)
        .with_context(|| format!("preparing the data dir {}", cfg.data_dir.display()))?;
    let guard = logging::init(Some(&cfg.data_dir), sink, level)
        .with_context(|| format!("creating the log folder in {}", cfg.data_dir.display()))?;
    if let Some(notice) = notice {
        tracing::warn!("{notice}");
    }
    Ok(guard)
}

/// Supervises `cfg` until the operator quits the TUI, a signal arrives, or `limit` passes.
pub async fn supervise(
    cfg: Config,
    face: FaceChoice,
    opts: SupervisorOptions,
    limit: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let ui_opts = match face {
        FaceChoice::Tui { read_only } => Some(ui::options(&cfg, read_only)?),
        FaceChoice::Headless => None,
    };
    let fleet = cfg.file.fleet.name.clone();
    let data = cfg.data_dir.clone();
    let hup = super::daemon::listen_for_sighup();
    // Before anything else: a second drover for this fleet stops here.
    let listener = super::daemon::bind_control(&cfg)?;
    // Lets `drover status` & co. find this daemon from any folder while it runs.
    let _registration = super::discover::register(&cfg.path, &fleet, listener.path());
    let mut opts = opts;
    let telemetry = crate::telemetry::Telemetry::start(&cfg.file.telemetry, &fleet)?;
    if let Some(t) = &telemetry {
        opts.observer = Some(Arc::clone(t) as Arc<dyn supervisor::FleetObserver>);
    }
    let (handle, task) = supervisor::start(cfg, opts)
        .await
        .context("starting the supervisor")?;
    if let Some(t) = &telemetry {
        t.watch_fleet(handle.snapshot.clone())?;
    }
    let services =
        match super::daemon::start(listener, &handle, handle.shutdown.child_token(), hup).await {
            Ok(s) => s,
            Err(e) => {
                handle.shutdown.cancel();
                let _ = task.await;
                return Err(e);
            }
        };
    tracing::info!(fleet, data = %data.display(), pid = std::process::id(), "supervising");
    let until_limit = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    match ui_opts {
        Some(ui_opts) => {
            tokio::select! {
                r = ui::run(ui::channels(&handle), ui_opts) => r?,
                _ = until_limit => {}
            }
        }
        None => {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                _ = until_limit => tracing::info!("time limit reached: shutting down"),
            }
        }
    }
    handle.shutdown.cancel();
    task.await.context("the supervisor task failed")?;
    for t in services {
        let _ = t.await;
    }
    if let Some(t) = telemetry {
        t.shutdown().await;
    }
    Ok(())
}
