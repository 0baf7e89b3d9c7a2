//! The fleet's metric families, built in a fresh `prometheus-client` registry from one snapshot
//! and encoded as OpenMetrics text by the crate itself.
//!
//! Invariants: encoding is a pure function of the snapshot (a scrape never reads live state);
//! every slot exports a full one-hot set of states; counters are registered without their
//! `_total` suffix because the crate appends it, so the series names stay the documented ones.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::control::view::verdict_label;
use crate::core::{DockerStatus, Snapshot};

/// Every state a slot can be in, so each slot exports a full one-hot set.
pub const STATES: &[&str] = &[
    "pending",
    "preflight",
    "creating",
    "starting",
    "running",
    "paused",
    "stopping",
    "removing",
    "exited",
    "backoff",
    "throttled",
    "blocked",
    "taken-over",
    "stopped",
    "retiring",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct SlotStateLabels {
    slot: String,
    role: String,
    state: String,
    /// In a fleet over several engines only: a one-engine fleet's series stay as they were.
    host: Option<String>,
}

impl EncodeLabelSet for SlotStateLabels {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeLabel;
        ("slot", self.slot.as_str()).encode(encoder.encode_label())?;
        ("role", self.role.as_str()).encode(encoder.encode_label())?;
        ("state", self.state.as_str()).encode(encoder.encode_label())?;
        if let Some(h) = &self.host {
            ("host", h.as_str()).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabel {
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabels {
    slot: String,
    role: String,
    health: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlotRoleLabels {
    slot: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlotLabel {
    slot: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    slot: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    slot: String,
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabel {
    quantile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    severity: String,
    acked: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StaleLabel {
    stale: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn gauge_family<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Gauge>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn count(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// The registry holding every family for `snap`.
pub fn registry(snap: &Snapshot) -> Registry {
    let mut r = Registry::default();
    gauge(
        &mut r,
        "drover_docker_up",
        "1 when the Docker Engine answers.",
        i64::from(matches!(snap.docker, DockerStatus::Up)),
    );

    let slots = gauge_family::<StateLabel>(&mut r, "drover_slots", "Slots of the fleet by state.");
    for (state, n) in &snap.metrics.by_state {
        slots
            .get_or_create(&StateLabel {
                state: state.clone(),
            })
            .set(count(*n));
    }

    if !snap.hosts.is_empty() {
        let hosts = gauge_family::<HostLabel>(
            &mut r,
            "drover_host_up",
            "1 when the host's Docker Engine answers (fleets over several hosts).",
        );
        for h in &snap.hosts {
            hosts
                .get_or_create(&HostLabel {
                    host: h.name.clone(),
                })
                .set(i64::from(h.down.is_none()));
        }
    }
    let slot_state = gauge_family::<SlotStateLabels>(
        &mut r,
        "drover_slot_state",
        "1 for the state each slot is in, 0 for the others.",
    );
    let healthy = gauge_family::<HealthLabels>(
        &mut r,
        "drover_slot_healthy",
        "1 when the slot's health is healthy.",
    );
    let restarts = Family::<SlotRoleLabels, Counter>::default();
    r.register(
        "drover_slot_restarts",
        "Restarts of the slot (starts after the first).",
        restarts.clone(),
    );
    let alerts = gauge_family::<SlotLabel>(
        &mut r,
        "drover_slot_alerts",
        "Active alerts concerning the slot.",
    );
    let tests = gauge_family::<OutcomeLabels>(
        &mut r,
        "drover_slot_tests",
        "Counts of the slot's last test run by outcome.",
    );
    let passing = gauge_family::<VerdictLabels>(
        &mut r,
        "drover_slot_tests_passing",
        "1 when the slot's last test run passed, 0 otherwise.",
    );
    for s in &snap.slots {
        let current = s.state.label();
        for st in STATES {
            slot_state
                .get_or_create(&SlotStateLabels {
                    slot: s.slot.clone(),
                    role: s.role.clone(),
                    state: (*st).to_string(),
                    host: s.host.clone(),
                })
                .set(i64::from(*st == current));
        }
        healthy
            .get_or_create(&HealthLabels {
                slot: s.slot.clone(),
                role: s.role.clone(),
                health: s.health.label().to_string(),
            })
            .set(i64::from(s.health.label() == "healthy"));
        restarts
            .get_or_create(&SlotRoleLabels {
                slot: s.slot.clone(),
                role: s.role.clone(),
            })
            .inc_by(s.restarts);
        alerts
            .get_or_create(&SlotLabel {
                slot: s.slot.clone(),
            })
            .set(count(s.open_alerts));
        let Some(t) = &s.last_test else { continue };
        for (outcome, n) in [
            ("passed", t.summary.passed),
            ("failed", t.summary.failed),
            ("skipped", t.summary.skipped),
            ("errors", t.summary.errors),
        ] {
            tests
                .get_or_create(&OutcomeLabels {
                    slot: s.slot.clone(),
                    outcome: outcome.to_string(),
                })
                .set(count(n));
        }
        let verdict = verdict_label(&t.summary.verdict);
        passing
            .get_or_create(&VerdictLabels {
                slot: s.slot.clone(),
                verdict: verdict.to_string(),
            })
            .set(i64::from(verdict == "pass"));
    }

    let service = &snap.metrics.service;
    gauge(
        &mut r,
        "drover_incidents_open",
        "Incidents (slots out of healthy service) now open.",
        count(service.incidents_open),
    );
    let closed = Counter::<u64>::default();
    closed.inc_by(u64::from(service.incidents_closed));
    r.register(
        "drover_incidents_closed",
        "Incidents closed since the daemon started.",
        closed,
    );
    let mttr = Family::<QuantileLabel, FloatGauge>::default();
    r.register(
        "drover_mttr_seconds",
        "Time to repair of closed incidents, by quantile.",
        mttr.clone(),
    );
    for (q, v) in [("0.5", service.mttr_p50), ("0.95", service.mttr_p95)] {
        if let Some(ms) = v {
            mttr.get_or_create(&QuantileLabel {
                quantile: q.to_string(),
            })
            .set(ms as f64 / 1000.0);
        }
    }

    let active = gauge_family::<AlertLabels>(
        &mut r,
        "drover_alerts_active",
        "Active alerts by severity and acknowledgement.",
    );
    let mut by: BTreeMap<(String, bool), i64> = BTreeMap::new();
    for a in &snap.alerts {
        let sev = serde_json::to_value(a.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        *by.entry((sev, a.acked.is_some())).or_default() += 1;
    }
    for ((severity, acked), n) in by {
        active
            .get_or_create(&AlertLabels {
                severity,
                acked: acked.to_string(),
            })
            .set(n);
    }

    let locks = gauge_family::<StaleLabel>(
        &mut r,
        "drover_locks",
        "Task locks held upstream, and how many are stale.",
    );
    let stale = snap.locks.iter().filter(|l| l.stale).count();
    for (label, n) in [("false", snap.locks.len() - stale), ("true", stale)] {
        locks
            .get_or_create(&StaleLabel {
                stale: label.to_string(),
            })
            .set(count(n));
    }
    r
}

/// The OpenMetrics text for `snap` (ends with `# EOF`).
pub fn render(snap: &Snapshot) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would mean a bug in a label type.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry(snap)) {
        tracing::error!(error = %e, "encoding the metrics failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Fleet, FleetSpec, RoleSpec};

    #[test]
    fn label_values_are_escaped_and_each_slot_is_one_hot() {
        let spec = FleetSpec::new("f", vec![RoleSpec::new("w\"eird", 2, "h")]);
        let fleet = Fleet::restore(spec, 1, Default::default());
        let text = render(&fleet.snapshot(1_000));
        assert!(text.contains(r#"role="w\"eird""#), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
        let ones = text
            .lines()
            .filter(|l| l.starts_with("drover_slot_state{") && l.ends_with(" 1"))
            .count();
        assert_eq!(ones, 2, "exactly one state per slot:\n{text}");
        let zeros = text
            .lines()
            .filter(|l| l.starts_with("drover_slot_state{") && l.ends_with(" 0"))
            .count();
        assert_eq!(zeros, 2 * (STATES.len() - 1), "{text}");
    }

    /// Over several hosts each slot's state names its host and each host says whether it is
    /// up; a one-engine fleet's series carry no host label.
    #[test]
    fn slots_of_several_hosts_carry_a_host_label() {
        use crate::core::Input;
        let mut role = RoleSpec::new("w", 2, "h");
        role.hosts = vec!["a".into(), "b".into()];
        let mut fleet = Fleet::restore(FleetSpec::new("f", vec![role]), 1, Default::default());
        fleet.handle(
            1_000,
            Input::HostDown {
                host: "b".into(),
                error: "gone".into(),
            },
        );
        let text = render(&fleet.snapshot(2_000));
        assert!(
            text.contains(
                "drover_slot_state{slot=\"w-2\",role=\"w\",state=\"pending\",host=\"b\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("drover_host_up{host=\"a\"} 1"), "{text}");
        assert!(text.contains("drover_host_up{host=\"b\"} 0"), "{text}");
        assert!(
            text.contains("drover_slots{state=\"host_down\"} 1"),
            "{text}"
        );
        let one = Fleet::restore(
            FleetSpec::new("f", vec![RoleSpec::new("w", 1, "h")]),
            1,
            Default::default(),
        );
        let text = render(&one.snapshot(1_000));
        assert!(!text.contains("host"), "{text}");
    }

    /// The series names stay the documented ones although counters are registered without
    /// `_total`: the crate appends it once, never twice.
    #[test]
    fn counters_keep_their_documented_series_names() {
        use crate::core::{Input, TestSummary, Verdict};
        let spec = FleetSpec::new("f", vec![RoleSpec::new("w", 2, "h")]);
        let mut fleet = Fleet::restore(spec, 1, Default::default());
        fleet.handle(
            1_000,
            Input::TestRunRecorded {
                slot: "w-2".into(),
                summary: TestSummary {
                    passed: 3,
                    failed: 1,
                    skipped: 0,
                    errors: 0,
                    verdict: Verdict::Fail,
                    failing: vec!["t".into()],
                },
            },
        );
        let text = render(&fleet.snapshot(2_000));
        assert!(
            text.contains("drover_slot_restarts_total{slot=\"w-1\",role=\"w\"} 0"),
            "{text}"
        );
        assert!(text.contains("drover_incidents_closed_total 0"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
        assert!(
            text.contains("drover_slot_tests_passing{slot=\"w-2\",verdict=\"fail\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("drover_slot_tests{slot=\"w-2\",outcome=\"passed\"} 3"),
            "{text}"
        );
    }
}
