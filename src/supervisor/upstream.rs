//! The supervisor's side of the upstream repo: turns watcher updates into core inputs (the lock
//! table, commits as signs of life of the slot that made them) and publishes PROGRESS.md for the
//! faces; runs operator lock releases off the loop.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::{ActivityKind, ClaimObservation, Input, LockObservation, ReleaseReport};
use crate::upstream::{
    ClaimEventKind, ProgressSnapshot, ReleaseOutcome, UpstreamRepo, UpstreamUpdate, WatchOptions,
    spawn_watcher,
};

/// PROGRESS.md as the faces show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgressView {
    /// `None` until read, or when the file does not exist.
    pub text: Option<String>,
    pub truncated: bool,
    /// Commit (short id) and time of the last change, when known.
    pub commit: Option<String>,
    pub changed_at_ms: Option<i64>,
    /// Branch tip the view was read at.
    pub tip: String,
}

/// Parameters to open another handle on the repo (a repo handle is not `Sync`).
#[derive(Clone)]
pub struct UpstreamLink {
    open: Arc<dyn Fn() -> Result<UpstreamRepo, crate::upstream::UpstreamError> + Send + Sync>,
}

/// The link to the configured upstream repo, if there is one.
pub fn link(cfg: &Config) -> Option<UpstreamLink> {
    let up = cfg.file.upstream.clone()?;
    let repo = cfg.resolve(&up.repo);
    let host = up.progress_host_path.as_ref().map(|p| cfg.resolve(p));
    Some(UpstreamLink {
        open: Arc::new(move || {
            let mut r = UpstreamRepo::open(
                &repo,
                up.branch.as_deref(),
                &up.locks_dir,
                &up.progress_file,
            )?;
            if let Some(h) = &host {
                r = r.with_host_progress(h.clone());
            }
            Ok(r)
        }),
    })
}

/// Opens the repo, starts its watcher and forwards updates until `cancel` fires.
pub async fn spawn(
    link: &UpstreamLink,
    inputs: mpsc::Sender<Input>,
    progress: watch::Sender<Arc<ProgressView>>,
    cancel: CancellationToken,
) -> Result<(), super::SupervisorError> {
    let open = Arc::clone(&link.open);
    let repo = tokio::task::spawn_blocking(move || open())
        .await
        .map_err(|e| super::SupervisorError::Task(e.to_string()))??;
    let (tx, mut rx) = mpsc::channel::<UpstreamUpdate>(16);
    spawn_watcher(repo, tx, WatchOptions::default(), cancel)?;
    tokio::spawn(async move {
        while let Some(update) = rx.recv().await {
            let locks = update
                .locks
                .iter()
                .map(|l| LockObservation {
                    task: l.task.clone(),
                    holder: l.holder.name().map(str::to_string),
                    claimed_at: u64::try_from(l.claimed_at_ms).unwrap_or(0),
                    claim_commit: Some(l.claim_commit.clone()),
                })
                .collect();
            if inputs.send(Input::LocksObserved { locks }).await.is_err() {
                return;
            }
            let claims: Vec<ClaimObservation> = update
                .new_history_entries
                .iter()
                .filter(|ev| ev.kind == ClaimEventKind::Claimed)
                .map(|ev| ClaimObservation {
                    task: ev.task.clone(),
                    holder: ev.holder.name().map(str::to_string),
                    at: u64::try_from(ev.time_ms).unwrap_or(0),
                    commit: ev.commit.clone(),
                })
                .collect();
            if (update.history_rescanned || !claims.is_empty())
                && inputs
                    .send(Input::ClaimsObserved {
                        claims,
                        replace: update.history_rescanned,
                    })
                    .await
                    .is_err()
            {
                return;
            }
            // New commits are signs of life (and progress) of the slots that made them; a
            // first scan's old commits are not. Several commits by one slot count once.
            if !update.history_rescanned {
                let mut authors: Vec<&str> = Vec::new();
                let holders = update
                    .new_history_entries
                    .iter()
                    .filter_map(|ev| ev.holder.name());
                for name in update
                    .commit_authors
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .chain(holders)
                {
                    if !authors.contains(&name) {
                        authors.push(name);
                    }
                }
                for slot in authors {
                    let _ = inputs.try_send(Input::Activity {
                        slot: slot.to_string(),
                        kind: ActivityKind::Commit,
                    });
                }
            }
            if let Some(p) = update.progress {
                let view = match p {
                    // PROGRESS.md is written by agents: masked before any face shows it.
                    ProgressSnapshot::Present(p) => ProgressView {
                        text: Some(crate::secrets::mask_owned(p.content)),
                        truncated: p.truncated,
                        commit: p.last_change.as_ref().and_then(|c| {
                            c.commit.as_ref().map(|id| id.chars().take(10).collect())
                        }),
                        changed_at_ms: p.last_change.as_ref().map(|c| c.time_ms),
                        tip: update.tip.clone(),
                    },
                    ProgressSnapshot::Missing => ProgressView {
                        tip: update.tip.clone(),
                        ..Default::default()
                    },
                };
                progress.send_replace(Arc::new(view));
            }
        }
    });
    Ok(())
}

impl UpstreamLink {
    /// Commits the removal of `task`'s lock (only of the claim made by commit `claim`, when
    /// given) in the background and reports the outcome as [`Input::ReleaseFinished`]; the
    /// watcher reports the lock gone.
    pub fn release(
        &self,
        task: String,
        claim: Option<String>,
        who: String,
        why: Option<String>,
        inputs: mpsc::Sender<Input>,
    ) {
        let open = Arc::clone(&self.open);
        tokio::task::spawn_blocking(move || {
            let reason = why.unwrap_or_else(|| "released by operator".into());
            let result = open().and_then(|mut r| match claim.as_deref() {
                Some(c) => r.release_claim(&task, c, &who, &reason),
                None => r.release_lock(&task, &who, &reason),
            });
            let outcome = match result {
                Ok(ReleaseOutcome::Released { commit, .. }) => ReleaseReport::Released { commit },
                Ok(ReleaseOutcome::AlreadyReleased) => ReleaseReport::AlreadyReleased,
                Ok(ReleaseOutcome::ClaimChanged {
                    holder,
                    claim_commit,
                }) => ReleaseReport::Refused {
                    reason: format!(
                        "the task was claimed again by {} in {} since the release was asked",
                        holder.as_deref().unwrap_or("an unknown holder"),
                        claim_commit.get(..10).unwrap_or(&claim_commit)
                    ),
                },
                Err(e) => ReleaseReport::Failed {
                    error: e.to_string(),
                },
            };
            tracing::info!(target: "drover::events", task, who, ?outcome, "lock release");
            let _ = inputs.blocking_send(Input::ReleaseFinished {
                task,
                claim,
                outcome,
            });
        });
    }
}
