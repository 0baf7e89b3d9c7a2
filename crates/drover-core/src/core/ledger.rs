//! The run ledger: one [`RunRecord`] per container run of a slot (from its start to its end),
//! with what the run spent (tokens by kind, cost) and what it delivered (commits it landed
//! upstream, locks it took and released, its first and last test run).
//!
//! Fed only by facts the core already receives: the slot's container as reconciled (a run
//! opens when a container is seen live with a start time the ledger does not know, and closes
//! when it is no longer live), the classified end of a death, usage, commits and lock tables
//! observed upstream, and test runs. Every change marks the run dirty; the fleet emits one
//! [`Effect::PersistRun`] per dirty run at the end of `handle`, so the store always holds the
//! latest totals (a restarted drover continues the same run from them).
//!
//! Invariants: at most one open run per slot; a run's totals only grow; a commit is counted
//! once per run (by id) and goes to the run that was live when it was made (or that ended at
//! most [`GRACE`] before it was seen); memory is bounded ([`KEEP_RUNS`] finished runs per slot,
//! [`MAX_COMMITS`] commits and [`MAX_TASKS`] tasks listed per run; the counts keep counting).

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::effect::{Effect, SlotMode};
use super::model::run::{LandedCommit, RunEnd, RunRecord, TestPoint};
use super::model::{ExitInfo, ExitReason, Millis, TestSummary};
use drover_signals::usage::Tokens;

/// Finished runs remembered per slot (the TUI's runs tab and late attributions).
pub const KEEP_RUNS: usize = 10;
/// Commits listed per run (later ones are still counted in `commit_count`).
pub const MAX_COMMITS: usize = 50;
/// Tasks listed per run as taken or released.
pub const MAX_TASKS: usize = 50;
/// What the slot looked like just before a death was applied (the core forgets it after).
#[derive(Clone, Debug)]
pub(crate) struct BeforeDeath {
    pub restart_requested: bool,
    pub mode: SlotMode,
    /// drover itself had asked for this stop (new config, probe, recreate).
    pub stopping: bool,
}

/// How a death ends the run, from the slot before and after the core applied it.
pub(crate) fn classify(before: &BeforeDeath, exit: Option<&ExitInfo>, throttled: bool) -> RunEnd {
    if exit.is_some_and(|e| e.oom_killed) {
        return RunEnd::Oom;
    }
    if exit.is_some_and(|e| e.reason == Some(ExitReason::Timeout)) {
        return RunEnd::Timeout;
    }
    if before.restart_requested {
        return RunEnd::Restarted;
    }
    match &before.mode {
        SlotMode::Stopped { by } | SlotMode::Blocked { by, .. } | SlotMode::Paused { by } => {
            return RunEnd::Stopped { by: by.to_string() };
        }
        SlotMode::TakenOver { by, .. } => return RunEnd::Stopped { by: by.clone() },
        SlotMode::Retiring => {
            return RunEnd::Stopped {
                by: "scale-down".into(),
            };
        }
        SlotMode::Auto => {}
    }
    if throttled {
        return RunEnd::Throttled;
    }
    if before.stopping {
        return RunEnd::Stopped {
            by: "drover".into(),
        };
    }
    exit_end(exit)
}

/// The end an exit code says by itself (nobody asked for it).
fn exit_end(exit: Option<&ExitInfo>) -> RunEnd {
    match exit.and_then(|e| e.code) {
        Some(code) if (129..=159).contains(&code) => RunEnd::Signal { signal: code - 128 },
        Some(code) => RunEnd::Exited { code },
        None => RunEnd::Vanished,
    }
}

/// The live container of a slot, as the ledger needs it.
pub(crate) struct Live<'a> {
    pub id: &'a str,
    pub generation: u64,
    pub started_at: Millis,
}

#[derive(Clone, Debug, Default)]
struct SlotRuns {
    open: Option<RunRecord>,
    /// Finished runs, oldest first.
    done: VecDeque<RunRecord>,
    /// The end of the death being handled, until the run is closed.
    end: Option<RunEnd>,
    /// The live container start the open run stands for; `None` for an open run read back
    /// from the store and not yet matched to a container.
    live_start: Option<Millis>,
}

