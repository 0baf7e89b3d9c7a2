//! The fleet's metric families: [`series`] computes them from one snapshot (the OTLP export in
//! `telemetry` reads the same list), [`registry`] puts them in a fresh `prometheus-client`
//! registry, encoded as OpenMetrics text by the crate itself.
//!
//! Invariants: encoding is a pure function of the snapshot (a scrape never reads live state);
//! every slot exports a full one-hot set of states; counters are registered without their
//! `_total` suffix because the crate appends it, so the series names stay the documented ones.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

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

/// Whether a family counts up (exported as a counter) or can move both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number that can go up and down.
    Gauge,
    /// A fractional gauge (seconds).
    FloatGauge,
    /// Monotonic; the Prometheus text appends `_total` to its samples.
    Counter,
}

/// One metric family with its samples: the one definition both exports read (the Prometheus
/// endpoint here, OTLP in `telemetry`), so their names, labels and values cannot drift apart.
#[derive(Clone, Debug)]
pub struct Series {
    /// The family's name, without `_total` for counters.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Label names, in the order they are printed; empty for a single unlabelled value.
    pub labels: &'static [&'static str],
    /// Label values (one per label name) and the value.
    pub points: Vec<(Vec<String>, f64)>,
}

impl Series {
    fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            kind,
            labels,
            points: Vec::new(),
        }
    }

    fn single(name: &'static str, help: &'static str, kind: Kind, value: f64) -> Self {
        let mut s = Self::new(name, help, kind, &[]);
        s.points.push((Vec::new(), value));
        s
    }

    fn push<const N: usize>(&mut self, values: [&str; N], value: f64) {
        self.points
            .push((values.iter().map(|v| (*v).to_string()).collect(), value));
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Every family for `snap`, in exposition order; every family is present even when empty.
pub fn series(snap: &Snapshot) -> Vec<Series> {
    let mut out = vec![Series::single(
        "drover_docker_up",
        "1 when the Docker Engine answers.",
        Kind::Gauge,
        flag(matches!(snap.docker, DockerStatus::Up)),
    )];

    let mut slots = Series::new(
        "drover_slots",
        "Slots of the fleet by state.",
        Kind::Gauge,
        &["state"],
    );
    for (state, n) in &snap.metrics.by_state {
        slots.push([state], *n as f64);
    }
    out.push(slots);

    // A fleet over several engines names each slot's host; a one-engine fleet's series stay
    // as they were.
    let several = !snap.hosts.is_empty();
    if several {
        let mut up = Series::new(
            "drover_host_up",
            "1 when the host's Docker Engine answers (fleets over several hosts).",
            Kind::Gauge,
            &["host"],
        );
        for h in &snap.hosts {
            up.push([&h.name], flag(h.down.is_none()));
        }
        out.push(up);
    }
    let mut slot_state = Series::new(
        "drover_slot_state",
        "1 for the state each slot is in, 0 for the others.",
        Kind::Gauge,
        if several {
            &["slot", "role", "state", "host"]
        } else {
            &["slot", "role", "state"]
        },
    );
    let mut healthy = Series::new(
        "drover_slot_healthy",
        "1 when the slot's health is healthy.",
        Kind::Gauge,
        &["slot", "role", "health"],
    );
    let mut restarts = Series::new(
        "drover_slot_restarts",
        "Restarts of the slot (starts after the first).",
        Kind::Counter,
        &["slot", "role"],
    );
    let mut alerts = Series::new(
        "drover_slot_alerts",
        "Active alerts concerning the slot.",
        Kind::Gauge,
        &["slot"],
    );
    let mut tests = Series::new(
        "drover_slot_tests",
        "Counts of the slot's last test run by outcome.",
        Kind::Gauge,
        &["slot", "outcome"],
    );
    let mut passing = Series::new(
        "drover_slot_tests_passing",
        "1 when the slot's last test run passed, 0 otherwise.",
        Kind::Gauge,
        &["slot", "verdict"],
    );
    for s in &snap.slots {
        let current = s.state.label();
        for st in STATES {
            let on = flag(*st == current);
            match (several, s.host.as_deref()) {
                (true, host) => slot_state.push([&s.slot, &s.role, st, host.unwrap_or("")], on),
                (false, _) => slot_state.push([&s.slot, &s.role, st], on),
            }
        }
        let health = s.health.label();
        healthy.push([&s.slot, &s.role, health], flag(health == "healthy"));
        restarts.push([&s.slot, &s.role], s.restarts as f64);
        alerts.push([&s.slot], s.open_alerts as f64);
        let Some(t) = &s.last_test else { continue };
        for (outcome, n) in [
            ("passed", t.summary.passed),
            ("failed", t.summary.failed),
            ("skipped", t.summary.skipped),
            ("errors", t.summary.errors),
        ] {
            tests.push([&s.slot, outcome], n as f64);
        }
        let verdict = verdict_label(&t.summary.verdict);
        passing.push([&s.slot, verdict], flag(verdict == "pass"));
    }
    out.extend([slot_state, healthy, restarts, alerts, tests, passing]);

    let service = &snap.metrics.service;
    out.push(Series::single(
        "drover_incidents_open",
        "Incidents (slots out of healthy service) now open.",
        Kind::Gauge,
        service.incidents_open as f64,
    ));
    out.push(Series::single(
        "drover_incidents_closed",
        "Incidents closed since the daemon started.",
        Kind::Counter,
        f64::from(service.incidents_closed),
    ));
    let mut mttr = Series::new(
        "drover_mttr_seconds",
        "Time to repair of closed incidents, by quantile.",
        Kind::FloatGauge,
        &["quantile"],
    );
    for (q, v) in [("0.5", service.mttr_p50), ("0.95", service.mttr_p95)] {
        if let Some(ms) = v {
            mttr.push([q], ms as f64 / 1000.0);
        }
    }
    out.push(mttr);

    let mut active = Series::new(
        "drover_alerts_active",
        "Active alerts by severity and acknowledgement.",
        Kind::Gauge,
        &["severity", "acked"],
    );
    let mut by: BTreeMap<(String, bool), u64> = BTreeMap::new();
    for a in &snap.alerts {
        let sev = serde_json::to_value(a.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        *by.entry((sev, a.acked.is_some())).or_default() += 1;
    }
    for ((severity, acked), n) in by {
        active.push([&severity, if acked { "true" } else { "false" }], n as f64);
    }
    out.push(active);

    let mut locks = Series::new(
        "drover_locks",
        "Task locks held upstream, and how many are stale.",
        Kind::Gauge,
        &["stale"],
    );
    let stale = snap.locks.iter().filter(|l| l.stale).count();
    locks.push(["false"], (snap.locks.len() - stale) as f64);
    locks.push(["true"], stale as f64);
    out.push(locks);
    out
}

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labelled(names: &'static [&'static str], values: &[String]) -> Labels {
    names.iter().copied().zip(values.iter().cloned()).collect()
}

/// The registry holding every family for `snap`.
pub fn registry(snap: &Snapshot) -> Registry {
    let mut r = Registry::default();
    for s in series(snap) {
        // Every value is a count or a 0/1 flag except the float gauges, so the casts are exact.
        if s.labels.is_empty() {
            let v = s.points.first().map_or(0.0, |p| p.1);
            match s.kind {
                Kind::Gauge => {
                    let g = Gauge::<i64>::default();
                    g.set(v as i64);
                    r.register(s.name, s.help, g);
                }
                Kind::FloatGauge => {
                    let g = FloatGauge::default();
                    g.set(v);
                    r.register(s.name, s.help, g);
                }
                Kind::Counter => {
                    let c = Counter::<u64>::default();
                    c.inc_by(v as u64);
                    r.register(s.name, s.help, c);
                }
            }
            continue;
        }
        match s.kind {
            Kind::Gauge => {
                let f = Family::<Labels, Gauge>::default();
                for (values, v) in &s.points {
                    f.get_or_create(&labelled(s.labels, values)).set(*v as i64);
                }
                r.register(s.name, s.help, f);
            }
            Kind::FloatGauge => {
                let f = Family::<Labels, FloatGauge>::default();
                for (values, v) in &s.points {
                    f.get_or_create(&labelled(s.labels, values)).set(*v);
                }
                r.register(s.name, s.help, f);
            }
            Kind::Counter => {
                let f = Family::<Labels, Counter>::default();
                for (values, v) in &s.points {
                    f.get_or_create(&labelled(s.labels, values))
                        .inc_by(*v as u64);
                }
                r.register(s.name, s.help, f);
            }
        }
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
