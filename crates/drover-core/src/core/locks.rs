//! The upstream lock table as last observed, with the two lock conditions the core alerts on:
//! overdue (held longer than the holder role's `task_timeout`) and stale (the holder is a slot
//! that will not come back on its own: blocked, stopped, exited for good, or scaled away).
//!
//! Overdue is adaptive: once the fleet has released [`ADAPTIVE_MIN_RELEASES`] locks, a lock is
//! overdue past max(`task_timeout`, [`ADAPTIVE_FACTOR`] × the fleet's p90 hold time), so a fleet
//! whose tasks normally take hours is not flagged at the configured floor.
//!
//! Invariant: each lock condition has exactly one alert while it holds; a lock that disappears
//! takes its alerts with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::alerts::AlertTable;
use super::effect::Effect;
use super::model::alert::{AlertKey, AlertKind, Severity};
use super::model::{LockObservation, Millis, SlotState, human};

/// A lock with what the core concluded about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockView {
    pub task: String,
    pub holder: Option<String>,
    pub claimed_at: Millis,
    /// The holder names a slot of this fleet (current or scaled away).
    pub holder_is_slot: bool,
    pub overdue: bool,
    pub stale: bool,
    /// An operator asked for its release and the lock is still there.
    pub release_requested: bool,
    /// Claims of this task seen upstream (the re-claim loop's counter).
    #[serde(default)]
    pub claims: u64,
    #[serde(default)]
    pub claim_commit: Option<String>,
}

/// How the upstream repo reads, as the adapter last reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpstreamState {
    /// Not configured, or not read yet.
    #[default]
    Unknown,
    Ready,
    /// No commit on the followed branch yet: waiting for the first push.
    Empty,
    /// The last read failed (retried at the next change or poll).
    Unreadable {
        error: String,
    },
}

/// The upstream as the faces show it: its state and the fleet's own hold times.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamView {
    pub state: UpstreamState,
    /// Locks released so far (with a known hold time).
    #[serde(default)]
    pub releases: u64,
    #[serde(default)]
    pub hold_p50: Option<Millis>,
    #[serde(default)]
    pub hold_p90: Option<Millis>,
}

impl UpstreamView {
    /// What the header and `drover status` say about the upstream, when there is something to
    /// say (an empty or unreadable repo).
    pub fn headline(&self) -> Option<String> {
        match &self.state {
            UpstreamState::Empty => Some("upstream empty — waiting for the first push".into()),
            UpstreamState::Unreadable { error } => Some(format!("upstream unreadable: {error}")),
            UpstreamState::Unknown | UpstreamState::Ready => None,
        }
    }

    /// `hold p50 20m · p90 2h (143 released)`, once any lock was released.
    pub fn hold_line(&self) -> Option<String> {
        let (p50, p90) = (self.hold_p50?, self.hold_p90?);
        let adaptive = if self.releases >= ADAPTIVE_MIN_RELEASES {
            format!(
                "; overdue past max(task_timeout, {ADAPTIVE_FACTOR} × p90 = {})",
                super::model::human(p90.saturating_mul(ADAPTIVE_FACTOR))
            )
        } else {
            format!("; adaptive overdue from {ADAPTIVE_MIN_RELEASES} releases")
        };
        Some(format!(
            "hold p50 {} · p90 {} ({} released){adaptive}",
            super::model::human(p50),
            super::model::human(p90),
            self.releases
        ))
    }
}

/// Overdue (and, separately, stale) locks alerted one by one; the rest are counted in one
/// fleet alert.
pub const MAX_LOCK_ALERTS: usize = 50;

/// Released locks needed before the fleet's own hold times set the overdue threshold.
pub const ADAPTIVE_MIN_RELEASES: u64 = 20;
/// Overdue past this many times the fleet's p90 hold (when that exceeds the floor).
pub const ADAPTIVE_FACTOR: u64 = 3;

