//! The terminal face: renders the core's [`Snapshot`] with ratatui and turns keys into core
//! commands. It reads everything through [`FaceChannels`] (the snapshot and the read interface
//! of [`feed`]), so the same TUI runs in-process next to the supervisor or attached to a
//! daemon over a socket.
//!
//! Invariants: rendering is a pure function of (snapshot, UI state, theme) and never awaits;
//! a frame is drawn only when something visible changed, at most `max_fps` times a second;
//! store reads run in spawned tasks; the terminal is always restored on exit and around the
//! take-over shell.

mod actions;
pub mod context_view;
pub mod desktop_notice;
mod face;
pub mod feed;
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

use tokio::sync::{mpsc, watch};

use crate::core::Snapshot;
use crate::theme::Theme;

pub use face::{Face, FaceError, LoopExit, ages_changed};
pub use feed::{
    CommandEnvelope, EventSource, LogCursor, LogFileSource, LogSource, NoEvents, ProgressView,
};
pub use key_handling::Outcome;
pub use render::render;
pub use state::{RoleInfo, UiState};

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
    pub log_files: Option<Arc<dyn LogFileSource>>,
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
    /// Defaults for tests and demos: the dark theme, default keys.
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

/// Errors that stop the TUI before it starts.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("[ui.keys]: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Keys(Vec<crate::keys::KeymapError>),
}
