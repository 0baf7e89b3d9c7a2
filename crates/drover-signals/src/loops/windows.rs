//! Window repetition: the output is cut into windows of `window_lines` lines; a window is
//! repetitive when at least `threshold` of its lines were already seen (in the previous
//! [`HISTORY_WINDOWS`] windows or earlier in the same window) and it holds at least
//! [`MIN_DISTINCT_LINES`] distinct lines, and no line in it is new content (a line of a few
//! words never seen recently, see [`super::Novelty`]): look-alike tool results and usage blocks
//! around a new sentence, a new file name or a new test count are progress. `windows`
//! repetitive windows in a row fire; two healthy windows in a row clear.

use std::collections::VecDeque;

use super::{
    LoopChange, LoopFinding, MAX_EVIDENCE_LINES, OutputDetector, OutputLimits, evidence_line,
};

/// Windows remembered for comparison: a loop whose iteration is longer than this many windows
/// is left to the stall and budget detectors.
pub const HISTORY_WINDOWS: usize = 6;
/// Fewer distinct lines than this is a heartbeat, a progress line or a health check, not a loop.
pub const MIN_DISTINCT_LINES: usize = 3;
/// Healthy windows in a row that end a firing.
const CLEAR_WINDOWS: u32 = 2;

#[derive(Debug)]
pub(super) struct WindowRepetition {
    window_lines: usize,
    threshold: f64,
    windows: u32,
    current: Vec<u64>,
    /// Cleaned text of the current window's first lines per distinct hash (evidence).
    samples: Vec<(u64, String)>,
    current_start: u64,
    /// Sorted, deduplicated hashes of the previous windows, newest last.
    history: VecDeque<Vec<u64>>,
    /// Start stamps of the repetitive windows of the current streak (the last `windows`).
    streak_starts: VecDeque<u64>,
    streak: u32,
    firing: bool,
    healthy: u32,
    /// The current window holds a line of new content.
    novel: bool,
}

impl WindowRepetition {
    pub(super) fn new(limits: &OutputLimits) -> Self {
        let window_lines = limits.window_lines.max(2) as usize;
        Self {
            window_lines,
            threshold: limits.threshold.clamp(0.0, 1.0),
            windows: limits.windows.max(1),
            current: Vec::with_capacity(window_lines),
            samples: Vec::new(),
            current_start: 0,
            history: VecDeque::with_capacity(HISTORY_WINDOWS + 1),
            streak_starts: VecDeque::new(),
            streak: 0,
            firing: false,
            healthy: 0,
            novel: false,
        }
    }

    pub(super) fn feed(
        &mut self,
        hash: u64,
        text: &str,
        novel: bool,
        stamp: u64,
        out: &mut Vec<LoopFinding>,
    ) {
        if self.current.is_empty() {
            self.current_start = stamp;
            self.samples.clear();
            self.novel = false;
        }
        self.novel |= novel;
        self.current.push(hash);
        if self.samples.len() < self.window_lines && !self.samples.iter().any(|(h, _)| *h == hash) {
            self.samples.push((hash, evidence_line(text)));
        }
        if self.current.len() >= self.window_lines {
            self.close_window(stamp, out);
        }
    }

    fn close_window(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        let mut sorted = std::mem::take(&mut self.current);
        let len = sorted.len();
        let seen_before = |h: &u64, history: &VecDeque<Vec<u64>>| {
            history.iter().any(|w| w.binary_search(h).is_ok())
        };
        sorted.sort_unstable();
        sorted.dedup();
        let distinct = sorted.len();
        // A line is repeated when it was seen in an earlier window or earlier in this one: every
        // line but the first occurrence of each hash new to this window.
        let first_seen_here = sorted
            .iter()
            .filter(|h| !seen_before(h, &self.history))
            .count();
        let repeated = len.saturating_sub(first_seen_here);
        let share = repeated as f64 / len as f64;
        let repetitive = distinct >= MIN_DISTINCT_LINES && share >= self.threshold && !self.novel;

        let evidence: Vec<String> = if repetitive {
            self.samples
                .iter()
                .filter(|(h, _)| seen_before(h, &self.history))
                .chain(self.samples.iter())
                .map(|(_, t)| t.clone())
                .fold(Vec::new(), |mut acc, t| {
                    if acc.len() < MAX_EVIDENCE_LINES && !acc.contains(&t) {
                        acc.push(t);
                    }
                    acc
                })
        } else {
            Vec::new()
        };

        self.history.push_back(sorted);
        if self.history.len() > HISTORY_WINDOWS {
            self.history.pop_front();
        }
        self.current = Vec::with_capacity(self.window_lines);

        if repetitive {
            self.healthy = 0;
            self.streak = self.streak.saturating_add(1);
            self.streak_starts.push_back(self.current_start);
            while self.streak_starts.len() > self.windows as usize {
                self.streak_starts.pop_front();
            }
            if self.streak >= self.windows {
                let first = !self.firing;
                self.firing = true;
                let mut evidence = evidence;
                evidence.insert(
                    0,
                    format!(
                        "{}% of the last {} lines repeat earlier output ({} windows in a row)",
                        (share * 100.0).round(),
                        len,
                        self.streak
                    ),
                );
                evidence.truncate(MAX_EVIDENCE_LINES);
                out.push(LoopFinding {
                    detector: OutputDetector::OutputRepetition,
                    at: stamp,
                    change: LoopChange::Holding {
                        first,
                        since: self.streak_starts.front().copied().unwrap_or(stamp),
                        evidence,
                    },
                });
            }
        } else {
            self.streak = 0;
            self.streak_starts.clear();
            if self.firing {
                self.healthy += 1;
                if self.healthy >= CLEAR_WINDOWS {
                    self.firing = false;
                    self.healthy = 0;
                    out.push(LoopFinding {
                        detector: OutputDetector::OutputRepetition,
                        at: stamp,
                        change: LoopChange::Cleared,
                    });
                }
            }
        }
    }
}
