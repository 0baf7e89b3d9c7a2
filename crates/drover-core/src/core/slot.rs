//! One slot's state inside the core: its persisted business record plus runtime facts (the
//! container as last observed, the Docker operation in flight, health tracking, activity),
//! the context rules run in (`Cx`), and the state changes every rule shares (`block`,
//! `fresh_start`, `settle`).
//!
//! Invariants: at most one container is the slot's own (`container`); at most one Docker
//! lifecycle operation is in flight per slot (probes are tracked separately), so the core can
//! never ask for a second create or start while one is pending.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::alerts::AlertTable;
use super::effect::{
    Effect, EventKind, FleetEvent, RecoveryStep, RestartPlan, SlotMode, SlotRecord,
};
use super::incidents::IncidentBook;
use super::model::alert::{AlertKind, Severity};
use super::model::incident::IncidentCause;
use super::model::{Actor, ContainerStatus, Health, Millis, SlotState, TestSummary, Verdict};
use super::policy::RoleSpec;
use drover_signals::{BudgetMeter, FailingSetStreak};
use serde_json::json;

/// Test runs kept per slot for the trend.
pub const TREND_LEN: usize = 20;

/// The slot's own container as last observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Container {
    pub id: String,
    pub generation: u64,
    pub spec_hash: String,
    pub status: ContainerStatus,
    pub started_at: Option<Millis>,
    /// Must be replaced (stale spec hash or stale generation): stop, remove, create anew.
    pub replace: bool,
    /// This run has lasted `min_uptime`; early-exit flags were cleared for it.
    pub warmed_up: bool,
    /// When drover began watching this container (its creation, or adoption): silence before
    /// it was not observed, so stall detection never counts it.
    pub watched_from: Millis,
}

/// The Docker lifecycle operation awaiting its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PendingOp {
    Preflight,
    /// `spec_hash` is the hash the container is created with.
    Create {
        generation: u64,
        spec_hash: String,
    },
    Start {
        id: String,
    },
    Stop {
        id: String,
    },
    Kill {
        id: String,
    },
    Pause {
        id: String,
    },
    Unpause {
        id: String,
    },
    Remove {
        id: String,
    },
}

impl PendingOp {
    pub fn id(&self) -> Option<&str> {
        match self {
            PendingOp::Preflight | PendingOp::Create { .. } => None,
            PendingOp::Start { id }
            | PendingOp::Stop { id }
            | PendingOp::Kill { id }
            | PendingOp::Pause { id }
            | PendingOp::Unpause { id }
            | PendingOp::Remove { id } => Some(id),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub op: PendingOp,
    pub since: Millis,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ProbeTrack {
    pub failures: u32,
    pub ok_seen: bool,
    pub next_at: Option<Millis>,
    pub in_flight_since: Option<Millis>,
}

/// One point of a slot's test trend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub at: Millis,
    pub verdict: Verdict,
    pub passed: u64,
    pub failed: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub name: String,
    /// Index into the fleet's role table.
    pub role: usize,
    /// Replica number (1-based).
    pub n: u32,
    pub rec: SlotRecord,
    /// The last record handed out as `PersistSlot` (or restored).
    pub persisted: Option<SlotRecord>,
    pub container: Option<Container>,
    pub in_flight: Option<InFlight>,
    /// Preflight passed for the start attempt under way; consumed by the start.
    pub preflight_passed: bool,
    /// A new run is due but held while main is red (`on_red = "hold"`): no deadline is
    /// offered for it; the hold's end drives every slot again.
    pub main_held: bool,
    /// An operator (or detector) restart: stop, then start at once without failure accounting.
    pub restart_requested: bool,
    /// The probe policy asked for this stop; the exit counts as a failure with this detail.
    pub probe_kill: Option<String>,
    pub probe: ProbeTrack,
    pub unready: Option<(String, Millis)>,
    pub stalled_since: Option<Millis>,
    pub health: Health,
    pub healthy_since: Option<Millis>,
    pub last_activity: Option<Millis>,
    pub last_test: Option<(Millis, TestSummary)>,
    pub trend: VecDeque<TrendPoint>,
    /// Scale-down finished: drop the slot at the end of this pass.
    pub retired: bool,
    /// After a failed stop/pause/unpause/remove: no new Docker operation before this time,
    /// so a persistently failing operation cannot spin.
    pub hold_until: Option<Millis>,
    /// What the slot knows is doubtful (an answer was lost, a create conflicted): no Docker
    /// operation until the next listing has been reconciled.
    pub awaiting_listing: bool,
    /// The slot's earliest deadline, cached by the fleet after each change to the slot.
    pub deadline: Option<Millis>,
    /// Last commit by the slot seen upstream (progress, for the loop detectors).
    pub last_commit: Option<Millis>,
    pub failing: FailingSetStreak,
    /// Tokens of the current task (`budget_task`) and of the current container run.
    pub budget: BudgetMeter,
    pub budget_task: Option<String>,
    pub session_tokens: u64,
    /// The current run's clock against the role's `run_timeout`.
    pub run_clock: super::slot::RunClock,
    /// Usage by kind and its cost in this run, and the slot's cost since drover started.
    pub run_tokens: drover_signals::usage::Tokens,
    pub run_cost_micros: u64,
    pub cost_micros: u64,
    /// The slot's spend on one UTC day (day number, micro-dollars), for scoped budgets.
    pub day_spend: (u64, u64),
    /// A usage-limit notice the log follower saw during this run (the exit decides).
    pub limit_seen: Option<super::model::throttle::LimitSeen>,
    /// The container's exit was reported and its last lines are on their way: the slot shows
    /// the exit and makes no decision until they arrive.
    pub exit_pending: Option<PendingExit>,
    /// Context health of the current run.
    pub context: super::model::context::ContextTrack,
}

/// An exit seen before its last lines (see [`Slot::exit_pending`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingExit {
    pub id: String,
    pub code: i64,
    /// When the exit was reported: the exit's time and the end of the run's uptime.
    pub at: Millis,
}

impl Slot {
    pub fn new(name: String, role: usize, n: u32, rec: SlotRecord) -> Self {
        Self {
            name,
            role,
            n,
            rec,
            persisted: None,
            container: None,
            in_flight: None,
            preflight_passed: false,
            main_held: false,
            restart_requested: false,
            probe_kill: None,
            probe: ProbeTrack::default(),
            unready: None,
            stalled_since: None,
            health: Health::Unknown,
            healthy_since: None,
            last_activity: None,
            last_test: None,
            trend: VecDeque::new(),
            retired: false,
            hold_until: None,
            last_commit: None,
            exit_pending: None,
            failing: FailingSetStreak::default(),
            budget: BudgetMeter::default(),
            budget_task: None,
            session_tokens: 0,
            run_clock: Default::default(),
            limit_seen: None,
            run_tokens: Default::default(),
            run_cost_micros: 0,
            cost_micros: 0,
            day_spend: (0, 0),
            awaiting_listing: false,
            deadline: None,
            context: Default::default(),
        }
    }

