//! What an incident is (a slot out of healthy service, from leaving it to coming back) and the
//! service metrics computed from incidents; the book that opens and closes them is `incidents`.

use serde::{Deserialize, Serialize};

use super::Millis;

/// Why a slot left healthy service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum IncidentCause {
    Died {
        exit_code: Option<i64>,
        oom_killed: bool,
    },
    Disappeared,
    CreateFailed,
    StartFailed,
    PreflightFailed,
    Blocked,
    Unready,
    Stalled,
    /// The run reached its role's `run_timeout` and was stopped.
    TimedOut {
        after: Millis,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// Healthy again with no operator involvement.
    AutoRecovered,
    /// Healthy again after an operator acted on the slot (unblock, restart, …).
    OperatorRecovered,
    ClosedByOperator {
        by: String,
    },
    /// The slot was scaled away.
    SlotRemoved,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u64,
    pub slot: String,
    pub role: String,
    pub opened_at: Millis,
    pub cause: IncidentCause,
    pub detail: String,
    pub closed_at: Option<Millis>,
    pub resolution: Option<Resolution>,
    /// Restarts drover made while the incident was open.
    pub restarts: u32,
    /// An operator acted on the slot while the incident was open.
    pub operator_involved: bool,
}

impl Incident {
    pub fn repair_time(&self) -> Option<Millis> {
        self.closed_at.map(|c| c.saturating_sub(self.opened_at))
    }
}

/// Service metrics, fleet-wide or for one slot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceMetrics {
    pub incidents_open: u32,
    pub incidents_closed: u32,
    pub mttr_p50: Option<Millis>,
    pub mttr_p95: Option<Millis>,
    /// Mean healthy stretch between an incident's close and the next incident of that slot.
    pub mtbf: Option<Millis>,
    /// Auto-recovered / all closed incidents (those closed by scale-down excluded).
    pub recovery_rate: Option<f64>,
}
