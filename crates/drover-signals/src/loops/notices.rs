//! What a harness or an edit tool says back, line by line: three detectors that read replies
//! rather than the agent's own words.
//!
//! - `harness_notice`: the agent's harness already judged a loop and said so in its own fixed
//!   wording (Gemini CLI "A potential loop was detected", Kilo/Roo/Cline "appears to be stuck
//!   in a loop", OpenHands "Agent got stuck in a loop", Agent Zero "You have sent the same
//!   message again", SWE-agent "Exit due to repeated format/blocklist/bash syntax errors"). A bare circuit breaker or "no progress" line is *not* one: Ralph's breaker
//!   also opens on healthy runs (it counts uncommitted files, or every successful loop), so
//!   those lines only count together with repeated sessions (see `turns`).
//! - `rejected_replies`: the harness rejected the agent's reply several times in a row, read
//!   from its own counter (SWE-agent "Requerying model after FormatError (2th requery)", aider
//!   "Malformed response #3", "Retrying to parse response (2/2)") or from the same rejection
//!   line coming back ([`REJECTION_REPEATS`] times, each within [`CYCLE_LINES`] lines of the
//!   previous one, no other rejection between). One format error followed by a good reply is a
//!   short retry, not a loop; rejections scattered over a long session are not a streak.
//! - `edit_retry`: an edit does not apply, the agent re-reads the file and sends the edit again,
//!   and it fails again — one and a half cycles of fail → re-read → re-apply. Failure lines of one
//!   report (aider prints three for one block) count once; an edit that applies in between
//!   ends the cycle.
//!
//! Invariants: pure; O(line length) per line; memory: a few counters and two evidence lines
//! per detector. Every firing names the first and the last line of the repeated part.

use super::{LoopChange, LoopFinding, OutputDetector, evidence_line};

/// The same rejection line this many times, each soon after the previous one, fires.
const REJECTION_REPEATS: u32 = 3;
/// Lines within which failure lines belong to one failed edit (one report).
const SAME_REPORT_LINES: u64 = 4;
/// Lines after which a failed edit no longer starts a cycle with the next one.
const CYCLE_LINES: u64 = 80;

/// Exact wordings of harness loop verdicts (matched case-insensitively).
const LOOP_VERDICTS: [&str; 6] = [
    "a potential loop was detected",
    "appears to be stuck in a loop",
    "agent got stuck in a loop",
    "agentstuckinlooperror",
    "you have sent the same message again",
    // SWE-agent ends a run whose replies it kept rejecting.
    "exit due to repeated format",
];

/// Lines that say an edit did not apply.
const EDIT_FAILED: [&str; 9] = [
    "edit unsuccessful",
    "apply_diff failed",
    "unable to apply diff",
    "searchreplacenoexactmatch",
    "failed to exactly match",
    "unifieddiffnomatch",
    "invalideditblock",
    "did not apply",
    "contents are out of sync",
];

/// Lines that say an edit applied (a cycle ends there).
const EDIT_APPLIED: [&str; 3] = [
    "applied edit to",
    "changes successfully applied",
    "<operation>modified</operation>",
];

/// Words of a failure that happened before ("still", "again"), of trouble, and of an edit tool:
/// together with a re-read, the agent's own report of a fail → re-read → re-send cycle.
const SELF_REPORT_REPEAT: [&str; 2] = ["again", "still"];
const SELF_REPORT_TROUBLE: [&str; 5] = ["trouble", "failed", "failing", "unable to", "could not"];
const SELF_REPORT_TOOL: [&str; 4] = ["replace", "edit", "diff", "patch"];

/// `word` in `lower` as a whole word.
fn has_word(lower: &str, word: &str) -> bool {
    lower
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w == word)
}

/// Lines where the agent reads the file again or says it will.
const REREAD: [&str; 4] = ["read the file", "re-read", "wants to read", "read_file"];

/// Rejections of a reply by its harness, compared line to line.
const REJECTIONS: [&str; 4] = [
    "you did not use a tool in your previous response",
    "please always provide exactly one action",
    "your output was not formatted correctly",
    "error processing claude's response",
];

#[derive(Debug, Default)]
struct Firing {
    on: bool,
}

impl Firing {
    fn fire(
        &mut self,
        detector: OutputDetector,
        since: u64,
        stamp: u64,
        evidence: Vec<String>,
        out: &mut Vec<LoopFinding>,
    ) {
        let first = !self.on;
        self.on = true;
        out.push(LoopFinding {
            detector,
            at: stamp,
            change: LoopChange::Holding {
                first,
                since,
                evidence,
            },
        });
    }
}

