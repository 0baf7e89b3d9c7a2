//! Sample fleets for tests, the render benchmark and screenshots: snapshots built directly
//! from the core's plain data types, deterministic for a given size and time, and log lines
//! held in memory for the log pane.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use super::feed::{LogSource, ProgressView, RingLine};
use crate::core::{
    Acknowledgement, Actor, Alert, AlertKey, AlertKind, DockerStatus, ExitInfo, FleetMetrics,
    Health, HeldTask, Incident, IncidentCause, LockView, ServiceMetrics, Severity, SlotState,
    SlotView, Snapshot, TestRecord, TestSummary, TrendPoint, Verdict,
};

/// Log lines held in memory per slot, numbered from 0 in each slot as a log ring numbers
/// them: the log pane's source in tests. Bounded: the oldest lines go past `max_lines`.
#[derive(Debug)]
pub struct SampleLogs {
    max_lines: usize,
    slots: Mutex<HashMap<String, (u64, VecDeque<RingLine>)>>,
}

impl SampleLogs {
    pub fn new(max_lines: usize) -> Self {
        Self {
            max_lines,
            slots: Mutex::default(),
        }
    }

    /// Appends a line to `slot`.
    pub fn push(&self, slot: &str, ts_ms: u64, stderr: bool, text: impl AsRef<str>) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let (next, lines) = slots.entry(slot.to_string()).or_default();
        lines.push_back(RingLine {
            seq: *next,
            ts_ms,
            stderr,
            text: text.as_ref().to_string(),
        });
        *next += 1;
        while lines.len() > self.max_lines {
            lines.pop_front();
        }
    }
}

impl LogSource for SampleLogs {
    fn tail(&self, slot: &str, n: usize) -> Vec<RingLine> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.get(slot).map_or_else(Vec::new, |(_, lines)| {
            lines
                .iter()
                .skip(lines.len().saturating_sub(n))
                .cloned()
                .collect()
        })
    }

    fn since(&self, slot: &str, from: u64) -> Vec<RingLine> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.get(slot).map_or_else(Vec::new, |(_, lines)| {
            lines.iter().filter(|l| l.seq >= from).cloned().collect()
        })
    }
}

/// The sample clock: 2026-11-23 10:00:00 UTC.
pub const NOW: u64 = 1_795_428_000_000;

const MIN: u64 = 60_000;

/// A slot in `state` with nothing else known.
pub fn slot(name: &str, state: SlotState) -> SlotView {
    let role = name.rsplit_once('-').map_or(name, |(r, _)| r).to_string();
    SlotView {
        slot: name.to_string(),
        role,
        state,
        health: Health::Unknown,
        reason: None,
        generation: 1,
        container_id: None,
        starts: 0,
        restarts: 0,
        restarts_in_window: 0,
        backoff_step: 0,
        crash_looping: false,
        idle_spinning: false,
        last_exit: None,
        started_at: None,
        last_activity: None,
        task: None,
        last_test: None,
        test_trend: Vec::new(),
        open_alerts: 0,
        incident_since: None,
        metrics: ServiceMetrics::default(),
        usage: Default::default(),
        run_limit: None,
        throttled_until: None,
        throttle: None,
        run: None,
        runs: Vec::new(),
        context: None,
        compactions: 0,
        last_compaction: None,
        context_history: Vec::new(),
        host: None,
        host_down_since: None,
    }
}

/// A snapshot holding `slots`, with metrics counted from them.
pub fn snapshot(slots: Vec<SlotView>) -> Snapshot {
    let mut by_state = BTreeMap::new();
    for s in &slots {
        *by_state.entry(s.state.label().to_string()).or_insert(0) += 1;
    }
    Snapshot {
        version: 1,
        state_version: 1,
        at: NOW,
        fleet: "demo".into(),
        docker: DockerStatus::Up,
        docker_synced: true,
        metrics: FleetMetrics {
            service: ServiceMetrics::default(),
            restarts: slots.iter().map(|s| s.restarts).sum(),
            slots: u32::try_from(slots.len()).unwrap_or(u32::MAX),
            healthy: u32::try_from(slots.iter().filter(|s| s.health == Health::Healthy).count())
                .unwrap_or(u32::MAX),
            by_state,
            spend: Default::default(),
        },
        slots,
        alerts: Vec::new(),
        open_incidents: Vec::new(),
        locks: Vec::new(),
        upstream: Default::default(),
        scale_overrides: Vec::new(),
        limits: Default::default(),
        main: None,
        hosts: Vec::new(),
    }
}

