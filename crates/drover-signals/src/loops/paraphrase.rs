//! `paraphrase`: the same paragraph of assistant text comes back with small changes — a plan
//! or an explanation written a third time with a few words different. Exact repeats of one to
//! four lines are `chant`'s, identical answers without an action `monologue`'s; this one
//! compares whole paragraphs by their word shingles, so a changed word, a reordered clause or
//! an added sentence still matches. Identical versions count along with reworded ones (a loop
//! that alternates an exact repeat with a reworded one is still three versions); only a run
//! of identical ones is left to those two.
//!
//! A paragraph is prose between two other events (an action, a result, a reply, a new session)
//! or blank lines; code, lists and checklists end it (a file or a todo list re-shown after
//! each step is content). An action, a result or a new session also forgets the paragraphs
//! before it: the same words around new actions are narration of progress. Quoted and prompt
//! lines are never fed. Prose a recognised transcript format marks as the assistant's needs
//! [`MIN_WORDS`] words and [`SIMILARITY`]; plain text, where a tool's templated summary and the
//! agent's words cannot be told apart, needs [`PLAIN_MIN_WORDS`] and [`PLAIN_SIMILARITY`].
//! Each paragraph becomes the set of its 3-word shingles (hashed, at most [`MAX_SHINGLES`]);
//! the detector fires when a paragraph is a near-duplicate (Jaccard similarity at the
//! threshold or above) of two of the [`RECENT`] paragraphs before it: three versions of the
//! same paragraph.
//!
//! Invariants: pure; memory bounded by `RECENT × MAX_SHINGLES` hashes and two evidence lines.

use std::collections::VecDeque;

use super::{LoopChange, LoopFinding, OutputDetector, evidence_line};
use crate::normalize::line_hash;

/// Words a paragraph needs before it is compared (a one-line remark is not a paragraph).
pub const MIN_WORDS: usize = 12;
/// Jaccard similarity of 3-word shingles at which two paragraphs are the same one reworded.
/// Measured on the 55 healthy transcripts of the corpus (`signals_loops_corpus`, paragraphs
/// as defined above): at 0.2 one fires (three aider-side summaries at 0.23); at 0.3 and above
/// none does. 0.45 keeps a margin of half again over that, and still holds three versions of
/// a 25-word plan with a few words changed (0.48 to 0.62 between them, see the tests).
pub const SIMILARITY: f64 = 0.45;
/// The same for plain text, where a paragraph may be a tool's or a harness's templated report
/// as well as the agent's words (an issue excerpt, a harness log). Measured on the 43 healthy
/// plain-text transcripts of the corpus, paragraphs fed from every plain line: at 0.3 with
/// [`MIN_WORDS`] two fire — cargo's `warning: … generated 4 warnings` summaries (18–20 words,
/// up to 1.0 alike) and a 14-word narration (0.42); with [`PLAIN_MIN_WORDS`] none fires down
/// to 0.3. 0.6 keeps a margin on both sides: three versions of a 51-word paragraph in a real
/// loop are 0.88 and 1.0 alike.
pub const PLAIN_SIMILARITY: f64 = 0.6;
/// Words a plain-text paragraph needs (two sentences or so): one-line tool summaries that
/// differ in a count are shorter.
pub const PLAIN_MIN_WORDS: usize = 30;
/// Paragraphs remembered for comparison.
pub const RECENT: usize = 6;
/// Shingles kept per paragraph (a long paragraph is judged by its first ones).
pub const MAX_SHINGLES: usize = 256;

#[derive(Debug)]
struct Paragraph {
    shingles: Vec<u64>,
    first_line: String,
    stamp: u64,
    /// Read from plain text.
    plain: bool,
}

#[derive(Debug, Default)]
pub(super) struct Paraphrase {
    /// The paragraph being read: its words so far (lowercase), first line and stamp.
    words: Vec<String>,
    /// The paragraph being read comes from plain text (judged at [`PLAIN_SIMILARITY`]).
    plain: bool,
    first_line: Option<(String, u64)>,
    recent: VecDeque<Paragraph>,
    firing: bool,
}

impl Paraphrase {
    /// One line (or sentence) of assistant text. Only prose counts: code, lists, checklists
    /// and tool banners end the paragraph instead (a file, a todo list or a table re-shown
    /// after each step is content, not a reworded plan).
    pub(super) fn text(&mut self, line: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        self.line(line, false, stamp, out);
    }

