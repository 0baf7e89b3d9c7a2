//! The upstream retrospective (`drover report --upstream PATH`): claims, releases and hold
//! times of any fleet repo, whether drover ever ran on it or not. No daemon, no config.
//!
//! Definitions (documented in the README; every figure is over the **first-parent history** of
//! the branch, each commit compared with its first parent only, so work merged from a side
//! branch counts once, at the merge):
//! - a *claim* is a lock file added under the locks folder (a commit adding two makes two);
//! - a *release* is a lock file deleted (a held lock: it existed in the first parent);
//! - a *task* is a lock file's path below the folder with its extension dropped;
//! - hidden files (any path component starting with `.`, e.g. `.keep`) are not locks;
//! - a lock's *hold* is the committer time of its release minus that of its claim;
//! - *never released*: lock files present at the tip;
//! - *max concurrent*: the most locks held at once, replaying claims (+1) and releases (−1) in
//!   committer-time order, releases first at equal times.
//!
//! With `since`, only claims and releases committed at or after it are counted (holds of
//! releases after it count even when the claim was earlier; concurrency starts from the locks
//! held at `since`). Reading is split from [`compute`], which is pure.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use git2::Oid;
use serde::Serialize;

use super::error::{GitContext, UpstreamError};
use super::locks::{EntryInfoCache, MODE_TREE, task_name};
use super::repo::UpstreamRepo;
use super::scan::{commit_summary, diff_trees, entry_at};
use super::text::display_label;

/// One claim or release, as read from history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockEvent {
    pub claim: bool,
    /// Path relative to the locks folder (lossy).
    pub path: String,
    pub task: String,
    /// Committer time, seconds since the epoch.
    pub time_s: i64,
    pub author: String,
    /// Who the lock file names (first `Slot:`/`Agent:`/… value, else `Host:`/`Container:`),
    /// `unknown` when nothing; for a release, the holder of the released claim.
    pub holder: String,
    pub summary: String,
}

/// What was read from the repo.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub branch: String,
    pub tip: String,
    /// First-parent commits walked.
    pub commits: u64,
    pub first_commit_s: Option<i64>,
    pub last_commit_s: Option<i64>,
    /// Oldest first (first-parent order).
    pub events: Vec<LockEvent>,
}

/// A task and a count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub name: String,
    pub count: u64,
}

/// A lock still held at the tip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldLock {
    pub task: String,
    pub holder: String,
    pub claimed_at_s: i64,
    pub summary: String,
}

/// The longest hold seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LongestHold {
    pub task: String,
    pub holder: String,
    pub hold_s: i64,
}

/// Claims in one time bucket (for the claims-over-time chart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub start_s: i64,
    pub claims: u64,
}

/// The `locks` member of the JSON report (see the module docs for definitions).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LocksFigures {
    pub claims: u64,
    pub tasks: u64,
    pub reclaimed_tasks: u64,
    pub max_claims: u64,
    pub releases: u64,
    pub never_released: u64,
    pub hold_p50_s: Option<i64>,
    pub hold_p90_s: Option<i64>,
    pub hold_p99_s: Option<i64>,
    pub hold_max_s: Option<i64>,
    pub max_concurrent: u64,
    /// Committer time when `max_concurrent` was first reached.
    pub max_concurrent_at_s: Option<i64>,
    pub longest: Option<LongestHold>,
    /// Re-claimed tasks, most claims first (top 10).
    pub top_reclaimed: Vec<Counted>,
    pub held_at_tip: Vec<HeldLock>,
    /// Claims per commit author, most first.
    pub by_author: Vec<Counted>,
    /// Claims per holder named in the lock file, most first.
    pub by_holder: Vec<Counted>,
    /// Seconds per bucket of `claims_over_time`.
    pub bucket_s: i64,
    pub claims_over_time: Vec<Bucket>,
}

/// The whole retrospective.
#[derive(Clone, Debug, Serialize)]
pub struct UpstreamReport {
    pub repo: String,
    pub branch: String,
    pub tip: String,
    pub locks_dir: String,
    pub since_s: Option<i64>,
    pub commits: u64,
    pub first_commit_s: Option<i64>,
    pub last_commit_s: Option<i64>,
    pub locks: LocksFigures,
}

