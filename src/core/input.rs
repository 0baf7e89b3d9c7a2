//! Everything that can happen to the fleet: facts observed by adapters and operator commands.
//! The core never fetches anything; it only reacts to these, with `now` given alongside.

use serde::{Deserialize, Serialize};

use super::command::CommandRequest;
use super::model::{
    ActivityKind, DetectorAction, DockerOp, LockObservation, ObservedContainer, TestSummary,
};
use super::policy::FleetSpec;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// A full listing of this fleet's labelled containers. The core reconciles: adopts what
    /// matches, removes stale generations, spec-hash mismatches and orphans, creates what is
    /// missing. An unchanged world yields no effects at all.
    ContainersListed {
        containers: Vec<ObservedContainer>,
    },
    ContainerCreated {
        slot: String,
        generation: u64,
        id: String,
    },
    CreateFailed {
        slot: String,
        generation: u64,
        error: String,
    },
    ContainerStarted {
        slot: String,
        id: String,
    },
    StartFailed {
        slot: String,
        id: String,
        error: String,
    },
    /// The container's process ended (Docker `die`), with the tail of its output.
    ContainerDied {
        slot: String,
        id: String,
        exit_code: i64,
        oom_killed: bool,
        last_lines: Vec<String>,
    },
    ContainerPaused {
        slot: String,
        id: String,
    },
    ContainerUnpaused {
        slot: String,
        id: String,
    },
    ContainerRemoved {
        slot: String,
        id: String,
    },
    /// A stop, kill, pause, unpause or remove failed.
    OpFailed {
        slot: String,
        id: String,
        op: DockerOp,
        error: String,
    },
    /// `Err` carries the human reason (e.g. "required env OPENAI_API_KEY is not set").
    PreflightResult {
        slot: String,
        result: Result<(), String>,
    },
    ProbeResult {
        slot: String,
        id: String,
        ok: bool,
        detail: String,
    },
    /// A sign of life (throttled by the adapter), for stall detection.
    Activity {
        slot: String,
        kind: ActivityKind,
    },
    /// The lock table at the upstream tip (complete, replaces the previous one).
    LocksObserved {
        locks: Vec<LockObservation>,
    },
    TestRunRecorded {
        slot: String,
        summary: TestSummary,
    },
    /// A loop detector's condition holds for `slot`; the core raises one alert and applies
    /// `action` once per firing.
    DetectorFired {
        slot: String,
        detector: String,
        evidence: Vec<String>,
        action: DetectorAction,
    },
    DetectorCleared {
        slot: String,
        detector: String,
    },
    DockerDown {
        error: String,
    },
    DockerUp,
    /// New configuration (e.g. after SIGHUP): roles added/removed/scaled, policies replaced,
    /// containers with a changed spec hash replaced. The fleet name never changes.
    SpecChanged {
        spec: FleetSpec,
    },
    /// A wake-up: time passed (see `Fleet::next_wakeup`).
    Tick,
    Operator {
        request: CommandRequest,
    },
}

impl Input {
    /// The slot a slot-scoped input concerns.
    pub fn slot(&self) -> Option<&str> {
        match self {
            Input::ContainerCreated { slot, .. }
            | Input::CreateFailed { slot, .. }
            | Input::ContainerStarted { slot, .. }
            | Input::StartFailed { slot, .. }
            | Input::ContainerDied { slot, .. }
            | Input::ContainerPaused { slot, .. }
            | Input::ContainerUnpaused { slot, .. }
            | Input::ContainerRemoved { slot, .. }
            | Input::OpFailed { slot, .. }
            | Input::PreflightResult { slot, .. }
            | Input::ProbeResult { slot, .. }
            | Input::Activity { slot, .. }
            | Input::TestRunRecorded { slot, .. }
            | Input::DetectorFired { slot, .. }
            | Input::DetectorCleared { slot, .. } => Some(slot),
            _ => None,
        }
    }
}