    pub fn status(&self) -> Option<&ContainerStatus> {
        self.container.as_ref().map(|c| &c.status)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.status(), Some(ContainerStatus::Running))
    }

    pub fn is_live(&self) -> bool {
        self.status().is_some_and(ContainerStatus::is_live)
    }

    pub fn container_id(&self) -> Option<&str> {
        self.container.as_ref().map(|c| c.id.as_str())
    }

    /// The state faces show; see [`SlotState`].
    pub fn state(&self) -> SlotState {
        match &self.rec.mode {
            SlotMode::Blocked { reason, by, .. } => SlotState::Blocked {
                reason: reason.clone(),
                by: by.clone(),
            },
            SlotMode::TakenOver { by, since } => SlotState::TakenOver {
                by: by.clone(),
                since: *since,
            },
            SlotMode::Retiring => SlotState::Retiring,
            SlotMode::Paused { by } => SlotState::Paused { by: by.clone() },
            SlotMode::Stopped { by } => {
                if self.is_live() {
                    SlotState::Stopping
                } else {
                    SlotState::Stopped { by: by.clone() }
                }
            }
            SlotMode::Auto => self.auto_state(),
        }
    }

    /// The exit of the current container was reported and its last lines have not come yet.
    pub fn awaiting_exit_lines(&self) -> bool {
        self.exit_pending
            .as_ref()
            .is_some_and(|p| self.container_id() == Some(p.id.as_str()))
    }

    fn auto_state(&self) -> SlotState {
        if let Some(p) = self
            .exit_pending
            .as_ref()
            .filter(|_| self.awaiting_exit_lines())
        {
            return SlotState::Exited { code: Some(p.code) };
        }
        if let Some(f) = &self.in_flight {
            return match f.op {
                PendingOp::Preflight => SlotState::Preflight,
                PendingOp::Create { .. } => SlotState::Creating,
                PendingOp::Start { .. } => SlotState::Starting,
                PendingOp::Stop { .. } | PendingOp::Kill { .. } => SlotState::Stopping,
                PendingOp::Remove { .. } => SlotState::Removing,
                PendingOp::Pause { .. } | PendingOp::Unpause { .. } => SlotState::Running,
            };
        }
        if self.is_live() {
            return SlotState::Running;
        }
        match self.rec.restart {
            Some(plan) if self.rec.throttle.is_some() => SlotState::Throttled { until: plan.at },
            Some(plan) => SlotState::Backoff { until: plan.at },
            None if self.rec.completed
                || matches!(self.status(), Some(ContainerStatus::Exited { .. })) =>
            {
                SlotState::Exited {
                    code: self.rec.last_exit.as_ref().and_then(|e| e.code),
                }
            }
            None => SlotState::Pending,
        }
    }

