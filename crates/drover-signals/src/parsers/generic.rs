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
//! script's, and counts.

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
        if let Some(run) = self.pending.take()
            && !(why == Interrupt::OtherRunStarted && self.lines_since_pending <= PREAMBLE_LINES)
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
        let Some((counts, dur)) = parse_generic(line) else {
            return Claim::NotMine;
        };
        if !quoted_by.is_empty() && quoted_by.contains(line.trim()) {
            return Claim::NotMine;
        }
        if let Some(prev) = self.pending.take() {
            out.push(prev);
        }
        self.lines_since_pending = 0;
        let mut b = RunBuilder::new(Runner::Generic, ctx.line_no);
        b.counts = counts;
        b.duration_ms = dur;
        self.pending = Some(b.finish(RunEnd::Completed));
        Claim::Mine
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
    fn rejects_prose_and_commands() {
        assert!(parse_generic("the last run had 390 passed, 0 failed").is_none());
        assert!(parse_generic("echo \"390 passed, 0 failed\"").is_none());
        assert!(parse_generic("390 passed").is_none());
        assert!(parse_generic("passed, failed").is_none());
    }
}
