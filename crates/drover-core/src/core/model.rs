//! Plain data shared by every part of the core: time, container facts, slot states, health,
//! exit records, lock observations and test summaries; alerts, incidents, runs, commands,
//! spend and throttles in the child modules. No behaviour beyond small helpers; nothing here
//! imports a rule.

pub mod alert;
pub mod command;
pub mod context;
pub mod incident;
pub mod run;
pub mod spend;
pub mod throttle;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (the signals' time unit). Every time the core uses
/// arrives as an input.
pub use drover_signals::Millis;

/// Who made a decision: drover itself (a policy or detector) or a named operator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Drover,
    Operator(String),
}

impl Actor {
    pub fn operator(name: impl Into<String>) -> Self {
        Actor::Operator(name.into())
    }

    /// The name written into audit records (`None` for drover's own decisions).
    pub fn who(&self) -> Option<&str> {
        match self {
            Actor::Drover => None,
            Actor::Operator(name) => Some(name),
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Drover => f.write_str("drover"),
            Actor::Operator(name) => f.write_str(name),
        }
    }
}

/// A container's state as Docker reports it, reduced to what scheduling needs. The adapter
/// maps `restarting` to `Running`, `dead` to `Exited` and leaves `removing` containers out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Exited { code: i64 },
}

impl ContainerStatus {
    /// Running or paused: the container holds the slot's process.
    pub fn is_live(&self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }
}

/// One drover-labelled container of this fleet, as listed by the adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedContainer {
    pub id: String,
    /// The slot label (`<role>-<n>`); a label naming no current slot makes the container an orphan.
    pub slot: String,
    pub generation: u64,
    pub spec_hash: String,
    pub status: ContainerStatus,
    /// Docker's `StartedAt` of its latest run, when known.
    pub started_at: Option<Millis>,
    /// Docker's `FinishedAt` of an exited container, when known: an exit that happened while
    /// drover was not watching then reports the run's real length.
    #[serde(default)]
    pub finished_at: Option<Millis>,
}

/// The lifecycle state of a slot as faces show it. Derived from the slot's mode, its container
/// and the operation in flight; see the module docs for the transitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SlotState {
    /// No container yet and nothing in flight (also while Docker is unreachable).
    Pending,
    /// Waiting for the adapter's preflight checks.
    Preflight,
    Creating,
    Starting,
    Running,
    Paused {
        by: Actor,
    },
    /// A stop was requested and the container has not exited yet.
    Stopping,
    /// The container is being removed (recreate, stale spec, scale-down).
    Removing,
    /// Exited and not restarting by policy (`never`, or a clean exit under `on-failure`).
    Exited {
        code: Option<i64>,
    },
    /// A restart is scheduled at `until`.
    Backoff {
        until: Millis,
    },
    /// A usage limit: no start before `until` (the reset plus jitter); not a failure.
    Throttled {
        until: Millis,
    },
    /// No automatic action until an operator unblocks the slot.
    Blocked {
        reason: String,
        by: Actor,
    },
    /// Supervision suspended: an operator works in the container.
    TakenOver {
        by: String,
        since: Millis,
    },
    Stopped {
        by: Actor,
    },
    /// Scaled away: its container is being stopped and removed, then the slot disappears.
    Retiring,
}

impl SlotState {
    /// States in which the slot's container runs or may still print: its output is followed.
    pub fn has_live_container(&self) -> bool {
        matches!(
            self,
            SlotState::Running
                | SlotState::Paused { .. }
                | SlotState::Stopping
                | SlotState::TakenOver { .. }
        )
    }

    /// A short lowercase word for tables, filters and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SlotState::Pending => "pending",
            SlotState::Preflight => "preflight",
            SlotState::Creating => "creating",
            SlotState::Starting => "starting",
            SlotState::Running => "running",
            SlotState::Paused { .. } => "paused",
            SlotState::Stopping => "stopping",
            SlotState::Removing => "removing",
            SlotState::Exited { .. } => "exited",
            SlotState::Backoff { .. } => "backoff",
            SlotState::Throttled { .. } => "throttled",
            SlotState::Blocked { .. } => "blocked",
            SlotState::TakenOver { .. } => "taken-over",
            SlotState::Stopped { .. } => "stopped",
            SlotState::Retiring => "retiring",
        }
    }

    /// States in which drover never starts or restarts the slot on its own.
    pub fn holds_automation(&self) -> bool {
        matches!(
            self,
            SlotState::Paused { .. }
                | SlotState::Blocked { .. }
                | SlotState::TakenOver { .. }
                | SlotState::Stopped { .. }
                | SlotState::Retiring
        )
    }
}