/// Reads the first-parent history of `branch` (default: what HEAD names) in the bare or
/// non-bare repo at `path`. An empty repo yields an empty history.
pub fn read_history(
    path: &Path,
    branch: Option<&str>,
    locks_dir: &str,
) -> Result<History, UpstreamError> {
    let up = UpstreamRepo::open_any(path, branch, locks_dir)?;
    let mut h = History {
        branch: up.branch().to_owned(),
        ..History::default()
    };
    let Ok(tip) = up.current_tip() else {
        return Ok(h);
    };
    h.tip = tip.to_string();
    let repo = &up.repo;
    let mut chain: Vec<Oid> = Vec::new();
    let mut next = Some(tip);
    while let Some(id) = next {
        chain.push(id);
        let commit = repo.find_commit(id).git("reading a commit")?;
        next = commit.parent_ids().next();
    }
    chain.reverse();
    h.commits = chain.len() as u64;
    let mut entries = EntryInfoCache::default();
    // Holder of each lock file present, to name the holder of its release.
    let mut holders: HashMap<Vec<u8>, String> = HashMap::new();
    let mut prev_locks: Option<Oid> = None;
    for id in chain {
        let commit = repo.find_commit(id).git("reading a commit")?;
        let time_s = commit.time().seconds();
        h.first_commit_s.get_or_insert(time_s);
        h.last_commit_s = Some(time_s);
        let tree = commit.tree().git("reading a commit's tree")?;
        let locks = entry_at(&tree, up.locks_dir())?
            .filter(|e| e.mode == MODE_TREE)
            .map(|e| e.id);
        if locks == prev_locks {
            continue;
        }
        let changes = diff_trees(repo, prev_locks, locks)?;
        prev_locks = locks;
        let author = display_label(commit.author().name_bytes(), 64)
            .trim()
            .to_owned();
        let summary = commit_summary(&commit);
        for c in changes {
            let (claim, holder) = match (c.old, c.new) {
                (None, Some(new)) => {
                    let ev = entries.describe(repo, new)?.evidence;
                    let holder = ev
                        .named
                        .first()
                        .or(ev.machines.first())
                        .cloned()
                        .unwrap_or_else(|| "unknown".into());
                    holders.insert(c.rel_path.clone(), holder.clone());
                    (true, holder)
                }
                (Some(_), None) => {
                    let holder = holders
                        .remove(&c.rel_path)
                        .unwrap_or_else(|| "unknown".into());
                    (false, holder)
                }
                // A lock file rewritten in place is neither a claim nor a release.
                _ => continue,
            };
            h.events.push(LockEvent {
                claim,
                path: display_label(&c.rel_path, 200),
                task: task_name(&c.rel_path),
                time_s,
                author: author.clone(),
                holder,
                summary: summary.clone(),
            });
        }
    }
    Ok(h)
}

/// Nearest-rank percentile of ascending `v`.
fn pct(v: &[i64], p: u32) -> Option<i64> {
    crate::core::percentile(v, p)
}

