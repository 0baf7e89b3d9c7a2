//! Incidents (a slot out of healthy service, from leaving it to coming back) and the service
//! metrics computed from them: MTTR p50/p95, MTBF, recovery rate, restarts.
//!
//! Invariants: at most one open incident per slot; a closed incident has `closed_at >=
//! opened_at`; history and per-slot statistics are bounded ([`HISTORY_CAP`], [`SLOT_SAMPLES`]);
//! metrics are recomputed when an incident closes, not on every snapshot.

use std::collections::{BTreeMap, VecDeque};

use super::effect::Effect;
use super::model::Millis;
use super::model::alert::IdClock;
use super::model::incident::{Incident, IncidentCause, Resolution, ServiceMetrics};

/// Closed incidents kept for fleet metrics.
pub const HISTORY_CAP: usize = 1_000;
/// Repair times and healthy stretches kept per slot.
pub const SLOT_SAMPLES: usize = 100;

#[derive(Clone, Debug, Default)]
struct SlotStats {
    repairs: VecDeque<Millis>,
    uptimes: VecDeque<Millis>,
    closed: u32,
    auto: u32,
    last_closed_at: Option<Millis>,
    metrics: ServiceMetrics,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct IncidentBook {
    open: BTreeMap<String, Incident>,
    history: VecDeque<Incident>,
    uptimes: VecDeque<Millis>,
    per_slot: BTreeMap<String, SlotStats>,
    fleet: ServiceMetrics,
    ids: IdClock,
}

impl IncidentBook {
    /// Rebuilds the book from the store: open incidents and (bounded) closed history.
    pub(crate) fn restore(open: Vec<Incident>, mut closed: Vec<Incident>) -> Self {
        let mut book = Self::default();
        closed.sort_by_key(|i| (i.closed_at, i.id));
        let skip = closed.len().saturating_sub(HISTORY_CAP);
        for inc in closed.into_iter().skip(skip) {
            book.ids.observe(inc.id);
            book.note_opening(&inc.slot, inc.opened_at);
            book.record_closed(inc);
        }
        for inc in open {
            book.ids.observe(inc.id);
            book.open.entry(inc.slot.clone()).or_insert(inc);
        }
        book.recompute_fleet();
        book
    }

    pub(crate) fn open_for(&self, slot: &str) -> Option<&Incident> {
        self.open.get(slot)
    }

    pub(crate) fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    pub(crate) fn history(&self) -> impl Iterator<Item = &Incident> {
        self.history.iter()
    }

    /// Opens an incident for `slot` unless one is open already.
    pub(crate) fn open(
        &mut self,
        now: Millis,
        slot: &str,
        role: &str,
        cause: IncidentCause,
        detail: &str,
        out: &mut Vec<Effect>,
    ) {
        if self.open.contains_key(slot) {
            return;
        }
        self.note_opening(slot, now);
        let inc = Incident {
            id: self.ids.next(now),
            slot: slot.to_string(),
            role: role.to_string(),
            opened_at: now,
            cause,
            detail: detail.to_string(),
            closed_at: None,
            resolution: None,
            restarts: 0,
            operator_involved: false,
        };
        out.push(Effect::OpenIncident(inc.clone()));
        self.open.insert(slot.to_string(), inc);
        self.fleet.incidents_open = self.open.len() as u32;
    }

    /// Closes the open incident of `slot`, if any. Returns whether one was closed.
    pub(crate) fn close(
        &mut self,
        now: Millis,
        slot: &str,
        resolution: Resolution,
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(mut inc) = self.open.remove(slot) else {
            return false;
        };
        inc.closed_at = Some(now.max(inc.opened_at));
        inc.resolution = Some(resolution);
        out.push(Effect::CloseIncident(inc.clone()));
        self.record_closed(inc);
        self.recompute_fleet();
        true
    }

    /// Closes with the resolution that fits a return to health.
    pub(crate) fn close_recovered(&mut self, now: Millis, slot: &str, out: &mut Vec<Effect>) {
        let resolution = match self.open.get(slot) {
            Some(i) if i.operator_involved => Resolution::OperatorRecovered,
            Some(_) => Resolution::AutoRecovered,
            None => return,
        };
        self.close(now, slot, resolution, out);
    }

    pub(crate) fn note_restart(&mut self, slot: &str) {
        if let Some(i) = self.open.get_mut(slot) {
            i.restarts = i.restarts.saturating_add(1);
        }
    }

