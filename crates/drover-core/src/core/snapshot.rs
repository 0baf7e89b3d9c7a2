//! The [`Snapshot`]: plain data describing the whole fleet, read by the TUI, the headless
//! output, `drover status` and the control socket. Built on demand from the core's state; a
//! monotonically increasing `version` tells faces whether anything changed since they drew.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::locks::{LockView, UpstreamView};
use super::model::alert::Alert;
use super::model::context::{CompactionView, ContextView};
use super::model::incident::{Incident, ServiceMetrics};
use super::model::run::RunRecord;
pub use super::model::throttle::{GroupLimits, LimitsView};
use super::model::{DockerStatus, ExitInfo, Health, Millis, SlotState, TestSummary};
use super::slot::TrendPoint;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Increases whenever anything visible changed.
    pub version: u64,
    /// The `version` of the last change other than a slot's last-activity time: when only
    /// that moved, faces may wait for their next once-a-second refresh.
    #[serde(default)]
    pub state_version: u64,
    /// The `now` the snapshot was taken at (ages and windows are relative to it).
    pub at: Millis,
    pub fleet: String,
    pub docker: DockerStatus,
    /// A listing was reconciled since Docker came up (Docker operations are allowed).
    pub docker_synced: bool,
    pub slots: Vec<SlotView>,
    /// Active alerts, acknowledged ones included.
    pub alerts: Vec<Alert>,
    pub open_incidents: Vec<Incident>,
    pub metrics: FleetMetrics,
    pub locks: Vec<LockView>,
    /// Upstream state (empty, unreadable) and the fleet's lock hold times.
    #[serde(default)]
    pub upstream: UpstreamView,
    /// Roles whose replicas a `ctl scale` override sets instead of the config.
    #[serde(default)]
    pub scale_overrides: Vec<super::model::ScaleOverride>,
    /// Usage limits across the fleet: limited slots, the next reset, the limited groups.
    #[serde(default)]
    pub limits: LimitsView,
    /// The shared branch's check (`[upstream.check]`); `None` when none is configured.
    #[serde(default)]
    pub main: Option<super::main_check::MainView>,
    /// The engines of a fleet over several hosts (empty with one engine).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<super::hosts::HostView>,
}