#[derive(Debug, Default)]
pub(super) struct Notices {
    line: u64,
    notice: Firing,
    rejected: Firing,
    /// The rejection being repeated: its wording, count, first line, its stamp and the line
    /// number of the last one.
    rejection: Option<(&'static str, u32, String, u64, u64)>,
    edit: Firing,
    /// The last failed edit: line number, first failure line and its stamp, failures so far.
    failed_edit: Option<(u64, String, u64, u32)>,
    reread_since_failure: bool,
    lower: String,
}

impl Notices {
    /// One cleaned plain-text line (not a JSON event).
    /// The agent made a valid action (read from a structured transcript): a streak of rejected
    /// replies is over.
    pub(super) fn acted(&mut self) {
        self.rejection = None;
    }

    pub(super) fn feed(&mut self, text: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        self.line += 1;
        let t = text.trim();
        if t.is_empty() {
            return;
        }
        let mut lower = std::mem::take(&mut self.lower);
        lower.clear();
        lower.extend(t.chars().flat_map(char::to_lowercase));
        self.harness_notice(&lower, t, stamp, out);
        self.rejected_replies(&lower, t, stamp, out);
        self.edit_retry(&lower, t, stamp, out);
        self.lower = lower;
    }

    fn harness_notice(&mut self, lower: &str, t: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        if LOOP_VERDICTS.iter().any(|v| lower.contains(v)) {
            self.notice.fire(
                OutputDetector::HarnessNotice,
                stamp,
                stamp,
                vec![
                    "the agent's harness reported a loop".to_string(),
                    format!("first: {}", evidence_line(t)),
                    format!("last: {}", evidence_line(t)),
                ],
                out,
            );
        }
    }

    fn rejected_replies(&mut self, lower: &str, t: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        // The harness's own counters.
        let counted = counter_after(lower, "requerying model after", "(", "th requery)")
            .or_else(|| counter_after(lower, "requerying model after", "(", "nd requery)"))
            .is_some_and(|n| n >= 2)
            || counter_after(lower, "malformed response #", "#", "").is_some_and(|n| n >= 3)
            || retries_exhausted(lower);
        if counted {
            self.rejected.fire(
                OutputDetector::RejectedReplies,
                stamp,
                stamp,
                vec![
                    "the harness rejected the agent's replies several times in a row".to_string(),
                    format!("first: {}", evidence_line(t)),
                    format!("last: {}", evidence_line(t)),
                ],
                out,
            );
            return;
        }
        let Some(rejection) = REJECTIONS.iter().find(|r| lower.contains(*r)) else {
            return;
        };
        let line = self.line;
        let (count, first, since) = match self.rejection.take() {
            Some((r, n, first, since, last)) if r == *rejection && line - last <= CYCLE_LINES => {
                (n + 1, first, since)
            }
            _ => (1, evidence_line(t), stamp),
        };
        if count >= REJECTION_REPEATS {
            self.rejected.fire(
                OutputDetector::RejectedReplies,
                since,
                stamp,
                vec![
                    format!("the harness rejected {count} replies in a row the same way"),
                    format!("first: {first}"),
                    format!("last: {}", evidence_line(t)),
                ],
                out,
            );
        }
        self.rejection = Some((*rejection, count, first, since, line));
    }