fn summary(passed: u64, failed: u64, failing: &[&str]) -> TestSummary {
    TestSummary {
        passed,
        failed,
        skipped: 0,
        errors: 0,
        verdict: if failed > 0 {
            Verdict::Fail
        } else if passed > 0 {
            Verdict::Pass
        } else {
            Verdict::NoTests
        },
        failing: failing.iter().map(|s| s.to_string()).collect(),
    }
}

fn running(name: &str, i: u64) -> SlotView {
    let mut s = slot(name, SlotState::Running);
    s.health = Health::Healthy;
    s.generation = 1 + i % 3;
    s.container_id = Some(format!("{:012x}", 0xabc000 + i));
    s.starts = 1 + i % 4;
    s.restarts = i % 4;
    s.started_at = Some(NOW - (5 + i * 7 % 180) * MIN);
    s.last_activity = Some(NOW - (i * 13 % 50) * 1000);
    s.task = Some(HeldTask {
        task: format!("task-{:03}", 100 + i),
        claimed_at: NOW - (2 + i * 5 % 40) * MIN,
    });
    let passed = 300 + i * 7 % 100;
    s.test_trend = (0..8)
        .map(|k| TrendPoint {
            at: NOW - (8 - k) * 5 * MIN,
            verdict: if (k + i).is_multiple_of(5) {
                Verdict::Fail
            } else {
                Verdict::Pass
            },
            passed: passed - 8 + k,
            failed: if (k + i).is_multiple_of(5) { 2 } else { 0 },
        })
        .collect();
    s.last_test = Some(TestRecord {
        at: NOW - 3 * MIN,
        summary: summary(passed, 0, &[]),
    });
    // Context from 20 % to 94 % of a 200k window; every third slot was compacted.
    let percent = 20 + (i * 17 % 75) as u32;
    s.context = Some(crate::core::ContextView {
        used: u64::from(percent) * 2_000,
        window: Some(200_000),
        percent: Some(percent),
    });
    s.context_history = (0..6)
        .map(|k| percent.saturating_sub(5 * k))
        .rev()
        .collect();
    s.compactions = (i % 3) as u32;
    if s.compactions > 0 {
        s.last_compaction = Some(crate::core::CompactionView {
            at: NOW - (4 + i) * MIN,
            trigger: Some(crate::core::CompactTrigger::Auto),
            pre_tokens: Some(170_000),
            percent: Some(85),
        });
    }
    s
}

