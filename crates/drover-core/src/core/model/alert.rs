//! What an alert is: its kinds and severities, its key (one alert per slot and condition), the
//! record the store and the faces see, and the id clock alerts and incidents share. The table
//! that raises and clears them is `alerts`.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The condition an alert reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    CrashLoop,
    Blocked,
    Stall,
    TaskOverdue {
        task: String,
    },
    StaleLock {
        task: String,
    },
    /// The same task claimed again and again (see `claims`).
    Reclaim {
        task: String,
    },
    ProbeFailing,
    DockerDown,
    /// One host of a fleet over several engines is unreachable (its slots are frozen).
    HostDown {
        host: String,
    },
    /// Raised by a loop detector through [`crate::core::Input::DetectorFired`].
    Loop {
        detector: String,
    },
    /// The upstream holds more lock files than drover keeps (see `MAX_LOCKS`).
    LocksTruncated,
    /// A container wears this fleet's labels but is not drover's (name or fleet id differ):
    /// it is left alone and named here.
    ForeignContainer {
        name: String,
    },
    /// The slot's agent hit a usage limit and waits for the reset (info only).
    UsageLimit,
    /// The fleet's daily spend reached `[budget] daily_usd`: no new sessions today.
    DailyBudget,
    /// The slot's agent printed usage lines too large to be real; they were not counted.
    ImplausibleUsage,
    /// More overdue or stale locks than are alerted one by one (see `MAX_LOCK_ALERTS`): the
    /// rest are counted in this one alert.
    LockAlertsCounted,
    /// The shared branch's check turned red (`[upstream.check]`): names the first red commit,
    /// who landed it and the failing tests.
    UpstreamRed,
}

impl AlertKind {
    /// Short name for tables and the store's `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::CrashLoop => "crash_loop",
            AlertKind::Blocked => "blocked",
            AlertKind::Stall => "stall",
            AlertKind::TaskOverdue { .. } => "task_overdue",
            AlertKind::StaleLock { .. } => "stale_lock",
            AlertKind::Reclaim { .. } => "reclaim",
            AlertKind::ProbeFailing => "probe_failing",
            AlertKind::DockerDown => "docker_down",
            AlertKind::HostDown { .. } => "host_down",
            AlertKind::Loop { .. } => "loop",
            AlertKind::LocksTruncated => "locks_truncated",
            AlertKind::ForeignContainer { .. } => "foreign_container",
            AlertKind::UsageLimit => "usage_limit",
            AlertKind::DailyBudget => "daily_budget",
            AlertKind::ImplausibleUsage => "implausible_usage",
            AlertKind::LockAlertsCounted => "lock_alerts_counted",
            AlertKind::UpstreamRed => "upstream_red",
        }
    }
}

/// What identifies a condition: the slot it concerns (none for fleet-wide ones) and its kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    pub slot: Option<String>,
    pub kind: AlertKind,
}

impl AlertKey {
    pub fn slot(slot: &str, kind: AlertKind) -> Self {
        Self {
            slot: Some(slot.to_string()),
            kind,
        }
    }

    pub fn fleet(kind: AlertKind) -> Self {
        Self { slot: None, kind }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub key: AlertKey,
    pub severity: Severity,
    pub message: String,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// How many times the condition was observed while active.
    pub count: u32,
    pub evidence: Vec<String>,
    pub acked: Option<Acknowledgement>,
    /// Set on the final record when the condition ended.
    pub cleared_at: Option<Millis>,
}

/// How an operator names an alert: by id, or by its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRef {
    Id(u64),
    Key(AlertKey),
}

/// Ids that stay unique across drover restarts without a counter in the store: at least
/// `now × 1024` and strictly increasing. Fits in 53 bits (JSON-safe) until the year 2109.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdClock {
    last: u64,
}

impl IdClock {
    pub(crate) fn next(&mut self, now: Millis) -> u64 {
        self.last = (self.last + 1).max(now.saturating_mul(1024));
        self.last
    }

    pub(crate) fn observe(&mut self, id: u64) {
        self.last = self.last.max(id);
    }
}
