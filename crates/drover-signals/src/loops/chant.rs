//! Chanting: the assistant writes the same one to [`MAX_PERIOD`] lines again and again, back to
//! back ("I'll do it. / I'll execute." dozens of times; a three-line sign-off printed
//! thousands of times). Fed with the text the assistant (or a quoted transcript) shows, never
//! with tool output, so an echoed file full of identical rows is content, not a chant.
//!
//! A run of period `p` holds while each line equals the line `p` before it (exact text after
//! trimming and dropping quote/bullet decoration, so timestamped heartbeats and progress bars,
//! which change, never match). It fires once the run covers at least
//! `max(chant_min_run, min(3p, 2p + 3))` lines (`2p + 3` when a quoted line is in the cycle) —
//! by default five repetitions of one line, three of a paragraph — and the cycle says something: at least `chant_min_words` words
//! (`chant_min_words_one_line` for a single line), which keeps "OK", "Waiting…", box borders
//! and separators out (thresholds in [`TurnLimits`]). A paragraph longer than an evidence line
//! arrives sentence by sentence, so a sentence chanted inside one paragraph is a run too.
//!
//! An idle agent's waiting lines ("No open tasks left at 3f9a2c1 — waiting for new work",
//! "nothing to do, sleeping 30s") printed at every poll are a heartbeat, not a chant: a cycle
//! made only of such lines fires only when the agent printed token usage during the run (an
//! agent that asks its model at every poll and is told to wait spends money on it; a script
//! that polls upstream does not). A cycle that holds any other line (a harness re-prompt and
//! the same "Awaiting your choice" answer) is judged as usual.
//!
//! Borrowed from gemini-cli's loop detection service (content loop: the same chunk of streamed
//! text many times within a short distance, code blocks excepted); drover compares whole lines
//! instead of 50-character chunks and does not skip code fences, because pasted and captured
//! transcripts put the chant inside them.

use std::collections::VecDeque;

use super::{EVIDENCE_LINE_BYTES, LoopChange, LoopFinding, OutputDetector, TurnLimits};
use crate::normalize::line_hash;

/// Longest cycle, in lines, recognised as a chant (longer repeats are the block detector's).
pub const MAX_PERIOD: usize = 4;
/// Lines without any run long enough that clear a firing.
const CLEAR_LINES: u32 = 20;
/// While firing, a fresh `Holding` at most every this many lines.
const REPORT_EVERY: u32 = 50;

/// Phrases of a line that says the agent waits for work or has none (matched lowercase).
const WAITING_PHRASES: [&str; 14] = [
    "waiting for new",
    "waiting for work",
    "waiting for tasks",
    "waiting for a task",
    "waiting for the next",
    "waiting for more",
    "no open tasks",
    "no tasks",
    "no pending tasks",
    "no new tasks",
    "nothing to do",
    "no work",
    "no assignments",
    "will check again",
];
/// Words of such a line (whole words).
const WAITING_WORDS: [&str; 4] = ["idle", "idling", "sleeping", "heartbeat"];

/// The line says the agent is idle: it waits for work, has none, or sleeps until the next poll.
pub(crate) fn waiting_line(line: &str) -> bool {
    let lower = line.to_lowercase();
    WAITING_PHRASES.iter().any(|p| lower.contains(p))
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| WAITING_WORDS.contains(&w))
}

/// Lines a run of period `p` must cover. Agent text: three whole cycles (the same paragraph
/// written three times is the loop), at most `2p + 3`. A cycle holding a quoted or prompt line
/// needs `2p + 3` (one line more for `p = 2`): measured on the healthy corpus, a user typing the
/// same aider command three times, each answered by the same one-line reply, is exactly three
/// cycles of two lines, and repeats typed by the human are not the agent's loop.
fn chant_lines(p: usize, quoted: bool) -> u32 {
    let longer = 2 * p as u32 + 3;
    if quoted {
        longer
    } else {
        longer.min(3 * p as u32)
    }
}

