//! The alert table: one alert per (slot, condition) while the condition holds.
//!
//! Invariants: raising an already active alert only updates `last_seen`/`count`/evidence and
//! emits nothing (no spam); clearing emits the final record once; acknowledging marks the alert
//! (it stays visible) and silences re-notification until it clears. Ids are unique across
//! drover restarts (see [`IdClock`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::effect::Effect;
use super::model::Millis;
use super::signature::{MAX_REASON_BYTES, cut};

/// Evidence lines kept per alert.
pub const MAX_EVIDENCE: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The condition an alert reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    CrashLoop,
    Blocked,
    Stall,
    TaskOverdue {
        task: String,
    },
    StaleLock {
        task: String,
    },
    /// The same task claimed again and again (see `claims`).
    Reclaim {
        task: String,
    },
    ProbeFailing,
    DockerDown,
    /// One host of a fleet over several engines is unreachable (its slots are frozen).
    HostDown {
        host: String,
    },
    /// Raised by a loop detector through [`crate::core::Input::DetectorFired`].
    Loop {
        detector: String,
    },
    /// The upstream holds more lock files than drover keeps (see `MAX_LOCKS`).
    LocksTruncated,
    /// A container wears this fleet's labels but is not drover's (name or fleet id differ):
    /// it is left alone and named here.
    ForeignContainer {
        name: String,
    },
    /// The slot's agent hit a usage limit and waits for the reset (info only).
    UsageLimit,
    /// The fleet's daily spend reached `[budget] daily_usd`: no new sessions today.
    DailyBudget,
    /// The slot's agent printed usage lines too large to be real; they were not counted.
    ImplausibleUsage,
    /// More overdue or stale locks than are alerted one by one (see `MAX_LOCK_ALERTS`): the
    /// rest are counted in this one alert.
    LockAlertsCounted,
}

impl AlertKind {
    /// Short name for tables and the store's `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::CrashLoop => "crash_loop",
            AlertKind::Blocked => "blocked",
            AlertKind::Stall => "stall",
            AlertKind::TaskOverdue { .. } => "task_overdue",
            AlertKind::StaleLock { .. } => "stale_lock",
            AlertKind::Reclaim { .. } => "reclaim",
            AlertKind::ProbeFailing => "probe_failing",
            AlertKind::DockerDown => "docker_down",
            AlertKind::HostDown { .. } => "host_down",
            AlertKind::Loop { .. } => "loop",
            AlertKind::LocksTruncated => "locks_truncated",
            AlertKind::ForeignContainer { .. } => "foreign_container",
            AlertKind::UsageLimit => "usage_limit",
            AlertKind::DailyBudget => "daily_budget",
            AlertKind::ImplausibleUsage => "implausible_usage",
            AlertKind::LockAlertsCounted => "lock_alerts_counted",
        }
    }
}

/// What identifies a condition: the slot it concerns (none for fleet-wide ones) and its kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    pub slot: Option<String>,
    pub kind: AlertKind,
}

impl AlertKey {
    pub fn slot(slot: &str, kind: AlertKind) -> Self {
        Self {
            slot: Some(slot.to_string()),
            kind,
        }
    }

    pub fn fleet(kind: AlertKind) -> Self {
        Self { slot: None, kind }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub key: AlertKey,
    pub severity: Severity,
    pub message: String,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// How many times the condition was observed while active.
    pub count: u32,
    pub evidence: Vec<String>,
    pub acked: Option<Acknowledgement>,
    /// Set on the final record when the condition ended.
    pub cleared_at: Option<Millis>,
}

/// How an operator names an alert: by id, or by its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRef {
    Id(u64),
    Key(AlertKey),
}

/// Ids that stay unique across drover restarts without a counter in the store: at least
/// `now × 1024` and strictly increasing. Fits in 53 bits (JSON-safe) until the year 2109.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdClock {
    last: u64,
}

impl IdClock {
    pub(crate) fn next(&mut self, now: Millis) -> u64 {
        self.last = (self.last + 1).max(now.saturating_mul(1024));
        self.last
    }