/// A fleet of `n` slots in a realistic mix of states: mostly running, some blocked, backing
/// off, paused, stalled, crash-looping and taken over; with alerts, incidents and locks.
pub fn fleet(n: usize) -> Snapshot {
    let roles = ["implementer", "reviewer", "tester"];
    let mut slots = Vec::with_capacity(n);
    let mut alerts = Vec::new();
    let mut incidents = Vec::new();
    let mut locks = Vec::new();
    let mut counts = [0usize; 3];
    for i in 0..n {
        // Roles of unequal size: 60 % implementers, 20 % reviewers, 20 % testers.
        let r = match i % 10 {
            0..=5 => 0,
            6 | 7 => 1,
            _ => 2,
        };
        counts[r] += 1;
        let role = roles[r];
        let name = format!("{role}-{}", counts[r]);
        let iu = i as u64;
        let mut s = running(&name, iu);
        match i % 10 {
            3 => {
                s.state = SlotState::Blocked {
                    reason: "ERROR: Missing environment variable: OPENAI_API_KEY".into(),
                    by: Actor::Drover,
                };
                s.health = Health::Unknown;
                s.reason = Some("ERROR: Missing environment variable: OPENAI_API_KEY".into());
                s.started_at = None;
                s.restarts = 3;
                s.last_exit = Some(ExitInfo {
                    code: Some(1),
                    oom_killed: false,
                    at: NOW - 4 * MIN,
                    uptime: 900,
                    line: Some("ERROR: Missing environment variable: OPENAI_API_KEY".into()),
                    reason: None,
                });
                s.open_alerts = 1;
                s.incident_since = Some(NOW - 6 * MIN);
                alerts.push(alert(
                    &name,
                    AlertKind::Blocked,
                    Severity::Critical,
                    "blocked after 3 identical failures",
                    iu,
                ));
                incidents.push(incident(&name, role, iu));
            }
            5 => {
                s.state = SlotState::Backoff {
                    until: NOW + 30_000,
                };
                s.health = Health::Unknown;
                s.crash_looping = true;
                s.restarts = 7;
                s.restarts_in_window = 5;
                s.backoff_step = 5;
                s.last_exit = Some(ExitInfo {
                    code: Some(137),
                    oom_killed: true,
                    at: NOW - 20_000,
                    uptime: 4_000,
                    line: Some("Killed".into()),
                    reason: None,
                });
                s.open_alerts = 1;
                alerts.push(alert(
                    &name,
                    AlertKind::CrashLoop,
                    Severity::Warning,
                    "3 exits within 60s",
                    iu,
                ));
            }
            6 if i % 20 == 6 => {
                s.state = SlotState::Paused {
                    by: Actor::operator("ops"),
                };
                s.reason = Some("paused by ops".into());
            }
            7 => {
                s.health = Health::Stalled {
                    since: NOW - 20 * MIN,
                };
                s.reason = Some("stalled: no activity".into());
                s.last_activity = Some(NOW - 20 * MIN);
                s.open_alerts = 1;
                alerts.push(alert(
                    &name,
                    AlertKind::Stall,
                    Severity::Warning,
                    "no output, commit or progress for 15m",
                    iu,
                ));
                s.last_test = Some(TestRecord {
                    at: NOW - 25 * MIN,
                    summary: summary(
                        388,
                        2,
                        &[
                            "tests/test_parser.py::test_nested - AssertionError: expected 3, got 2",
                            "tests/test_lexer.py::test_unicode",
                        ],
                    ),
                });
            }
            9 if i % 30 == 9 => {
                s.state = SlotState::TakenOver {
                    by: "ops".into(),
                    since: NOW - 2 * MIN,
                };
                s.reason = Some("taken over by ops".into());
            }
            _ => {}
        }
        if let Some(t) = &s.task {
            let stale = matches!(s.state, SlotState::Blocked { .. });
            locks.push(LockView {
                // Most tasks claimed once; a few re-claimed (the loop the locks view flags).
                claims: if i % 7 == 3 { 6 } else { 1 + (i as u64 % 2) },
                claim_commit: None,
                task: t.task.clone(),
                holder: Some(name.clone()),
                claimed_at: t.claimed_at,
                holder_is_slot: true,
                overdue: NOW - t.claimed_at > 30 * MIN,
                stale,
                release_requested: false,
            });
        }
        slots.push(s);
    }
    if let Some(a) = alerts.get_mut(1) {
        a.acked = Some(Acknowledgement {
            by: "ops".into(),
            at: NOW - MIN,
        });
    }
    let mut snap = snapshot(slots);
    snap.alerts = alerts;
    snap.open_incidents = incidents;
    snap.locks = locks;
    snap.metrics.service = ServiceMetrics {
        incidents_open: u32::try_from(snap.open_incidents.len()).unwrap_or(u32::MAX),
        incidents_closed: 42,
        mttr_p50: Some(12_000),
        mttr_p95: Some(3 * MIN + 20_000),
        mtbf: Some(95 * MIN),
        recovery_rate: Some(0.92),
    };
    snap
}

fn alert(slot: &str, kind: AlertKind, severity: Severity, message: &str, i: u64) -> Alert {
    Alert {
        id: NOW * 1024 + i,
        key: AlertKey::slot(slot, kind),
        severity,
        message: message.to_string(),
        first_seen: NOW - 10 * MIN,
        last_seen: NOW - MIN,
        count: 3,
        evidence: vec![
            "ERROR: Missing environment variable: OPENAI_API_KEY".into(),
            "exit code 1 after 0.9s".into(),
        ],
        acked: None,
        cleared_at: None,
    }
}

fn incident(slot: &str, role: &str, i: u64) -> Incident {
    Incident {
        id: NOW * 1024 + 500 + i,
        slot: slot.to_string(),
        role: role.to_string(),
        opened_at: NOW - 6 * MIN,
        cause: IncidentCause::Died {
            exit_code: Some(1),
            oom_killed: false,
        },
        detail: "ERROR: Missing environment variable: OPENAI_API_KEY".into(),
        closed_at: None,
        resolution: None,
        restarts: 3,
        operator_involved: false,
    }
}

/// PROGRESS.md before and after an update: the operator viewed the first, the second adds two
/// tasks in progress.
pub fn progress_docs() -> (ProgressView, ProgressView) {
    let before = "# PROGRESS\n\n## Done\n\n- [x] lexer handles unicode identifiers\n- [x] parser: nested expressions\n\n## In progress\n\n## Failed attempts\n\n> task-101 was re-claimed 3 times; blocked on a flaky network test.\n\n```\ncargo test -- --test-threads 1\n```\n";
    let after = before.replace(
        "## In progress\n\n",
        "## In progress\n\n- [ ] **task-104** type checker for generics (implementer-2)\n- [ ] task-107 error messages with spans\n\n",
    );
    let view = |text: &str, commit: &str| ProgressView {
        text: Some(text.to_string()),
        truncated: false,
        commit: Some(commit.to_string()),
        changed_at_ms: Some(i64::try_from(NOW - 4 * MIN).unwrap_or(0)),
        tip: commit.to_string(),
    };
    (view(before, "1a2b3c4"), view(&after, "3f9c2e1"))
}
