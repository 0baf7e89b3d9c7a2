//! Elixir's ExUnit (`mix test`): progress dots, numbered failure entries
//! (`  1) test name (Module)`, the `test/x_test.exs:8` line, then the message: `Assertion with
//! == failed`, `** (ArgumentError) bad input`), `Finished in 0.03 seconds (0.00s async, 0.03s
//! sync)` (older: `(31.9s on load, 6.8s on tests)`), then the summary `N tests, M failures[, K
//! skipped][, J excluded][, I invalid]` (also `N doctests, N tests, …` and the singular
//! forms). A test file that does not compile prints `== Compilation error in file X ==` and
//! the error, and nothing runs.
//!
//! The summary decides: passed = tests − failures − skipped − excluded − invalid; excluded
//! (a tag or line filter) counts as skipped, invalid (a failing `setup_all`) as errors.
//! Failure entries come before any line that names ExUnit, so they are read while idle
//! (bounded) and kept only when `Finished in` or the summary follows.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner, TestFailure};
use crate::text::{indent, leading_number};

/// Failure entries remembered before the run is known to be ExUnit's.
const MAX_EARLY: usize = 64;
/// Message lines kept per failure.
const MAX_REASON_LINES: u8 = 3;

#[derive(Default)]
pub(crate) struct ExunitParser {
    run: Option<ExunitRun>,
    early: Vec<TestFailure>,
    /// Lines of the current failure's message still to read (idle or in a run).
    reading: u8,
    /// A `== Compilation error in file X ==` whose error line comes next.
    compile_error: Option<(String, u64)>,
}

struct ExunitRun {
    b: RunBuilder,
    summary: Option<Counts>,
}

/// `  1) test subtracts (CalcTest)` → `test subtracts (CalcTest)`.
fn failure_entry(line: &str) -> Option<&str> {
    if indent(line) != 2 {
        return None;
    }
    let (_, rest) = leading_number(line.trim_start())?;
    let name = rest.strip_prefix(") ")?.trim();
    let kind = name.split(' ').next()?;
    (matches!(kind, "test" | "doctest" | "property") && name.ends_with(')')).then_some(name)
}

/// `Finished in 0.03 seconds (0.00s async, 0.03s sync)` / `(31.9s on load, 6.8s on tests)`.
fn finished_line(t: &str) -> bool {
    t.strip_prefix("Finished in ")
        .is_some_and(|r| r.contains(" second") && (r.contains(" async") || r.contains(" on load")))
}

/// `5 tests, 2 failures, 1 skipped` → counts; `None` unless it is ExUnit's summary.
fn summary(t: &str) -> Option<Counts> {
    let mut tests = None;
    let mut failures = None;
    let mut skipped = 0u64;
    let mut invalid = 0u64;
    for item in t.split(", ") {
        let (n, word) = leading_number(item.trim())?;
        match word.trim() {
            "test" | "tests" | "doctest" | "doctests" | "property" | "properties" => {
                tests = Some(tests.unwrap_or(0) + n)
            }
            "failure" | "failures" => failures = Some(n),
            "skipped" | "excluded" => skipped += n,
            "invalid" => invalid += n,
            _ => return None,
        }
    }
    let (tests, failures) = (tests?, failures?);
    Some(Counts {
        passed: tests
            .saturating_sub(failures)
            .saturating_sub(skipped)
            .saturating_sub(invalid),
        failed: failures,
        skipped,
        errors: invalid,
    })
}

impl ExunitParser {
    /// Reads a failure entry or its message; true when the line was one.
    fn failure_detail(&mut self, line: &str) -> bool {
        let t = line.trim();
        if let Some(name) = failure_entry(line) {
            let f = TestFailure {
                name: name.to_owned(),
                reason: None,
                location: None,
            };
            match self.run.as_mut() {
                Some(run) => {
                    run.b.failure_or_push(name);
                }
                None if self.early.len() < MAX_EARLY => self.early.push(f),
                None => {}
            }
            self.reading = MAX_REASON_LINES + 1;
            return true;
        }
        if self.reading == 0 || t.is_empty() {
            return false;
        }
        if t.starts_with("stacktrace:") || t.starts_with("code:") {
            self.reading = 0;
            return true;
        }
        let last = match self.run.as_mut() {
            Some(run) => run.b.failures.last_mut(),
            None => self.early.last_mut(),
        };
        let Some(f) = last else {
            return false;
        };
        // The first line under the entry is where the test is (`test/x_test.exs:8`).
        if self.reading == MAX_REASON_LINES + 1 && t.contains(".exs:") && !t.contains(' ') {
            f.location = Some(t.to_owned());
        } else if f.reason.is_none() {
            f.reason = Some(t.to_owned());
            self.reading = 1;
        }
        self.reading -= 1;
        true
    }

    fn start(&mut self, line_no: u64) -> &mut ExunitRun {
        let mut b = RunBuilder::new(Runner::Exunit, line_no);
        for f in self.early.drain(..) {
            if let Some(i) = b.push_failure(&f.name, f.reason.as_deref(), None)
                && let Some(loc) = &f.location
            {
                b.set_location_if_none(i, loc);
            }
        }
        self.run.insert(ExunitRun { b, summary: None })
    }
}