/// Whether a running slot is of use, separate from whether its process is up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// Not running, still warming up (younger than `min_uptime`), or no probe answered yet.
    #[default]
    Unknown,
    Healthy,
    /// The readiness probe failed `failure_threshold` times in a row.
    Unready {
        detail: String,
        since: Millis,
    },
    /// No log output, commit or progress since `since` for longer than `stall_after`.
    Stalled {
        since: Millis,
    },
}

impl Health {
    /// The word for a health value, as shown, filtered and reported in JSON.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unready { .. } => "unready",
            Health::Stalled { .. } => "stalled",
        }
    }
}

/// How the last container run of a slot ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// `None` when the container vanished or could not be created/started.
    pub code: Option<i64>,
    pub oom_killed: bool,
    pub at: Millis,
    /// Time from start to exit (0 when it never started).
    pub uptime: Millis,
    /// The last error-ish line (ANSI stripped, secrets redacted), else the last non-empty line.
    pub line: Option<String>,
    /// Set when drover ended the run for a reason of its own (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ExitReason>,
}

/// Why drover ended a run itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The run reached its role's `run_timeout`.
    Timeout,
}

impl ExitInfo {
    /// A clean exit: code 0 and not killed for memory.
    pub fn is_clean(&self) -> bool {
        self.code == Some(0) && !self.oom_killed
    }
}

/// What kind of sign of life an agent gave (for stall detection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Log,
    Commit,
    Progress,
}

/// One lock file at the upstream tip, as the upstream adapter sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockObservation {
    pub task: String,
    /// The slot (or other name) the lock file or its commit names; `None` when unknown.
    pub holder: Option<String>,
    pub claimed_at: Millis,
    /// The commit that added the lock file: what an operator's release is checked against,
    /// so a release never removes a newer claim of the same task.
    #[serde(default)]
    pub claim_commit: Option<String>,
}

/// Verdict of a test run: the signals' one rule, shared (serialised as "pass" | "fail" |
/// "error" | "no-tests").
pub use drover_signals::Verdict;

/// The core's view of one test run; the signals module's richer run converts into this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: u64,
    pub verdict: Verdict,
    /// Names of failing tests (bounded by the core when stored).
    pub failing: Vec<String>,
}

/// Docker operations whose failure comes back as [`crate::core::Input::OpFailed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DockerOp {
    Stop,
    Kill,
    Pause,
    Unpause,
    Remove,
}

/// What a loop detector asks the core to do when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorAction {
    Alert,
    Pause,
    Block,
    Restart,
}

/// The slot name for replica `n` (1-based) of `role`.
pub fn slot_name(role: &str, n: u32) -> String {
    format!("{role}-{n}")
}

/// The container name drover gives a slot's container (unique per fleet, so Docker itself
/// refuses a second container for the same slot).
pub fn container_name(fleet: &str, slot: &str) -> String {
    format!("drover-{fleet}-{slot}")
}

/// The most slots a fleet may have, all roles together: every slot costs a log follower, a
/// ring and a row in every snapshot, and a mistyped `replicas` must not take the host down.
/// The config check refuses more, and so does `ctl scale`.
pub const MAX_SLOTS: u32 = 1_000;

/// A role's replicas set by `ctl scale`, over the config's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleOverride {
    pub role: String,
    pub replicas: u32,
    /// The config's replicas it overrides.
    pub configured: u32,
}

/// "1.5s", "2m", "1h 5m" for event messages.
pub fn human(ms: Millis) -> String {
    if ms < 60_000 {
        let tenths = ms / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else if ms < 3_600_000 {
        let s = ms / 1_000;
        if s.is_multiple_of(60) {
            format!("{}m", s / 60)
        } else {
            format!("{}m {}s", s / 60, s % 60)
        }
    } else {
        let m = ms / 60_000;
        format!("{}h {}m", m / 60, m % 60)
    }
}

/// Docker connectivity as the core knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "docker", rename_all = "snake_case")]
pub enum DockerStatus {
    /// No listing or connection report yet.
    #[default]
    Unknown,
    Up,
    Down {
        error: String,
        since: Millis,
    },
}