    pub(crate) fn note_operator(&mut self, slot: &str) {
        if let Some(i) = self.open.get_mut(slot) {
            i.operator_involved = true;
        }
    }

    pub(crate) fn fleet_metrics(&self) -> &ServiceMetrics {
        &self.fleet
    }

    pub(crate) fn slot_metrics(&self, slot: &str) -> ServiceMetrics {
        let mut m = self
            .per_slot
            .get(slot)
            .map(|s| s.metrics.clone())
            .unwrap_or_default();
        m.incidents_open = u32::from(self.open.contains_key(slot));
        m
    }

    fn note_opening(&mut self, slot: &str, opened_at: Millis) {
        let stats = self.per_slot.entry(slot.to_string()).or_default();
        if let Some(last) = stats.last_closed_at.take() {
            let up = opened_at.saturating_sub(last);
            push_bounded(&mut stats.uptimes, up, SLOT_SAMPLES);
            push_bounded(&mut self.uptimes, up, HISTORY_CAP);
        }
    }

    fn record_closed(&mut self, inc: Incident) {
        let stats = self.per_slot.entry(inc.slot.clone()).or_default();
        if inc.resolution != Some(Resolution::SlotRemoved) {
            if let Some(r) = inc.repair_time() {
                push_bounded(&mut stats.repairs, r, SLOT_SAMPLES);
            }
            stats.closed = stats.closed.saturating_add(1);
            if inc.resolution == Some(Resolution::AutoRecovered) {
                stats.auto = stats.auto.saturating_add(1);
            }
            stats.last_closed_at = inc.closed_at;
        }
        stats.metrics = metrics_from(
            stats.repairs.iter().copied(),
            stats.uptimes.iter().copied(),
            stats.closed,
            stats.auto,
        );
        push_bounded(&mut self.history, inc, HISTORY_CAP);
    }

    fn recompute_fleet(&mut self) {
        let counted = || {
            self.history
                .iter()
                .filter(|i| i.resolution != Some(Resolution::SlotRemoved))
        };
        let closed = counted().count() as u32;
        let auto = counted()
            .filter(|i| i.resolution == Some(Resolution::AutoRecovered))
            .count() as u32;
        let mut m = metrics_from(
            counted().filter_map(Incident::repair_time),
            self.uptimes.iter().copied(),
            closed,
            auto,
        );
        m.incidents_open = self.open.len() as u32;
        self.fleet = m;
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}

fn metrics_from(
    repairs: impl Iterator<Item = Millis>,
    uptimes: impl Iterator<Item = Millis>,
    closed: u32,
    auto: u32,
) -> ServiceMetrics {
    let mut r: Vec<Millis> = repairs.collect();
    r.sort_unstable();
    let ups: Vec<Millis> = uptimes.collect();
    ServiceMetrics {
        incidents_open: 0,
        incidents_closed: closed,
        mttr_p50: percentile(&r, 50),
        mttr_p95: percentile(&r, 95),
        mtbf: (!ups.is_empty()).then(|| ups.iter().sum::<Millis>() / ups.len() as Millis),
        recovery_rate: (closed > 0).then(|| f64::from(auto) / f64::from(closed)),
    }
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[Millis], p: u32) -> Option<Millis> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Millis> = (1..=20).collect();
        assert_eq!(percentile(&v, 50), Some(10));
        assert_eq!(percentile(&v, 95), Some(19));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn one_open_incident_per_slot_and_metrics_on_close() {
        let mut b = IncidentBook::default();
        let mut out = Vec::new();
        let died = IncidentCause::Died {
            exit_code: Some(1),
            oom_killed: false,
        };
        b.open(1_000, "a-1", "a", died.clone(), "boom", &mut out);
        b.open(2_000, "a-1", "a", died.clone(), "boom", &mut out);
        assert_eq!(out.len(), 1);
        b.close_recovered(5_000, "a-1", &mut out);
        b.open(65_000, "a-1", "a", died, "boom", &mut out);
        b.note_operator("a-1");
        b.close_recovered(75_000, "a-1", &mut out);
        let m = b.fleet_metrics();
        assert_eq!(m.incidents_closed, 2);
        assert_eq!(m.mttr_p50, Some(4_000));
        assert_eq!(m.mttr_p95, Some(10_000));
        assert_eq!(m.mtbf, Some(60_000));
        assert_eq!(m.recovery_rate, Some(0.5));
    }
}
