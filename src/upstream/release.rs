//! Releasing a stale lock: one new commit on the branch that removes the lock file, applied by
//! compare-and-swap.
//!
//! Invariants: the branch is only moved from the exact commit the release was built on (the
//! same check `git push` makes), so an agent's concurrent push is never overwritten and history
//! is never rewritten. On a lost race the release is rebuilt on the new tip and retried, a
//! bounded number of times; if the lock is gone by then, the outcome is `AlreadyReleased`.

use std::time::Duration;

use git2::{ErrorCode, Oid, Signature, build::TreeUpdateBuilder};

use super::error::{GitContext, UpstreamError};
use super::locks::{MODE_TREE, full_path, task_name};
use super::repo::UpstreamRepo;
use super::scan::{entry_at, flatten};
use super::text::{LABEL_MAX_CHARS, display_label};

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The branch now ends with `commit`, which removes the lock; `attempts` counts CAS tries.
    Released { commit: String, attempts: u32 },
    /// The lock was removed by someone else (e.g. its agent) before drover could.
    AlreadyReleased,
    /// The task's lock is now a different claim than the one the operator asked to release
    /// (the task was claimed again): nothing was changed.
    ClaimChanged {
        holder: Option<String>,
        claim_commit: String,
    },
}

/// A release commit, written but not yet on the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRelease {
    /// Task name of the lock being removed.
    pub task: String,
    /// Full repo path of the lock file (lossy, for display).
    pub path: String,
    /// The commit message.
    pub message: String,
    base: Oid,
    commit: Oid,
}

impl PreparedRelease {
    /// The tip the release was built on: the branch must still point here to apply it.
    pub fn base(&self) -> String {
        self.base.to_string()
    }

    /// The release commit.
    pub fn commit(&self) -> String {
        self.commit.to_string()
    }
}

impl UpstreamRepo {
    /// Removes the lock of `task` (a task name, or the lock's path relative to the repo or to
    /// the locks folder) in a commit naming `operator` and `reason`, retrying on races.
    pub fn release_lock(
        &mut self,
        task: &str,
        operator: &str,
        reason: &str,
    ) -> Result<ReleaseOutcome, UpstreamError> {
        self.release_lock_observed(task, None, operator, reason, &mut |_| {})
    }

    /// `release_lock`, but only of the claim made by commit `claim` (full or abbreviated id):
    /// if the task was claimed again since, the outcome is `ClaimChanged` and nothing moves.
    pub fn release_claim(
        &mut self,
        task: &str,
        claim: &str,
        operator: &str,
        reason: &str,
    ) -> Result<ReleaseOutcome, UpstreamError> {
        self.release_lock_observed(task, Some(claim), operator, reason, &mut |_| {})
    }

    /// The claim of `task` at the scanned tip differs from `expected`: the lock's current claim.
    fn claim_changed(
        &mut self,
        task: &str,
        expected: &str,
    ) -> Result<Option<ReleaseOutcome>, UpstreamError> {
        self.refresh()?;
        let locks = self.read_lock_table()?;
        let Some(lock) = locks.iter().find(|l| l.task == task || l.path == task) else {
            return Ok(None);
        };
        let same = !expected.is_empty()
            && (lock.claim_commit.starts_with(expected)
                || expected.starts_with(&lock.claim_commit));
        Ok((!same).then(|| ReleaseOutcome::ClaimChanged {
            holder: lock.holder.name().map(str::to_owned),
            claim_commit: lock.claim_commit.clone(),
        }))
    }

    /// `release_lock`, calling `before_apply(attempt)` between building and applying each
    /// attempt (lets tests interleave a competing push deterministically).
    fn release_lock_observed(
        &mut self,
        task: &str,
        claim: Option<&str>,
        operator: &str,
        reason: &str,
        before_apply: &mut dyn FnMut(u32),
    ) -> Result<ReleaseOutcome, UpstreamError> {
        for attempt in 1..=self.max_release_attempts {
            if let Some(expected) = claim
                && let Some(changed) = self.claim_changed(task, expected)?
            {
                return Ok(changed);
            }
            let Some(prepared) = self.prepare_release(task, operator, reason)? else {
                if attempt > 1 || self.was_released_before(task)? {
                    return Ok(ReleaseOutcome::AlreadyReleased);
                }
                return Err(UpstreamError::LockNotFound {
                    task: task.to_owned(),
                    locks_dir: self.locks_dir.clone(),
                });
            };
            // The claim was checked at the scanned tip; a release built on a newer tip is only
            // applied after checking that tip's claim too.
            if claim.is_some() && self.state.tip != Some(prepared.base) {
                continue;
            }
            before_apply(attempt);
            if self.apply_release(&prepared)? {
                tracing::info!(task = %prepared.task, commit = %prepared.commit, attempt, "released lock");
                return Ok(ReleaseOutcome::Released {
                    commit: prepared.commit(),
                    attempts: attempt,
                });
            }
            tracing::debug!(task = %prepared.task, attempt, "branch moved during lock release; retrying");
            // The branch is mid-update or just moved; a short pause lets a running push finish.
            std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
        }
        Err(UpstreamError::CasRetriesExhausted {
            task: task.to_owned(),
            branch: self.branch.clone(),
            attempts: self.max_release_attempts,
        })
    }

