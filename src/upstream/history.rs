//! Claim history: every claim, release and rewrite of a lock file, and per-task statistics.
//!
//! `ClaimHistory` is plain data fed one `ClaimEvent` at a time, oldest first, so a consumer of
//! `UpstreamUpdate`s can keep its own copy by recording `new_history_entries` (and starting over
//! when `history_rescanned` is set). Memory is capped: the newest `MAX_EVENTS` events and the
//! newest `MAX_SPANS_PER_TASK` claim spans per task are kept; counts stay exact.

use std::collections::{BTreeMap, VecDeque};

use super::locks::Holder;

/// Events kept in memory; older ones are dropped (their counts remain in the task stats).
pub const MAX_EVENTS: usize = 100_000;
/// Claim spans kept per task; older ones are dropped (the claim count stays exact).
pub const MAX_SPANS_PER_TASK: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimEventKind {
    /// The lock file appeared.
    Claimed,
    /// The lock file disappeared.
    Released,
    /// The lock file's content changed while it stayed in place.
    Updated,
}

/// One change to a lock file, at the commit that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimEvent {
    pub kind: ClaimEventKind,
    /// Task name (see `Lock::task`).
    pub task: String,
    /// Full repo path, for display.
    pub path: String,
    /// Holder of the claim: for a release, the holder of the claim being released.
    pub holder: Holder,
    /// Commit time, ms since the Unix epoch.
    pub time_ms: i64,
    pub commit: String,
    /// First line of the commit message (lossy, capped).
    pub summary: String,
    /// Author of the commit (for a release, who released it).
    pub author: String,
    /// For a release: how long the released claim was held, when its claim is known.
    pub held_ms: Option<i64>,
    /// What the lock file and the claiming commit say about the holder, for the supervisor to
    /// name the slot (`core::SlotDirectory::attribute`).
    pub evidence: crate::core::HolderEvidence,
}

/// One claim of a task from its claim to its release (or until now, when still held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimSpan {
    pub holder: Holder,
    pub claimed_at_ms: i64,
    pub claim_commit: String,
    pub released_at_ms: Option<i64>,
    pub release_commit: Option<String>,
}

impl ClaimSpan {
    /// How long the claim lasted; `None` while it is still held.
    pub fn duration_ms(&self) -> Option<i64> {
        self.released_at_ms
            .map(|end| end.saturating_sub(self.claimed_at_ms))
    }
}

/// Everything known about one task's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskClaimStats {
    pub task: String,
    /// Every claim ever seen, even those whose spans were dropped by the cap.
    pub claim_count: u64,
    pub release_count: u64,
    /// Distinct holders, in the order they first claimed or rewrote the lock.
    pub holders: Vec<Holder>,
    /// The newest claims, oldest first.
    pub spans: VecDeque<ClaimSpan>,
}

impl TaskClaimStats {
    fn new(task: &str) -> Self {
        TaskClaimStats {
            task: task.to_owned(),
            claim_count: 0,
            release_count: 0,
            holders: Vec::new(),
            spans: VecDeque::new(),
        }
    }

    /// True while the newest claim has not been released.
    pub fn is_held(&self) -> bool {
        self.spans
            .back()
            .is_some_and(|s| s.released_at_ms.is_none())
    }

    fn note_holder(&mut self, holder: &Holder) {
        if !self.holders.contains(holder) {
            self.holders.push(holder.clone());
        }
    }

    fn close_open_span(&mut self, at_ms: i64, commit: &str) -> Option<i64> {
        let span = self
            .spans
            .back_mut()
            .filter(|s| s.released_at_ms.is_none())?;
        span.released_at_ms = Some(at_ms);
        span.release_commit = Some(commit.to_owned());
        span.duration_ms()
    }
}

/// The claim history of the locks folder; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimHistory {
    events: VecDeque<ClaimEvent>,
    dropped_events: u64,
    tasks: BTreeMap<String, TaskClaimStats>,
}

