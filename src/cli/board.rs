//! The configured fleet's board for `drover status --json`: read straight from the upstream
//! repo (read-only, like `report`), so the daemon's snapshot does not carry it.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::schema::{BoardSource as ConfigSource, UpstreamSection};
use crate::upstream::board::{self, Board, BoardSettings, BoardSource};

/// The board settings `[upstream.board]` asks for (locks folder: the upstream's own unless set).
pub fn settings(up: &UpstreamSection) -> BoardSettings {
    let b = &up.board;
    BoardSettings {
        source: match b.source {
            ConfigSource::Auto => BoardSource::Auto,
            ConfigSource::Folders => BoardSource::Folders,
            ConfigSource::Checklist => BoardSource::Checklist,
            ConfigSource::None => BoardSource::None,
        },
        backlog_dir: b.backlog_dir.clone(),
        locks_dir: b.locks_dir.clone().unwrap_or_else(|| up.locks_dir.clone()),
        done_dir: b.done_dir.clone(),
        checklist_file: b.checklist_file.clone(),
    }
}

/// How long `status --json` waits for the board. The repo is the agents' to fill: a push of
/// 100 000 task files must not make the operator's status hang, so a board not read by then
/// is left out (with a warning) and the status answers without it.
pub const STATUS_BOARD_WAIT: Duration = Duration::from_secs(3);

/// The configured fleet's board, or `None` (with a warning in the log) when there is no config,
/// no upstream, the repo cannot be read, or reading it takes longer than [`STATUS_BOARD_WAIT`].
pub async fn configured(config: Option<&Path>) -> Option<Board> {
    let path = crate::config::locate(config).ok()?;
    let cfg = crate::config::load(&path).ok()?;
    let up = cfg.file.upstream.clone()?;
    let repo = cfg.resolve(&up.repo);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let settings = settings(&up);
    // A thread of its own rather than `spawn_blocking`: the runtime waits for its blocking
    // tasks when it shuts down, and a read given up on must not hold the command's exit.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(board::read(&repo, up.branch.as_deref(), &settings, now_ms));
    });
    match tokio::time::timeout(STATUS_BOARD_WAIT, rx).await {
        Ok(Ok(Ok((b, _)))) => Some(b),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "board left out of the status");
            None
        }
        Ok(Err(_)) => None,
        Err(_) => {
            tracing::warn!(
                wait = ?STATUS_BOARD_WAIT,
                "board left out of the status: the repo took too long to read"
            );
            None
        }
    }
}