/// The overdue threshold for a lock whose configured timeout is `floor`.
pub fn adaptive_timeout(floor: Millis, view: &UpstreamView) -> Millis {
    match view.hold_p90 {
        Some(p90) if view.releases >= ADAPTIVE_MIN_RELEASES => {
            floor.max(p90.saturating_mul(ADAPTIVE_FACTOR))
        }
        _ => floor,
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of ascending `sorted`; `None` when empty.
pub fn percentile<T: Copy>(sorted: &[T], p: u32) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p.min(100)) * sorted.len() as u64).div_ceil(100);
    let i = usize::try_from(rank.max(1) - 1).unwrap_or(usize::MAX);
    sorted.get(i.min(sorted.len() - 1)).copied()
}

/// What the lock book needs to know about a holder slot.
pub(crate) struct HolderInfo {
    pub state: SlotState,
    pub task_timeout: Millis,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct LockBook {
    locks: BTreeMap<String, LockView>,
    pub(crate) upstream: UpstreamView,
    /// A lock table was observed since drover started. Before that the table is unknown, not
    /// empty: alerts read back from the store stay as they are (same condition, same alert).
    observed: bool,
}

impl LockBook {
    /// Records the adapter's view of the upstream; true when it changed.
    pub(crate) fn set_upstream(&mut self, view: UpstreamView) -> bool {
        let changed = view != self.upstream;
        self.upstream = view;
        changed
    }

    /// The overdue threshold for a configured `floor` (see the module docs).
    pub(crate) fn timeout(&self, floor: Millis) -> Millis {
        adaptive_timeout(floor, &self.upstream)
    }

    pub(crate) fn views(&self) -> impl Iterator<Item = &LockView> {
        self.locks.values()
    }

    pub(crate) fn get(&self, task: &str) -> Option<&LockView> {
        self.locks.get(task)
    }

    pub(crate) fn held_by(&self, slot: &str) -> Option<&LockView> {
        self.locks
            .values()
            .filter(|l| l.holder.as_deref() == Some(slot))
            .min_by_key(|l| l.claimed_at)
    }

    pub(crate) fn mark_release_requested(&mut self, task: &str) {
        if let Some(l) = self.locks.get_mut(task) {
            l.release_requested = true;
        }
    }

    /// A release that did not remove this claim: the operator may ask again.
    pub(crate) fn release_ended(&mut self, task: &str, claim: Option<&str>) -> bool {
        match self.locks.get_mut(task) {
            Some(l) if l.release_requested && l.claim_commit.as_deref() == claim => {
                l.release_requested = false;
                true
            }
            _ => false,
        }
    }

    /// Replaces the table with a fresh observation. Returns true when anything changed.
    pub(crate) fn observe(&mut self, observed: Vec<LockObservation>) -> bool {
        self.observed = true;
        let mut next = BTreeMap::new();
        for o in observed {
            let prev = self.locks.get(&o.task);
            let same_claim = prev.is_some_and(|p| {
                p.claimed_at == o.claimed_at
                    && p.holder == o.holder
                    && p.claim_commit == o.claim_commit
            });
            next.insert(
                o.task.clone(),
                LockView {
                    release_requested: same_claim && prev.is_some_and(|p| p.release_requested),
                    overdue: same_claim && prev.is_some_and(|p| p.overdue),
                    stale: same_claim && prev.is_some_and(|p| p.stale),
                    holder_is_slot: false,
                    claims: prev.map_or(0, |p| p.claims),
                    claim_commit: o.claim_commit,
                    task: o.task,
                    holder: o.holder,
                    claimed_at: o.claimed_at,
                },
            );
        }
        let changed = next != self.locks;
        self.locks = next;
        changed
    }

    /// Sets each lock's claim counter.
    pub(crate) fn set_claims(&mut self, total: impl Fn(&str) -> u64) -> bool {
        let mut changed = false;
        for l in self.locks.values_mut() {
            let n = total(&l.task);
            changed |= n != l.claims;
            l.claims = n;
        }
        changed
    }

