//! Turn-level loop detectors over a parsed transcript (see [`crate::transcript`]):
//!
//! - `repeated_action`: the same action came back with the same result several times in a
//!   row — `error_repeats` when the result is an error, `same_repeats` otherwise.
//! - `oscillation`: a cycle of 2 to `max_cycle` different action/result pairs repeated
//!   `cycle_repeats` times (A-B-A-B-A-B).
//! - `monologue`: `monologue_turns` assistant turns in a row without any action, all saying
//!   the same thing or all answered by the same reply (the harness's format error).
//! - `session_repeat`: `session_repeats` sessions (or harness iterations) in a row made
//!   exactly the same actions and got exactly the same results — typically a task already
//!   complete, re-read by every new session; a session without any action is compared by what
//!   it said (a relaunched agent that does nothing and reports the same each time).
//!
//! Thresholds come from [`TurnLimits`] (`[loops.transcript]` in the config).
//!
//! Progress suppresses by construction: a new edit is a different action, new file content,
//! a commit, a different test count or a changed diff is a different result (turn keys keep
//! numbers, drop only clocks, durations and ids), so no streak survives it.
//!
//! Thresholds borrowed from OpenHands' stuck detector (four identical action/observation
//! pairs; three identical actions each ending in an error; three identical agent messages
//! with nothing in between; A-B-A-B over six steps) and gemini-cli's tool-call loop check
//! (one call, or a short cycle of calls, repeated). Drover pairs each action with its result
//! as OpenHands does — by tool-use id where the transcript has one (parallel calls come back
//! out of order), else in order — so a retry that gets a new answer never counts.
//!
//! Memory: the last `cycle_repeats × max_cycle` pairs, a few pending actions, a handful of
//! evidence lines.

use std::collections::VecDeque;

use super::counters::session_text_key;
use super::edits::EditLoops;
use super::reruns::Reruns;
use super::{LoopChange, LoopFinding, OutputDetector, TurnLimits};
use crate::normalize::hash_sequence;
use crate::transcript::{Turn, TurnKind};

/// Ticked items that make a turn a re-confirmation of finished work.
const DONE_TICKS: u32 = 2;

/// A ticked checklist item (`✓ …`, `- ✔ …`, `✅ …`, `- [x] …`).
fn is_tick(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches(['-', '*', ' ']);
    t.starts_with(['✓', '✔', '✅']) || t.starts_with("[x]") || t.starts_with("[X]")
}

/// Identical sessions in a row that fire once the harness itself said it stopped for lack of
/// progress. Its breaker alone is no proof (Ralph's opens on healthy runs too), and repetition
/// alone needs [`TurnLimits::session_repeats`]; together, two identical sessions are enough.
const STOP_LINE_REPEATS: u32 = 2;

/// A harness's stop line: its circuit breaker, or its own "no progress" verdict.
fn is_stop_line(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.contains("circuit breaker") || lower.contains("no progress")
}

/// Actions awaiting their results (parallel tool calls) kept.
const MAX_PENDING: usize = 16;

#[derive(Clone, Debug)]
struct Pair {
    key: u64,
    error: bool,
    action: String,
    result: String,
    stamp: u64,
}

#[derive(Debug, Default)]
pub(super) struct TurnLoops {
    limits: TurnLimits,
    /// Actions awaiting their results: key, first line, stamp, tool-use id, edits a file.
    pending: VecDeque<(u64, String, u64, Option<u64>, bool)>,
    edits: EditLoops,
    reruns: Reruns,
    pairs: VecDeque<Pair>,
    same: u32,
    same_since: u64,
    repeated_firing: bool,
    oscillation_firing: bool,
    /// The assistant text turn being read (key of its lines, first line, stamp).
    text: Option<(Vec<u64>, String, u64)>,
    /// Ticked items (`✓ done`) in the text turn being read.
    text_ticks: u32,
    /// The text turns are the agent's own words (a recognised transcript format); in plain
    /// text a ticked line is as likely a tool's output (`✓ Created …`) as a claim.
    pub(super) agent_text: bool,
    /// Turns in a row that ended without an action and re-confirmed finished work (ticked
    /// checklists): count, first line of the first, its stamp.
    done_streak: Option<(u32, String, u64)>,
    done_firing: bool,
    /// The last assistant turn that ended without an action, waiting for what follows.
    quiet_turn: Option<(u64, String, u64)>,
    mono_turns: u32,
    /// The repeated text (key, count, stamp of its first turn) and the repeated reply (key,
    /// count, stamp of the turn it answered).
    mono_text: Option<(u64, u32, u64)>,
    mono_reply: Option<(u64, u32, u64)>,
    mono_since: u64,
    mono_firing: bool,
    session_keys: Vec<u64>,
    session_actions: Vec<String>,
    /// What the session said, for a session that takes no action: a running hash of its text
    /// turns, how many there were, and the first of them (evidence).
    session_text: u64,
    session_text_turns: u32,
    session_text_first: Option<(String, u64)>,
    session_start: u64,
    previous_session: Option<u64>,
    session_repeats: u32,
    session_since: u64,
    session_firing: bool,
    /// The harness's own stop line ("circuit breaker", "no progress"), once seen.
    stop_line: Option<String>,
}