    /// One line of plain text: compared like the assistant's prose, at the stricter
    /// [`PLAIN_SIMILARITY`].
    pub(super) fn plain_text(&mut self, line: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        self.line(line, true, stamp, out);
    }

    fn line(&mut self, line: &str, plain: bool, stamp: u64, out: &mut Vec<LoopFinding>) {
        if !prose(line) {
            self.end(stamp, out);
            return;
        }
        if plain != self.plain {
            self.end(stamp, out);
            self.plain = plain;
        }
        if self.first_line.is_none() {
            self.first_line = Some((evidence_line(line.trim()), stamp));
        }
        if self.words.len() < MAX_SHINGLES + 2 {
            self.words.extend(
                line.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .take(MAX_SHINGLES + 2),
            );
        }
    }

    /// The agent did something (an action, a result, a new session): the paragraph ends, and
    /// the paragraphs before it are no longer compared — the same words around new actions are
    /// narration of progress, not a loop.
    pub(super) fn act(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        self.end(stamp, out);
        self.recent.clear();
        if self.firing {
            self.firing = false;
            out.push(LoopFinding {
                detector: OutputDetector::Paraphrase,
                at: stamp,
                change: LoopChange::Cleared,
            });
        }
    }

    /// A reply or a blank line: the paragraph ends here.
    pub(super) fn end(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        let words = std::mem::take(&mut self.words);
        let Some((first_line, at)) = self.first_line.take() else {
            return;
        };
        if words.len()
            < if self.plain {
                PLAIN_MIN_WORDS
            } else {
                MIN_WORDS
            }
        {
            return;
        }
        let mut shingles: Vec<u64> = words
            .windows(3)
            .take(MAX_SHINGLES)
            .map(|w| line_hash(&w.join(" ")))
            .collect();
        shingles.sort_unstable();
        shingles.dedup();
        let threshold = if self.plain {
            PLAIN_SIMILARITY
        } else {
            SIMILARITY
        };
        let similar: Vec<(&Paragraph, f64)> = self
            .recent
            .iter()
            .map(|p| (p, jaccard(&p.shingles, &shingles)))
            .filter(|(p, j)| *j >= threshold.max(if p.plain { PLAIN_SIMILARITY } else { 0.0 }))
            .collect();
        // Only identical versions are `monologue`'s and `chant`'s (one finding per loop); a
        // reworded one among them makes it this detector's, identical versions counting too.
        let reworded = similar.iter().any(|(_, j)| *j < 1.0);
        if similar.len() >= 2 && reworded {
            let lowest = similar.iter().map(|(_, j)| *j).fold(1.0, f64::min);
            let (earliest, _) = similar[0];
            let first = !self.firing;
            self.firing = true;
            out.push(LoopFinding {
                detector: OutputDetector::Paraphrase,
                at: stamp,
                change: LoopChange::Holding {
                    first,
                    since: earliest.stamp,
                    evidence: vec![
                        format!(
                            "the same paragraph written {} times with small changes (similarity ≥ {lowest:.2})",
                            similar.len() + 1
                        ),
                        format!("first: {}", earliest.first_line),
                        format!("last: {first_line}"),
                    ],
                },
            });
        } else if similar.is_empty() && self.firing {
            self.firing = false;
            out.push(LoopFinding {
                detector: OutputDetector::Paraphrase,
                at: stamp,
                change: LoopChange::Cleared,
            });
        }
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(Paragraph {
            shingles,
            first_line,
            stamp: at,
            plain: self.plain,
        });
    }
}

/// A sentence of prose: starts with a letter, holds at least four words, and is mostly
/// letters and spaces (code, paths, tables and list items are not).
fn prose(line: &str) -> bool {
    let t = line.trim();
    if !t.starts_with(|c: char| c.is_alphabetic()) {
        return false;
    }
    let words = t
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic));
    if words.take(4).count() < 4 {
        return false;
    }
    let total = t.chars().count();
    let letters = t.chars().filter(|c| c.is_alphabetic() || *c == ' ').count();
    letters * 10 >= total * 8
}

