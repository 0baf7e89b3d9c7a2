//! The registry of log followers: exactly one per live container id, started from the state the
//! core reports and removed when the container's output ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::logs::files::log_path;
use crate::logs::follow::{Follow, LineSink, follow_container};

struct Entry {
    cancel: CancellationToken,
    drained: watch::Receiver<bool>,
}

/// Shared between the supervisor loop (starts followers) and the Docker link (waits for one to
/// drain before reporting a `die`).
#[derive(Clone, Default)]
pub struct Followers {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Followers {
    /// Starts following container `id` unless a follower for it is still reading; `build`
    /// makes the follower's parts and runs only when one is started, so checking an already
    /// followed container (every snapshot, for every slot) costs a map lookup.
    pub fn ensure(&self, id: &str, build: impl FnOnce() -> (Follow, Box<dyn LineSink>)) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A drained entry belongs to an earlier run of the same container (restarted in
        // place): that run's output ended, this one needs a new follower.
        if map.get(id).is_some_and(|e| !*e.drained.borrow()) {
            return;
        }
        let cancel = CancellationToken::new();
        let (tx, drained) = watch::channel(false);
        map.insert(
            id.to_string(),
            Entry {
                cancel: cancel.clone(),
                drained,
            },
        );
        let (target, sink) = build();
        let id = id.to_string();
        let registry = self.clone();
        tokio::spawn(async move {
            follow_container(target, sink, cancel).await;
            let _ = tx.send(true);
            // Keep the drained entry a little while so a late `die` handler still finds it,
            // then forget it (a restarted container gets a new follower via its new start).
            tokio::time::sleep(Duration::from_secs(5)).await;
            registry.forget(&id);
        });
    }

    /// Waits until the follower of `id` has delivered everything, at most `timeout`.
    pub async fn wait_drained(&self, id: &str, timeout: Duration) {
        let rx = {
            let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            map.get(id).map(|e| e.drained.clone())
        };
        if let Some(mut rx) = rx {
            let _ = tokio::time::timeout(timeout, rx.wait_for(|d| *d)).await;
        }
    }

    /// Turns true once the follower of `id` delivered everything (its container stopped).
    pub fn drained(&self, id: &str) -> Option<watch::Receiver<bool>> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).map(|e| e.drained.clone())
    }

    fn forget(&self, id: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(id).is_some_and(|e| *e.drained.borrow()) {
            map.remove(id);
        }
    }

    /// Stops every follower (shutdown).
    pub fn cancel_all(&self) {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for e in map.values() {
            e.cancel.cancel();
        }
    }
}

/// Where a container's log file lives, re-exported for faces that read older lines.
pub fn container_log(data_dir: &std::path::Path, slot: &str, generation: u64) -> PathBuf {
    log_path(data_dir, slot, generation)
}

/// Lines put back in a held slot's ring at start.
pub const RESTORED_LINES: usize = 200;

/// A restarted drover shows the last lines of slots no follower will feed (Blocked, Stopped,
/// done): read back from their current generation's log file into the ring before the first
/// frame. A live container's follower resumes its own output, so live slots are left alone.
pub fn restore_last_lines(
    hub: &crate::logs::ring::LogHub,
    data_dir: &std::path::Path,
    records: &[crate::core::SlotRecord],
    max_line: usize,
) {
    use crate::core::SlotMode;
    for r in records {
        let held = matches!(r.mode, SlotMode::Blocked { .. } | SlotMode::Stopped { .. });
        if !(held || r.completed) || r.generation == 0 {
            continue;
        }
        let mut reader = crate::logs::logfile::ReverseLogReader::open(
            &log_path(data_dir, &r.slot, r.generation),
            max_line,
        );
        let mut lines = Vec::new();
        while lines.len() < RESTORED_LINES {
            match reader.prev_line() {
                Ok(Some(l)) => lines.push(l),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(slot = %r.slot, error = %e, "last lines not restored");
                    break;
                }
            }
        }
        for l in lines.into_iter().rev() {
            hub.push(&r.slot, l.ts_ms, l.stderr, l.text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Actor, SlotMode, SlotRecord};
    use crate::logs::ring::LogHub;

    #[test]
    fn a_blocked_slots_last_lines_are_back_before_the_first_frame_and_a_live_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        for slot in ["crasher-1", "worker-1"] {
            let path = log_path(dir.path(), slot, 3);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                &path,
                "2026-01-01T00:00:00.000Z O starting\n2026-01-01T00:00:01.000Z E FATAL: unknown flag --fast\n",
            )
            .unwrap();
        }
        let mut blocked = SlotRecord::new("crasher-1", "crasher");
        blocked.generation = 3;
        blocked.mode = SlotMode::Blocked {
            reason: "FATAL: unknown flag --fast".into(),
            by: Actor::Drover,
            at: 0,
        };
        let mut live = SlotRecord::new("worker-1", "worker");
        live.generation = 3;
        let hub = LogHub::new(100, 1 << 20);
        restore_last_lines(&hub, dir.path(), &[blocked, live], 4096);
        let lines: Vec<(bool, String)> = hub
            .tail("crasher-1", 10)
            .into_iter()
            .map(|l| (l.stderr, l.text))
            .collect();
        assert_eq!(
            lines,
            vec![
                (false, "starting".to_string()),
                (true, "FATAL: unknown flag --fast".to_string())
            ]
        );
        assert!(
            hub.tail("worker-1", 10).is_empty(),
            "its follower resumes it"
        );
    }
}