impl RunParser for ExunitParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(
                run.b
                    .finish_by_summary(run.summary, Counts::default(), None),
            );
        }
        self.early.clear();
        self.reading = 0;
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        if let Some((file, at)) = self.compile_error.take()
            && self.run.is_none()
        {
            // `** (SyntaxError) test/x_test.exs:8:3: syntax error before: end`.
            if let Some(err) = t.strip_prefix("** ") {
                let mut b = RunBuilder::new(Runner::Exunit, at);
                b.counts.errors = 1;
                b.push_failure(&file, Some(err), None);
                out.push(b.finish(RunEnd::NotStarted));
                return Claim::Mine;
            }
        }
        if self.run.is_none()
            && let Some(file) = t
                .strip_prefix("== Compilation error in file ")
                .and_then(|r| r.strip_suffix(" =="))
            && file.ends_with(".exs")
        {
            self.compile_error = Some((file.to_owned(), ctx.line_no));
            return Claim::NotMine;
        }
        match self.run.as_mut() {
            None => {
                if finished_line(t) {
                    self.start(ctx.line_no);
                    return Claim::Mine;
                }
                if !ctx.foreign_run_active
                    && let Some(c) = summary(t)
                {
                    self.start(ctx.line_no).summary = Some(c);
                    return Claim::Mine;
                }
                let detail = self.failure_detail(line);
                // Anything but progress marks, entries and their (indented) details forgets
                // the early entries.
                // `--trace` prints `  * test name (1.2ms) [L#5]` per test and the module's
                // `CalcTest [test/calc_test.exs]`: progress too.
                let trace = t.starts_with("* ") || t.ends_with(".exs]");
                if !detail
                    && !trace
                    && !t.is_empty()
                    && indent(line) < 4
                    && !t.bytes().all(|b| matches!(b, b'.' | b'*'))
                {
                    self.early.clear();
                    self.reading = 0;
                }
                Claim::NotMine
            }
            Some(run) if run.summary.is_none() => {
                if let Some(c) = summary(t) {
                    run.summary = Some(c);
                    return Claim::Mine;
                }
                if self.failure_detail(line) {
                    return Claim::Mine;
                }
                if t.is_empty() {
                    Claim::Mine
                } else {
                    Claim::Weak
                }
            }
            Some(_) => {
                // `Randomized with seed N` closes the run.
                if t.starts_with("Randomized with seed ") || t.is_empty() {
                    if !t.is_empty()
                        && let Some(run) = self.run.take()
                    {
                        out.push(
                            run.b
                                .finish_by_summary(run.summary, Counts::default(), None),
                        );
                    }
                    return Claim::Mine;
                }
                if let Some(run) = self.run.take() {
                    out.push(
                        run.b
                            .finish_by_summary(run.summary, Counts::default(), None),
                    );
                }
                Claim::NotMine
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_excluded_as_skipped_and_invalid_as_errors() {
        let c = summary("5 tests, 2 failures, 1 skipped").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped, c.errors), (2, 2, 1, 0));
        let c = summary("5 tests, 0 failures, 4 excluded").unwrap();
        assert_eq!((c.passed, c.skipped), (1, 4));
        let c = summary("1 doctest, 10 tests, 1 failure, 2 invalid").unwrap();
        assert_eq!((c.passed, c.failed, c.errors), (8, 1, 2));
        assert!(summary("4 examples, 2 failures, 1 pending").is_none());
        assert!(summary("3 tests").is_none());
    }

    #[test]
    fn trace_lines_keep_the_failures_read_before_the_summary() {
        let log = [
            "CalcTest [test/calc_test.exs]",
            "  1) test says mars (CalcTest)",
            "     test/calc_test.exs:14",
            "     Assertion with == failed",
            "  * test adds [L#5]  * test adds (0.00ms) [L#5]",
            "Finished in 0.08 seconds (0.00s async, 0.08s sync)",
            "2 tests, 1 failure",
        ];
        let mut p = ExunitParser::default();
        let mut out = Vec::new();
        for (i, l) in log.iter().enumerate() {
            let ctx = LineCtx {
                line_no: i as u64 + 1,
                foreign_run_active: false,
            };
            p.feed(l, &ctx, &mut out);
        }
        p.interrupt(Interrupt::EndOfStream, &mut out);
        let r = &out[0].run;
        assert_eq!((r.passed, r.failed), (1, 1));
        assert_eq!(r.failures[0].name, "test says mars (CalcTest)");
        assert_eq!(
            r.failures[0].reason.as_deref(),
            Some("Assertion with == failed")
        );
    }

    #[test]
    fn failure_entries_name_tests_and_finished_needs_exunits_timing() {
        assert_eq!(
            failure_entry("  1) test subtracts (CalcTest)"),
            Some("test subtracts (CalcTest)")
        );
        assert_eq!(failure_entry("  1) Wallet adds deposits"), None);
        assert!(finished_line(
            "Finished in 0.03 seconds (0.00s async, 0.03s sync)"
        ));
        assert!(!finished_line(
            "Finished in 0.02 seconds (files took 0.15 seconds to load)"
        ));
    }
}
