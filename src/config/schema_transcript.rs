//! `[loops.transcript]`: the thresholds of the transcript (turn-level) detectors — `chant`,
//! `repeated_action`, `oscillation`, `monologue`, `session_repeat` — that read agent output as
//! turns. Part of the schema (deny unknown keys, defaults from the detectors' own
//! `TurnLimits`, so the example file, the parser and the detectors cannot drift apart). The
//! fields mirror `TurnLimits` rather than flattening it in, because serde cannot combine
//! `flatten` with `deny_unknown_fields`, and a misspelt key must be refused.
//! Their findings take the `[loops.output_repetition]` action, and they run in the same
//! output pipeline (`output_repetition.enabled = false` turns that pipeline off).

use serde::{Deserialize, Serialize};

use crate::signals::TurnLimits;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscriptDetector {
    pub enabled: bool,
    /// The same 1–4 lines (or sentences) back to back: the shortest run that fires.
    pub chant_min_run: u32,
    /// Words a chanted cycle of several lines must hold.
    pub chant_min_words: u32,
    /// Words a chanted single line must hold.
    pub chant_min_words_one_line: u32,
    /// The same action with the same error, this many times in a row.
    pub error_repeats: u32,
    /// The same action with the same result, this many times in a row.
    pub same_repeats: u32,
    /// Longest cycle of different actions recognised as an oscillation (2–8).
    pub max_cycle: u32,
    /// Repetitions of that cycle that fire (2–10).
    pub cycle_repeats: u32,
    /// Assistant turns in a row without an action, all the same or answered the same.
    pub monologue_turns: u32,
    /// Sessions in a row with the same actions and results (the first one included).
    pub session_repeats: u32,
}

impl Default for TranscriptDetector {
    fn default() -> Self {
        let l = TurnLimits::default();
        Self {
            enabled: true,
            chant_min_run: l.chant_min_run,
            chant_min_words: l.chant_min_words,
            chant_min_words_one_line: l.chant_min_words_one_line,
            error_repeats: l.error_repeats,
            same_repeats: l.same_repeats,
            max_cycle: l.max_cycle,
            cycle_repeats: l.cycle_repeats,
            monologue_turns: l.monologue_turns,
            session_repeats: l.session_repeats,
        }
    }
}

impl TranscriptDetector {
    /// The detectors' limits (whether or not the section is enabled).
    pub fn limits(&self) -> TurnLimits {
        TurnLimits {
            chant_min_run: self.chant_min_run,
            chant_min_words: self.chant_min_words,
            chant_min_words_one_line: self.chant_min_words_one_line,
            error_repeats: self.error_repeats,
            same_repeats: self.same_repeats,
            max_cycle: self.max_cycle,
            cycle_repeats: self.cycle_repeats,
            monologue_turns: self.monologue_turns,
            session_repeats: self.session_repeats,
        }
    }
}