    pub(crate) fn observe(&mut self, id: u64) {
        self.last = self.last.max(id);
    }
}

/// Outcome of acknowledging an alert.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    Acked,
    AlreadyAcked,
    NotFound,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct AlertTable {
    active: BTreeMap<AlertKey, Alert>,
    ids: IdClock,
}

impl AlertTable {
    pub(crate) fn restore(alerts: Vec<Alert>) -> Self {
        let mut table = Self::default();
        for a in alerts {
            if a.cleared_at.is_none() {
                table.ids.observe(a.id);
                table.active.insert(a.key.clone(), a);
            }
        }
        table
    }

    /// Raises or refreshes the alert for `key`; emits [`Effect::RaiseAlert`] when new and
    /// [`Effect::UpdateAlert`] when its severity went up (it may need a human now).
    pub(crate) fn raise(
        &mut self,
        now: Millis,
        key: AlertKey,
        severity: Severity,
        message: &str,
        evidence: &[String],
        out: &mut Vec<Effect>,
    ) {
        let message = cut(message, MAX_REASON_BYTES).to_string();
        if let Some(a) = self.active.get_mut(&key) {
            a.last_seen = now;
            a.count = a.count.saturating_add(1);
            let escalated = severity > a.severity;
            a.severity = a.severity.max(severity);
            a.message = message;
            if !evidence.is_empty() {
                a.evidence = bounded_evidence(evidence);
            }
            if escalated {
                out.push(Effect::UpdateAlert(a.clone()));
            }
            return;
        }
        let alert = Alert {
            id: self.ids.next(now),
            key: key.clone(),
            severity,
            message,
            first_seen: now,
            last_seen: now,
            count: 1,
            evidence: bounded_evidence(evidence),
            acked: None,
            cleared_at: None,
        };
        out.push(Effect::RaiseAlert(alert.clone()));
        self.active.insert(key, alert);
    }

    /// Ends the condition for `key`; emits the final record once.
    pub(crate) fn clear(&mut self, now: Millis, key: &AlertKey, out: &mut Vec<Effect>) {
        if let Some(mut a) = self.active.remove(key) {
            a.cleared_at = Some(now);
            out.push(Effect::ClearAlert(a));
        }
    }

    /// Clears every alert of `slot` (the slot is gone).
    pub(crate) fn clear_slot(&mut self, now: Millis, slot: &str, out: &mut Vec<Effect>) {
        let keys: Vec<AlertKey> = self
            .active
            .keys()
            .filter(|k| k.slot.as_deref() == Some(slot))
            .cloned()
            .collect();
        for k in keys {
            self.clear(now, &k, out);
        }
    }

    pub(crate) fn ack(
        &mut self,
        now: Millis,
        target: &AlertRef,
        by: &str,
        out: &mut Vec<Effect>,
    ) -> AckOutcome {
        let found = match target {
            AlertRef::Key(k) => self.active.get_mut(k),
            AlertRef::Id(id) => self.active.values_mut().find(|a| a.id == *id),
        };
        let Some(a) = found else {
            return AckOutcome::NotFound;
        };
        if a.acked.is_some() {
            return AckOutcome::AlreadyAcked;
        }
        a.acked = Some(Acknowledgement {
            by: by.to_string(),
            at: now,
        });
        out.push(Effect::UpdateAlert(a.clone()));
        AckOutcome::Acked
    }

    pub(crate) fn is_active(&self, key: &AlertKey) -> bool {
        self.active.contains_key(key)
    }

    pub(crate) fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    pub(crate) fn keys_where(&self, pred: impl Fn(&AlertKey) -> bool) -> Vec<AlertKey> {
        self.active.keys().filter(|k| pred(k)).cloned().collect()
    }
}

/// Decides which alerts a human is told about (bell, desktop notification, hook): warnings
/// and worse, not acknowledged, once per alert — again only if its severity goes up. Feed it
/// every alert record seen (raised, updated, or the active list of a snapshot).
#[derive(Clone, Debug, Default)]
pub struct NotifyGate {
    told: BTreeMap<u64, Severity>,
}

