//! What the core asks the outside world to do ([`Effect`]) and the records it asks to persist
//! ([`FleetEvent`], [`SlotRecord`]).
//!
//! Contract with the supervisor: effects are executed in order; every Docker effect is answered
//! by exactly one result [`crate::core::Input`] (success or failure) — `Create` by
//! `ContainerCreated`/`CreateFailed`, `Start` by `ContainerStarted`/`StartFailed`, `Stop`/`Kill`
//! by `ContainerDied`/`OpFailed`, `Pause`/`Unpause` by `ContainerPaused`/`ContainerUnpaused`/
//! `OpFailed`, `Remove` by `ContainerRemoved`/`OpFailed`, `RunProbe` by `ProbeResult`,
//! `RunPreflight` by `PreflightResult`, `ListContainers` by `ContainersListed` (or `DockerDown`).
//! An answer that never comes is treated as lost after `FleetSpec::op_timeout`.

use serde::{Deserialize, Serialize};

use super::model::alert::Alert;
use super::model::incident::Incident;
use super::model::run::RunRecord;
use super::model::throttle::Throttle;
use super::model::{Actor, ExitInfo, Millis};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// List every container labelled with this fleet; answer with `ContainersListed`.
    ListContainers,
    /// Create (not start) the slot's container `name` with labels (fleet, slot, role,
    /// generation, spec hash). A name conflict must be answered as `CreateFailed`, never by
    /// creating a second container.
    Create {
        slot: String,
        role: String,
        generation: u64,
        spec_hash: String,
        name: String,
    },
    Start {
        slot: String,
        id: String,
    },
    /// SIGTERM, then SIGKILL after `grace`. The container may be paused; the adapter unpauses
    /// it first if the runtime requires that.
    Stop {
        slot: String,
        id: String,
        grace: Millis,
    },
    Kill {
        slot: String,
        id: String,
    },
    Pause {
        slot: String,
        id: String,
    },
    Unpause {
        slot: String,
        id: String,
    },
    /// Force-remove (kills the container first if it still runs) with its anonymous volumes.
    Remove {
        slot: String,
        id: String,
    },
    RunProbe {
        slot: String,
        /// The slot's role, whose probe to run (the driver never derives it from the name).
        role: String,
        id: String,
    },
    /// Check required env, image presence, mount sources and the optional preflight command.
    RunPreflight {
        slot: String,
        role: String,
    },
    /// Commit the removal of a task lock upstream (operator command).
    /// Answered by [`crate::core::Input::ReleaseFinished`]; `claim` is the claim commit the
    /// operator saw: a lock claimed again since is not removed.
    ReleaseLock {
        task: String,
        who: String,
        why: Option<String>,
        claim: Option<String>,
    },
    PersistEvent(FleetEvent),
    /// Upsert of the slot's resumable business state.
    PersistSlot(SlotRecord),
    /// The slot no longer exists (scaled away); delete its record.
    ForgetSlot {
        slot: String,
    },
    /// A new alert: persist and notify.
    RaiseAlert(Alert),
    /// A changed alert (acknowledged): persist, do not notify.
    UpdateAlert(Alert),
    /// The final record of an alert whose condition ended.
    ClearAlert(Alert),
    OpenIncident(Incident),
    /// The final record of a closed incident.
    CloseIncident(Incident),
    /// Upsert of one run's ledger record (keyed by slot and start).
    PersistRun(RunRecord),
    /// Upsert of the fleet's spend on one UTC day (days since the epoch).
    PersistSpend {
        day: u64,
        micros: u64,
    },
    /// Upsert of a role's `ctl scale` override; one whose `replicas` equal `configured` is
    /// no override (delete it).
    PersistScale(super::model::ScaleOverride),
}

impl Effect {
    /// True for effects that talk to Docker (never emitted while Docker is down or unsynced,
    /// except `ListContainers`).
    pub fn is_docker(&self) -> bool {
        matches!(
            self,
            Effect::ListContainers
                | Effect::Create { .. }
                | Effect::Start { .. }
                | Effect::Stop { .. }
                | Effect::Kill { .. }
                | Effect::Pause { .. }
                | Effect::Unpause { .. }
                | Effect::Remove { .. }
                | Effect::RunProbe { .. }
                | Effect::RunPreflight { .. }
        )
    }

    /// The slot a Docker effect concerns.
    pub fn slot(&self) -> Option<&str> {
        match self {
            Effect::Create { slot, .. }
            | Effect::Start { slot, .. }
            | Effect::Stop { slot, .. }
            | Effect::Kill { slot, .. }
            | Effect::Pause { slot, .. }
            | Effect::Unpause { slot, .. }
            | Effect::Remove { slot, .. }
            | Effect::RunProbe { slot, .. }
            | Effect::RunPreflight { slot, .. }
            | Effect::ForgetSlot { slot } => Some(slot),
            Effect::PersistSlot(r) => Some(&r.slot),
            Effect::PersistEvent(e) => e.slot.as_deref(),
            Effect::PersistRun(r) => Some(&r.slot),
            _ => None,
        }
    }
}

