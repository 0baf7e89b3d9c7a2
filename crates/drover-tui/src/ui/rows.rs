//! The rows the views list, in the order they are shown: read by rendering (what is drawn)
//! and by key handling (what a selection points at), so both agree and neither imports the
//! other.

use crate::core::{Alert, LockView, SlotState, Snapshot};

/// Alerts in the order the alerts view lists them: unacknowledged first, then by severity
/// and recency.
pub fn alerts_sorted(snap: &Snapshot) -> Vec<&Alert> {
    let mut v: Vec<&Alert> = snap.alerts.iter().collect();
    v.sort_by(|a, b| {
        a.acked
            .is_some()
            .cmp(&b.acked.is_some())
            .then(b.severity.cmp(&a.severity))
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.id.cmp(&b.id))
    });
    v
}

/// Locks in the order the locks view lists them: stale, then overdue, then by task.
pub fn locks_sorted(snap: &Snapshot) -> Vec<&LockView> {
    let mut v: Vec<&LockView> = snap.locks.iter().collect();
    v.sort_by(|a, b| {
        b.stale
            .cmp(&a.stale)
            .then(b.overdue.cmp(&a.overdue))
            .then(a.task.cmp(&b.task))
    });
    v
}

/// Current replicas of `role` (slots being scaled away not counted).
pub(crate) fn replicas(snap: &Snapshot, role: &str) -> u32 {
    let n = snap
        .slots
        .iter()
        .filter(|s| s.role == role && s.state != SlotState::Retiring)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}