    /// Builds the release commit on the current tip without moving the branch; `None` when the
    /// tip holds no such lock.
    pub fn prepare_release(
        &self,
        task: &str,
        operator: &str,
        reason: &str,
    ) -> Result<Option<PreparedRelease>, UpstreamError> {
        let base = self.current_tip()?;
        let base_commit = self.repo.find_commit(base).git("reading the branch tip")?;
        let base_tree = base_commit.tree().git("reading the branch tip")?;
        let locks_tree = entry_at(&base_tree, &self.locks_dir)?
            .filter(|e| e.mode == MODE_TREE)
            .map(|e| e.id);
        let mut matches: Vec<Vec<u8>> = flatten(&self.repo, locks_tree)?
            .into_keys()
            .filter(|rel| {
                task_name(rel) == task
                    || display_label(rel, LABEL_MAX_CHARS) == task
                    || display_label(&full_path(&self.locks_dir, rel), LABEL_MAX_CHARS) == task
            })
            .collect();
        matches.sort();
        let rel = match matches.as_slice() {
            [] => return Ok(None),
            [one] => one.clone(),
            many => {
                return Err(UpstreamError::AmbiguousTask {
                    task: task.to_owned(),
                    paths: many
                        .iter()
                        .map(|r| display_label(&full_path(&self.locks_dir, r), LABEL_MAX_CHARS))
                        .collect(),
                });
            }
        };
        let raw_path = full_path(&self.locks_dir, &rel);
        let path = display_label(&raw_path, LABEL_MAX_CHARS);
        let task = task_name(&rel);
        let message = release_message(&task, &path, operator, reason);
        let tree_id = TreeUpdateBuilder::new()
            .remove(raw_path)
            .create_updated(&self.repo, &base_tree)
            .git("building the release tree")?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .git("building the release tree")?;
        let signature = Signature::now(&self.author_name, &self.author_email)
            .git("making the release signature")?;
        let commit = self
            .repo
            .commit(
                None,
                &signature,
                &signature,
                &message,
                &tree,
                &[&base_commit],
            )
            .git("writing the release commit")?;
        Ok(Some(PreparedRelease {
            task,
            path,
            message,
            base,
            commit,
        }))
    }

    /// Moves the branch to the release commit only if it still points at the commit the
    /// release was built on. `Ok(false)`: the branch moved (or is being updated right now);
    /// nothing was changed.
    pub fn apply_release(&self, prepared: &PreparedRelease) -> Result<bool, UpstreamError> {
        let log = format!("drover: release lock {}", prepared.task);
        match self
            .repo
            .reference_matching(&self.branch, prepared.commit, true, prepared.base, &log)
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Locked) => Ok(false),
            Err(source) => Err(UpstreamError::Git {
                context: "updating the branch",
                source,
            }),
        }
    }

    fn was_released_before(&mut self, task: &str) -> Result<bool, UpstreamError> {
        let history = self.history()?;
        Ok(history.task(task).is_some_and(|s| s.release_count > 0)
            || history
                .events()
                .any(|e| e.path == task && e.kind == super::history::ClaimEventKind::Released))
    }
}

/// `drover: release lock <task> (by <operator>: <reason>)` plus a body naming the file.
fn release_message(task: &str, path: &str, operator: &str, reason: &str) -> String {
    let one_line = |s: &str, max| {
        display_label(
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_bytes(),
            max,
        )
    };
    let operator = match one_line(operator, 64) {
        o if o.is_empty() => "unknown operator".to_owned(),
        o => o,
    };
    let reason = one_line(reason, LABEL_MAX_CHARS);
    let by = if reason.is_empty() {
        format!("by {operator}")
    } else {
        format!("by {operator}: {reason}")
    };
    format!("drover: release lock {task} ({by})\n\nLock file: {path}\nReleased-by: {operator}\n")
}

#[cfg(test)]
mod tests;
