//! The plain summary line of a custom test script: `N passed, N failed[, N skipped]`, in any
//! order, with `;` or `|` separators, an optional label (`Tests:`, `Summary:`), decorations
//! (`===`, `#`) and a trailing duration (`in 1.2s`, `(1.2s)`).
//!
//! The line must BE the summary: both `passed` and `failed` present and nothing else on the
//! line, so prose ("the last run had 390 passed, 0 failed") and the command that prints it
//! (`echo "390 passed, 0 failed"`) are not runs, nor is the echo's output when the command is on
//! the line before it (an agent quoting an earlier run). Inside another runner's output it is
//! ignored (the detector never offers it there), and a summary followed within
//! [`PREAMBLE_LINES`] by another runner's run is dropped as that run's preamble (node prints a
//! test file's stdout before its results). A summary line alone cannot be told from a custom
//! script's, and counts. Words before it (`Running cargo test 6 passed; 1 failed;`) make it a
//! run only when it counts failures and a failure it counts is shown below it; below any
//! summary with failures, the failing tests shown (`---- name output ----`, `FAILED name`,
//! `✗ name`) are named, with the first line of their block that reads as a reason.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms};

/// A summary followed this closely by another runner's run is that run's preamble.
const PREAMBLE_LINES: u32 = 3;

#[derive(Default)]
pub(crate) struct GenericSummaryParser {
    pending: Option<Emitted>,
    lines_since_pending: u32,
    /// The previous line, when it was a command that prints text (`echo …`, `printf …`): its
    /// output is a quotation, not a summary.
    last_print_command: String,
    /// The pending summary had words before it (`Running cargo test 6 passed; 1 failed;`): it
    /// is a run only once a failure it counts is shown below it.
    tentative: bool,
    /// The failure block being read below the summary, and the lines read of it.
    block: Option<(usize, u8)>,
}

/// Lines of a failure block searched for its reason.
const BLOCK_REASON_LINES: u8 = 6;

/// A failing test's header below a plain summary: `---- name stdout ----` (Rust),
/// `FAILED name`, `FAIL: name`, `✗ name` / `✖ name` → the name.
fn failure_header(t: &str) -> Option<&str> {
    if let Some(rest) = t.strip_prefix("---- ") {
        let rest = rest.trim_end_matches('-').trim_end();
        let name = rest
            .strip_suffix(" stdout")
            .or_else(|| rest.strip_suffix(" output"))
            .or_else(|| rest.strip_suffix(" stderr"))?;
        return (!name.is_empty() && !name.contains(' ')).then_some(name);
    }
    let name = t
        .strip_prefix("FAILED ")
        .or_else(|| t.strip_prefix("FAIL: "))
        .or_else(|| t.strip_prefix("✗ "))
        .or_else(|| t.strip_prefix("✖ "))?
        .trim();
    (!name.is_empty() && name.split_whitespace().count() <= 8).then_some(name)
}

/// A line that states why a test failed: an assertion or error message (not a heading such as
/// `error output:` or `panicked at src/x.rs:146:5:`).
fn reason_like(t: &str) -> bool {
    if t.ends_with(':') {
        return false;
    }
    let l = t.to_ascii_lowercase();
    l.contains("failed") || l.contains("error") || l.contains("assert") || l.contains("expected")
}

/// `Running cargo test 6 passed; 1 failed;`: a summary after a few words. Only with a failure
/// (such a line can never make a pass) and only as a tentative run (see `tentative`).
fn parse_prefixed(line: &str) -> Option<(Counts, Option<u64>)> {
    let t = line.trim();
    let start = t.find(|c: char| c.is_ascii_digit())?;
    let (words, rest) = t.split_at(start);
    let n_words = words.split_whitespace().count();
    if !(1..=4).contains(&n_words)
        || !words
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b' ' || b == b'$')
    {
        return None;
    }
    let (c, dur) = parse_generic(rest)?;
    (c.failed > 0).then_some((c, dur))
}

/// Parses a whole line as a generic summary.
pub(crate) fn parse_generic(line: &str) -> Option<(Counts, Option<u64>)> {
    const DECORATION: &[char] = &['=', '#', '*', '>', '-', '|', '~', ':', ' ', '[', ']'];
    let mut t = line.trim().trim_matches(DECORATION);
    // Optional label of up to three words ending in ':'.
    if let Some((label, rest)) = t.split_once(':') {
        let words = label.split_whitespace().count();
        if (1..=3).contains(&words)
            && label
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b' ' || b == b'_')
        {
            t = rest.trim();
        }
    }
    // Trailing duration: `in 1.2s` or `(1.2s)`.
    let mut dur = None;
    if let Some((head, tail)) = t.rsplit_once(" in ")
        && let Some(d) = duration_ms(tail.trim_matches(DECORATION))
    {
        dur = Some(d);
        t = head;
    } else if t.ends_with(')')
        && let Some(open) = t.rfind('(')
        && let Some(d) = t.get(open + 1..t.len() - 1).and_then(duration_ms)
    {
        dur = Some(d);
        t = t.get(..open).unwrap_or(t).trim_end();
    }
    let t = t.trim_end_matches([',', ';']).trim_end();
    let mut c = Counts::default();
    let (mut has_passed, mut has_failed) = (false, false);
    for item in t.split([',', ';', '|']) {
        let (n, word) = count_item(item)?;
        match word {
            "passed" | "tests passed" => {
                c.passed += n;
                has_passed = true;
            }
            "failed" | "tests failed" => {
                c.failed += n;
                has_failed = true;
            }
            "skipped" | "ignored" | "pending" | "tests skipped" => c.skipped += n,
            "error" | "errors" | "errored" => c.errors += n,
            "total" | "tests" => {}
            _ => return None,
        }
    }
    (has_passed && has_failed).then_some((c, dur))
}

