//! The supervisor's side of the upstream repo: turns watcher updates into core inputs (the lock
//! table with holders named by `core::SlotDirectory`, claims, the upstream's state and hold
//! times, commits as signs of life of the slot that made them and as what its run landed), writes a journal line per
//! claim, re-claim, release and PROGRESS.md change, and publishes PROGRESS.md for the faces;
//! runs operator lock releases off the loop.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::{
    ActivityKind, ClaimObservation, CommitObservation, Input, LockObservation, ReleaseReport,
    SlotDirectory, Snapshot, UpstreamState, UpstreamView, percentile,
};
use crate::upstream::{
    ClaimEvent, ClaimEventKind, Lock, ProgressSnapshot, ReleaseOutcome, UpstreamRepo,
    UpstreamUpdate, WatchOptions, changes_since, spawn_watcher,
};

/// PROGRESS.md as the faces show it (the faces' type, which the watcher publishes).
pub use drover_tui::ui::feed::ProgressView;

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

/// Hold times remembered for the fleet's p50/p90 (the newest ones).
const MAX_HOLDS: usize = 100_000;
/// Containers of earlier generations read from the store at start.
const MAX_STORED_CONTAINERS: i64 = 50_000;
/// Tasks remembered to tell a re-claim from a first claim.
const MAX_CLAIMED_TASKS: usize = 100_000;