    /// Re-evaluates every lock against the slots and raises/clears alerts (raises only when
    /// `alerting`). `holder` answers for names of current slots; `was_slot` recognises this
    /// fleet's slot names that no longer exist; `default_timeout` applies to unknown holders.
    /// Returns whether anything changed, and the (holder slot, message) of every alert raised
    /// now whose holder is a current slot, for the detector's action.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate(
        &mut self,
        now: Millis,
        holder: impl Fn(&str) -> Option<HolderInfo>,
        was_slot: impl Fn(&str) -> bool,
        default_timeout: Millis,
        alerting: bool,
        alerts: &mut AlertTable,
        out: &mut Vec<Effect>,
    ) -> (bool, Vec<(String, String)>) {
        let mut changed = false;
        let mut raised = Vec::new();
        if !self.observed {
            return (changed, raised);
        }
        // Overdue and stale locks past the first MAX_LOCK_ALERTS (in task order, so the same
        // ones each time) are only counted: one push of 100 000 lock files must not raise
        // 100 000 alerts.
        let (mut overdue_n, mut stale_n) = (0usize, 0usize);
        let upstream = &self.upstream;
        for l in self.locks.values_mut() {
            let info = l.holder.as_deref().and_then(&holder);
            let gone = info.is_none() && l.holder.as_deref().is_some_and(&was_slot);
            let floor = info.as_ref().map_or(default_timeout, |i| i.task_timeout);
            let timeout = adaptive_timeout(floor, upstream);
            let overdue = now.saturating_sub(l.claimed_at) >= timeout;
            let stale = gone
                || info.as_ref().is_some_and(|i| {
                    matches!(
                        i.state,
                        SlotState::Blocked { .. }
                            | SlotState::Stopped { .. }
                            | SlotState::Exited { .. }
                            | SlotState::Retiring
                    )
                });
            let holder_is_slot = info.is_some() || gone;
            if (overdue, stale, holder_is_slot) != (l.overdue, l.stale, l.holder_is_slot) {
                changed = true;
            }
            let slot_key = if holder_is_slot {
                l.holder.clone()
            } else {
                None
            };
            let overdue_key = AlertKey {
                slot: slot_key.clone(),
                kind: AlertKind::TaskOverdue {
                    task: l.task.clone(),
                },
            };
            let stale_key = AlertKey {
                slot: slot_key,
                kind: AlertKind::StaleLock {
                    task: l.task.clone(),
                },
            };
            let current = info.is_some().then(|| l.holder.clone()).flatten();
            overdue_n += usize::from(overdue);
            stale_n += usize::from(stale);
            let overdue = overdue && overdue_n <= MAX_LOCK_ALERTS;
            let stale_alert = stale && stale_n <= MAX_LOCK_ALERTS;
            if alerting && overdue && !alerts.is_active(&overdue_key) {
                let who = l.holder.as_deref().unwrap_or("an unknown holder");
                let msg = format!("task {} held by {who} for over {}", l.task, human(timeout));
                alerts.raise(now, overdue_key, Severity::Warning, &msg, &[], out);
                if let Some(slot) = &current {
                    raised.push((slot.clone(), msg));
                }
            } else if !overdue || !alerting {
                alerts.clear(now, &overdue_key, out);
            }
            if alerting && stale_alert && !alerts.is_active(&stale_key) {
                let who = l.holder.as_deref().unwrap_or("?");
                let msg = format!("task {} is locked by {who}, which is not running", l.task);
                alerts.raise(now, stale_key, Severity::Warning, &msg, &[], out);
            } else if !stale_alert || !alerting {
                alerts.clear(now, &stale_key, out);
            }
            l.overdue = now.saturating_sub(l.claimed_at) >= timeout;
            l.stale = stale;
            l.holder_is_slot = holder_is_slot;
        }
        // Locks that vanished take their alerts with them.
        let gone: Vec<AlertKey> = alerts.keys_where(|k| match &k.kind {
            AlertKind::TaskOverdue { task } | AlertKind::StaleLock { task } => {
                self.locks.get(task).is_none_or(|l| {
                    let slot = if l.holder_is_slot {
                        l.holder.as_deref()
                    } else {
                        None
                    };
                    k.slot.as_deref() != slot
                })
            }
            _ => false,
        });
        for k in gone {
            alerts.clear(now, &k, out);
        }
        let key = AlertKey::fleet(AlertKind::LockAlertsCounted);
        let extra_overdue = overdue_n.saturating_sub(MAX_LOCK_ALERTS);
        let extra_stale = stale_n.saturating_sub(MAX_LOCK_ALERTS);
        if alerting && extra_overdue + extra_stale > 0 {
            let msg = format!(
                "{overdue_n} locks overdue and {stale_n} stale: past the first {MAX_LOCK_ALERTS} of each, {extra_overdue} overdue and {extra_stale} stale are counted here instead of alerted one by one"
            );
            // One alert, its message updated in place as the counts move.
            alerts.raise(now, key, Severity::Warning, &msg, &[], out);
        } else {
            alerts.clear(now, &key, out);
        }
        (changed, raised)
    }

