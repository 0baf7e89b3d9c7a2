//! `self_report`: the agent says, in its own words, that it is stuck in a loop — "I'm stuck in
//! a loop", "I'm still stuck in a loop because the replace…", "OK I'm in a dead loop", "we're
//! going in circles". Models that notice their loop often say so and go on looping; when only
//! one turn of the cycle is visible, or each retry is worded a little differently, the
//! admission is the evidence an operator can check.
//!
//! Read from every line of text, quoted ones included (a person pasting what the agent said
//! quotes it): the wording carries the test. Within one sentence the agent must be the subject
//! (I or we, a few words before), the state must be being in or stuck in a loop, cycle or
//! circles, and there must be no negation, condition or question: "I'll process the files in
//! a loop", "to avoid getting stuck in a loop", "I'm not in a loop", "am I stuck in a loop?"
//! and a reporter's "it got stuck in a loop" stay silent. Measured on the 81 healthy
//! transcripts of the corpus (assistant text, plain text and quotes): none fires.
//!
//! Invariants: pure; O(line length) per line; memory: the first admission (evidence). The
//! finding holds until the input ends: a later line without an admission is no sign the loop
//! ended.

use super::{LoopChange, LoopFinding, OutputDetector, evidence_line};

/// Words before `in` that make it a state the agent is in.
const STATE: [&str; 11] = [
    "stuck", "caught", "trapped", "i'm", "im", "am", "we're", "are", "been", "was", "were",
];
/// The agent as subject.
const SUBJECT: [&str; 10] = [
    "i", "i'm", "im", "i've", "ive", "we", "we're", "we've", "me", "myself",
];
/// Words that turn the sentence into something other than an admission.
const NEGATION: [&str; 10] = [
    "not", "never", "no", "avoid", "avoiding", "without", "prevent", "if", "whether", "unless",
];
/// What the agent can be in.
const TRAP: [&str; 3] = ["loop", "cycle", "circles"];
/// Words allowed between `in` and the trap (`in a dead loop`, `in this same cycle`).
const FILLER: [&str; 10] = [
    "a",
    "an",
    "this",
    "the",
    "dead",
    "infinite",
    "endless",
    "repetitive",
    "same",
    "retry",
];
/// Words looked at before `in` for the subject and a negation.
const LOOKBACK: usize = 6;

/// Whether `line` holds a sentence in which the agent says it is stuck in a loop.
pub(super) fn admits_loop(line: &str) -> bool {
    // Most lines name no loop at all: skip them without copying.
    let names_trap = line.as_bytes().windows(4).any(|w| {
        w.eq_ignore_ascii_case(b"loop")
            || w.eq_ignore_ascii_case(b"cycl")
            || w.eq_ignore_ascii_case(b"circ")
    });
    if !names_trap {
        return false;
    }
    let lower: String = line
        .chars()
        .map(|c| if c == '’' { '\'' } else { c })
        .flat_map(char::to_lowercase)
        .collect();
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        let end = rest.find(['.', '!', '?', ';']).unwrap_or(rest.len());
        let sentence = rest.get(..end).unwrap_or_default();
        let question = rest.get(end..).is_some_and(|t| t.starts_with('?'));
        if !question && sentence_admits(sentence) {
            return true;
        }
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    false
}

fn sentence_admits(sentence: &str) -> bool {
    let words: Vec<&str> = sentence
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, word) in words.iter().enumerate() {
        if !TRAP.contains(word) {
            continue;
        }
        // Back over `a dead`, `this same` … to `in`.
        let mut j = i;
        while j > 0 && words.get(j - 1).is_some_and(|w| FILLER.contains(w)) {
            j -= 1;
        }
        if j == 0 || words.get(j - 1) != Some(&"in") {
            continue;
        }
        let before_in = j - 1;
        let from = before_in.saturating_sub(LOOKBACK);
        let window = words.get(from..before_in).unwrap_or_default();
        // "going in circles" / "going around in circles"
        let circling = *word == "circles"
            && window
                .iter()
                .rev()
                .take(2)
                .any(|w| *w == "going" || *w == "around");
        // The state right before `in`, past "still", "again", "now", "really".
        let state = window
            .iter()
            .rev()
            .find(|w| {
                !matches!(
                    **w,
                    "still" | "again" | "now" | "really" | "just" | "clearly"
                )
            })
            .is_some_and(|w| STATE.contains(w));
        let subject = window.iter().any(|w| SUBJECT.contains(w));
        let negated = window
            .iter()
            .any(|w| NEGATION.contains(w) || w.ends_with("n't"));
        if (state || circling) && subject && !negated {
            return true;
        }
    }
    false
}

/// The detector: fires at the first admission, names the first and the latest one.
#[derive(Debug, Default)]
pub(super) struct Admissions {
    first: Option<(String, u64)>,
}

impl Admissions {
    /// One line (or sentence) of the assistant's own text.
    pub(super) fn text(&mut self, line: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        if !admits_loop(line) {
            return;
        }
        let now = evidence_line(line.trim());
        let firing = self.first.is_some();
        let (first, since) = self.first.get_or_insert_with(|| (now.clone(), stamp));
        out.push(LoopFinding {
            detector: OutputDetector::SelfReport,
            at: stamp,
            change: LoopChange::Holding {
                first: !firing,
                since: *since,
                evidence: vec![
                    "the agent says it is stuck in a loop".to_string(),
                    format!("first: {first}"),
                    format!("last: {now}"),
                ],
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::admits_loop;

    #[test]
    fn the_agent_saying_it_loops_is_an_admission() {
        for line in [
            "You are absolutely right! My apologies. I'm stuck in a loop.",
            "My apologies. I'm still stuck in a loop because the replace keeps failing",
            "OK I'm in a dead loop. Let me just write the summary.",
            "I got stuck in a loop trying to use replace with a non-unique old_string",
            "The user wants to know why we're in a loop.",
            "It seems we are going in circles here.",
            "I’ve been caught in this same cycle for a while.",
        ] {
            assert!(admits_loop(line), "{line}");
        }
    }

    #[test]
    fn loops_in_code_negations_questions_and_others_are_not() {
        for line in [
            "I'll process the files in a loop and collect the results.",
            "To avoid getting stuck in a loop, I will cap the retries at three.",
            "I'm not stuck in a loop; the tests changed.",
            "Am I stuck in a loop?",
            "The event loop is stuck in a loop of timers in this library.",
            "The agent got stuck in a loop yesterday, the user says.",
            "If I end up in a loop I will stop and ask.",
            "We iterate over the items in a for loop.",
        ] {
            assert!(!admits_loop(line), "{line}");
        }
    }
}