/// One entry of the audit/replay log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetEvent {
    pub at: Millis,
    pub slot: Option<String>,
    pub kind: EventKind,
    /// The operator behind it; `None` for drover's own decisions.
    pub who: Option<String>,
    /// One human line, suitable for the headless log.
    pub message: String,
    pub detail: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Command,
    Adopted,
    Created,
    CreateFailed,
    Started,
    StartFailed,
    Died,
    Vanished,
    Paused,
    Unpaused,
    Removing,
    Removed,
    OpFailed,
    OpLost,
    PreflightFailed,
    RestartScheduled,
    Blocked,
    Recovered,
    Ready,
    Unready,
    Stalled,
    Active,
    CrashLoop,
    IdleSpinning,
    Detector,
    LockRelease,
    DockerDown,
    DockerUp,
    /// One host of several became unreachable / reachable again.
    HostDown,
    HostUp,
    Scaled,
    SpecChanged,
    Retired,
    /// A run reached its role's `run_timeout` and is being stopped.
    TimedOut,
    /// A usage limit: the slot waits for the reset (or a quota-group peer's).
    Throttled,
    /// The daily budget is reached: no new sessions until midnight UTC.
    BudgetHold,
    /// The harness compacted the agent's context.
    Compaction,
    /// The shared branch's check turned red (and, with `on_red = "hold"`, new runs wait).
    MainRed,
    /// Bisection named the first red commit (or the narrowest range it could).
    MainCulprit,
    /// The shared branch's check is green again; a hold ends with it.
    MainGreen,
}

impl EventKind {
    /// The store's `kind` column value (same as the serde name).
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Command => "command",
            EventKind::Adopted => "adopted",
            EventKind::Created => "created",
            EventKind::CreateFailed => "create_failed",
            EventKind::Started => "started",
            EventKind::StartFailed => "start_failed",
            EventKind::Died => "died",
            EventKind::Vanished => "vanished",
            EventKind::Paused => "paused",
            EventKind::LockRelease => "lock_release",
            EventKind::Unpaused => "unpaused",
            EventKind::Removing => "removing",
            EventKind::Removed => "removed",
            EventKind::OpFailed => "op_failed",
            EventKind::OpLost => "op_lost",
            EventKind::PreflightFailed => "preflight_failed",
            EventKind::RestartScheduled => "restart_scheduled",
            EventKind::Blocked => "blocked",
            EventKind::Recovered => "recovered",
            EventKind::Ready => "ready",
            EventKind::Unready => "unready",
            EventKind::Stalled => "stalled",
            EventKind::Active => "active",
            EventKind::CrashLoop => "crash_loop",
            EventKind::IdleSpinning => "idle_spinning",
            EventKind::Detector => "detector",
            EventKind::DockerDown => "docker_down",
            EventKind::DockerUp => "docker_up",
            EventKind::HostDown => "host_down",
            EventKind::HostUp => "host_up",
            EventKind::Scaled => "scaled",
            EventKind::SpecChanged => "spec_changed",
            EventKind::Retired => "retired",
            EventKind::TimedOut => "timed_out",
            EventKind::Throttled => "throttled",
            EventKind::BudgetHold => "budget_hold",
            EventKind::Compaction => "compaction",
            EventKind::MainRed => "main_red",
            EventKind::MainCulprit => "main_culprit",
            EventKind::MainGreen => "main_green",
        }
    }
}

/// Who holds a slot's automation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SlotMode {
    /// drover drives the slot by its policies.
    #[default]
    Auto,
    Paused {
        by: Actor,
    },
    Stopped {
        by: Actor,
    },
    Blocked {
        reason: String,
        by: Actor,
        at: Millis,
    },
    TakenOver {
        by: String,
        since: Millis,
    },
    /// Scaled away; the slot disappears once its container is gone.
    Retiring,
}

/// How a scheduled restart brings the slot back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryStep {
    /// Start the same container again.
    Restart,
    /// Remove it and create a new generation from the image.
    Recreate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPlan {
    pub at: Millis,
    pub via: RecoveryStep,
}

/// The same failure signature seen `count` times in a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureStreak {
    pub signature: String,
    pub count: u32,
}

