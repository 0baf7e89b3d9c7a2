//! A GoogleTest binary run directly: `[==========] Running N tests from M test suites.`,
//! `[ RUN      ] Suite.Name`, the test's output (`file.cc:6: Failure` and the message), then
//! `[       OK ] Suite.Name (0 ms)`, `[  FAILED  ] Suite.Name (0 ms)` or `[  SKIPPED ] …`;
//! at the end `[==========] N tests from M test suites ran.`, `[  PASSED  ] N tests.`,
//! `[  SKIPPED ] N tests, listed below:`, `[  FAILED  ] N tests, listed below:` and the list.
//!
//! The closing lines decide the counts (disabled tests are outside them, as GoogleTest says);
//! a failing test's reason is the output between its `RUN` and `FAILED` lines. A binary that
//! dies inside a test (a segfault, an abort) never prints `ran.`: the run is cut off, keeps
//! the results seen, and the test that was running is the error, with the lines printed after
//! it (the shell's `Segmentation fault`) as its reason. `--gtest_brief=1` prints no header and
//! no `RUN` lines: a timed result line starts the run, and the output before it is the reason.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, Runner};
use crate::text::leading_number;

/// Output lines kept as a failing test's reason.
const MAX_REASON_LINES: usize = 6;

#[derive(Default)]
pub(crate) struct GtestParser {
    run: Option<GtestRun>,
    /// `--gtest_brief=1` prints a failure's output before its `[  FAILED  ]` line and no
    /// `RUN` line: the last lines from a `file:N: Failure` on, kept while idle.
    idle_output: Vec<String>,
}

struct GtestRun {
    b: RunBuilder,
    tally: Counts,
    /// `[==========] N tests … ran.` was printed.
    ran: bool,
    summary: Counts,
    /// Output of the running test, its reason if it fails.
    output: Vec<String>,
    /// `[==========] N tests from M test suites ran.`: tests that ran, skipped ones included.
    ran_total: u64,
    /// `[  PASSED  ] N tests.`
    passed_line: Option<u64>,
}

/// `[  FAILED  ] Suite.Name (0 ms)` → (`FAILED`, `Suite.Name (0 ms)`).
fn tag(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix('[')?;
    let (tag, rest) = rest.split_once(']')?;
    Some((tag.trim(), rest.trim()))
}

/// `Running 5 tests from 2 test suites.` (old releases: `test cases`), with or without the
/// `[==========]` tag (drover's line cleaner takes bracketed prefixes off).
fn running_header(t: &str) -> bool {
    let t = t.strip_prefix("[==========]").unwrap_or(t).trim_start();
    t.strip_prefix("Running ")
        .and_then(leading_number)
        .is_some_and(|(_, r)| {
            r.contains(" from ")
                && (r.ends_with(" test suites.")
                    || r.ends_with(" test suite.")
                    || r.ends_with(" test cases.")
                    || r.ends_with(" test case."))
        })
}

/// `5 tests from 2 test suites ran. (0 ms total)` → 5.
fn ran_line(t: &str) -> Option<u64> {
    let t = t.strip_prefix("[==========]").unwrap_or(t).trim_start();
    let (n, rest) = leading_number(t)?;
    (rest.starts_with(" test")
        && rest.contains(" from ")
        && (rest.ends_with(" ran.") || rest.contains(" ran. (")))
    .then_some(n)
}

/// `Suite.Name (0 ms)` → `Suite.Name`.
fn test_name(rest: &str) -> &str {
    rest.split(" (").next().unwrap_or(rest).trim()
}

impl GtestRun {
    fn new(line_no: u64) -> Self {
        GtestRun {
            b: RunBuilder::new(Runner::Gtest, line_no),
            tally: Counts::default(),
            ran: false,
            summary: Counts::default(),
            output: Vec::new(),
            ran_total: 0,
            passed_line: None,
        }
    }

    fn finish(mut self) -> Emitted {
        if self.ran {
            let mut c = self.summary;
            c.passed = self.passed_line.unwrap_or_else(|| {
                self.ran_total
                    .saturating_sub(c.skipped)
                    .saturating_sub(c.failed)
            });
            return self.b.finish_by_summary(Some(c), self.tally, None);
        }
        if let Some(name) = self.b.running.clone() {
            // Died inside a test: what followed its RUN line says how.
            let reason = self.output.join("\n");
            self.b.push_failure(&name, Some(&reason), None);
        }
        self.b.finish_by_summary(None, self.tally, None)
    }
}

