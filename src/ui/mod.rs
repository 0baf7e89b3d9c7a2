//! The terminal face: renders the core's [`Snapshot`] with ratatui and turns keys into core
//! commands. It reads everything through [`FaceChannels`], so the same TUI runs in-process
//! next to the supervisor or attached to a daemon over a socket.
//!
//! Invariants: rendering is a pure function of (snapshot, UI state, theme) and never awaits;
//! a frame is drawn only when something visible changed, at most `max_fps` times a second;
//! store reads run in spawned tasks; the terminal is always restored on exit and around the
//! take-over shell.

mod actions;
pub mod desktop_notice;
mod face;
pub mod filter;
pub mod fleet;
pub mod key_handling;
pub mod layout;
pub mod logpages;
pub mod logview;
pub mod markdown;
pub mod palette;
pub mod reason;
pub mod render;
pub mod rows;
pub mod sample;
pub mod shell;
pub mod state;
pub mod text;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use ratatui::crossterm::event::EventStream;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::core::Snapshot;
use crate::logs::ring::{LogHub, RingLine};
use crate::store::{Store, StoredEvent};
pub use crate::supervisor::{CommandEnvelope, ProgressView, SupervisorHandle};
use crate::theme::Theme;

pub use face::{Face, LoopExit, ages_changed};
pub use key_handling::Outcome;
pub use logpages::LogFiles;
pub use render::render;
pub use state::{RoleInfo, UiState};

/// Where the log pane reads lines: synchronous and cheap (a lock and a copy), so the UI task
/// can call it between frames.
pub trait LogSource: Send + Sync {
    /// The newest `n` lines of `slot`, oldest first.
    fn tail(&self, slot: &str, n: usize) -> Vec<RingLine>;
    /// Lines of `slot` with `seq >= from`, oldest first.
    fn since(&self, slot: &str, from: u64) -> Vec<RingLine>;
}

impl LogSource for LogHub {
    fn tail(&self, slot: &str, n: usize) -> Vec<RingLine> {
        LogHub::tail(self, slot, n)
    }
    fn since(&self, slot: &str, from: u64) -> Vec<RingLine> {
        LogHub::since(self, slot, from)
    }
}

/// Where the events view reads the persisted log (asynchronously, off the UI task).
pub trait EventSource: Send + Sync {
    /// Events with an id above `after_id`, oldest first, at most `limit` — when `after_id` is
    /// 0, the newest `limit` events.
    fn after(&self, after_id: i64, limit: usize)
    -> BoxFuture<'_, Result<Vec<StoredEvent>, String>>;
}