/// A slot's resumable business state: what must survive a drover restart. Runtime facts
/// (container status, health, activity) are not here; a Docker listing re-establishes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub slot: String,
    pub role: String,
    /// When this record was emitted (not part of the state comparison).
    pub updated_at: Millis,
    /// Highest container generation this slot has had.
    pub generation: u64,
    pub container_id: Option<String>,
    pub mode: SlotMode,
    /// Containers started for this slot (the first start included).
    pub starts: u64,
    /// Position in the backoff schedule (0 = next restart immediate).
    pub backoff_step: u32,
    /// Failures since the slot was last healthy for `reset_after` (drives the recovery tier).
    pub consecutive_failures: u32,
    /// A scheduled restart, if any.
    pub restart: Option<RestartPlan>,
    /// Exited for good by policy (clean exit under on-failure, or any exit under never).
    pub completed: bool,
    pub streak: Option<FailureStreak>,
    /// Times of failure restarts inside the restart window.
    pub failure_restarts: Vec<Millis>,
    /// Times of early failures inside the crash-loop window.
    pub early_failures: Vec<Millis>,
    /// Times of early clean exits inside the crash-loop window.
    pub idle_exits: Vec<Millis>,
    pub crash_looping: bool,
    pub idle_spinning: bool,
    pub last_exit: Option<ExitInfo>,
    /// Waiting for a usage limit to lift (its own notice or a quota-group peer's).
    #[serde(default)]
    pub throttle: Option<Box<Throttle>>,
    /// Usage limits in a row (the cool-down doubles with each); 0 after a run without one.
    #[serde(default)]
    pub throttles: u32,
    /// Automatic retries of a Blocked slot (`unblock_after`) since it was last healthy.
    #[serde(default)]
    pub unblock_retries: u32,
    /// The current run is such a retry: its failure blocks again at once.
    #[serde(default)]
    pub retrying: bool,
    /// What drover's own block was decided under ([`crate::core::RoleSpec::cause_key`]): when
    /// the role's spec, required env or image differs, the block is re-evaluated.
    #[serde(default)]
    pub blocked_under: Option<String>,
    /// Times of usage-limit exits inside the role's `limits_window` (see `throttle`).
    #[serde(default)]
    pub limit_exits: Vec<Millis>,
    /// The current run's clock (extensions and stopped time included) and the container it
    /// belongs to, so an acknowledged `extend` and paused or taken-over time survive a restart
    /// of drover.
    #[serde(default)]
    pub run_clock: Option<KeptClock>,
}

/// A run clock as stored in the slot's record (see `run_limit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptClock {
    pub container: String,
    pub ends_at: Millis,
    pub stopped_at: Option<Millis>,
    pub allowed: Millis,
}

impl SlotRecord {
    pub fn new(slot: &str, role: &str) -> Self {
        Self {
            slot: slot.to_string(),
            role: role.to_string(),
            updated_at: 0,
            generation: 0,
            container_id: None,
            mode: SlotMode::Auto,
            starts: 0,
            backoff_step: 0,
            consecutive_failures: 0,
            restart: None,
            completed: false,
            streak: None,
            failure_restarts: Vec::new(),
            early_failures: Vec::new(),
            idle_exits: Vec::new(),
            crash_looping: false,
            idle_spinning: false,
            last_exit: None,
            throttle: None,
            throttles: 0,
            unblock_retries: 0,
            retrying: false,
            blocked_under: None,
            limit_exits: Vec::new(),
            run_clock: None,
        }
    }

    /// Equal apart from `updated_at`.
    pub fn same_state(&self, other: &SlotRecord) -> bool {
        self.generation == other.generation
            && self.container_id == other.container_id
            && self.mode == other.mode
            && self.starts == other.starts
            && self.backoff_step == other.backoff_step
            && self.consecutive_failures == other.consecutive_failures
            && self.restart == other.restart
            && self.completed == other.completed
            && self.streak == other.streak
            && self.failure_restarts == other.failure_restarts
            && self.early_failures == other.early_failures
            && self.idle_exits == other.idle_exits
            && self.crash_looping == other.crash_looping
            && self.idle_spinning == other.idle_spinning
            && self.last_exit == other.last_exit
            && self.throttle == other.throttle
            && self.throttles == other.throttles
            && self.unblock_retries == other.unblock_retries
            && self.retrying == other.retrying
            && self.blocked_under == other.blocked_under
            && self.limit_exits == other.limit_exits
            && self.run_clock == other.run_clock
            && self.slot == other.slot
            && self.role == other.role
    }
}

/// What `Fleet::restore` needs from the store to resume after a drover restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    pub slots: Vec<SlotRecord>,
    pub open_incidents: Vec<Incident>,
    /// Recent closed incidents (for metrics); more than the history cap is fine.
    pub closed_incidents: Vec<Incident>,
    /// Alerts not yet cleared.
    pub active_alerts: Vec<Alert>,
    /// Every slot's open run and its recent finished ones (the ledger continues them).
    #[serde(default)]
    pub runs: Vec<RunRecord>,
    /// The fleet's spend on its latest stored day: (days since the epoch, micro-dollars).
    #[serde(default)]
    pub spend_day: Option<(u64, u64)>,
    /// `ctl scale` overrides in force.
    #[serde(default)]
    pub scale_overrides: Vec<super::model::ScaleOverride>,
    /// Each slot's latest stored test run: (slot, when, summary), so the TESTS column is
    /// right from the first frame.
    #[serde(default)]
    pub last_tests: Vec<(String, Millis, super::model::TestSummary)>,
}