/// Opens the repo, starts its watcher and forwards updates until `cancel` fires. `snapshots`
/// tells who the fleet's slots are (and their containers), to name lock holders; `hostname` is
/// the fleet's container hostname template.
pub async fn spawn(
    link: &UpstreamLink,
    inputs: mpsc::Sender<Input>,
    progress: watch::Sender<Arc<ProgressView>>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    hostname: Option<String>,
    store: Option<crate::store::Store>,
    cancel: CancellationToken,
) -> Result<(), super::SupervisorError> {
    let open = Arc::clone(&link.open);
    let repo = tokio::task::spawn_blocking(move || open())
        .await
        .map_err(|e| super::SupervisorError::Task(e.to_string()))??;
    let (tx, rx) = mpsc::channel::<UpstreamUpdate>(16);
    spawn_watcher(repo, tx, WatchOptions::default(), cancel)?;
    let mut directory = SlotDirectory::default();
    // Containers of earlier generations, so their ids in old lock files still name a slot.
    if let Some(store) = store {
        match store.container_ids(MAX_STORED_CONTAINERS).await {
            Ok(ids) => {
                for (slot, id) in ids {
                    directory.add_container(&slot, &id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "container ids of earlier generations not read"),
        }
    }
    let feed = Feed {
        inputs,
        progress,
        hostname,
        directory,
        last_locks: Vec::new(),
        holds: VecDeque::new(),
        claimed: HashSet::new(),
        progress_text: None,
        first: true,
        was_empty: false,
        learned: None,
    };
    tokio::spawn(feed.run(rx, snapshots));
    Ok(())
}

/// Turns watcher updates into core inputs and journal lines.
struct Feed {
    inputs: mpsc::Sender<Input>,
    progress: watch::Sender<Arc<ProgressView>>,
    hostname: Option<String>,
    directory: SlotDirectory,
    /// The last lock table, re-attributed when the directory learns a new slot or container.
    last_locks: Vec<Lock>,
    holds: VecDeque<i64>,
    claimed: HashSet<String>,
    progress_text: Option<String>,
    first: bool,
    /// The last update said the upstream was empty.
    was_empty: bool,
    /// The `state_version` of the last snapshot learned from: slots and containers change only
    /// with it, so snapshots that moved only activity are skipped.
    learned: Option<u64>,
}

impl Feed {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<UpstreamUpdate>,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
    ) {
        let snap = snapshots.borrow_and_update().clone();
        self.learn(&snap);
        loop {
            tokio::select! {
                update = rx.recv() => match update {
                    Some(update) => if !self.on_update(update).await { return },
                    None => return,
                },
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let snap = snapshots.borrow_and_update().clone();
                    if self.learn(&snap) && !self.send_locks().await {
                        return;
                    }
                }
            }
        }
    }

    /// Adds the snapshot's slots, hostnames and containers; true when anything was new.
    fn learn(&mut self, snap: &Snapshot) -> bool {
        if self.learned == Some(snap.state_version) {
            return false;
        }
        self.learned = Some(snap.state_version);
        let mut new = false;
        for s in &snap.slots {
            let host = drover_runtime::spec::container_hostname(
                self.hostname.as_deref(),
                &snap.fleet,
                &s.slot,
            )
            .unwrap_or_default();
            new |= self.directory.add_slot(&s.slot, &host);
            if let Some(id) = &s.container_id {
                new |= self.directory.add_container(&s.slot, id);
            }
        }
        new
    }

    async fn send_locks(&self) -> bool {
        let locks = self
            .last_locks
            .iter()
            .map(|l| LockObservation {
                // Lock names and holders are pushed by agents: masked before the core, the
                // store or any face sees them (a release maps the masked name back).
                task: crate::secrets::mask_owned(l.task.clone()),
                holder: self
                    .directory
                    .attribute(&l.evidence)
                    .map(crate::secrets::mask_owned),
                claimed_at: u64::try_from(l.claimed_at_ms).unwrap_or(0),
                claim_commit: Some(l.claim_commit.clone()),
            })
            .collect();
        self.inputs
            .send(Input::LocksObserved { locks })
            .await
            .is_ok()
    }

    /// False when the supervisor is gone.
    async fn on_update(&mut self, update: UpstreamUpdate) -> bool {
        if let Some(error) = update.error {
            // Keep the last lock table: a briefly unreadable repo has not lost its locks.
            let mut view = self.view(false);
            view.state = UpstreamState::Unreadable { error };
            return self
                .inputs
                .send(Input::UpstreamObserved { view })
                .await
                .is_ok();
        }
        let first = std::mem::take(&mut self.first);
        // The first push to an empty upstream is news, not old history: log its events.
        let news =
            !update.history_rescanned || std::mem::replace(&mut self.was_empty, update.empty);
        self.was_empty = update.empty;
        self.last_locks = update.locks.clone();
        if !self.send_locks().await {
            return false;
        }
        if update.history_rescanned {
            self.holds.clear();
            self.claimed.clear();
        }
        let mut claims: Vec<ClaimObservation> = Vec::new();
        for ev in &update.new_history_entries {
            let holder = self.directory.attribute(&ev.evidence);
            match ev.kind {
                ClaimEventKind::Claimed => {
                    let again = self.claimed.contains(&ev.task);
                    if !again && self.claimed.len() < MAX_CLAIMED_TASKS {
                        self.claimed.insert(ev.task.clone());
                    }
                    if news {
                        log_event(
                            if again { "reclaim" } else { "claim" },
                            ev,
                            holder.as_deref(),
                        );
                    }
                    claims.push(ClaimObservation {
                        task: crate::secrets::mask_owned(ev.task.clone()),
                        holder: holder.map(crate::secrets::mask_owned),
                        at: u64::try_from(ev.time_ms).unwrap_or(0),
                        commit: ev.commit.clone(),
                        summary: crate::secrets::mask_owned(ev.summary.clone()),
                    });
                }
                ClaimEventKind::Released => {
                    if let Some(held) = ev.held_ms {
                        if self.holds.len() >= MAX_HOLDS {
                            self.holds.pop_front();
                        }
                        self.holds.push_back(held.max(0));
                    }
                    if news {
                        log_event("release", ev, holder.as_deref());
                    }
                }
                ClaimEventKind::Updated => {}
            }
        }
        if (update.history_rescanned && !news) || first {
            tracing::info!(
                target: "drover::events",
                kind = "upstream",
                tip = %update.tip.get(..10).unwrap_or(&update.tip),
                locks = update.locks.len(),
                claims = claims.len(),
                releases = self.holds.len(),
                "{}",
                if update.empty {
                    "upstream empty — waiting for the first push".to_string()
                } else {
                    format!(
                        "upstream read: {} locks held, {} claims and {} releases in history",
                        update.locks.len(),
                        claims.len(),
                        self.holds.len()
                    )
                }
            );
        }
        if (update.history_rescanned || !claims.is_empty())
            && self
                .inputs
                .send(Input::ClaimsObserved {
                    claims,
                    replace: update.history_rescanned,
                })
                .await
                .is_err()
        {
            return false;
        }
        if self
            .inputs
            .send(Input::UpstreamObserved {
                view: self.view(update.empty),
            })
            .await
            .is_err()
        {
            return false;
        }
        if !self.send_commits(&update).await {
            return false;
        }
        // New commits are signs of life (and progress) of the slots that made them; a
        // first scan's old commits are not. Several commits by one slot count once.
        if !update.history_rescanned {
            let mut authors: Vec<String> = Vec::new();
            let holders = update
                .new_history_entries
                .iter()
                .filter_map(|ev| self.directory.attribute(&ev.evidence));
            for name in update
                .new_commits
                .iter()
                .map(|c| c.author.clone())
                .chain(holders)
            {
                if !authors.contains(&name) {
                    authors.push(name);
                }
            }
            for slot in authors {
                let _ = self.inputs.try_send(Input::Activity {
                    slot,
                    kind: ActivityKind::Commit,
                });
            }
        }
        if let Some(p) = update.progress {
            self.on_progress(p, &update.tip, first);
        }
        true
    }

    /// The new commits that name one of the fleet's slots — by the slot's identity in the
    /// commit, else by the lock the commit claims or releases — for the run ledger. Sent after
    /// a rescan too: the ledger counts a commit once and only for a run live when it was made.
    async fn send_commits(&self, update: &UpstreamUpdate) -> bool {
        let commits: Vec<CommitObservation> = update
            .new_commits
            .iter()
            .filter_map(|c| {
                let slot = self.directory.attribute(&c.evidence).or_else(|| {
                    update
                        .new_history_entries
                        .iter()
                        .filter(|ev| ev.commit == c.id)
                        .find_map(|ev| self.directory.attribute(&ev.evidence))
                })?;
                Some(CommitObservation {
                    slot,
                    commit: c.id.clone(),
                    at: u64::try_from(c.time_ms).unwrap_or(0),
                    summary: c.summary.clone(),
                })
            })
            .collect();
        commits.is_empty()
            || self
                .inputs
                .send(Input::CommitsObserved { commits })
                .await
                .is_ok()
    }

    fn view(&self, empty: bool) -> UpstreamView {
        let mut sorted: Vec<i64> = self.holds.iter().copied().collect();
        sorted.sort_unstable();
        let ms = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
        UpstreamView {
            state: if empty {
                UpstreamState::Empty
            } else {
                UpstreamState::Ready
            },
            releases: self.holds.len() as u64,
            hold_p50: ms(percentile(&sorted, 50)),
            hold_p90: ms(percentile(&sorted, 90)),
        }
    }

    fn on_progress(&mut self, p: ProgressSnapshot, tip: &str, first: bool) {
        let view = match p {
            ProgressSnapshot::Present(p) => {
                if !first {
                    let lines = self
                        .progress_text
                        .as_deref()
                        .map(|old| changes_since(old, &p.content));
                    let (added, removed) =
                        lines.as_ref().map_or((p.content.lines().count(), 0), |c| {
                            (c.new_lines.len(), c.removed_lines)
                        });
                    let change = p.last_change.as_ref();
                    tracing::info!(
                        target: "drover::events",
                        kind = "progress",
                        commit = change
                            .and_then(|c| c.commit.as_deref())
                            .map_or("", |c| c.get(..10).unwrap_or(c)),
                        added,
                        removed,
                        "PROGRESS.md updated (+{added} −{removed} lines){}",
                        change
                            .and_then(|c| c.summary.as_deref())
                            .map(|s| format!(": {s}"))
                            .unwrap_or_default()
                    );
                }
                self.progress_text = Some(p.content.clone());
                ProgressView {
                    commit: p
                        .last_change
                        .as_ref()
                        .and_then(|c| c.commit.as_ref().map(|id| id.chars().take(10).collect())),
                    changed_at_ms: p.last_change.as_ref().map(|c| c.time_ms),
                    // PROGRESS.md is written by agents: masked before any face shows it.
                    text: Some(crate::secrets::mask_owned(p.content)),
                    truncated: p.truncated,
                    tip: tip.to_owned(),
                }
            }
            ProgressSnapshot::Missing => {
                self.progress_text = None;
                ProgressView {
                    tip: tip.to_owned(),
                    ..Default::default()
                }
            }
        };
        self.progress.send_replace(Arc::new(view));
    }
}