impl TurnLoops {
    pub(super) fn new(limits: TurnLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    pub(super) fn feed(&mut self, turn: &Turn, stamp: u64, out: &mut Vec<LoopFinding>) {
        if turn.kind == TurnKind::Text && is_stop_line(&turn.first_line) {
            // The harness's own verdict is not what the session said (it would make the
            // session look new); it lowers the repeats needed instead.
            self.stop_line = Some(super::evidence_line(&turn.first_line));
            if self.session_repeats >= STOP_LINE_REPEATS && !self.session_firing {
                self.session_fired(
                    stamp,
                    Vec::new(),
                    "made the same actions or said the same",
                    out,
                );
            }
            return;
        }
        if turn.kind == TurnKind::Text {
            self.session_text =
                hash_sequence([self.session_text, session_text_key(turn)].into_iter());
            self.session_text_turns = self.session_text_turns.saturating_add(1);
            if self.session_text_first.is_none() {
                self.session_text_first = Some((turn.first_line.clone(), stamp));
            }
            if self.agent_text && is_tick(&turn.first_line) {
                self.text_ticks = self.text_ticks.saturating_add(1);
            }
            let entry = self
                .text
                .get_or_insert_with(|| (Vec::new(), turn.first_line.clone(), stamp));
            if entry.0.len() < 256 {
                entry.0.push(turn.key);
            }
            return;
        }
        let closed_ticks = self.text_ticks;
        let closed = self.close_text();
        match turn.kind {
            TurnKind::Action => {
                self.quiet_turn = None;
                self.done_streak = None;
                self.done_firing = false;
                self.mono_turns = 0;
                self.mono_text = None;
                self.mono_reply = None;
                self.clear(OutputDetector::Monologue, stamp, out);
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_front();
                }
                self.pending.push_back((
                    turn.key,
                    turn.first_line.clone(),
                    stamp,
                    turn.call,
                    turn.edit,
                ));
                self.edits.action(turn, stamp, out);
            }
            TurnKind::Result => {
                // A result names its call where the format has ids (parallel calls come back
                // out of order); otherwise results follow their actions in order.
                let by_id = turn.call.and_then(|c| {
                    let i = self.pending.iter().position(|p| p.3 == Some(c))?;
                    self.pending.remove(i)
                });
                if let Some((action, line, at, _, edit)) =
                    by_id.or_else(|| self.pending.pop_front())
                {
                    let key = hash_sequence([action, turn.key].into_iter());
                    self.edits.paired(edit, &line, key, turn.error, stamp, out);
                    self.reruns
                        .paired(action, &line, turn.key, turn.error, stamp, out);
                    self.pair(
                        Pair {
                            key,
                            error: turn.error,
                            action: line,
                            result: turn.first_line.clone(),
                            stamp: at,
                        },
                        stamp,
                        out,
                    );
                }
            }
            TurnKind::Reply => {
                if let Some((_, first, at)) = &closed {
                    self.confirmed(closed_ticks, first.clone(), *at, stamp, out);
                }
                if let Some(text) = closed.or_else(|| self.quiet_turn.take()) {
                    self.quiet(text, Some(turn), stamp, out);
                }
            }
            TurnKind::SessionStart => {
                self.end_session(stamp, out);
            }
            TurnKind::Text | TurnKind::Quote => {}
        }
    }

    /// The input ended.
    pub(super) fn finish(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        let ticks = self.text_ticks;
        if let Some((_, first, at)) = self.close_text() {
            // The last turn of the input ended without an action too.
            self.confirmed(ticks, first, at, stamp, out);
        }
        self.end_session(stamp, out);
    }

    fn close_text(&mut self) -> Option<(u64, String, u64)> {
        let (keys, first, at) = self.text.take()?;
        self.text_ticks = 0;
        let key = hash_sequence(keys.into_iter());
        // Until an action follows, this turn is one without action.
        self.quiet_turn = Some((key, first.clone(), at));
        Some((key, first, at))
    }

