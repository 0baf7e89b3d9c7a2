//! Thresholds of the transcript (turn-level) detectors — `chant`, `repeated_action`,
//! `oscillation`, `monologue`, `session_repeat` — as plain data, with the ranges they accept.
//! The defaults are the values the labelled corpus of real transcripts supports (every loop
//! caught, no healthy session flagged; see the README's loop section); `[loops.transcript]`
//! overrides them.
//!
//! Invariant: [`TurnLimits::problems`] is empty for every value the detectors are built with
//! (the config refuses the rest), which keeps their memory bounded: at most
//! `max_cycle × cycle_repeats` action/result pairs are kept.

/// Longest action cycle that may be configured.
pub const MAX_CYCLE_LIMIT: u32 = 8;
/// Most repetitions of a cycle that may be required.
pub const CYCLE_REPEATS_LIMIT: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnLimits {
    /// `chant`: the shortest run of back-to-back repeated lines (or sentences) that fires; a
    /// cycle of `p` lines needs three whole cycles, at most `2p + 3` lines.
    pub chant_min_run: u32,
    /// `chant`: words a cycle of several lines must hold.
    pub chant_min_words: u32,
    /// `chant`: words a one-line cycle must hold (heartbeats and "OK" stay out).
    pub chant_min_words_one_line: u32,
    /// `repeated_action`: the same action with the same error, this many times in a row.
    pub error_repeats: u32,
    /// `repeated_action`: the same action with the same (non-error) result, this many times.
    pub same_repeats: u32,
    /// `oscillation`: the longest cycle of different actions recognised.
    pub max_cycle: u32,
    /// `oscillation`: repetitions of the cycle that fire.
    pub cycle_repeats: u32,
    /// `monologue`: assistant turns in a row without an action, saying or answered the same.
    pub monologue_turns: u32,
    /// `session_repeat`: identical sessions in a row (the first one included).
    pub session_repeats: u32,
}

impl Default for TurnLimits {
    fn default() -> Self {
        Self {
            chant_min_run: 5,
            chant_min_words: 4,
            chant_min_words_one_line: 6,
            error_repeats: 3,
            same_repeats: 4,
            max_cycle: 4,
            cycle_repeats: 3,
            monologue_turns: 3,
            session_repeats: 3,
        }
    }
}

impl TurnLimits {
    /// Values out of range, as (field, what it must be). Repetition counts start at 2: one
    /// occurrence is not a repetition.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let at_least = |out: &mut Vec<(&'static str, String)>, name, v: u32, min: u32| {
            if v < min {
                out.push((name, format!("{name} must be at least {min} (got {v})")));
            }
        };
        at_least(&mut out, "chant_min_run", self.chant_min_run, 3);
        at_least(&mut out, "chant_min_words", self.chant_min_words, 1);
        at_least(
            &mut out,
            "chant_min_words_one_line",
            self.chant_min_words_one_line,
            1,
        );
        at_least(&mut out, "error_repeats", self.error_repeats, 2);
        at_least(&mut out, "same_repeats", self.same_repeats, 2);
        at_least(&mut out, "monologue_turns", self.monologue_turns, 2);
        at_least(&mut out, "session_repeats", self.session_repeats, 2);
        if !(2..=MAX_CYCLE_LIMIT).contains(&self.max_cycle) {
            out.push((
                "max_cycle",
                format!(
                    "max_cycle must be between 2 and {MAX_CYCLE_LIMIT} actions (got {})",
                    self.max_cycle
                ),
            ));
        }
        if !(2..=CYCLE_REPEATS_LIMIT).contains(&self.cycle_repeats) {
            out.push((
                "cycle_repeats",
                format!(
                    "cycle_repeats must be between 2 and {CYCLE_REPEATS_LIMIT} (got {})",
                    self.cycle_repeats
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zeroes_are_not() {
        assert!(TurnLimits::default().problems().is_empty());
        let zero = TurnLimits {
            chant_min_run: 0,
            chant_min_words: 0,
            chant_min_words_one_line: 0,
            error_repeats: 0,
            same_repeats: 0,
            max_cycle: 0,
            cycle_repeats: 0,
            monologue_turns: 0,
            session_repeats: 0,
        };
        assert_eq!(zero.problems().len(), 9);
    }
}