impl ClaimHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next event (events must come oldest first).
    pub fn record(&mut self, event: ClaimEvent) {
        let stats = self
            .tasks
            .entry(event.task.clone())
            .or_insert_with(|| TaskClaimStats::new(&event.task));
        match event.kind {
            ClaimEventKind::Claimed => {
                // A claim over a still-open one (parallel branches merged) ends the old one.
                stats.close_open_span(event.time_ms, &event.commit);
                stats.claim_count += 1;
                stats.note_holder(&event.holder);
                if stats.spans.len() >= MAX_SPANS_PER_TASK {
                    stats.spans.pop_front();
                }
                stats.spans.push_back(ClaimSpan {
                    holder: event.holder.clone(),
                    claimed_at_ms: event.time_ms,
                    claim_commit: event.commit.clone(),
                    released_at_ms: None,
                    release_commit: None,
                });
            }
            ClaimEventKind::Released => {
                stats.release_count += 1;
                stats.close_open_span(event.time_ms, &event.commit);
            }
            ClaimEventKind::Updated => {
                stats.note_holder(&event.holder);
                if let Some(span) = stats
                    .spans
                    .back_mut()
                    .filter(|s| s.released_at_ms.is_none())
                {
                    span.holder = event.holder.clone();
                }
            }
        }
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(event);
    }

    /// Kept events, oldest first.
    pub fn events(&self) -> impl DoubleEndedIterator<Item = &ClaimEvent> + ExactSizeIterator {
        self.events.iter()
    }

    /// Events dropped by the memory cap.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Stats for one task, by task name.
    pub fn task(&self, task: &str) -> Option<&TaskClaimStats> {
        self.tasks.get(task)
    }

    /// Stats for every task ever claimed, by task name.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskClaimStats> {
        self.tasks.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        kind: ClaimEventKind,
        task: &str,
        holder: &str,
        time_ms: i64,
        commit: &str,
    ) -> ClaimEvent {
        ClaimEvent {
            kind,
            task: task.into(),
            path: format!("current_tasks/{task}.txt"),
            holder: Holder::File(holder.into()),
            time_ms,
            commit: commit.into(),
            summary: String::new(),
            author: holder.into(),
            held_ms: None,
            evidence: Default::default(),
        }
    }

    #[test]
    fn claims_and_releases_pair_into_spans() {
        let mut h = ClaimHistory::new();
        h.record(event(ClaimEventKind::Claimed, "parser", "a-1", 1_000, "c1"));
        h.record(event(
            ClaimEventKind::Released,
            "parser",
            "a-1",
            61_000,
            "c2",
        ));
        h.record(event(
            ClaimEventKind::Claimed,
            "parser",
            "b-2",
            70_000,
            "c3",
        ));
        let s = h.task("parser").expect("task recorded");
        assert_eq!(s.claim_count, 2);
        assert_eq!(s.release_count, 1);
        assert_eq!(
            s.holders,
            vec![Holder::File("a-1".into()), Holder::File("b-2".into())]
        );
        let durations: Vec<_> = s.spans.iter().map(ClaimSpan::duration_ms).collect();
        assert_eq!(durations, vec![Some(60_000), None]);
        assert!(s.is_held());
        assert_eq!(h.events().len(), 3);
    }

    #[test]
    fn caps_keep_counts_exact() {
        let mut h = ClaimHistory::new();
        let rounds = MAX_SPANS_PER_TASK + 5;
        for i in 0..rounds {
            let t = i64::try_from(i).unwrap_or(i64::MAX) * 10;
            h.record(event(ClaimEventKind::Claimed, "t", "a-1", t, "c"));
            h.record(event(ClaimEventKind::Released, "t", "a-1", t + 5, "d"));
        }
        let s = h.task("t").expect("task recorded");
        assert_eq!(s.claim_count, rounds as u64);
        assert_eq!(s.spans.len(), MAX_SPANS_PER_TASK);
        assert!(!s.is_held());
    }

    #[test]
    fn update_moves_the_open_claim_to_the_new_holder() {
        let mut h = ClaimHistory::new();
        h.record(event(ClaimEventKind::Claimed, "t", "a-1", 0, "c1"));
        h.record(event(ClaimEventKind::Updated, "t", "b-1", 5, "c2"));
        let s = h.task("t").expect("task recorded");
        assert_eq!(s.claim_count, 1);
        assert_eq!(
            s.spans.back().map(|s| s.holder.clone()),
            Some(Holder::File("b-1".into()))
        );
        assert_eq!(s.holders.len(), 2);
    }
}
