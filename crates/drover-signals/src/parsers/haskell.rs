//! Two Haskell summaries. test-framework's table (HUnit and QuickCheck suites under `cabal
//! test` / `stack test`): a header `Test Cases   Total` (or `Properties  Test Cases  Total`)
//! and the rows `Passed  62  62`, `Failed  0  0`, `Total  62  62`, whose last column is the
//! total over all kinds. doctest's one line: `Examples: 105  Tried: 102  Errors: 0  Failures:
//! 2` — examples not tried (doctest stops a group at its first failure) count as skipped.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::leading_number;

#[derive(Default)]
pub(crate) struct TestFrameworkParser {
    run: Option<RunBuilder>,
}

/// `Passed  62           62` → (`Passed`, 62): the row's last column.
fn row(t: &str) -> Option<(&str, u64)> {
    let mut words = t.split_whitespace();
    let label = words.next()?;
    let last = words.next_back()?;
    matches!(label, "Passed" | "Failed" | "Total")
        .then_some(())
        .and(last.parse().ok().map(|n| (label, n)))
}

impl RunParser for TestFrameworkParser {
    fn phase(&self) -> Phase {
        if self.run.is_some() {
            Phase::Running
        } else {
            Phase::Idle
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(b) = self.run.take() {
            out.push(b.finish(RunEnd::CutOff));
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let Some(b) = self.run.as_mut() else {
            let header = (t.starts_with("Test Cases") || t.starts_with("Properties"))
                && t.ends_with("Total");
            if header && !ctx.foreign_run_active {
                self.run = Some(RunBuilder::new(Runner::TestFramework, ctx.line_no));
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        match row(t) {
            Some(("Passed", n)) => b.counts.passed = n,
            Some(("Failed", n)) => b.counts.failed = n,
            Some((_, _)) => {
                if let Some(b) = self.run.take() {
                    out.push(b.finish(RunEnd::Completed));
                }
            }
            None => {
                // Not the table after all.
                self.run = None;
                return Claim::NotMine;
            }
        }
        Claim::Mine
    }
}

#[derive(Default)]
pub(crate) struct DoctestParser;

/// `Examples: 105  Tried: 102  Errors: 0  Failures: 2` → counts.
fn doctest_line(t: &str) -> Option<Counts> {
    let mut it = t.split_whitespace();
    let mut get = |label: &str| -> Option<u64> {
        (it.next()? == label).then_some(())?;
        leading_number(it.next()?).map(|(n, _)| n)
    };
    let examples = get("Examples:")?;
    let tried = get("Tried:")?;
    let errors = get("Errors:")?;
    let failures = get("Failures:")?;
    Some(Counts {
        passed: tried.saturating_sub(errors).saturating_sub(failures),
        failed: failures,
        skipped: examples.saturating_sub(tried),
        errors,
    })
}

impl RunParser for DoctestParser {
    fn phase(&self) -> Phase {
        Phase::Idle
    }

    fn interrupt(&mut self, _why: Interrupt, _out: &mut Vec<Emitted>) {}

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        if ctx.foreign_run_active {
            return Claim::NotMine;
        }
        let Some(c) = doctest_line(line.trim()) else {
            return Claim::NotMine;
        };
        let mut b = RunBuilder::new(Runner::Doctest, ctx.line_no);
        b.counts = c;
        out.push(b.finish(RunEnd::Completed));
        Claim::Mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_and_doctest_lines() {
        assert_eq!(row("Passed  62           62"), Some(("Passed", 62)));
        assert_eq!(row("Failed  0   3   3"), Some(("Failed", 3)));
        assert_eq!(row("Passed the test"), None);
        let c = doctest_line("Examples: 105  Tried: 102  Errors: 0  Failures: 2").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped, c.errors), (100, 2, 3, 0));
        assert!(doctest_line("Examples: many").is_none());
    }
}
