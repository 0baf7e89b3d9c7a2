//! What every supervising drover (TUI, headless, demo) runs beside the supervisor: the control
//! socket (which is also the one-daemon-per-fleet lock), the optional metrics endpoint and the
//! SIGHUP config reload.
//!
//! Invariant: the control listener is bound before the supervisor starts, so a second drover
//! for the same fleet refuses before it touches a container or the store.

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::control::transport::{ControlListener, socket_path};
use crate::control::{metrics, server};
use crate::supervisor::SupervisorHandle;

/// Where this fleet's control socket lives.
pub fn control_socket(cfg: &Config) -> std::path::PathBuf {
    socket_path(&cfg.file.fleet.name, &cfg.data_dir)
}

/// Takes the fleet's daemon lock and binds its control socket.
pub fn bind_control(cfg: &Config) -> anyhow::Result<ControlListener> {
    let path = control_socket(cfg);
    ControlListener::bind(&path, &cfg.data_dir).map_err(anyhow::Error::from)
}

/// Starts the control server, the metrics endpoint (when configured) and the SIGHUP handler;
/// they stop when `stop` fires.
pub async fn start(
    listener: ControlListener,
    handle: &SupervisorHandle,
    stop: CancellationToken,
    hup: Option<tokio::signal::unix::Signal>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = vec![tokio::spawn(server::serve(
        listener,
        handle.clone(),
        stop.clone(),
    ))];
    if let Some(addr) = handle.config.file.metrics.listen {
        let listener = metrics::bind(addr)
            .await
            .with_context(|| format!("binding the metrics endpoint on {addr}"))?;
        tasks.push(tokio::spawn(metrics::serve(
            listener,
            handle.snapshot.clone(),
            stop.clone(),
        )));
    }
    if let Some(hup) = hup {
        tasks.push(tokio::spawn(reload_on_sighup(handle.clone(), stop, hup)));
    }
    Ok(tasks)
}

/// Listens for SIGHUP from now on. Called first thing at start-up: until a handler exists,
/// SIGHUP's default action would kill the daemon (`systemctl reload` right after start).
pub fn listen_for_sighup() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; config reload is unavailable");
            None
        }
    }
}

async fn reload_on_sighup(
    handle: SupervisorHandle,
    stop: CancellationToken,
    mut hup: tokio::signal::unix::Signal,
) {
    let path = handle.config.path.clone();
    let mut listen = handle.config.file.metrics.listen;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = hup.recv() => if r.is_none() { return },
        }
        tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
        let cfg = match config::load(&path) {
            Ok(cfg) => cfg,
            Err(e) => {
                // The diagnostics name file:line:column; one log record per problem.
                for line in e.to_string().lines() {
                    tracing::error!("config reload refused, keeping the running config: {line}");
                }
                continue;
            }
        };
        if cfg.file.metrics.listen != listen {
            tracing::warn!("[metrics] listen changed; it takes effect when drover restarts");
        }
        listen = cfg.file.metrics.listen;
        match handle.reload(cfg).await {
            Ok(()) => tracing::info!("config reloaded"),
            Err(e) => tracing::error!("config reload refused, keeping the running config: {e}"),
        }
    }
}
