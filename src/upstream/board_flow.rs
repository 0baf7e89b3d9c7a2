//! Throughput and flow of a folder board, from the first-parent history of the branch (the same
//! walk as `report`): each commit compared with its first parent only.
//!
//! Definitions (documented in the README):
//! - a *completion* is a file added under the done folder (a commit adding two makes two); its
//!   time is the commit's committer time, its day the UTC day of that time;
//! - *claim to completion* is a completion's time minus that of the latest claim (a file added
//!   under the locks folder) of the same task name before it; completions never claimed are
//!   left out of the percentiles;
//! - *back to backlog*: a task whose lock was released and that was next added to the backlog
//!   folder, not the done folder (in the same commit or later).
//!
//! Memory is bounded by the number of distinct task names and days, never by commit count.

use std::collections::{BTreeMap, HashMap, HashSet};

use git2::Oid;
use serde::Serialize;

use super::board_settings::{BoardSettings, DayCount};
use super::error::{GitContext, UpstreamError};
use super::locks::{MODE_TREE, task_name};
use super::repo::UpstreamRepo;
use super::scan::{diff_trees, entry_at};

const DAY_S: i64 = 86_400;

/// The flow figures, plus the completion time of every file in the done folder at the tip.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub completed: u64,
    /// Completions per UTC day, oldest first (days without any left out).
    pub completed_per_day: Vec<DayCount>,
    pub claim_to_done_p50_s: Option<i64>,
    pub claim_to_done_p90_s: Option<i64>,
    /// Completions with a known claim (those the percentiles are over).
    pub claimed_completions: u64,
    pub back_to_backlog: u64,
    /// Committer time (s) of the commit that added each file still in the done folder.
    #[serde(skip)]
    done_at_s: HashMap<Vec<u8>, i64>,
    /// Committer times (s) of every completion, for the recent-days figures.
    #[serde(skip)]
    completion_times: Vec<i64>,
}

impl Flow {
    /// When the file at `rel` (below the done folder) was added there.
    pub fn completed_at_ms(&self, rel: &[u8]) -> Option<i64> {
        self.done_at_s.get(rel).map(|s| s.saturating_mul(1000))
    }

    /// Completions on the UTC day of `now_ms`, and per day over the 7 days ending today.
    pub fn recent_days(&self, now_ms: i64) -> (u64, Vec<DayCount>) {
        let today = now_ms.div_euclid(1000).div_euclid(DAY_S);
        let mut per = [0u64; 7];
        for t in &self.completion_times {
            let back = today - t.div_euclid(DAY_S);
            if let Some(n) = usize::try_from(back).ok().and_then(|b| per.get_mut(b)) {
                *n += 1;
            }
        }
        let week = (0..7)
            .rev()
            .map(|back| DayCount {
                day: day_label((today - back as i64) * DAY_S),
                completed: per[back],
            })
            .collect();
        (per[0], week)
    }
}

/// `YYYY-MM-DD` of a UTC time in seconds.
pub fn day_label(time_s: i64) -> String {
    let d = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(time_s).unwrap_or(0)),
    )
    .to_string();
    d.get(..10).unwrap_or(&d).to_owned()
}

/// Walks the first-parent history of the open repo's branch.
pub(crate) fn read(
    up: &UpstreamRepo,
    settings: &BoardSettings,
    _now_ms: i64,
) -> Result<Flow, UpstreamError> {
    let mut flow = Flow::default();
    let Ok(tip) = up.current_tip() else {
        return Ok(flow);
    };
    let repo = &up.repo;
    let mut chain: Vec<Oid> = Vec::new();
    let mut next = Some(tip);
    while let Some(id) = next {
        chain.push(id);
        next = repo
            .find_commit(id)
            .git("reading a commit")?
            .parent_ids()
            .next();
    }
    chain.reverse();
    let dirs = [
        settings.backlog_dir.trim_matches('/').to_owned(),
        settings.locks_dir.trim_matches('/').to_owned(),
        settings.done_dir.trim_matches('/').to_owned(),
    ];
    let mut prev: [Option<Oid>; 3] = [None; 3];
    let mut last_claim_s: HashMap<String, i64> = HashMap::new();
    let mut released_not_done: HashSet<String> = HashSet::new();
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut spans: Vec<i64> = Vec::new();
    for id in chain {
        let commit = repo.find_commit(id).git("reading a commit")?;
        let time_s = commit.time().seconds();
        let tree = commit.tree().git("reading a commit's tree")?;
        let mut now: [Option<Oid>; 3] = [None; 3];
        for (i, d) in dirs.iter().enumerate() {
            now[i] = entry_at(&tree, d)?
                .filter(|e| e.mode == MODE_TREE)
                .map(|e| e.id);
        }
        if now == prev {
            continue;
        }
        let [backlog, locks, done] = [0, 1, 2].map(|i| diff_trees(repo, prev[i], now[i]));
        let (backlog, locks, done) = (backlog?, locks?, done?);
        prev = now;
        // Claims and releases first, then completions, then backlog additions: a commit that
        // releases a lock and adds the task to the done folder completes it.
        for c in &locks {
            let task = task_name(&c.rel_path);
            match (c.old, c.new) {
                (None, Some(_)) => {
                    last_claim_s.insert(task.clone(), time_s);
                    released_not_done.remove(&task);
                }
                (Some(_), None) => {
                    released_not_done.insert(task);
                }
                _ => {}
            }
        }
        for c in &done {
            match (c.old, c.new) {
                (None, Some(_)) => {
                    let task = task_name(&c.rel_path);
                    flow.completed += 1;
                    flow.completion_times.push(time_s);
                    *per_day.entry(time_s.div_euclid(DAY_S)).or_default() += 1;
                    released_not_done.remove(&task);
                    if let Some(at) = last_claim_s.remove(&task) {
                        spans.push(time_s - at);
                    }
                    flow.done_at_s.insert(c.rel_path.clone(), time_s);
                }
                (Some(_), None) => {
                    flow.done_at_s.remove(&c.rel_path);
                }
                _ => {}
            }
        }
        for c in &backlog {
            if c.old.is_none() && c.new.is_some() {
                let task = task_name(&c.rel_path);
                if released_not_done.remove(&task) {
                    flow.back_to_backlog += 1;
                }
            }
        }
    }
    flow.completed_per_day = per_day
        .into_iter()
        .map(|(day, completed)| DayCount {
            day: day_label(day * DAY_S),
            completed,
        })
        .collect();
    spans.sort_unstable();
    flow.claimed_completions = spans.len() as u64;
    flow.claim_to_done_p50_s = crate::core::percentile(&spans, 50);
    flow.claim_to_done_p90_s = crate::core::percentile(&spans, 90);
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_labels_are_utc_dates() {
        assert_eq!(day_label(0), "1970-01-01");
        assert_eq!(day_label(1_770_000_000), "2026-02-02");
    }

    #[test]
    fn recent_days_count_today_and_the_week() {
        let now_ms = 1_770_000_000_000;
        let flow = Flow {
            completion_times: vec![
                1_770_000_000,
                1_770_000_000 - DAY_S,
                1_770_000_000 - 9 * DAY_S,
            ],
            ..Flow::default()
        };
        let (today, week) = flow.recent_days(now_ms);
        assert_eq!(today, 1);
        assert_eq!(week.len(), 7);
        assert_eq!(week.iter().map(|d| d.completed).sum::<u64>(), 2);
        assert_eq!(week[6].day, "2026-02-02");
    }
}
