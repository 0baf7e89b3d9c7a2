//! A harness's own counters in what a session says (`Loop #12 - calling …`, `**Session 12
//! ended**`, `Ralph iteration 3/20`): sessions are compared without them, since the counter
//! moves with every relaunch whatever the session did.
//!
//! Invariants: pure; O(line length).

use crate::transcript::Turn;

/// Words after which a harness prints its own counter (`Loop #12`, `**Session 12 ended**`,
/// `Iteration 3/20`).
const COUNTER_WORDS: [&str; 6] = ["loop", "session", "iteration", "attempt", "round", "run"];

/// A text turn's identity when sessions are compared: a harness's counter (`Loop #12 - calling
/// …`, `**Session 12 ended**`, `iteration 3/20`) moves with every relaunch and says nothing
/// about what the session did, so `#<digits>` and a number right after a counter word are
/// dropped; any other number stays (a moved tally is a different session).
pub(super) fn session_text_key(turn: &Turn) -> u64 {
    let line = &turn.first_line;
    let counter_word = |w: &str| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase();
        COUNTER_WORDS.contains(&w.as_str())
    };
    let is_counter = |w: &str| {
        let w = w.trim_start_matches(['#', '*']);
        w.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut previous = "";
    let mut dropped = false;
    let mut kept: Vec<&str> = Vec::new();
    for word in line.split_whitespace() {
        let hashed = word.starts_with('#')
            && word
                .get(1..2)
                .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()));
        if hashed || (counter_word(previous) && is_counter(word)) {
            dropped = true;
        } else {
            kept.push(word);
        }
        previous = word;
    }
    if !dropped {
        return turn.key;
    }
    crate::transcript::content_key(&kept.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::TurnKind;

    fn key(line: &str) -> u64 {
        session_text_key(&Turn::new(TurnKind::Text, line, false))
    }

    #[test]
    fn harness_counters_are_dropped_other_numbers_kept() {
        assert_eq!(
            key("**Session 1 ended** - Agent finished naturally (91 criteria remaining)"),
            key("**Session 12 ended** - Agent finished naturally (91 criteria remaining)")
        );
        assert_eq!(
            key("Loop #3 - calling claude"),
            key("Loop #14 - calling claude")
        );
        assert_eq!(
            key("Ralph iteration 3/20 complete"),
            key("Ralph iteration 4/20 complete")
        );
        assert_ne!(
            key("**Session 1 ended** - Agent finished naturally (91 criteria remaining)"),
            key("**Session 2 ended** - Agent finished naturally (90 criteria remaining)")
        );
        assert_ne!(key("ran 3 tests"), key("ran 4 tests"));
    }
}
