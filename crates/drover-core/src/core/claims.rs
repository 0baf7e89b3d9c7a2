//! The re-claim detector's book (the fleet acts on its firings in `loops`): every claim of
//! every task, as the upstream adapter reports them (commit time, claimer, commit), judged
//! against the re-claim rule — a task claimed `max_claims` times within `window`, or by one
//! slot `max_claims_per_slot` times, is a loop (the agent keeps dropping the task and taking
//! it again). The alert names the task and goes to the latest claimer (a fleet-wide alert when
//! that is not one of this fleet's slots).
//!
//! Invariants: memory is bounded — per task at most [`KEEP_PER_TASK`] claims inside the window
//! and at most [`MAX_TASKS`] tasks (the longest unclaimed are forgotten first); one alert per
//! task while the condition holds, cleared once claims age out of the window.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::alerts::AlertTable;
use super::effect::Effect;
use super::model::alert::{AlertKey, AlertKind, Severity};
use super::model::{Millis, human};
use super::policy::ReclaimRule;

/// Claims kept per task: enough to evidence any sensible threshold.
pub const KEEP_PER_TASK: usize = 64;
/// Tasks tracked at most (the oldest-claimed are dropped beyond this).
pub const MAX_TASKS: usize = 10_000;

/// One claim commit of a task lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimObservation {
    pub task: String,
    /// The slot (or other name) the lock file or its commit names.
    pub holder: Option<String>,
    /// Commit time.
    pub at: Millis,
    /// Commit id (short or full).
    pub commit: String,
    /// The claiming commit's subject (`Lock task: parser`), shown in the claim history.
    #[serde(default)]
    pub summary: String,
}

#[derive(Clone, Debug, Default)]
struct TaskClaims {
    recent: VecDeque<ClaimObservation>,
    /// Claims seen since drover started (the adapter's first report is the whole history).
    total: u64,
}

/// A re-claim loop that just started, for the fleet to act on.
pub(crate) struct ReclaimFiring {
    pub slot: String,
    pub message: String,
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ClaimBook {
    tasks: BTreeMap<String, TaskClaims>,
}

impl ClaimBook {
    /// Adds claims (oldest first); `replace` starts over (the adapter rescanned history).
    pub(crate) fn observe(&mut self, claims: Vec<ClaimObservation>, replace: bool) {
        if replace {
            self.tasks.clear();
        }
        for c in claims {
            let t = self.tasks.entry(c.task.clone()).or_default();
            t.total = t.total.saturating_add(1);
            t.recent.push_back(c);
            if t.recent.len() > KEEP_PER_TASK {
                t.recent.pop_front();
            }
        }
        if self.tasks.len() > MAX_TASKS {
            let mut by_age: Vec<(Millis, String)> = self
                .tasks
                .iter()
                .map(|(k, t)| (t.recent.back().map_or(0, |c| c.at), k.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, k) in by_age.into_iter().take(self.tasks.len() - MAX_TASKS) {
                self.tasks.remove(&k);
            }
        }
    }

    /// Claims of `task` seen so far.
    pub(crate) fn total(&self, task: &str) -> u64 {
        self.tasks.get(task).map_or(0, |t| t.total)
    }

    /// Re-evaluates every task; raises and clears alerts. `is_slot` recognises this fleet's
    /// slots; returns the firings that are new (to act on) and whether anything changed.
    pub(crate) fn evaluate(
        &mut self,
        now: Millis,
        rule: &ReclaimRule,
        is_slot: impl Fn(&str) -> bool,
        alerts: &mut AlertTable,
        out: &mut Vec<Effect>,
    ) -> Vec<ReclaimFiring> {
        let mut firings = Vec::new();
        let since = now.saturating_sub(rule.window);
        let mut keep = BTreeMap::new();
        for (task, mut t) in std::mem::take(&mut self.tasks) {
            while t.recent.front().is_some_and(|c| c.at < since) {
                t.recent.pop_front();
            }
            let latest = t.recent.back().and_then(|c| c.holder.clone());
            let by_latest = latest.as_deref().map_or(0, |h| {
                t.recent
                    .iter()
                    .filter(|c| c.holder.as_deref() == Some(h))
                    .count()
            });
            let looping = rule.rule.enabled
                && (t.recent.len() as u32 >= rule.max_claims.max(1)
                    || by_latest as u32 >= rule.max_claims_per_slot.max(1));
            let slot = latest.clone().filter(|h| is_slot(h));
            let key = AlertKey {
                slot: slot.clone(),
                kind: AlertKind::Reclaim { task: task.clone() },
            };
            // A change of latest claimer moves the alert to the new one.
            for k in alerts.keys_where(|k| {
                matches!(&k.kind, AlertKind::Reclaim { task: x } if *x == task) && *k != key
            }) {
                alerts.clear(now, &k, out);
            }
            if looping {
                let new = !alerts.is_active(&key);
                let who = latest.as_deref().unwrap_or("an unknown holder");
                let message = format!(
                    "task {task} claimed {} times within {} (last by {who}, {by_latest} of them)",
                    t.recent.len(),
                    human(rule.window),
                );
                let evidence: Vec<String> = t
                    .recent
                    .iter()
                    .rev()
                    .take(10)
                    .map(|c| {
                        let subject = if c.summary.is_empty() {
                            String::new()
                        } else {
                            format!(" \"{}\"", c.summary)
                        };
                        format!(
                            "claimed by {} in {}{subject}, {} ago",
                            c.holder.as_deref().unwrap_or("unknown"),
                            c.commit.get(..10).unwrap_or(&c.commit),
                            human(now.saturating_sub(c.at))
                        )
                    })
                    .collect();
                alerts.raise(now, key, Severity::Warning, &message, &evidence, out);
                if new && let Some(slot) = slot {
                    firings.push(ReclaimFiring {
                        slot,
                        message,
                        evidence,
                    });
                }
            } else {
                alerts.clear(now, &key, out);
            }
            keep.insert(task, t);
        }
        self.tasks = keep;
        firings
    }

    /// When the next claim leaves the window (a firing may end then).
    pub(crate) fn next_deadline(&self, rule: &ReclaimRule) -> Option<Millis> {
        self.tasks
            .values()
            .filter_map(|t| t.recent.front())
            .map(|c| c.at.saturating_add(rule.window).saturating_add(1))
            .min()
    }
}
