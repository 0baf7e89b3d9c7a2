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