    /// An assistant turn ended without an action, answered by `reply` (if any).
    fn quiet(
        &mut self,
        (key, first, at): (u64, String, u64),
        reply: Option<&Turn>,
        stamp: u64,
        out: &mut Vec<LoopFinding>,
    ) {
        self.quiet_turn = None;
        if self.mono_turns == 0 {
            self.mono_since = at;
        }
        self.mono_turns += 1;
        self.mono_text = Some(match self.mono_text {
            Some((k, n, since)) if k == key => (k, n + 1, since),
            _ => (key, 1, at),
        });
        // An empty reply (a bare prompt marker) says nothing either way.
        if let Some(r) = reply.filter(|r| !r.first_line.is_empty()) {
            self.mono_reply = Some(match self.mono_reply {
                Some((k, n, since)) if k == r.key => (k, n + 1, since),
                _ => (r.key, 1, at),
            });
        }
        let same_text = self.mono_text.map_or(0, |(_, n, _)| n);
        let same_reply = self.mono_reply.map_or(0, |(_, n, _)| n);
        let limits = self.limits;
        if self.mono_turns >= limits.monologue_turns
            && (same_text >= limits.monologue_turns || same_reply >= limits.monologue_turns)
        {
            let first_time = !self.mono_firing;
            self.mono_firing = true;
            let mut evidence = vec![if same_text >= limits.monologue_turns {
                format!("{same_text} assistant turns in a row without an action, all the same")
            } else {
                format!(
                    "{same_reply} assistant turns in a row without an action, each answered the same"
                )
            }];
            evidence.push(format!("assistant: {first}"));
            if let Some(r) = reply.filter(|r| !r.first_line.is_empty()) {
                evidence.push(format!("reply: {}", r.first_line));
            }
            // Since the first of the repeated turns (not the first quiet one before them).
            let since = if same_text >= limits.monologue_turns {
                self.mono_text.map_or(self.mono_since, |(_, _, s)| s)
            } else {
                self.mono_reply.map_or(self.mono_since, |(_, _, s)| s)
            };
            out.push(LoopFinding {
                detector: OutputDetector::Monologue,
                at: stamp,
                change: LoopChange::Holding {
                    first: first_time,
                    since,
                    evidence,
                },
            });
        }
    }

    /// An assistant turn ended without an action; `ticks` of its lines were ticked items.
    /// Turns in a row that only re-confirm finished work (a ticked checklist each, nothing
    /// done) are the "already complete" answer of a restarted iteration, in any language: the
    /// words change, the ticks and the absence of any action do not.
    fn confirmed(
        &mut self,
        ticks: u32,
        first: String,
        at: u64,
        stamp: u64,
        out: &mut Vec<LoopFinding>,
    ) {
        if ticks < DONE_TICKS {
            self.done_streak = None;
            self.done_firing = false;
            return;
        }
        let (n, first_line, since) = match self.done_streak.take() {
            Some((n, f, s)) => (n + 1, f, s),
            None => (1, first.clone(), at),
        };
        if n >= self.limits.session_repeats {
            let first_time = !self.done_firing;
            self.done_firing = true;
            out.push(LoopFinding {
                detector: OutputDetector::SessionRepeat,
                at: stamp,
                change: LoopChange::Holding {
                    first: first_time,
                    since,
                    evidence: vec![
                        format!("{n} replies in a row re-confirm finished work without an action"),
                        format!("first: {}", super::evidence_line(&first_line)),
                        format!("last: {}", super::evidence_line(&first)),
                    ],
                },
            });
        }
        self.done_streak = Some((n, first_line, since));
    }

    fn pair(&mut self, p: Pair, stamp: u64, out: &mut Vec<LoopFinding>) {
        if self.session_keys.is_empty() {
            self.session_start = p.stamp;
        }
        self.session_keys.push(p.key);
        if self.session_actions.len() < 3 {
            self.session_actions.push(p.action.clone());
        }
        match self.pairs.back() {
            Some(last) if last.key == p.key => self.same += 1,
            _ => {
                self.same = 1;
                self.same_since = p.stamp;
            }
        }
        self.pairs.push_back(p);
        let (max_cycle, repeats) = (
            self.limits.max_cycle as usize,
            self.limits.cycle_repeats as usize,
        );
        if self.pairs.len() > repeats * max_cycle {
            self.pairs.pop_front();
        }
        let Some(last) = self.pairs.back().cloned() else {
            return;
        };
        let need = if last.error {
            self.limits.error_repeats
        } else {
            self.limits.same_repeats
        };
        if self.same >= need {
            let first = !self.repeated_firing;
            self.repeated_firing = true;
            out.push(LoopFinding {
                detector: OutputDetector::RepeatedAction,
                at: stamp,
                change: LoopChange::Holding {
                    first,
                    since: self.same_since,
                    evidence: vec![
                        format!(
                            "the same action got the same {} {} times in a row",
                            if last.error { "error" } else { "result" },
                            self.same
                        ),
                        format!("action: {}", last.action),
                        format!("result: {}", last.result),
                    ],
                },
            });
        } else if self.same == 1 {
            self.clear(OutputDetector::RepeatedAction, stamp, out);
        }
        self.oscillation(stamp, out);
    }