impl RunParser for GenericSummaryParser {
    fn phase(&self) -> Phase {
        if self.pending.is_some() {
            Phase::Settling
        } else {
            Phase::Idle
        }
    }

    fn interrupt(&mut self, why: Interrupt, out: &mut Vec<Emitted>) {
        self.block = None;
        let tentative = std::mem::take(&mut self.tentative);
        if let Some(run) = self.pending.take()
            && !(why == Interrupt::OtherRunStarted && self.lines_since_pending <= PREAMBLE_LINES)
            && !(tentative && run.run.failures.is_empty())
        {
            out.push(run);
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let quoted_by = std::mem::take(&mut self.last_print_command);
        if self.pending.is_some() {
            self.lines_since_pending = self.lines_since_pending.saturating_add(1);
        }
        let t = line.trim_start();
        let t = t.strip_prefix("$ ").unwrap_or(t);
        if (t.starts_with("echo ") || t.starts_with("printf ")) && t.len() <= 512 {
            self.last_print_command.push_str(t);
        }
        if ctx.foreign_run_active {
            return Claim::NotMine;
        }
        if let Some(claim) = self.read_failures(t.trim_end()) {
            return claim;
        }
        let (counts, dur, tentative) = match parse_generic(line) {
            Some((c, d)) => (c, d, false),
            None => match parse_prefixed(line) {
                Some((c, d)) if self.pending.is_none() => (c, d, true),
                _ => return Claim::NotMine,
            },
        };
        if !quoted_by.is_empty() && quoted_by.contains(line.trim()) {
            return Claim::NotMine;
        }
        if let Some(prev) = self.pending.take()
            && !(self.tentative && prev.run.failures.is_empty())
        {
            out.push(prev);
        }
        self.tentative = tentative;
        self.block = None;
        self.lines_since_pending = 0;
        let mut b = RunBuilder::new(Runner::Generic, ctx.line_no);
        b.counts = counts;
        b.duration_ms = dur;
        self.pending = Some(b.finish(RunEnd::Completed));
        Claim::Mine
    }
}

impl GenericSummaryParser {
    /// Below a summary that counts failures: a failing test's header names it, and the first
    /// line of its block that reads like a reason is its reason (the open item of plain
    /// summaries: they name what the log shows).
    fn read_failures(&mut self, t: &str) -> Option<Claim> {
        let pending = self.pending.as_mut()?;
        if pending.run.failed == 0 {
            return None;
        }
        let t = t.trim();
        if let Some(name) = failure_header(t) {
            let known = pending.run.failures.iter().position(|f| f.name == name);
            let i = match known {
                Some(i) => i,
                None if pending.run.failures.len() < crate::run::MAX_FAILURES => {
                    pending.run.failures.push(crate::run::TestFailure {
                        name: crate::run::truncate(name, crate::run::MAX_NAME_BYTES),
                        reason: None,
                        location: None,
                    });
                    pending.run.failures.len() - 1
                }
                None => return Some(Claim::Weak),
            };
            self.block = Some((i, 0));
            return Some(Claim::Weak);
        }
        let (i, seen) = self.block?;
        if t.is_empty() {
            return Some(Claim::Weak);
        }
        if seen >= BLOCK_REASON_LINES {
            self.block = None;
            return None;
        }
        self.block = Some((i, seen.saturating_add(1)));
        if reason_like(t)
            && let Some(f) = pending.run.failures.get_mut(i)
            && f.reason.is_none()
        {
            f.reason = Some(crate::run::truncate(t, crate::run::MAX_REASON_BYTES));
        }
        Some(Claim::Weak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_summary_lines() {
        let (c, d) = parse_generic("390 passed, 0 failed").unwrap();
        assert_eq!((c.passed, c.failed, d), (390, 0, None));
        let (c, d) =
            parse_generic("=== Results: 10 passed; 2 failed; 1 skipped in 3.5s ===").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped, d), (10, 2, 1, Some(3500)));
        let (c, _) = parse_generic("Tests: 3 failed | 7 passed (1.2s)").unwrap();
        assert_eq!((c.passed, c.failed), (7, 3));
    }

    #[test]
    fn a_summary_after_words_counts_only_failures() {
        // Such a line can never make a pass, and is a run only when its failures are shown.
        assert!(parse_prefixed("the last run had 390 passed, 0 failed").is_none());
        let (c, _) = parse_prefixed("Running cargo test 6 passed; 1 failed;").unwrap();
        assert_eq!((c.passed, c.failed), (6, 1));
        assert!(parse_prefixed("so 3 of us passed, 1 failed the exam today").is_none());
    }

    #[test]
    fn names_failures_shown_below_a_summary() {
        assert_eq!(
            failure_header("---- tests::adds output ----"),
            Some("tests::adds")
        );
        assert_eq!(
            failure_header("FAILED test_a.py::test_x"),
            Some("test_a.py::test_x")
        );
        assert_eq!(failure_header("---- not a header ----"), None);
        assert!(!reason_like("error output:"));
        assert!(reason_like("assertion `left == right` failed: balance"));
    }

    #[test]
    fn rejects_prose_and_commands() {
        assert!(parse_generic("the last run had 390 passed, 0 failed").is_none());
        assert!(parse_generic("echo \"390 passed, 0 failed\"").is_none());
        assert!(parse_generic("390 passed").is_none());
        assert!(parse_generic("passed, failed").is_none());
    }
}