impl Snapshot {
    pub fn slot(&self, name: &str) -> Option<&SlotView> {
        self.slots.iter().find(|s| s.slot == name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetMetrics {
    pub service: ServiceMetrics,
    /// Restarts of all current slots (starts after the first).
    pub restarts: u64,
    pub slots: u32,
    pub healthy: u32,
    /// Slot count per state label ("running", "blocked", …).
    pub by_state: BTreeMap<String, u32>,
    /// Tokens and cost of the fleet, today's spend against the daily cap.
    #[serde(default)]
    pub spend: super::model::spend::SpendView,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldTask {
    pub task: String,
    pub claimed_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    pub at: Millis,
    pub summary: TestSummary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotView {
    pub slot: String,
    pub role: String,
    pub state: SlotState,
    pub health: Health,
    /// The one line that explains the state (block reason, last error, probe detail, …).
    pub reason: Option<String>,
    pub generation: u64,
    pub container_id: Option<String>,
    pub starts: u64,
    pub restarts: u64,
    /// Failure restarts inside the restart window (the "N restarts in 10 min" counter).
    pub restarts_in_window: u32,
    pub backoff_step: u32,
    pub crash_looping: bool,
    pub idle_spinning: bool,
    pub last_exit: Option<ExitInfo>,
    /// Start of the current run (uptime base).
    pub started_at: Option<Millis>,
    pub last_activity: Option<Millis>,
    pub task: Option<HeldTask>,
    pub last_test: Option<TestRecord>,
    pub test_trend: Vec<TrendPoint>,
    pub open_alerts: u32,
    pub incident_since: Option<Millis>,
    pub metrics: ServiceMetrics,
    #[serde(default)]
    pub usage: UsageView,
    /// While throttled: when the slot starts again (the stated reset plus its jitter).
    #[serde(default)]
    pub throttled_until: Option<Millis>,
    /// The usage limit being waited out (also set on a running slot held by a group peer).
    #[serde(default)]
    pub throttle: Option<crate::core::Throttle>,
    /// The current run's time limit, when its role has `run_timeout` (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_limit: Option<RunLimitView>,
    /// The current run's ledger record (tokens, cost, commits, locks, tests), while one is
    /// open; its newest [`RUN_COMMITS_SHOWN`] commits only.
    #[serde(default)]
    pub run: Option<RunRecord>,
    /// The slot's latest finished runs, newest first (at most [`RUNS_SHOWN`]).
    #[serde(default)]
    pub runs: Vec<RunRecord>,
    /// How full the agent's context is in the current (or last) run, once its output said.
    #[serde(default)]
    pub context: Option<ContextView>,
    /// Context compactions in that run, and the last of them.
    #[serde(default)]
    pub compactions: u32,
    #[serde(default)]
    pub last_compaction: Option<CompactionView>,
    /// The run's context readings in percent, oldest first (the detail pane's sparkline).
    #[serde(default)]
    pub context_history: Vec<u32>,
    /// The host the slot runs on, in a fleet over several engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Since when its host is unreachable: the state shown is the last known one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_down_since: Option<Millis>,
}

/// Finished runs per slot in a snapshot (the store keeps them all).
pub const RUNS_SHOWN: usize = 5;
/// Commits per run in a snapshot.
pub const RUN_COMMITS_SHOWN: usize = 5;

/// Where the current run stands against its role's `run_timeout`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLimitView {
    /// The limit this run has (the role's plus operator extensions).
    pub allowed_ms: Millis,
    /// When the run will be stopped; `None` while its clock is stopped (paused, taken over).
    pub ends_at: Option<Millis>,
    /// Time left at the snapshot's time.
    pub left_ms: Millis,
}

/// Token usage the slot's agent printed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageView {
    /// Since the current container started.
    pub session_tokens: u64,
    /// On the task the slot holds (or held last), and the rounds (usage lines) spent on it.
    pub task: Option<String>,
    pub task_tokens: u64,
    pub task_rounds: u32,
    /// The current run's usage by kind and cost (micro-dollars, by `[pricing]`).
    #[serde(default)]
    pub run_tokens: drover_signals::usage::Tokens,
    #[serde(default)]
    pub run_cost_micros: u64,
    /// The slot's cost since drover started.
    #[serde(default)]
    pub cost_micros: u64,
}

pub(crate) fn reason_for(
    state: &SlotState,
    health: &Health,
    last_exit: Option<&ExitInfo>,
) -> Option<String> {
    match state {
        SlotState::Blocked { reason, .. } => return Some(reason.clone()),
        SlotState::Stopped { by } => return Some(format!("stopped by {by}")),
        SlotState::Paused { by } => return Some(format!("paused by {by}")),
        SlotState::TakenOver { by, .. } => return Some(format!("taken over by {by}")),
        SlotState::Retiring => return Some("scaled down".into()),
        _ => {}
    }
    match health {
        Health::Unready { detail, .. } => return Some(format!("probe failing: {detail}")),
        Health::Stalled { .. } => return Some("stalled: no activity".into()),
        _ => {}
    }
    let failed = last_exit.filter(|e| !e.is_clean());
    match state {
        SlotState::Running => None,
        _ => failed.and_then(|e| e.line.clone()),
    }
}

impl super::fleet::Fleet {
    /// The whole fleet as plain data, with windows and ages relative to `now`.
    pub fn snapshot(&self, now: Millis) -> Snapshot {
        let mut alerts_by_slot: std::collections::HashMap<&str, u32> = Default::default();
        for a in self.alerts.active() {
            if let Some(slot) = a.key.slot.as_deref() {
                *alerts_by_slot.entry(slot).or_default() += 1;
            }
        }
        let mut by_state: BTreeMap<String, u32> = BTreeMap::new();
        let mut healthy = 0;
        let mut restarts = 0;
        let slots: Vec<SlotView> = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let role = self.roles.get(s.role).map(|r| &r.spec);
                let state = s.state();
                // A slot whose host is unreachable counts as such, whatever it last was.
                let label = match self.outage_of(i) {
                    Some(_) => "host_down",
                    None => state.label(),
                };
                *by_state.entry(label.to_string()).or_default() += 1;
                if s.health == Health::Healthy {
                    healthy += 1;
                }
                let slot_restarts = s.rec.starts.saturating_sub(1);
                restarts += slot_restarts;
                let window = role.map_or(0, |r| r.restart.window);
                let throttled_until = match state {
                    SlotState::Throttled { until } => Some(until),
                    _ => None,
                };
                let reason = match (&state, &s.rec.throttle) {
                    (SlotState::Throttled { .. }, Some(t)) => {
                        Some(format!("usage limit: {}", t.reason))
                    }
                    _ if s.main_held => self.main.as_ref().map(|m| {
                        format!(
                            "held: main is red since {} (on_red = \"hold\"); starts when main is green",
                            m.short_commit().unwrap_or("?")
                        )
                    }),
                    _ => reason_for(&state, &s.health, s.rec.last_exit.as_ref()),
                };
                SlotView {
                    host: self.host_of(i).map(str::to_string),
                    host_down_since: self.outage_of(i).map(|(_, o)| o.since),
                    reason: match self.outage_of(i) {
                        Some((host, _)) => Some(format!(
                            "host down: {host} unreachable (last known state{})",
                            reason.map(|r| format!("; {r}")).unwrap_or_default()
                        )),
                        None => reason,
                    },
                    throttled_until,
                    throttle: s.rec.throttle.as_deref().cloned(),
                    slot: s.name.clone(),
                    role: s.rec.role.clone(),
                    state,
                    health: s.health.clone(),
                    generation: s.rec.generation,
                    container_id: s.container_id().map(str::to_string),
                    starts: s.rec.starts,
                    restarts: slot_restarts,
                    restarts_in_window: s
                        .rec
                        .failure_restarts
                        .iter()
                        .filter(|t| now.saturating_sub(**t) < window)
                        .count() as u32,
                    backoff_step: s.rec.backoff_step,
                    crash_looping: s.rec.crash_looping,
                    idle_spinning: s.rec.idle_spinning,
                    last_exit: s.rec.last_exit.clone(),
                    started_at: s
                        .container
                        .as_ref()
                        .filter(|c| c.status.is_live())
                        .and_then(|c| c.started_at),
                    last_activity: s.last_activity,
                    task: self.locks.held_by(&s.name).map(|l| HeldTask {
                        task: l.task.clone(),
                        claimed_at: l.claimed_at,
                    }),
                    last_test: s.last_test.as_ref().map(|(at, summary)| TestRecord {
                        at: *at,
                        summary: summary.clone(),
                    }),
                    test_trend: s.trend.iter().cloned().collect(),
                    open_alerts: alerts_by_slot.get(s.name.as_str()).copied().unwrap_or(0),
                    incident_since: self.incidents.open_for(&s.name).map(|i| i.opened_at),
                    metrics: self.incidents.slot_metrics(&s.name),
                    usage: UsageView {
                        session_tokens: s.session_tokens,
                        task: s.budget_task.clone(),
                        task_tokens: s.budget.tokens,
                        task_rounds: s.budget.rounds,
                        run_tokens: s.run_tokens,
                        run_cost_micros: s.run_cost_micros,
                        cost_micros: s.cost_micros,
                    },
                    run: self
                        .ledger
                        .open(&s.name)
                        .map(|r| r.trimmed(RUN_COMMITS_SHOWN)),
                    runs: self
                        .ledger
                        .recent(&s.name)
                        .take(RUNS_SHOWN)
                        .map(|r| r.trimmed(RUN_COMMITS_SHOWN))
                        .collect(),
                    run_limit: match super::run_limit::view(s, now) {
                        (ends_at, Some(left_ms)) => Some(RunLimitView {
                            allowed_ms: s.run_clock.allowed,
                            ends_at,
                            left_ms,
                        }),
                        _ => None,
                    },
                    context: s.context.current.clone(),
                    compactions: s.context.count,
                    last_compaction: s.context.last.clone(),
                    context_history: s.context.history.iter().copied().collect(),
                }
            })
            .collect();
        Snapshot {
            version: self.version,
            state_version: self.state_version,
            at: now,
            fleet: self.name.clone(),
            docker: self.docker.status.clone(),
            docker_synced: self.docker.synced,
            metrics: FleetMetrics {
                service: self.incidents.fleet_metrics().clone(),
                restarts,
                slots: slots.len() as u32,
                healthy,
                by_state,
                spend: self.spend.view(now),
            },
            slots,
            alerts: self.alerts.active().cloned().collect(),
            open_incidents: self.incidents.open_incidents().cloned().collect(),
            locks: self.locks.views().cloned().collect(),
            upstream: self.locks.upstream.clone(),
            scale_overrides: self.scale_overrides(),
            limits: self.limits_view(now),
            main: self.main.clone(),
            hosts: self.host_views(),
        }
    }

    /// Closed incidents kept for metrics (oldest first).
    pub fn incident_history(&self) -> Vec<Incident> {
        self.incidents.history().cloned().collect()
    }
}