impl RunParser for GtestParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.ran => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        self.idle_output.clear();
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let parsed = tag(t);
        let Some(run) = self.run.as_mut() else {
            // `[  FAILED  ] Suite.Name (0 ms)` with its timing: a result, not a list entry.
            if let Some(("FAILED" | "OK", rest)) = parsed
                && rest.ends_with(" ms)")
            {
                let mut run = GtestRun::new(ctx.line_no);
                run.output = std::mem::take(&mut self.idle_output);
                self.run = Some(run);
                return self.feed(line, ctx, out);
            }
            if t.ends_with(": Failure") {
                self.idle_output.clear();
            }
            if !t.is_empty() && (t.ends_with(": Failure") || !self.idle_output.is_empty()) {
                if self.idle_output.len() < MAX_REASON_LINES {
                    self.idle_output.push(t.to_owned());
                } else {
                    self.idle_output.clear();
                }
            }
            if running_header(t) {
                self.run = Some(GtestRun::new(ctx.line_no));
                return Claim::Mine;
            }
            return match parsed {
                Some(("RUN", name)) => {
                    let mut run = GtestRun::new(ctx.line_no);
                    run.b.set_running(test_name(name));
                    self.run = Some(run);
                    Claim::Mine
                }
                _ => Claim::NotMine,
            };
        };
        if let Some(n) = ran_line(t) {
            run.ran = true;
            run.b.running = None;
            run.ran_total = n;
            return Claim::Mine;
        }
        let Some((tag, rest)) = parsed else {
            if run.ran {
                // ` 2 FAILED TESTS`, `  YOU HAVE 1 DISABLED TEST`: GoogleTest's last lines.
                if t.ends_with("FAILED TESTS")
                    || t.ends_with("FAILED TEST")
                    || t.starts_with("YOU HAVE ")
                    || t.is_empty()
                {
                    return Claim::Mine;
                }
                if let Some(run) = self.run.take() {
                    out.push(run.finish());
                }
                return Claim::NotMine;
            }
            if !t.is_empty() && run.output.len() < MAX_REASON_LINES {
                run.output.push(t.to_owned());
            }
            return if t.is_empty() {
                Claim::Mine
            } else {
                Claim::Weak
            };
        };
        match tag {
            "RUN" => {
                run.b.set_running(test_name(rest));
                run.output.clear();
            }
            "OK" if !run.ran => {
                run.b.running = None;
                run.tally.passed += 1;
                run.output.clear();
            }
            "SKIPPED" if !run.ran => {
                run.b.running = None;
                run.tally.skipped += 1;
                run.output.clear();
            }
            "FAILED" if !run.ran => {
                run.b.running = None;
                run.tally.failed += 1;
                let reason = run
                    .output
                    .iter()
                    .filter(|l| !l.ends_with(": Failure") && *l != "unknown file: Failure")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n");
                let location = run
                    .output
                    .iter()
                    .find_map(|l| l.strip_suffix(": Failure"))
                    .filter(|l| *l != "unknown file")
                    .map(str::to_owned);
                run.b
                    .push_failure(test_name(rest), Some(&reason), location.as_deref());
                run.output.clear();
            }
            "PASSED" | "SKIPPED" | "FAILED" if run.ran => {
                // `[  FAILED  ] 2 tests, listed below:`; the list entries carry no number.
                if let Some((n, _)) = leading_number(rest) {
                    match tag {
                        "PASSED" => run.passed_line = Some(n),
                        "SKIPPED" => run.summary.skipped = n,
                        _ => run.summary.failed = n,
                    }
                }
            }
            "DISABLED" | "----------" => {}
            _ => return Claim::Weak,
        }
        Claim::Mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_mode_starts_at_a_timed_result_with_the_output_before_it() {
        let log = [
            "Running main() from gtest_main.cc",
            "gt.cpp:6: Failure",
            "Expected equality of these values:",
            "    Which is: 10",
            "[  FAILED  ] ClampTest.Above (0 ms)",
            "[==========] 2 tests from 1 test suite ran. (0 ms total)",
            "[  PASSED  ] 1 test.",
        ];
        let mut p = GtestParser::default();
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
        assert!(
            r.failures[0]
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("Which is: 10")
        );
        assert_eq!(r.failures[0].location.as_deref(), Some("gt.cpp:6"));
    }

    #[test]
    fn tags_and_names() {
        assert_eq!(
            tag("[  FAILED  ] ClampTest.Above (0 ms)"),
            Some(("FAILED", "ClampTest.Above (0 ms)"))
        );
        assert_eq!(test_name("ClampTest.Above (0 ms)"), "ClampTest.Above");
        assert_eq!(tag("plain"), None);
        assert!(running_header("Running 5 tests from 2 test suites."));
        assert!(running_header(
            "[==========] Running 1 test from 1 test suite."
        ));
        assert!(!running_header("Running 5 tests"));
        assert_eq!(
            ran_line("5 tests from 2 test suites ran. (0 ms total)"),
            Some(5)
        );
        assert_eq!(ran_line("5 tests from 2 test suites"), None);
    }
}