/// Jaccard similarity of two sorted, deduplicated sets.
fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both as f64 / (a.len() + b.len() - both) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(paragraphs: &[&str]) -> Vec<LoopFinding> {
        let mut p = Paraphrase::default();
        let mut out = Vec::new();
        for (i, para) in paragraphs.iter().enumerate() {
            for line in para.lines() {
                p.text(line, i as u64 + 1, &mut out);
            }
            p.end(i as u64 + 1, &mut out);
        }
        out
    }

    #[test]
    fn a_plan_written_three_times_with_a_few_words_changed_fires() {
        let out = run(&[
            "Let me check the billing settings first. I will open the account page, read the plan and the usage, then compare them with the invoice.",
            "Let me check the billing settings again. I will open the account page, read the plan and the usage, and then compare them with the invoice.",
            "Let me check the billing settings once more. I will open the account page, read the current plan and the usage, then compare them with the invoice.",
        ]);
        let holding = out
            .iter()
            .find(|f| matches!(f.change, LoopChange::Holding { first: true, .. }))
            .expect("the third version fires");
        assert_eq!(holding.detector, OutputDetector::Paraphrase);
        if let LoopChange::Holding {
            evidence, since, ..
        } = &holding.change
        {
            assert_eq!(*since, 1, "the repetition began with the first version");
            assert!(evidence[1].starts_with("first: Let me check the billing settings first."));
            assert!(evidence[2].starts_with("last: Let me check the billing settings once more."));
        }
    }

    #[test]
    fn successive_different_summaries_stay_silent() {
        let out = run(&[
            "I read the parser module and found where the header is split; the next step is a test for the empty header case.",
            "The test for the empty header fails as expected, so now I will change the split to keep empty fields and run it again.",
            "All parser tests pass now, including the new empty header case; I will commit this and move on to the writer module.",
            "Two paragraphs alike are a retry, not yet a loop; this one is about the writer module and its buffered output instead.",
        ]);
        assert!(out.is_empty(), "{out:?}");
    }

    fn run_plain(paragraphs: &[&str]) -> Vec<LoopFinding> {
        let mut p = Paraphrase::default();
        let mut out = Vec::new();
        for (i, para) in paragraphs.iter().enumerate() {
            for line in para.lines() {
                p.plain_text(line, i as u64 + 1, &mut out);
            }
            p.end(i as u64 + 1, &mut out);
        }
        out
    }

    const CONFIRMED: &str = "I've confirmed that your project is linked to the main billing account and that it shows no active credits or budgets. I'll check the closed account to see if your credits are there, and I'll also look at how to restore the credit.";
    const CONFIRMING: &str = "I've confirming that your project is linked to the main billing account and that it shows no active credits or budgets. I'll check the closed account to see if your credits are there, and I'll also look at how to restore the credit.";

    #[test]
    fn an_exact_repeat_after_a_reworded_one_is_the_third_version() {
        // Identical, reworded, identical: two of the three are the same words.
        let out = run_plain(&[
            CONFIRMED,
            "I'll start by checking the logs for billing events.",
            CONFIRMING,
            CONFIRMED,
        ]);
        assert!(
            out.iter().any(|f| f.detector == OutputDetector::Paraphrase),
            "{out:?}"
        );
        // Only exact repeats: chant's and monologue's, not this detector's.
        let out = run_plain(&[CONFIRMED, CONFIRMED, CONFIRMED]);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn plain_text_needs_long_paragraphs_and_close_wording() {
        // A tool's one-line summary with another count, three times: not a paragraph.
        let summaries = [
            "warning: the crate groovy-cli (bin groovy-cli test) generated 4 warnings in this build",
            "warning: the crate groovy-cli (bin groovy-cli) generated 4 warnings in this build",
            "warning: the crate groovy-cli (bin groovy-cli test) generated 3 warnings in this build",
        ];
        assert!(run_plain(&summaries).is_empty());
        // The agent-prose threshold would take these three plans; plain text does not.
        let plans = [
            "Let me check the billing settings first. I will open the account page, read the plan and the usage, then compare them with the invoice and the receipts of the last three months.",
            "Let me check the billing settings again. I will open the account page, read the plan and the usage, and then compare them with the invoice and the receipts of the quarter.",
            "Let me check the billing settings once more. I will open the account page, read the current plan and the usage, then compare them with the invoice and the receipts of the year.",
        ];
        assert!(!run(&plans).is_empty());
        assert!(run_plain(&plans).is_empty());
    }

    #[test]
    fn jaccard_of_sets() {
        assert_eq!(jaccard(&[1, 2, 3], &[1, 2, 3]), 1.0);
        assert_eq!(jaccard(&[1, 2], &[3, 4]), 0.0);
        assert!((jaccard(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-9);
    }
}
