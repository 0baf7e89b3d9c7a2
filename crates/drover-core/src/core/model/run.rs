//! What a container run is as the ledger records it: how it ended, what it landed and tested,
//! and its totals; the ledger that opens, feeds and closes runs is `ledger`.

use serde::{Deserialize, Serialize};

use super::{Millis, Verdict};
use drover_signals::usage::Tokens;

/// A commit or usage seen this long after its run ended still belongs to it: the upstream
/// watcher and the log follower report a moment after the container is gone.
pub const GRACE: Millis = 60_000;

/// Commit times have one-second resolution; a commit made in the run's first second may
/// carry a time just before the container's start.
pub(crate) const CLOCK_SLACK: Millis = 1_000;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum RunEnd {
    /// The process exited by itself with this code.
    Exited { code: i64 },
    /// Killed by a signal (exit code 128 + signal) that drover did not send.
    Signal { signal: i64 },
    /// Killed for memory.
    Oom,
    /// Stopped at its role's `run_timeout`.
    Timeout,
    /// Stopped at a usage limit; the slot waits for the reset.
    Throttled,
    /// Stopped by an operator (or drover, for a new config or a policy): `by` says who.
    Stopped { by: String },
    /// Stopped to be started again (`ctl restart`, a detector's restart action).
    Restarted,
    /// The container disappeared without an observed exit.
    Vanished,
}

impl RunEnd {
    /// The store's `end_kind` column and the report's word.
    pub fn label(&self) -> &'static str {
        match self {
            RunEnd::Exited { .. } => "exited",
            RunEnd::Signal { .. } => "signal",
            RunEnd::Oom => "oom",
            RunEnd::Timeout => "timeout",
            RunEnd::Throttled => "throttled",
            RunEnd::Stopped { .. } => "stopped",
            RunEnd::Restarted => "restarted",
            RunEnd::Vanished => "vanished",
        }
    }

    /// One short phrase for faces ("exit 1", "SIGKILL", "stopped by alice").
    pub fn describe(&self) -> String {
        match self {
            RunEnd::Exited { code } => format!("exit {code}"),
            RunEnd::Signal { signal } => match signal {
                9 => "SIGKILL".into(),
                15 => "SIGTERM".into(),
                2 => "SIGINT".into(),
                n => format!("signal {n}"),
            },
            RunEnd::Oom => "OOM-killed".into(),
            RunEnd::Timeout => "timed out".into(),
            RunEnd::Throttled => "usage limit".into(),
            RunEnd::Stopped { by } => format!("stopped by {by}"),
            RunEnd::Restarted => "restarted".into(),
            RunEnd::Vanished => "vanished".into(),
        }
    }
}

/// A commit the run landed upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandedCommit {
    pub commit: String,
    /// Commit time (ms since the epoch): where to look in the run's log.
    pub at: Millis,
    pub summary: String,
}

/// One test run, as the ledger keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestPoint {
    pub at: Millis,
    pub verdict: Verdict,
    pub passed: u64,
    pub failed: u64,
}

/// One container run of a slot. Keyed by (slot, `started_at`): a restart in place keeps the
/// generation but is a new run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub slot: String,
    pub role: String,
    pub generation: u64,
    pub container: String,
    pub started_at: Millis,
    /// `None` while the run is open.
    pub ended_at: Option<Millis>,
    pub end: Option<RunEnd>,
    pub tokens: Tokens,
    pub cost_micros: u64,
    /// Commits landed (attributed to the slot), oldest first, at most [`MAX_COMMITS`].
    pub commits: Vec<LandedCommit>,
    pub commit_count: u64,
    /// Tasks whose lock the slot took during the run.
    pub locks_taken: Vec<String>,
    /// Tasks whose lock was removed upstream while the slot held it (not by an operator):
    /// the tasks the run completed.
    pub locks_released: Vec<String>,
    pub first_test: Option<TestPoint>,
    pub last_test: Option<TestPoint>,
    /// Context compactions during the run, and the last of them.
    #[serde(default)]
    pub compactions: u64,
    #[serde(default)]
    pub last_compaction: Option<super::context::CompactionView>,
    /// The fullest the agent's context was seen in the run, in percent of its window.
    #[serde(default)]
    pub peak_context_percent: Option<u32>,
}

impl RunRecord {
    /// Passing tests at the run's last test run minus at its first (`None` without tests).
    pub fn passing_delta(&self) -> Option<i64> {
        let (a, b) = (self.first_test?, self.last_test?);
        Some(b.passed as i64 - a.passed as i64)
    }

    /// Run time up to its end, or up to `now` while open.
    pub fn duration(&self, now: Millis) -> Millis {
        self.ended_at.unwrap_or(now).saturating_sub(self.started_at)
    }

    /// The same record with at most `n` commits (the newest), for snapshots.
    pub fn trimmed(&self, n: usize) -> RunRecord {
        let mut r = self.clone();
        let skip = r.commits.len().saturating_sub(n);
        r.commits.drain(..skip);
        r
    }

    pub(crate) fn covers(&self, at: Millis) -> bool {
        at.saturating_add(CLOCK_SLACK) >= self.started_at
            && self.ended_at.is_none_or(|e| at <= e.saturating_add(GRACE))
    }
}