/// One journal line per claim, re-claim or release, so a headless log tells the story.
fn log_event(kind: &'static str, ev: &ClaimEvent, holder: Option<&str>) {
    let who = holder.unwrap_or("unknown");
    let commit = ev.commit.get(..10).unwrap_or(&ev.commit);
    let verb = match kind {
        "claim" => "claimed",
        "reclaim" => "claimed again",
        _ => "released",
    };
    let held = ev
        .held_ms
        .map(|ms| {
            format!(
                " after {}",
                crate::core::human_duration(u64::try_from(ms).unwrap_or(0))
            )
        })
        .unwrap_or_default();
    tracing::info!(
        target: "drover::events",
        kind,
        task = %ev.task,
        holder = who,
        commit,
        held_ms = ev.held_ms,
        "task {} {verb} by {who}{held} — {}",
        ev.task,
        ev.summary
    );
}

impl UpstreamLink {
    /// Another handle on the repo (for the shared branch's check).
    pub(super) fn open_repo(&self) -> Result<UpstreamRepo, crate::upstream::UpstreamError> {
        (self.open)()
    }

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
            let result = open().and_then(|mut r| {
                let raw = unmasked_task(&mut r, &task)?;
                match claim.as_deref() {
                    Some(c) => r.release_claim(&raw, c, &who, &reason),
                    None => r.release_lock(&raw, &who, &reason),
                }
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

/// The lock's own name for `task` as the core knows it: lock names reach the core masked, so a
/// name holding a secret is looked up among the current locks by its masked form.
fn unmasked_task(
    repo: &mut crate::upstream::UpstreamRepo,
    task: &str,
) -> Result<String, crate::upstream::UpstreamError> {
    if !task.contains(crate::secrets::REDACTED) {
        return Ok(task.to_owned());
    }
    Ok(repo
        .lock_table()?
        .into_iter()
        .map(|l| l.task)
        .find(|raw| crate::secrets::mask(raw) == task)
        .unwrap_or_else(|| task.to_owned()))
}