impl SlotRuns {
    /// The run that `at` belongs to: the one live at `at`, else the one it is nearest to
    /// within the clock slack (open run) or the grace after an end (finished runs).
    fn run_at(&mut self, at: Millis) -> Option<&mut RunRecord> {
        let strictly = |r: &RunRecord| r.started_at <= at && r.ended_at.is_none_or(|e| at <= e);
        if self.open.as_ref().is_some_and(strictly) {
            return self.open.as_mut();
        }
        if let Some(i) = self.done.iter().rposition(strictly) {
            return self.done.get_mut(i);
        }
        if self.open.as_ref().is_some_and(|r| r.covers(at)) {
            return self.open.as_mut();
        }
        self.done.iter_mut().rev().find(|r| r.covers(at))
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Ledger {
    slots: HashMap<String, SlotRuns>,
    /// (slot, started_at) of runs changed since the last flush.
    dirty: BTreeSet<(String, Millis)>,
}

impl Ledger {
    /// Runs read back from the store: open ones continue, finished ones are history.
    pub(crate) fn restore(runs: Vec<RunRecord>) -> Self {
        let mut l = Ledger::default();
        let mut runs = runs;
        runs.sort_by_key(|r| r.started_at);
        for r in runs {
            let e = l.slots.entry(r.slot.clone()).or_default();
            if r.ended_at.is_none() {
                if let Some(old) = e.open.replace(r) {
                    // Two open runs of one slot cannot both be current: the older one ended
                    // unobserved while drover was away.
                    l.dirty.insert((old.slot.clone(), old.started_at));
                    close_into(e, old, None);
                }
            } else {
                e.done.push_back(r);
                if e.done.len() > KEEP_RUNS {
                    e.done.pop_front();
                }
            }
        }
        l
    }

    pub(crate) fn open(&self, slot: &str) -> Option<&RunRecord> {
        self.slots.get(slot)?.open.as_ref()
    }

    /// Finished runs of `slot`, newest first.
    pub(crate) fn recent(&self, slot: &str) -> impl Iterator<Item = &RunRecord> {
        self.slots
            .get(slot)
            .into_iter()
            .flat_map(|e| e.done.iter().rev())
    }

    /// Remembers how the death being handled ends the slot's run.
    pub(crate) fn set_end(&mut self, slot: &str, end: RunEnd) {
        if let Some(e) = self.slots.get_mut(slot)
            && e.open.is_some()
        {
            e.end = Some(end);
        }
    }

    /// Brings the slot's open run in line with its container: opens a run for a live
    /// container it does not know, closes the open run of a container no longer live.
    pub(crate) fn sync(
        &mut self,
        now: Millis,
        slot: &str,
        role: &str,
        live: Option<Live<'_>>,
        last_exit: Option<&ExitInfo>,
    ) {
        let e = self.slots.entry(slot.to_string()).or_default();
        if let (Some(r), Some(l)) = (&e.open, &live)
            && r.container == l.id
        {
            match e.live_start {
                Some(t) if t == l.started_at => return,
                // Read back after a restart of drover: the same container (id and generation)
                // still live is the same run. Its recorded start is drover's own clock when it
                // started the container, Docker's `StartedAt` differs by milliseconds or more,
                // so no comparison of start times can tell a restart in place from skew; a run
                // closes on an exit drover sees, or when its container is gone.
                None if r.generation == l.generation => {
                    e.live_start = Some(l.started_at);
                    return;
                }
                _ => {}
            }
        }
        if let Some(mut old) = e.open.take() {
            let end = e.end.take().or_else(|| {
                // Not a death this drover handled: the exit it knows, if it is this run's.
                last_exit
                    .filter(|x| x.at >= old.started_at)
                    .map(|x| exit_end(Some(x)))
            });
            let at = match (&end, last_exit) {
                (Some(_), Some(x)) if x.at >= old.started_at => x.at,
                _ => now,
            };
            old.ended_at = Some(at.max(old.started_at));
            self.dirty.insert((slot.to_string(), old.started_at));
            close_into(e, old, end);
        }
        e.end = None;
        if let Some(l) = live {
            let run = RunRecord {
                slot: slot.to_string(),
                role: role.to_string(),
                generation: l.generation,
                container: l.id.to_string(),
                started_at: l.started_at,
                ..RunRecord::default()
            };
            self.dirty.insert((slot.to_string(), run.started_at));
            e.live_start = Some(l.started_at);
            e.open = Some(run);
        }
    }

    /// Usage reported for the slot at `now`.
    pub(crate) fn usage(&mut self, now: Millis, slot: &str, tokens: &Tokens, cost: u64) {
        self.with_run(slot, now, |r| {
            r.tokens.add(tokens);
            r.cost_micros = r.cost_micros.saturating_add(cost);
            true
        });
    }

    /// A context reading of the slot at `now`: the run's peak grows.
    pub(crate) fn context(&mut self, now: Millis, slot: &str, used: u64, window: Option<u64>) {
        let Some(p) = window.map(|w| drover_signals::transcript::context::percent_of(used, w))
        else {
            return;
        };
        self.with_run(slot, now, |r| {
            if r.peak_context_percent.is_some_and(|old| old >= p) {
                return false;
            }
            r.peak_context_percent = Some(p);
            true
        });
    }

    /// A compaction of the slot's agent's context.
    pub(crate) fn compaction(&mut self, slot: &str, c: super::model::context::CompactionView) {
        self.with_run(slot, c.at, |r| {
            r.compactions = r.compactions.saturating_add(1);
            r.last_compaction = Some(c);
            true
        });
    }

    /// A commit attributed to the slot, made at `at`.
    pub(crate) fn commit(&mut self, slot: &str, c: LandedCommit) {
        self.with_run(slot, c.at, |r| {
            if r.commits.iter().any(|k| k.commit == c.commit) {
                return false;
            }
            r.commit_count += 1;
            r.commits.push(c);
            if r.commits.len() > MAX_COMMITS {
                r.commits.remove(0);
            }
            true
        });
    }

    /// The slot took `task`'s lock at `at`.
    pub(crate) fn lock_taken(&mut self, slot: &str, task: &str, at: Millis) {
        self.with_run(slot, at, |r| push_task(&mut r.locks_taken, task));
    }

    /// The lock of `task`, held by the slot, was removed upstream (seen at `now`).
    pub(crate) fn lock_released(&mut self, slot: &str, task: &str, now: Millis) {
        self.with_run(slot, now, |r| push_task(&mut r.locks_released, task));
    }

    /// A test run of the slot.
    pub(crate) fn test_run(&mut self, now: Millis, slot: &str, t: &TestSummary) {
        let point = TestPoint {
            at: now,
            verdict: t.verdict,
            passed: t.passed,
            failed: t.failed,
        };
        self.with_run(slot, now, |r| {
            r.first_test.get_or_insert(point);
            r.last_test = Some(point);
            true
        });
    }

    /// The slot no longer exists: its open run ends now.
    pub(crate) fn forget(&mut self, now: Millis, slot: &str) {
        self.sync(now, slot, "", None, None);
        self.slots.remove(slot);
    }

    /// One `PersistRun` per run changed since the last flush.
    pub(crate) fn flush(&mut self, out: &mut Vec<Effect>) {
        for (slot, started) in std::mem::take(&mut self.dirty) {
            let Some(e) = self.slots.get(&slot) else {
                continue;
            };
            let run = e
                .open
                .iter()
                .chain(e.done.iter())
                .find(|r| r.started_at == started);
            if let Some(r) = run {
                out.push(Effect::PersistRun(r.clone()));
            }
        }
    }

    fn with_run(&mut self, slot: &str, at: Millis, f: impl FnOnce(&mut RunRecord) -> bool) {
        let Some(run) = self.slots.get_mut(slot).and_then(|e| e.run_at(at)) else {
            return;
        };
        let key = (slot.to_string(), run.started_at);
        if f(run) {
            self.dirty.insert(key);
        }
    }
}

fn close_into(e: &mut SlotRuns, mut run: RunRecord, end: Option<RunEnd>) {
    run.end = Some(end.unwrap_or(RunEnd::Vanished));
    if run.ended_at.is_none() {
        run.ended_at = Some(run.started_at);
    }
    e.done.push_back(run);
    if e.done.len() > KEEP_RUNS {
        e.done.pop_front();
    }
}

fn push_task(list: &mut Vec<String>, task: &str) -> bool {
    if list.len() >= MAX_TASKS || list.iter().any(|t| t == task) {
        return false;
    }
    list.push(task.to_string());
    true
}
