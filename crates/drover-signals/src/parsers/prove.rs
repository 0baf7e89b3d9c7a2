//! Perl's `prove` (TAP::Harness), which runs TAP producers (pgTAP, Perl tests) and prints
//! per file `t/a.t .. ok`, then on failure a `Test Summary Report` with per file `t/b.t
//! (Wstat: 256 Tests: 5 Failed: 2)`, `  Failed tests:  2, 4-5` and `  Parse errors: Bad
//! plan.  You planned 4 tests but ran 5.`, then `Files=2, Tests=10, 0 wallclock secs (…)` and
//! `Result: PASS` / `Result: FAIL` (`All tests successful.` before them on success).
//!
//! `Files=…, Tests=N` and the `Failed tests` lists decide: failed = the numbers listed (ranges
//! expanded), passed = N − failed; each file with parse errors (a bad plan) is one error.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, Runner};
use crate::text::leading_number;

#[derive(Default)]
pub(crate) struct ProveParser {
    run: Option<ProveRun>,
}

struct ProveRun {
    b: RunBuilder,
    failed: u64,
    parse_errors: u64,
    tests: Option<u64>,
    done: bool,
}

/// `9, 12-15` → 5.
fn listed(list: &str) -> Option<u64> {
    let mut n = 0u64;
    for item in list.split(',') {
        let item = item.trim();
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                n = n.saturating_add(b.checked_sub(a)?.saturating_add(1));
            }
            None => {
                let _: u64 = item.parse().ok()?;
                n = n.saturating_add(1);
            }
        }
    }
    Some(n)
}

/// `Files=1, Tests=15, 47 wallclock secs (…)` → 15.
fn files_line(t: &str) -> Option<u64> {
    let rest = t.strip_prefix("Files=")?;
    let (_, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(", Tests=")?;
    leading_number(rest).map(|(n, _)| n)
}

impl ProveRun {
    fn new(line_no: u64) -> Self {
        ProveRun {
            b: RunBuilder::new(Runner::Tap, line_no),
            failed: 0,
            parse_errors: 0,
            tests: None,
            done: false,
        }
    }

    fn finish(self) -> Emitted {
        let summary = self.tests.map(|n| Counts {
            passed: n.saturating_sub(self.failed),
            failed: self.failed,
            skipped: 0,
            errors: self.parse_errors,
        });
        let tally = Counts {
            failed: self.failed,
            errors: self.parse_errors,
            ..Counts::default()
        };
        self.b.finish_by_summary(summary, tally, None)
    }

    /// A line of the summary report; true when it was one.
    fn report_line(&mut self, t: &str) -> bool {
        if let Some(list) = t.strip_prefix("Failed tests:") {
            self.failed = self.failed.saturating_add(listed(list).unwrap_or(0));
        } else if t.starts_with("Parse errors:") {
            self.parse_errors += 1;
        } else if let Some(n) = files_line(t) {
            self.tests = Some(n);
        } else if t == "Test Summary Report" || t == "All tests successful." {
        } else if t.starts_with("Result: ") {
            self.done = true;
        } else {
            return t.starts_with("---") || t.contains(" (Wstat: ");
        }
        true
    }
}

impl RunParser for ProveParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.done => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let Some(run) = self.run.as_mut() else {
            let starts = t == "Test Summary Report"
                || t.strip_prefix("Failed tests:").and_then(listed).is_some()
                || (!ctx.foreign_run_active
                    && (files_line(t).is_some() || t == "All tests successful."));
            if !starts {
                return Claim::NotMine;
            }
            let mut run = ProveRun::new(ctx.line_no);
            run.report_line(t);
            self.run = Some(run);
            return Claim::Mine;
        };
        if run.done {
            if let Some(run) = self.run.take() {
                out.push(run.finish());
            }
            return Claim::NotMine;
        }
        if run.report_line(t) {
            return Claim::Mine;
        }
        if t.is_empty() {
            Claim::Mine
        } else {
            Claim::Weak
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_lists_expand_ranges() {
        assert_eq!(listed(" 9, 12-15"), Some(5));
        assert_eq!(listed("2"), Some(1));
        assert_eq!(listed("a, b"), None);
        assert_eq!(
            files_line("Files=1, Tests=15, 47 wallclock secs ( 0.03 usr )"),
            Some(15)
        );
    }
}
