//! The cost part of `drover report`: from the run ledger, what each slot, each role and the
//! fleet spent and what it delivered — cost per landed commit and per completed task — and the
//! run behind a commit, with its log file and the commit's time.
//!
//! Definitions (also in the README): a run counts when it overlaps the window (started in it,
//! ended in it, or still open), with its whole cost. Cost per landed commit = the group's cost
//! ÷ the commits its runs landed upstream (attributed to the slot); cost per completed task =
//! the group's cost ÷ the task locks its runs released (removed upstream while the slot held
//! them, operator releases excluded). Runs that landed nothing still count in the cost: that
//! is what a commit really cost. Invariant: [`compute`] is pure; only [`load`] reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::{RunRecord, dollars};
use crate::signals::usage::Tokens;
use crate::store::{Store, StoreError, StoredRun};

/// What a group of runs spent and delivered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostFigures {
    pub runs: u32,
    pub cost_micros: u64,
    pub tokens: Tokens,
    pub commits: u64,
    pub tasks: u64,
    /// `cost_micros / commits`; `None` without commits.
    pub per_commit_micros: Option<u64>,
    /// `cost_micros / tasks`; `None` without completed tasks.
    pub per_task_micros: Option<u64>,
    /// Runs by how they ended ("exited", "throttled", …; "open" while running).
    pub ends: BTreeMap<String, u32>,
}

impl CostFigures {
    fn add(&mut self, r: &RunRecord) {
        self.runs += 1;
        self.cost_micros = self.cost_micros.saturating_add(r.cost_micros);
        self.tokens.add(&r.tokens);
        self.commits += r.commit_count;
        self.tasks += r.locks_released.len() as u64;
        let end = r.end.as_ref().map_or("open", |e| e.label());
        *self.ends.entry(end.to_string()).or_default() += 1;
    }

    fn finish(&mut self) {
        self.per_commit_micros = (self.commits > 0).then(|| self.cost_micros / self.commits);
        self.per_task_micros = (self.tasks > 0).then(|| self.cost_micros / self.tasks);
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    pub fleet: CostFigures,
    pub roles: BTreeMap<String, CostFigures>,
    pub slots: BTreeMap<String, CostFigures>,
}

/// Sums `runs` by slot, role and for the fleet.
pub fn compute(runs: &[RunRecord]) -> CostReport {
    let mut r = CostReport::default();
    for run in runs {
        r.fleet.add(run);
        r.roles.entry(run.role.clone()).or_default().add(run);
        r.slots.entry(run.slot.clone()).or_default().add(run);
    }
    r.fleet.finish();
    r.roles.values_mut().for_each(CostFigures::finish);
    r.slots.values_mut().for_each(CostFigures::finish);
    r
}

fn records(rows: Vec<StoredRun>) -> Vec<RunRecord> {
    rows.into_iter()
        .filter_map(|r| serde_json::from_value(r.record).ok())
        .collect()
}

/// The runs overlapping the window that starts at `from` (ms since the epoch).
pub async fn load(store: &Store, from: i64) -> Result<Vec<RunRecord>, StoreError> {
    Ok(records(store.runs_since(from).await?))
}

/// The run that landed the commit `prefix` (full or short id), with its log file relative to
/// the data dir; the newest if several match.
pub async fn run_of_commit(
    store: &Store,
    prefix: &str,
) -> Result<Option<(RunRecord, String)>, StoreError> {
    let rows = store.runs_with_commit(prefix).await?;
    Ok(rows.into_iter().rev().find_map(|row| {
        let log = row.log_file.clone();
        serde_json::from_value::<RunRecord>(row.record)
            .ok()
            .map(|r| (r, log))
    }))
}

fn opt_dollars(v: Option<u64>) -> String {
    v.map_or_else(|| "—".to_string(), dollars)
}

/// What the cost columns say when no `[pricing]` is configured: every figure would be $0.00,
/// which reads as "free", not as "unknown".
pub const NO_PRICES: &str = "no prices configured";

/// The report as a table: fleet, then per role and per slot. Without prices (`priced` false)
/// the money columns say so instead of showing $0.00; runs, commits and tasks still count.
pub fn to_text(r: &CostReport, priced: bool) -> String {
    let mut out = String::new();
    if !priced {
        out.push_str(&format!(
            "cost: {NO_PRICES} — add a [pricing] table to the config to see what runs cost\n"
        ));
    }
    let money = |v: u64| {
        if priced {
            dollars(v)
        } else {
            "—".to_string()
        }
    };
    let opt_money = |v: Option<u64>| {
        if priced {
            opt_dollars(v)
        } else {
            "—".to_string()
        }
    };
    out.push_str(&format!(
        "{:<22} {:>5} {:>10} {:>8} {:>6} {:>12} {:>12}\n",
        "cost", "runs", "spent", "commits", "tasks", "per commit", "per task"
    ));
    let mut row = |name: &str, f: &CostFigures| {
        out.push_str(&format!(
            "{:<22} {:>5} {:>10} {:>8} {:>6} {:>12} {:>12}\n",
            name,
            f.runs,
            money(f.cost_micros),
            f.commits,
            f.tasks,
            opt_money(f.per_commit_micros),
            opt_money(f.per_task_micros)
        ));
    };
    row("fleet", &r.fleet);
    for (role, f) in &r.roles {
        row(&format!("role {role}"), f);
    }
    for (slot, f) in &r.slots {
        row(&format!("  {slot}"), f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::RunEnd;

    fn run(slot: &str, cost: u64, commits: u64, tasks: usize) -> RunRecord {
        RunRecord {
            slot: slot.into(),
            role: slot.rsplit_once('-').map_or(slot, |(r, _)| r).into(),
            cost_micros: cost,
            commit_count: commits,
            locks_released: (0..tasks).map(|i| format!("t{i}")).collect(),
            end: Some(RunEnd::Exited { code: 0 }),
            ..RunRecord::default()
        }
    }

    #[test]
    fn runs_without_commits_still_count_in_the_cost_of_a_commit() {
        let r = compute(&[
            run("worker-1", 3_000_000, 2, 1),
            run("worker-1", 1_000_000, 0, 0),
            run("worker-2", 500_000, 0, 0),
        ]);
        let w1 = &r.slots["worker-1"];
        assert_eq!(w1.per_commit_micros, Some(2_000_000));
        assert_eq!(w1.per_task_micros, Some(4_000_000));
        assert_eq!(r.slots["worker-2"].per_commit_micros, None);
        assert_eq!(r.roles["worker"].per_commit_micros, Some(2_250_000));
        assert_eq!(r.fleet.ends["exited"], 3);
        assert!(to_text(&r, true).contains("$2.25"), "{}", to_text(&r, true));
    }

    #[test]
    fn without_prices_the_report_says_so_instead_of_zero_dollars() {
        let r = compute(&[run("worker-1", 0, 2, 1)]);
        let text = to_text(&r, false);
        assert!(text.contains(NO_PRICES), "{text}");
        assert!(!text.contains("$0.00"), "{text}");
        assert!(to_text(&r, true).contains("$0.00"));
    }
}
