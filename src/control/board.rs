//! The team's board for `drover status --json`, read by the daemon from the upstream repo at
//! its tip (read-only, like `report`) and masked before it leaves: task and idea names are
//! pushed by agents, and only the daemon knows the secret values to mask. One read at a time;
//! a read that outlasts [`STATUS_BOARD_WAIT`] is left out, never waited for.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

use crate::config::Config;
use crate::config::schema::{BoardSource as ConfigSource, UpstreamSection};
use crate::upstream::board::{self, BoardSettings, BoardSource};

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

/// The configured fleet's board as JSON with every string masked, or `None` (with a warning in
/// the log) when there is no upstream, the repo cannot be read, another read is still running,
/// or reading takes longer than [`STATUS_BOARD_WAIT`].
pub async fn read_masked(cfg: &Config, reads: &Arc<Semaphore>) -> Option<serde_json::Value> {
    let up = cfg.file.upstream.clone()?;
    let repo = cfg.resolve(&up.repo);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let settings = settings(&up);
    // Bounds the threads a client can start by asking again and again: the permit travels with
    // the read and is given back when the read ends, answered or not.
    let permit = tokio::time::timeout(STATUS_BOARD_WAIT, Arc::clone(reads).acquire_owned())
        .await
        .ok()?
        .ok()?;
    // A thread of its own rather than `spawn_blocking`: the runtime waits for its blocking
    // tasks when it shuts down, and a read given up on must not hold the daemon's exit.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let read = board::read(&repo, up.branch.as_deref(), &settings, now_ms);
        drop(permit);
        let _ = tx.send(read);
    });
    match tokio::time::timeout(STATUS_BOARD_WAIT, rx).await {
        Ok(Ok(Ok((b, _)))) => {
            let mut value = serde_json::to_value(&b).ok()?;
            mask_strings(&mut value);
            Some(value)
        }
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

/// Masks every string in `value` (keys are drover's own field names).
fn mask_strings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            let masked = crate::secrets::mask_owned(std::mem::take(s));
            *s = masked;
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(mask_strings),
        _ => {}
    }
}