#[derive(Debug, Default)]
pub(super) struct Chant {
    limits: TurnLimits,
    ring: VecDeque<(u64, String, u64)>,
    /// Whether each line of `ring` was quoted (a prompt or quoted reply), not agent text.
    quoted: VecDeque<bool>,
    /// Whether each line of `ring` says the agent is idle ([`waiting_line`]).
    waiting: VecDeque<bool>,
    /// Stamp of the last line that printed token usage.
    last_spend: Option<u64>,
    runs: [u32; MAX_PERIOD + 1],
    run_start: [u64; MAX_PERIOD + 1],
    firing: bool,
    quiet: u32,
    since_report: u32,
}

impl Chant {
    pub(super) fn new(limits: TurnLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// One line of assistant (or quoted) text.
    pub(super) fn feed(
        &mut self,
        line: &str,
        quoted: bool,
        stamp: u64,
        out: &mut Vec<LoopFinding>,
    ) {
        let t = undecorate(line);
        if t.is_empty() {
            return;
        }
        let h = line_hash(t);
        let n = self.ring.len();
        for p in 1..=MAX_PERIOD {
            let back = n.checked_sub(p).and_then(|i| self.ring.get(i));
            match back {
                Some((bh, _, bstamp)) if *bh == h => {
                    if self.runs[p] == 0 {
                        self.run_start[p] = *bstamp;
                    }
                    self.runs[p] += 1;
                }
                _ => self.runs[p] = 0,
            }
        }
        // The oldest line's buffer is reused: no allocation per line once the ring is full.
        let mut kept = if self.ring.len() >= MAX_PERIOD {
            self.ring.pop_front().map(|(_, s, _)| s).unwrap_or_default()
        } else {
            String::new()
        };
        kept.clear();
        let mut end = t.len().min(EVIDENCE_LINE_BYTES);
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        kept.push_str(t.get(..end).unwrap_or_default());
        self.ring.push_back((h, kept, stamp));
        if self.quoted.len() >= MAX_PERIOD {
            self.quoted.pop_front();
        }
        self.quoted.push_back(quoted);
        if self.waiting.len() >= MAX_PERIOD {
            self.waiting.pop_front();
        }
        self.waiting.push_back(waiting_line(t));
        let hit = (1..=MAX_PERIOD).find(|&p| {
            let run = self.runs[p] + p as u32;
            let cycle_quoted = self
                .quoted
                .iter()
                .skip(self.quoted.len().saturating_sub(p))
                .any(|q| *q);
            run >= self.limits.chant_min_run.max(chant_lines(p, cycle_quoted))
                && self.minimal(p)
                && self.says_something(p)
                && (!self.idle_cycle(p) || self.spent_since(self.run_start[p]))
        });
        match hit {
            Some(p) => {
                self.quiet = 0;
                self.since_report += 1;
                if self.firing && self.since_report < REPORT_EVERY {
                    return;
                }
                self.since_report = 0;
                let first = !self.firing;
                self.firing = true;
                let lines = self.runs[p] + p as u32;
                let times = lines / p as u32;
                let mut evidence = vec![format!(
                    "the same {p} line{} written {times} times in a row ({lines} lines)",
                    if p == 1 { "" } else { "s" }
                )];
                if self.idle_cycle(p) {
                    evidence.push(
                        "idle lines, but the agent printed token usage while repeating them"
                            .to_string(),
                    );
                }
                let start = self.ring.len().saturating_sub(p);
                evidence.extend(self.ring.iter().skip(start).map(|(_, t, _)| t.clone()));
                out.push(LoopFinding {
                    detector: OutputDetector::Chant,
                    at: stamp,
                    change: LoopChange::Holding {
                        first,
                        since: self.run_start[p],
                        evidence,
                    },
                });
            }
            None if self.firing => {
                self.quiet += 1;
                if self.quiet >= CLEAR_LINES {
                    self.firing = false;
                    self.quiet = 0;
                    out.push(LoopFinding {
                        detector: OutputDetector::Chant,
                        at: stamp,
                        change: LoopChange::Cleared,
                    });
                }
            }
            None => {}
        }
    }

    /// The line at `stamp` printed token usage (the agent's model was asked).
    pub(super) fn spent(&mut self, stamp: u64) {
        self.last_spend = Some(stamp);
    }

    /// Tokens were spent at or after `stamp`.
    fn spent_since(&self, stamp: u64) -> bool {
        self.last_spend.is_some_and(|s| s >= stamp)
    }

    /// Every line of the last `p` says the agent is idle.
    fn idle_cycle(&self, p: usize) -> bool {
        self.waiting
            .iter()
            .skip(self.waiting.len().saturating_sub(p))
            .all(|w| *w)
    }

    /// Something other than text happened (an action, a result, a new session).
    pub(super) fn interrupt(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        self.ring.clear();
        self.quoted.clear();
        self.waiting.clear();
        self.runs = [0; MAX_PERIOD + 1];
        if self.firing {
            self.firing = false;
            self.quiet = 0;
            out.push(LoopFinding {
                detector: OutputDetector::Chant,
                at: stamp,
                change: LoopChange::Cleared,
            });
        }
    }

    /// The last `p` lines are not a shorter cycle repeated ("Waiting…" four times is a cycle
    /// of one line, judged as such).
    fn minimal(&self, p: usize) -> bool {
        let start = self.ring.len().saturating_sub(p);
        let cycle: Vec<u64> = self.ring.iter().skip(start).map(|(h, _, _)| *h).collect();
        !(1..p).any(|q| p.is_multiple_of(q) && (q..p).all(|i| cycle.get(i) == cycle.get(i - q)))
    }

    /// The last `p` lines hold enough words to be a sentence, not a heartbeat or a border.
    fn says_something(&self, p: usize) -> bool {
        let start = self.ring.len().saturating_sub(p);
        let words: usize = self
            .ring
            .iter()
            .skip(start)
            .map(|(_, t, _)| {
                t.split_whitespace()
                    .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
                    .count()
            })
            .sum();
        let need = if p == 1 {
            self.limits.chant_min_words_one_line
        } else {
            self.limits.chant_min_words
        };
        words >= need as usize
    }
}

/// The line without surrounding space, quote markers, bullets and box borders.
fn undecorate(line: &str) -> &str {
    line.trim()
        .trim_start_matches(['>', '│', '✦', '⏺', '●', '•', '❯', '*', '-', ' '])
        .trim_end_matches(['│', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Vec<LoopFinding> {
        let mut c = Chant::default();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            c.feed(l, false, i as u64 + 1, &mut out);
        }
        out
    }

    #[test]
    fn two_short_sentences_alternating_fire() {
        let mut lines = vec!["I'll execute the grep."];
        for _ in 0..4 {
            lines.push("I'll do it.");
            lines.push("I'll execute.");
        }
        let out = run(&lines);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].detector, OutputDetector::Chant);
    }