    fn edit_retry(&mut self, lower: &str, t: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        if EDIT_APPLIED.iter().any(|a| lower.contains(a)) {
            self.failed_edit = None;
            self.edit.on = false;
            return;
        }
        // The agent's own account of the cycle: an edit that is *still* failing, and the
        // re-read and re-send it is about to make — one sentence holds one and a half cycles.
        if SELF_REPORT_REPEAT.iter().any(|w| has_word(lower, w))
            && SELF_REPORT_TROUBLE.iter().any(|w| lower.contains(w))
            && SELF_REPORT_TOOL.iter().any(|w| lower.contains(w))
            && REREAD.iter().any(|r| lower.contains(r))
        {
            self.edit.fire(
                OutputDetector::EditRetry,
                stamp,
                stamp,
                vec![
                    "the agent says its edit keeps failing and it will re-read and re-send it"
                        .to_string(),
                    format!("first: {}", evidence_line(t)),
                    format!("last: {}", evidence_line(t)),
                ],
                out,
            );
            return;
        }
        let failed = EDIT_FAILED.iter().any(|f| lower.contains(f));
        if !failed {
            if REREAD.iter().any(|r| lower.contains(r)) && self.failed_edit.is_some() {
                self.reread_since_failure = true;
            }
            return;
        }
        let line = self.line;
        match self.failed_edit.take() {
            // Another line of the same failure report ("failed again" is a new failure).
            Some((at, first, since, n))
                if line - at <= SAME_REPORT_LINES && !lower.contains("again") =>
            {
                self.failed_edit = Some((line, first, since, n));
            }
            Some((at, first, since, n)) if line - at <= CYCLE_LINES => {
                // A failure that says "again" is itself a repeat, even when the re-read is
                // only announced in the same sentence.
                let cycle = self.reread_since_failure || lower.contains("again");
                let n = if cycle { n + 1 } else { 1 };
                if n >= 2 {
                    self.edit.fire(
                        OutputDetector::EditRetry,
                        since,
                        stamp,
                        vec![
                            format!("an edit failed {n} times, re-read and re-sent in between"),
                            format!("first: {first}"),
                            format!("last: {}", evidence_line(t)),
                        ],
                        out,
                    );
                }
                let (first, since) = if cycle {
                    (first, since)
                } else {
                    (evidence_line(t), stamp)
                };
                self.failed_edit = Some((line, first, since, n));
            }
            _ => {
                self.failed_edit = Some((line, evidence_line(t), stamp, 1));
            }
        }
        // "failed again … I need to re-read" announces the re-read of the next cycle.
        self.reread_since_failure = REREAD.iter().any(|r| lower.contains(r));
    }
}

/// The number after `key` (found after `open`, up to a non-digit), when the line holds `key`
/// and, if given, `close`.
fn counter_after(lower: &str, key: &str, open: &str, close: &str) -> Option<u32> {
    let at = lower.find(key)?;
    let rest = lower.get(at + key.len()..)?;
    if !close.is_empty() && !rest.contains(close) {
        return None;
    }
    let from = if key.ends_with(open) {
        rest
    } else {
        rest.get(rest.find(open)? + open.len()..)?
    };
    let digits: String = from.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// "Retrying to parse response (2/2)": the harness used up its retries of an unparseable reply.
fn retries_exhausted(lower: &str) -> bool {
    let Some(at) = lower.find("retrying to parse") else {
        return false;
    };
    let Some(rest) = lower.get(at..) else {
        return false;
    };
    let Some(open) = rest.find('(') else {
        return false;
    };
    let inner: String = rest
        .get(open + 1..)
        .unwrap_or_default()
        .chars()
        .take_while(|c| *c != ')')
        .collect();
    match inner.split_once('/') {
        Some((k, n)) => match (k.trim().parse::<u32>(), n.trim().parse::<u32>()) {
            (Ok(k), Ok(n)) => n >= 2 && k == n,
            _ => false,
        },
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(lines: &[&str]) -> Vec<&'static str> {
        let mut n = Notices::default();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            n.feed(l, i as u64 + 1, &mut out);
        }
        let mut names: Vec<&'static str> = out.iter().map(|f| f.detector.as_str()).collect();
        names.dedup();
        names
    }

    #[test]
    fn counters_are_read() {
        assert_eq!(
            counter_after(
                "warning - requerying model after formaterror (2th requery)",
                "requerying model after",
                "(",
                "th requery)"
            ),
            Some(2)
        );
        assert_eq!(
            counter_after(
                "malformed response #3, aborting.",
                "malformed response #",
                "#",
                ""
            ),
            Some(3)
        );
        assert!(retries_exhausted(
            "[info] retrying to parse response (2/2)..."
        ));
        assert!(!retries_exhausted(
            "[info] retrying to parse response (1/2)..."
        ));
    }

    #[test]
    fn one_rejection_then_progress_is_silent_three_fire() {
        let one = [
            "[ERROR] You did not use a tool in your previous response!",
            "ok",
        ];
        assert!(fired(&one).is_empty());
        let three = [
            "[ERROR] You did not use a tool in your previous response!",
            "[ERROR] You did not use a tool in your previous response!",
            "[ERROR] You did not use a tool in your previous response!",
        ];
        assert_eq!(fired(&three), vec!["rejected_replies"]);
        let mut scattered = Vec::new();
        for _ in 0..3 {
            scattered.push("[ERROR] You did not use a tool in your previous response!");
            scattered.extend(["read src/a.rs, edited it, ran the tests again"; 100]);
        }
        assert!(fired(&scattered).is_empty());
    }

    #[test]
    fn one_failed_report_is_silent_a_retried_edit_fires() {
        let report = [
            "# 1 SEARCH/REPLACE block failed to match!",
            "## SearchReplaceNoExactMatch: This SEARCH block failed to exactly match lines",
        ];
        assert!(fired(&report).is_empty());
        let cycle = [
            "The apply_diff failed. I will read the file again.",
            "Kilo Code wants to read this file:",
            "I will now re-apply the fix.",
            "Kilo Code wants to edit this file:",
            "",
            "",
            "",
            "Edit Unsuccessful",
        ];
        assert_eq!(fired(&cycle), vec!["edit_retry"]);
        let applied = [
            "Edit Unsuccessful",
            "I will read the file again.",
            "Changes successfully applied to src/x.ts",
            "",
            "",
            "",
            "",
            "Edit Unsuccessful",
        ];
        assert!(fired(&applied).is_empty());
    }
}