fn counted(map: BTreeMap<String, u64>, keep: impl Fn(u64) -> bool) -> Vec<Counted> {
    let mut v: Vec<Counted> = map
        .into_iter()
        .filter(|(_, c)| keep(*c))
        .map(|(name, count)| Counted { name, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v
}

/// The figures of `history` (see the module docs), counting from `since_s` when given.
pub fn compute(history: &History, since_s: Option<i64>) -> LocksFigures {
    let since = since_s.unwrap_or(i64::MIN);
    let mut f = LocksFigures::default();
    let mut per_task: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_author: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_holder: BTreeMap<String, u64> = BTreeMap::new();
    // Open claims by path: (task, holder, claim time, summary).
    let mut open: HashMap<&str, (&str, &str, i64, &str)> = HashMap::new();
    let mut holds: Vec<i64> = Vec::new();
    // (time, delta): replayed in time order, releases first at equal times.
    let mut steps: Vec<(i64, i64)> = Vec::new();
    let mut held_at_since: i64 = 0;
    let mut claim_times: Vec<i64> = Vec::new();
    for e in &history.events {
        let counted_now = e.time_s >= since;
        if e.claim {
            open.insert(&e.path, (&e.task, &e.holder, e.time_s, &e.summary));
            if counted_now {
                f.claims += 1;
                *per_task.entry(e.task.clone()).or_default() += 1;
                *by_author.entry(e.author.clone()).or_default() += 1;
                *by_holder.entry(e.holder.clone()).or_default() += 1;
                steps.push((e.time_s, 1));
                claim_times.push(e.time_s);
            } else {
                held_at_since += 1;
            }
        } else {
            let claimed = open.remove(e.path.as_str());
            if counted_now {
                f.releases += 1;
                steps.push((e.time_s, -1));
                if let Some((task, holder, at, _)) = claimed {
                    let hold = e.time_s - at;
                    holds.push(hold);
                    if f.longest.as_ref().is_none_or(|l| hold > l.hold_s) {
                        f.longest = Some(LongestHold {
                            task: task.to_owned(),
                            holder: holder.to_owned(),
                            hold_s: hold,
                        });
                    }
                }
            } else {
                held_at_since -= 1;
            }
        }
    }
    f.tasks = per_task.len() as u64;
    f.reclaimed_tasks = per_task.values().filter(|c| **c > 1).count() as u64;
    f.max_claims = per_task.values().copied().max().unwrap_or(0);
    let mut held: Vec<HeldLock> = open
        .values()
        .map(|(task, holder, at, summary)| HeldLock {
            task: (*task).to_owned(),
            holder: (*holder).to_owned(),
            claimed_at_s: *at,
            summary: (*summary).to_owned(),
        })
        .collect();
    held.sort_by(|a, b| {
        a.claimed_at_s
            .cmp(&b.claimed_at_s)
            .then(a.task.cmp(&b.task))
    });
    f.never_released = held.len() as u64;
    f.held_at_tip = held;
    holds.sort_unstable();
    f.hold_p50_s = pct(&holds, 50);
    f.hold_p90_s = pct(&holds, 90);
    f.hold_p99_s = pct(&holds, 99);
    f.hold_max_s = holds.last().copied();
    steps.sort_unstable();
    let mut now = held_at_since.max(0);
    f.max_concurrent = u64::try_from(now).unwrap_or(0);
    for (t, d) in steps {
        now += d;
        if now > 0 && u64::try_from(now).unwrap_or(0) > f.max_concurrent {
            f.max_concurrent = u64::try_from(now).unwrap_or(0);
            f.max_concurrent_at_s = Some(t);
        }
    }
    f.top_reclaimed = counted(per_task, |c| c > 1);
    f.top_reclaimed.truncate(10);
    f.by_author = counted(by_author, |_| true);
    f.by_holder = counted(by_holder, |_| true);
    (f.bucket_s, f.claims_over_time) = buckets(&claim_times);
    f
}

/// Claims per bucket, with the bucket (1 h, or wider) chosen so at most 48 rows are shown.
fn buckets(times: &[i64]) -> (i64, Vec<Bucket>) {
    const WIDTHS: [i64; 8] = [
        3600,
        7200,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        7 * 86_400,
        30 * 86_400,
    ];
    let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
        return (3600, Vec::new());
    };
    let width = WIDTHS
        .iter()
        .copied()
        .find(|w| (hi.div_euclid(*w) - lo.div_euclid(*w)) < 48)
        .unwrap_or(365 * 86_400);
    let first = lo.div_euclid(width);
    let n = usize::try_from(hi.div_euclid(width) - first + 1).unwrap_or(1);
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start_s: (first + i as i64) * width,
            claims: 0,
        })
        .collect();
    for t in times {
        if let Some(b) = usize::try_from(t.div_euclid(width) - first)
            .ok()
            .and_then(|i| out.get_mut(i))
        {
            b.claims += 1;
        }
    }
    (width, out)
}

/// Reads and computes the whole report.
pub fn report(
    path: &Path,
    branch: Option<&str>,
    locks_dir: &str,
    since_s: Option<i64>,
) -> Result<UpstreamReport, UpstreamError> {
    let history = read_history(path, branch, locks_dir)?;
    let locks = compute(&history, since_s);
    Ok(UpstreamReport {
        repo: path.display().to_string(),
        branch: history.branch,
        tip: history.tip,
        locks_dir: locks_dir.trim_matches('/').to_owned(),
        since_s,
        commits: history.commits,
        first_commit_s: history.first_commit_s,
        last_commit_s: history.last_commit_s,
        locks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(claim: bool, path: &str, t: i64) -> LockEvent {
        LockEvent {
            claim,
            path: path.into(),
            task: task_name(path.as_bytes()),
            time_s: t,
            author: "shared".into(),
            holder: "unknown".into(),
            summary: String::new(),
        }
    }

    #[test]
    fn releases_count_before_claims_at_equal_times() {
        let h = History {
            events: vec![
                ev(true, "a.txt", 10),
                ev(false, "a.txt", 20),
                ev(true, "b.md", 20),
                ev(true, "a.txt", 30),
            ],
            ..History::default()
        };
        let f = compute(&h, None);
        assert_eq!(
            (f.claims, f.tasks, f.reclaimed_tasks, f.max_claims),
            (3, 2, 1, 2)
        );
        assert_eq!((f.releases, f.never_released), (1, 2));
        assert_eq!(f.max_concurrent, 2);
        assert_eq!(f.hold_p50_s, Some(10));
        let f = compute(&h, Some(20));
        assert_eq!((f.claims, f.releases, f.hold_p50_s), (2, 1, Some(10)));
    }
}
