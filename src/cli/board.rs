//! The configured fleet's board for `drover status --json`: read straight from the upstream
//! repo (read-only, like `report`), so the daemon's snapshot does not carry it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// The configured fleet's board, or `None` (with a warning in the log) when there is no config,
/// no upstream or the repo cannot be read.
pub async fn configured(config: Option<&Path>) -> Option<Board> {
    let path = crate::config::locate(config).ok()?;
    let cfg = crate::config::load(&path).ok()?;
    let up = cfg.file.upstream.clone()?;
    let repo = cfg.resolve(&up.repo);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let settings = settings(&up);
    tokio::task::spawn_blocking(move || {
        board::read(&repo, up.branch.as_deref(), &settings, now_ms).map(|(b, _)| b)
    })
    .await
    .ok()?
    .map_err(|e| tracing::warn!(error = %e, "board left out of the status"))
    .ok()
}