    /// The earliest time a lock becomes overdue.
    pub(crate) fn next_deadline(
        &self,
        timeout_of: impl Fn(Option<&str>) -> Millis,
    ) -> Option<Millis> {
        self.locks
            .values()
            .filter(|l| !l.overdue)
            .map(|l| {
                l.claimed_at
                    .saturating_add(self.timeout(timeout_of(l.holder.as_deref())))
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    fn view(releases: u64, p90: Millis) -> UpstreamView {
        UpstreamView {
            state: UpstreamState::Ready,
            releases,
            hold_p50: Some(p90 / 6),
            hold_p90: Some(p90),
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 99), Some(10));
        assert_eq!(percentile(&v, 0), Some(1));
        assert_eq!(percentile::<u64>(&[], 50), None);
    }

    #[test]
    fn the_fleets_own_p90_sets_overdue_once_twenty_locks_were_released() {
        // A fleet whose 90th percentile hold is 2 hours, with a 30-minute configured floor.
        assert_eq!(adaptive_timeout(30 * MIN, &view(19, 120 * MIN)), 30 * MIN);
        assert_eq!(adaptive_timeout(30 * MIN, &view(20, 120 * MIN)), 360 * MIN);
        // The floor wins when the fleet is quicker than it.
        assert_eq!(adaptive_timeout(30 * MIN, &view(500, 5 * MIN)), 30 * MIN);
        assert_eq!(
            adaptive_timeout(30 * MIN, &UpstreamView::default()),
            30 * MIN
        );
    }

    #[test]
    fn a_lock_held_an_hour_is_not_overdue_in_a_fleet_that_holds_for_hours() {
        let mut book = LockBook::default();
        book.observe(vec![LockObservation {
            task: "parser".into(),
            holder: None,
            claimed_at: 0,
            claim_commit: Some("c1".into()),
        }]);
        let mut alerts = AlertTable::default();
        let mut out = Vec::new();
        let mut eval = |book: &mut LockBook, now: Millis| {
            book.evaluate(
                now,
                |_| None,
                |_| false,
                30 * MIN,
                true,
                &mut alerts,
                &mut out,
            );
            book.get("parser").is_some_and(|l| l.overdue)
        };
        assert!(
            eval(&mut book, 60 * MIN),
            "fixed floor: overdue after 30 min"
        );
        book.set_upstream(view(20, 120 * MIN));
        assert!(!eval(&mut book, 60 * MIN), "adaptive: 3 × 2 h");
        assert!(eval(&mut book, 360 * MIN));
        assert_eq!(book.next_deadline(|_| 30 * MIN), None);
        let hold = book.upstream.hold_line().unwrap_or_default();
        assert!(hold.contains("p90 2h"), "{hold}");
    }
}