impl NotifyGate {
    /// True when `alert` should be notified now (and records that it was).
    pub fn admit(&mut self, alert: &Alert) -> bool {
        if alert.cleared_at.is_some() {
            self.told.remove(&alert.id);
            return false;
        }
        if alert.acked.is_some() || alert.severity < Severity::Warning {
            return false;
        }
        match self.told.get(&alert.id) {
            Some(s) if *s >= alert.severity => false,
            _ => {
                self.told.insert(alert.id, alert.severity);
                true
            }
        }
    }

    /// Forgets alerts that are no longer active (bounded memory for a face that only sees
    /// snapshots, not clearing records).
    pub fn retain(&mut self, active: impl Fn(u64) -> bool) {
        self.told.retain(|id, _| active(*id));
    }
}

fn bounded_evidence(lines: &[String]) -> Vec<String> {
    // The start is at most `len`, so the slice cannot be out of range.
    lines[lines.len().saturating_sub(MAX_EVIDENCE)..]
        .iter()
        .map(|l| cut(l, MAX_REASON_BYTES).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alert_per_condition_until_cleared() {
        let mut t = AlertTable::default();
        let mut out = Vec::new();
        let key = AlertKey::slot("a-1", AlertKind::Stall);
        t.raise(
            1_000,
            key.clone(),
            Severity::Warning,
            "stalled",
            &[],
            &mut out,
        );
        t.raise(
            2_000,
            key.clone(),
            Severity::Warning,
            "stalled",
            &[],
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(t.active().next().map(|a| a.count), Some(2));
        assert_eq!(
            t.ack(2_500, &AlertRef::Key(key.clone()), "ops", &mut out),
            AckOutcome::Acked
        );
        assert_eq!(
            t.ack(2_600, &AlertRef::Key(key.clone()), "ops", &mut out),
            AckOutcome::AlreadyAcked
        );
        t.clear(3_000, &key, &mut out);
        t.clear(3_000, &key, &mut out);
        assert_eq!(out.len(), 3);
        t.raise(4_000, key, Severity::Warning, "stalled", &[], &mut out);
        assert_eq!(out.len(), 4, "a cleared condition can fire again");
    }

    #[test]
    fn the_gate_tells_once_per_alert_and_again_on_escalation_only() {
        let mut t = AlertTable::default();
        let mut out = Vec::new();
        let key = AlertKey::slot("a-1", AlertKind::Stall);
        t.raise(1, key.clone(), Severity::Info, "meh", &[], &mut out);
        let mut gate = NotifyGate::default();
        let current = |t: &AlertTable| t.active().next().cloned().unwrap();
        assert!(!gate.admit(&current(&t)), "info needs no human");
        t.raise(2, key.clone(), Severity::Warning, "bad", &[], &mut out);
        assert!(matches!(out.last(), Some(Effect::UpdateAlert(_))));
        assert!(gate.admit(&current(&t)));
        assert!(!gate.admit(&current(&t)), "told once");
        t.raise(3, key.clone(), Severity::Critical, "worse", &[], &mut out);
        assert!(gate.admit(&current(&t)), "escalation is told");
        t.ack(4, &AlertRef::Key(key.clone()), "ops", &mut out);
        t.clear(5, &key, &mut out);
        t.raise(6, key.clone(), Severity::Critical, "again", &[], &mut out);
        let again = current(&t);
        t.ack(7, &AlertRef::Key(key.clone()), "ops", &mut out);
        assert!(!gate.admit(&current(&t)), "acknowledged: silent");
        assert!(
            gate.admit(&again),
            "a cleared condition that fires again is told again"
        );
    }

    #[test]
    fn ids_are_unique_and_increasing_even_within_a_millisecond() {
        let mut ids = IdClock::default();
        let a = ids.next(5);
        let b = ids.next(5);
        let c = ids.next(4);
        assert!(a < b && b < c);
    }
}
