//! The upstream watcher: a tokio task that sends an `UpstreamUpdate` whenever the branch moves
//! or PROGRESS changes.
//!
//! Invariants:
//! - Git reads run in `spawn_blocking`, never on the async task.
//! - Only the repo's `refs/` (recursive) and root (non-recursive, for `HEAD` and `packed-refs`)
//!   are watched, plus the host PROGRESS file's folder; access events are dropped, so drover's
//!   own reads never trigger more reads.
//! - Inotify can miss changes (`git gc` packing refs, network filesystems, bind mounts), so a
//!   slow periodic poll runs as a safety net. A poll that finds nothing new sends nothing.
//! - The task ends when cancelled or when the receiver is dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, new_debouncer_opt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::error::UpstreamError;
use super::repo::{UpstreamRepo, UpstreamUpdate};

/// Timing of the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time before a burst of file events is handled (a push touches a ref several times).
    pub debounce: Duration,
    /// Interval of the safety-net poll.
    pub safety_poll: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(50),
            safety_poll: Duration::from_secs(5),
        }
    }
}

/// Starts watching `repo`; the first message is the full state. Setup errors (e.g. the repo's
/// `refs/` cannot be watched) are returned here; later read errors are logged (once per distinct
/// message) and retried at the next event or poll.
pub fn spawn_watcher(
    repo: UpstreamRepo,
    updates: mpsc::Sender<UpstreamUpdate>,
    options: WatchOptions,
    cancel: CancellationToken,
) -> Result<JoinHandle<()>, UpstreamError> {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let mut debouncer: Debouncer<RecommendedWatcher, NoCache> = new_debouncer_opt(
        options.debounce,
        None,
        move |result: DebounceEventResult| {
            // A closed channel means the watcher task is gone; dropping the events is right.
            let _ = events_tx.send(result);
        },
        NoCache,
        notify_debouncer_full::notify::Config::default(),
    )
    .map_err(|source| UpstreamError::Watch {
        path: repo.path().to_owned(),
        source,
    })?;
    let mut watch = |path: &Path, mode: RecursiveMode| {
        debouncer
            .watch(path, mode)
            .map_err(|source| UpstreamError::Watch {
                path: path.to_owned(),
                source,
            })
    };
    watch(&repo.path().join("refs"), RecursiveMode::Recursive)?;
    watch(repo.path(), RecursiveMode::NonRecursive)?;
    let host_progress = repo.host_progress_path().map(Path::to_owned);
    if let Some(file) = &host_progress {
        // The folder, not the file: editors replace files by rename, which ends a file watch.
        let folder = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        watch(folder, RecursiveMode::NonRecursive)?;
    }
    let watcher = Watcher {
        repo_root: repo.path().to_owned(),
        repo: Some(repo),
        updates,
        last_error: None,
        host_progress,
    };
    Ok(tokio::spawn(
        watcher.run(debouncer, events_rx, options, cancel),
    ))
}

struct Watcher {
    /// `None` only while a blocking read owns it.
    repo: Option<UpstreamRepo>,
    updates: mpsc::Sender<UpstreamUpdate>,
    last_error: Option<String>,
    repo_root: PathBuf,
    host_progress: Option<PathBuf>,
}

impl Watcher {
    async fn run(
        mut self,
        // Held for the task's lifetime: dropping it stops the file watches.
        _debouncer: Debouncer<RecommendedWatcher, NoCache>,
        mut events: mpsc::UnboundedReceiver<DebounceEventResult>,
        options: WatchOptions,
        cancel: CancellationToken,
    ) {
        let mut safety = tokio::time::interval(options.safety_poll);
        safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The interval's first tick is immediate and doubles as the initial full read.
        loop {
            let poll = tokio::select! {
                () = cancel.cancelled() => break,
                () = self.updates.closed() => break,
                _ = safety.tick() => true,
                received = events.recv() => match received {
                    Some(result) => {
                        let mut relevant = self.is_relevant(result);
                        // Coalesce whatever else is already queued into this one read.
                        while let Ok(more) = events.try_recv() {
                            relevant |= self.is_relevant(more);
                        }
                        relevant
                    }
                    None => break,
                },
            };
            if poll && !self.poll_and_send().await {
                break;
            }
        }
    }

    fn is_relevant(&mut self, result: DebounceEventResult) -> bool {
        match result {
            Ok(events) => events.iter().any(|e| {
                !e.kind.is_access()
                    && e.paths.iter().any(|p| {
                        // The host file's folder may hold other files; only that file counts.
                        p.starts_with(&self.repo_root)
                            || self.host_progress.as_deref() == Some(p.as_path())
                    })
            }),
            Err(errors) => {
                for e in errors {
                    self.log_error(&format!("file watch error: {e}"));
                }
                // A watch error may have hidden a change.
                true
            }
        }
    }

    /// Reads in a blocking thread and sends an update if anything changed. `false` when the
    /// task must stop (receiver gone, or the blocking read panicked).
    async fn poll_and_send(&mut self) -> bool {
        let Some(mut repo) = self.repo.take() else {
            return false;
        };
        let resend = self.last_error.is_some();
        let joined = tokio::task::spawn_blocking(move || {
            if resend {
                repo.resend_next();
            }
            let result = repo.poll_update();
            (repo, result)
        })
        .await;
        let (repo, result) = match joined {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(error = %e, "upstream read failed; watcher stopped");
                return false;
            }
        };
        self.repo = Some(repo);
        match result {
            Ok(Some(update)) => {
                self.last_error = None;
                self.updates.send(update).await.is_ok()
            }
            Ok(None) => {
                self.last_error = None;
                true
            }
            Err(e) => {
                let message = e.to_string();
                if self.last_error.as_deref() == Some(message.as_str()) {
                    return true;
                }
                self.log_error(&message);
                self.updates
                    .send(UpstreamUpdate::failure(message))
                    .await
                    .is_ok()
            }
        }
    }

    /// Logs an error once until a different one (or a success) happens, so a broken repo does
    /// not flood the log at every poll.
    fn log_error(&mut self, message: &str) {
        if self.last_error.as_deref() != Some(message) {
            tracing::warn!(error = %message, "upstream watcher");
            self.last_error = Some(message.to_owned());
        }
    }
}
