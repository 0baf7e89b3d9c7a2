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

/// What supervising left behind: the fleet's containers still there when drover stopped.
#[derive(Debug)]
pub struct Left {
    pub fleet: String,
    pub config: std::path::PathBuf,
    pub data: std::path::PathBuf,
    /// (slot, state) of every slot whose container is still there.
    pub running: Vec<(String, String)>,
}

impl Left {
    /// What is still running and how to supervise it again, open a shell in it or take it
    /// down, with `cmd` the command that runs drover here (see [`super::hint`]).
    pub fn summary(&self, cmd: &str) -> String {
        let cfg = self.config.display();
        let mut out = String::new();
        if self.running.is_empty() {
            out.push_str(&format!(
                "drover: stopped supervising fleet `{}`; none of its containers is left running.\n",
                self.fleet
            ));
        } else {
            let list: Vec<String> = self
                .running
                .iter()
                .map(|(slot, state)| format!("{slot} ({state})"))
                .collect();
            out.push_str(&format!(
                "drover: stopped supervising fleet `{}`; its containers keep running: {}\n",
                self.fleet,
                list.join(", ")
            ));
            out.push_str(&format!(
                "  supervise again:  {cmd} run --config {cfg}   (adopts them as they are)\n"
            ));
            out.push_str(&format!(
                "  a shell in one:   docker exec -it {} sh\n",
                crate::core::container_name(&self.fleet, &self.running[0].0)
            ));
        }
        out.push_str(&format!(
            "  take it down:     {cmd} down --config {cfg}   (--purge also deletes {})\n",
            self.data.display()
        ));
        out
    }
}

/// Supervises `cfg` until the operator quits the TUI, a signal arrives, or `limit` passes.
pub async fn supervise(
    cfg: Config,
    face: FaceChoice,
    opts: SupervisorOptions,
    limit: Option<std::time::Duration>,
) -> anyhow::Result<Left> {
    let ui_opts = match face {
        FaceChoice::Tui { read_only } => Some(ui::options(&cfg, read_only)?),
        FaceChoice::Headless => None,
    };
    let fleet = cfg.file.fleet.name.clone();
    let data = cfg.data_dir.clone();
    let cfg_path = cfg.path.clone();
    let stop_agents = opts.stop_agents;
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
    let last = handle.snapshot.borrow().clone();
    handle.shutdown.cancel();
    task.await.context("the supervisor task failed")?;
    for t in services {
        let _ = t.await;
    }
    if let Some(t) = telemetry {
        t.shutdown().await;
    }
    Ok(Left {
        fleet,
        config: cfg_path,
        data,
        running: if stop_agents {
            Vec::new()
        } else {
            last.slots
                .iter()
                .filter(|s| s.container_id.is_some())
                .map(|s| (s.slot.clone(), s.state.label().to_string()))
                .collect()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quitting_names_what_still_runs_and_how_to_take_it_down() {
        let left = Left {
            fleet: "acme".into(),
            config: "/srv/acme/drover.toml".into(),
            data: "/srv/acme/data".into(),
            running: vec![
                ("worker-1".into(), "running".into()),
                ("worker-2".into(), "paused".into()),
            ],
        };
        let text = left.summary("cargo run --release --locked --");
        assert!(
            text.contains("its containers keep running: worker-1 (running), worker-2 (paused)"),
            "{text}"
        );
        assert!(
            text.contains("cargo run --release --locked -- run --config /srv/acme/drover.toml"),
            "{text}"
        );
        assert!(
            text.contains("docker exec -it drover-acme-worker-1 sh"),
            "{text}"
        );
        assert!(
            text.contains("cargo run --release --locked -- down --config /srv/acme/drover.toml   (--purge also deletes /srv/acme/data)"),
            "{text}"
        );
        let none = Left {
            running: Vec::new(),
            ..left
        };
        let text = none.summary("drover");
        assert!(
            text.contains("none of its containers is left running"),
            "{text}"
        );
        assert!(text.contains("drover down --config"), "{text}");
    }
}