    #[test]
    fn an_idle_line_repeated_fires_only_with_tokens_spent() {
        let idle = "No open tasks left at 3f9a2c1 — waiting for new work";
        assert!(run(&[idle; 40]).is_empty());
        let mut c = Chant::default();
        let mut out = Vec::new();
        for i in 0..10 {
            c.spent(i + 1);
            c.feed(idle, false, i + 1, &mut out);
        }
        assert_eq!(out.first().map(|f| f.detector), Some(OutputDetector::Chant));
        // Spending before the run began says nothing about the run.
        let mut c = Chant::default();
        let mut out = Vec::new();
        c.spent(0);
        for i in 0..10 {
            c.feed(idle, false, i + 1, &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
        // A re-prompt in the cycle is not idling: the same answer to it is the agent's.
        let mut lines = Vec::new();
        for _ in 0..6 {
            lines.push("◯ Goal not yet met… continuing");
            lines.push("Awaiting your choice (Option A or B). Nothing actionable on my end.");
        }
        assert_eq!(run(&lines).len(), 1);
    }

    #[test]
    fn waiting_lines_are_told_by_their_words() {
        for l in [
            "No open tasks left at 3f9a2c1 — waiting for new work",
            "nothing to do, sleeping 30s",
            "worker idle; will check again in 20 s",
            "No tasks available. Waiting...",
        ] {
            assert!(waiting_line(l), "{l}");
        }
        for l in [
            "Let me try a different approach to the borrow error.",
            "The middle column is waiting on the buffer",
            "Awaiting your choice (Option A or B).",
        ] {
            assert!(!waiting_line(l), "{l}");
        }
    }

    #[test]
    fn heartbeats_and_borders_do_not_fire() {
        let mut lines = Vec::new();
        for _ in 0..30 {
            lines.push("Waiting…");
            lines.push("│                                │");
        }
        assert!(run(&lines).is_empty());
    }
}