    fn oscillation(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        let n = self.pairs.len();
        let (max_cycle, repeats) = (
            self.limits.max_cycle as usize,
            self.limits.cycle_repeats as usize,
        );
        let cycle = (2..=max_cycle).find(|&k| {
            let span = k * repeats;
            if n < span {
                return false;
            }
            let base = n - span;
            let periodic = (k..span).all(|i| {
                let a = self.pairs.get(base + i).map(|p| p.key);
                let b = self.pairs.get(base + i - k).map(|p| p.key);
                a.is_some() && a == b
            });
            // A cycle of one repeated pair is `repeated_action`, not an oscillation.
            let varied = self
                .pairs
                .iter()
                .skip(n - k)
                .any(|p| Some(p.key) != self.pairs.back().map(|b| b.key));
            periodic && varied
        });
        match cycle {
            Some(k) => {
                let first = !self.oscillation_firing;
                self.oscillation_firing = true;
                let since = self.pairs.get(n - k * repeats).map_or(stamp, |p| p.stamp);
                let mut evidence = vec![format!("a cycle of {k} actions repeated {repeats} times")];
                for p in self.pairs.iter().skip(n - k) {
                    evidence.push(format!("action: {} → {}", p.action, p.result));
                }
                out.push(LoopFinding {
                    detector: OutputDetector::Oscillation,
                    at: stamp,
                    change: LoopChange::Holding {
                        first,
                        since,
                        evidence,
                    },
                });
            }
            None => self.clear(OutputDetector::Oscillation, stamp, out),
        }
    }

    fn end_session(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        if let Some(quiet) = self.quiet_turn.take()
            && self.mono_turns > 0
        {
            self.quiet(quiet, None, stamp, out);
        }
        let text = std::mem::take(&mut self.session_text);
        let text_turns = std::mem::take(&mut self.session_text_turns);
        let text_first = self.session_text_first.take();
        // A session is judged by its actions and their results. One that took no action at all
        // is judged by what it said instead: a harness relaunching an agent that reads nothing,
        // runs nothing and reports the same thing every time is the same session again (the
        // text keys drop clock times, so only the wording counts; a moved counter differs).
        // A session with neither says nothing either way and is skipped.
        let (sig, lines, what) = if !self.session_keys.is_empty() {
            let actions = std::mem::take(&mut self.session_actions);
            (
                hash_sequence(std::mem::take(&mut self.session_keys).into_iter()),
                actions
                    .into_iter()
                    .map(|a| format!("action: {a}"))
                    .collect(),
                "made the same actions and got the same results",
            )
        } else if let Some((first, at)) = text_first {
            self.session_start = at;
            (
                // The marker keeps a quiet session apart from any session of actions.
                hash_sequence([u64::MAX, u64::from(text_turns), text].into_iter()),
                vec![format!("said: {first}")],
                "took no action and said the same",
            )
        } else {
            return;
        };
        if self.previous_session == Some(sig) {
            self.session_repeats += 1;
        } else {
            self.session_repeats = 1;
            self.session_since = self.session_start;
            self.clear(OutputDetector::SessionRepeat, stamp, out);
        }
        self.previous_session = Some(sig);
        let need = if self.stop_line.is_some() {
            STOP_LINE_REPEATS.min(self.limits.session_repeats)
        } else {
            self.limits.session_repeats
        };
        if self.session_repeats >= need {
            self.session_fired(stamp, lines, what, out);
        }
    }

    fn session_fired(
        &mut self,
        stamp: u64,
        lines: Vec<String>,
        what: &str,
        out: &mut Vec<LoopFinding>,
    ) {
        let first = !self.session_firing;
        self.session_firing = true;
        let mut evidence = vec![format!("{} sessions in a row {what}", self.session_repeats)];
        evidence.extend(lines);
        if let Some(stop) = &self.stop_line {
            evidence.push(format!("harness: {stop}"));
        }
        out.push(LoopFinding {
            detector: OutputDetector::SessionRepeat,
            at: stamp,
            change: LoopChange::Holding {
                first,
                since: self.session_since,
                evidence,
            },
        });
    }

    fn clear(&mut self, detector: OutputDetector, stamp: u64, out: &mut Vec<LoopFinding>) {
        let flag = match detector {
            OutputDetector::RepeatedAction => &mut self.repeated_firing,
            OutputDetector::Oscillation => &mut self.oscillation_firing,
            OutputDetector::Monologue => &mut self.mono_firing,
            OutputDetector::SessionRepeat => &mut self.session_firing,
            _ => return,
        };
        if *flag {
            *flag = false;
            out.push(LoopFinding {
                detector,
                at: stamp,
                change: LoopChange::Cleared,
            });
        }
    }
}