impl EventSource for Store {
    fn after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, String>> {
        Box::pin(async move {
            self.events_after(after_id, limit)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// An event source with nothing in it (for faces without a store).
pub struct NoEvents;

impl EventSource for NoEvents {
    fn after(&self, _: i64, _: usize) -> BoxFuture<'_, Result<Vec<StoredEvent>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Everything the TUI reads and writes: the same channels the supervisor hands to any face
/// (see `SupervisorHandle`), so in-process and attached TUIs are fed alike.
pub struct FaceChannels {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub progress: watch::Receiver<Arc<ProgressView>>,
    pub commands: mpsc::Sender<CommandEnvelope>,
    pub logs: Arc<dyn LogSource>,
    pub events: Arc<dyn EventSource>,
    /// The containers' log files, for lines older than `logs` holds; `None` when this face
    /// cannot read them (attached with only a socket).
    pub log_files: Option<LogFiles>,
}

impl FaceChannels {
    /// The channels of a supervisor running in this process.
    pub fn from_handle(handle: &SupervisorHandle) -> Self {
        Self {
            snapshot: handle.snapshot.clone(),
            progress: handle.progress.clone(),
            commands: handle.commands.clone(),
            logs: Arc::new(handle.hub.clone()),
            events: Arc::new(handle.store.clone()),
            log_files: Some(LogFiles::from_config(&handle.config)),
        }
    }
}

/// The other ends of [`FaceChannels`], for whoever feeds the TUI (the supervisor, an attach
/// client, or a test).
pub struct FaceFeed {
    pub snapshot: watch::Sender<Arc<Snapshot>>,
    pub progress: watch::Sender<Arc<ProgressView>>,
    pub commands: mpsc::Receiver<CommandEnvelope>,
}

/// Channels for a TUI starting from `initial`, with `logs` and `events` as sources and no
/// log files (set `log_files` to read older lines from disk).
pub fn face_channels(
    initial: Snapshot,
    logs: Arc<dyn LogSource>,
    events: Arc<dyn EventSource>,
) -> (FaceChannels, FaceFeed) {
    let (snap_tx, snap_rx) = watch::channel(Arc::new(initial));
    let (prog_tx, prog_rx) = watch::channel(Arc::new(ProgressView::default()));
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    (
        FaceChannels {
            snapshot: snap_rx,
            progress: prog_rx,
            commands: cmd_tx,
            logs,
            events,
            log_files: None,
        },
        FaceFeed {
            snapshot: snap_tx,
            progress: prog_tx,
            commands: cmd_rx,
        },
    )
}

/// How the TUI is set up.
#[derive(Clone, Debug)]
pub struct UiOptions {
    pub theme: Theme,
    /// Where `:theme <name>` looks for user themes.
    pub themes_dir: Option<PathBuf>,
    /// Key overrides by action name (`[ui.keys]`).
    pub keys: BTreeMap<String, String>,
    /// Disable every action that changes the fleet.
    pub read_only: bool,
    pub max_fps: u32,
    /// Running inside tmux: offer the take-over shell in a new window.
    pub tmux: bool,
    /// The OS user named in the audit log.
    pub who: String,
    /// Per role, what the container tab shows.
    pub roles: BTreeMap<String, RoleInfo>,
    /// Passed to `docker -H` for the take-over shell.
    pub docker_host: Option<String>,
    /// `[[hosts]]`: name → docker_host, for the take-over shell of a `host/id` container.
    pub hosts: BTreeMap<String, String>,
    /// `[notify]`: bell and desktop notifications for alerts that need a human.
    pub bell: bool,
    pub desktop: bool,
}

impl UiOptions {
    /// The engine (`docker -H`) and its own id for `container`: a `host/id` of a fleet over
    /// several hosts goes to that host's engine.
    pub fn engine_for(&self, container: &str) -> (Option<String>, String) {
        match container.split_once('/') {
            Some((host, id)) if self.hosts.contains_key(host) => {
                (self.hosts.get(host).cloned(), id.to_string())
            }
            _ => (self.docker_host.clone(), container.to_string()),
        }
    }

    /// Options from a loaded config: its theme (mono under `NO_COLOR`), keys, frame rate and
    /// roles; `$TMUX` and `$USER` from the environment.
    pub fn from_config(cfg: &Config, read_only: bool) -> Result<Self, crate::theme::ThemeError> {
        let ui = &cfg.file.ui;
        Ok(Self {
            theme: Theme::load_respecting_no_color(&ui.theme, cfg.themes_dir.as_deref())?,
            themes_dir: cfg.themes_dir.clone(),
            keys: ui.keys.clone(),
            read_only,
            max_fps: ui.max_fps,
            tmux: std::env::var_os("TMUX").is_some_and(|v| !v.is_empty()),
            who: os_user(),
            roles: cfg
                .file
                .roles
                .iter()
                .map(|r| (r.name.clone(), RoleInfo::from(r)))
                .collect(),
            docker_host: cfg.file.fleet.docker_host.clone(),
            hosts: cfg
                .file
                .hosts
                .iter()
                .map(|h| (h.name.clone(), h.docker_host.clone()))
                .collect(),
            bell: cfg.file.notify.bell,
            desktop: cfg.file.notify.desktop,
        })
    }

    /// Defaults for tests and demos: the dark theme, default keys.
    pub fn plain(theme: Theme) -> Self {
        Self {
            theme,
            themes_dir: None,
            keys: BTreeMap::new(),
            read_only: false,
            max_fps: 20,
            tmux: false,
            who: "operator".into(),
            roles: BTreeMap::new(),
            docker_host: None,
            hosts: BTreeMap::new(),
            bell: false,
            desktop: false,
        }
    }
}

/// The OS user for audit records.
pub fn os_user() -> String {
    // From the effective uid, as the daemon names socket peers: `$USER` is only what the
    // environment claims.
    crate::peer::user_name(crate::peer::current_uid())
}

/// Errors that stop the TUI before it starts.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("[ui.keys]: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Keys(Vec<crate::keys::KeymapError>),
}

/// Runs the TUI on the real terminal until the operator quits.
pub async fn run(channels: FaceChannels, opts: UiOptions) -> anyhow::Result<()> {
    let mut face = Face::new(channels, opts)?;
    face.notify_to(Box::new(std::io::stdout()));
    let mut terminal = ratatui::try_init()?;
    let result = loop {
        // A new reader each round: none may exist while the shell owns stdin.
        match face.run_loop(&mut terminal, EventStream::new()).await {
            Ok(LoopExit::Quit) => break Ok(()),
            Ok(LoopExit::Shell { slot, container }) => {
                ratatui::try_restore()?;
                let (host, container) = face.opts.engine_for(&container);
                let r = shell::run_in_place(host.as_deref(), &container).await;
                terminal = shell::fresh_terminal()?;
                face.ui.after_shell(&slot, r);
            }
            Err(e) => break Err(e),
        }
    };
    ratatui::try_restore()?;
    result
}