    /// Adds a finished test run to the bounded trend.
    pub fn record_test(&mut self, now: Millis, summary: TestSummary) {
        if self.trend.len() == TREND_LEN {
            self.trend.pop_front();
        }
        self.trend.push_back(TrendPoint {
            at: now,
            verdict: summary.verdict,
            passed: summary.passed,
            failed: summary.failed,
        });
        self.last_test = Some((now, summary));
    }
}

/// Everything a slot-level handler may touch besides the slot itself.
pub(crate) struct Cx<'a> {
    pub now: Millis,
    pub seed: u64,
    pub fleet: &'a str,
    /// Docker is up and a listing has been reconciled since it came up.
    pub docker_ready: bool,
    pub alerts: &'a mut AlertTable,
    pub incidents: &'a mut IncidentBook,
    pub out: &'a mut Vec<Effect>,
    /// Today's spend reached the daily cap: no new session may start before this time.
    pub budget_hold: Option<Millis>,
    /// Main is red and `on_red = "hold"`: no new run starts (roles with `fixes_main` excepted).
    pub main_hold: bool,
    /// Set when the slot's knowledge is doubtful and a fresh listing is needed.
    pub want_listing: &'a mut bool,
    /// Containers found to be extra (not the slot's own): the fleet removes them.
    pub extras: &'a mut Vec<(String, String)>,
}

impl Cx<'_> {
    pub fn event(
        &mut self,
        slot: &str,
        kind: EventKind,
        who: Option<&str>,
        message: String,
        detail: serde_json::Value,
    ) {
        self.out.push(Effect::PersistEvent(FleetEvent {
            at: self.now,
            slot: Some(slot.to_string()),
            kind,
            who: who.map(str::to_string),
            message,
            detail,
        }));
    }

    pub fn raise(
        &mut self,
        slot: &str,
        kind: super::model::alert::AlertKind,
        sev: Severity,
        msg: &str,
    ) {
        self.raise_with(slot, kind, sev, msg, &[]);
    }

    pub fn raise_with(
        &mut self,
        slot: &str,
        kind: super::model::alert::AlertKind,
        sev: Severity,
        msg: &str,
        evidence: &[String],
    ) {
        let key = super::model::alert::AlertKey::slot(slot, kind);
        self.alerts
            .raise(self.now, key, sev, msg, evidence, self.out);
    }

    pub fn clear(&mut self, slot: &str, kind: super::model::alert::AlertKind) {
        let key = super::model::alert::AlertKey::slot(slot, kind);
        self.alerts.clear(self.now, &key, self.out);
    }
}

/// Blocks the slot: no automatic action until an operator unblocks it.
pub(crate) fn block(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, reason: String, by: Actor) {
    let now = cx.now;
    s.rec.restart = None;
    s.restart_requested = false;
    let severity = match by {
        Actor::Drover => Severity::Critical,
        Actor::Operator(_) => Severity::Warning,
    };
    if by == Actor::Drover {
        cx.incidents.open(
            now,
            &s.name,
            &role.name,
            IncidentCause::Blocked,
            &reason,
            cx.out,
        );
    }
    cx.raise(&s.name, AlertKind::Blocked, severity, &reason);
    cx.event(
        &s.name,
        EventKind::Blocked,
        by.who(),
        format!("{}: blocked by {by}: {reason}", s.name),
        json!({ "reason": reason }),
    );
    s.rec.blocked_under = (by == Actor::Drover).then(|| role.cause_key());
    s.rec.mode = SlotMode::Blocked {
        reason,
        by,
        at: now,
    };
}

pub(crate) fn forget_failures(s: &mut Slot) {
    s.rec.retrying = false;
    s.rec.unblock_retries = 0;
    s.rec.backoff_step = 0;
    s.rec.consecutive_failures = 0;
    s.rec.streak = None;
}

/// An operator took responsibility: forget every failure count and flag.
pub(crate) fn fresh_start(s: &mut Slot, cx: &mut Cx) {
    forget_failures(s);
    s.rec.failure_restarts.clear();
    s.rec.early_failures.clear();
    s.rec.idle_exits.clear();
    s.rec.crash_looping = false;
    s.rec.idle_spinning = false;
    s.rec.completed = false;
    s.hold_until = None;
    cx.clear(&s.name, AlertKind::CrashLoop);
    if !s.is_live() {
        s.rec.restart = Some(RestartPlan {
            at: cx.now,
            via: RecoveryStep::Restart,
        });
    }
}

/// Clears the in-flight operation if `matches` says the answer is for it.
pub(crate) fn settle(s: &mut Slot, matches: impl Fn(&PendingOp) -> bool) {
    if s.in_flight.as_ref().is_some_and(|f| matches(&f.op)) {
        s.in_flight = None;
    }
}

/// One run's clock against the role's limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunClock {
    /// When the run must end, as of the last time the clock was running.
    pub ends_at: Option<Millis>,
    /// The clock is stopped since this time (paused, taken over, not running).
    pub stopped_at: Option<Millis>,
    /// The limit this run was given (the role's limit plus extensions), for messages.
    pub allowed: Millis,
    /// The limit passed: the run is being stopped because of it.
    pub timed_out: bool,
}
