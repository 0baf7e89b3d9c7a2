//! XCTest (`swift test`, `xcodebuild test`): `Test Suite 'All tests' started at …`, per test
//! `Test Case '-[Module.Class testX]' started.` / `… passed (0.001 seconds).` / `… failed
//! (0.002 seconds).` / `… skipped (…)`, failure lines `path.swift:12: error: -[Module.Class
//! testX] : XCTAssertEqual failed: ("1") is not equal to ("2")`, and after each suite
//! `Executed N tests, with [S tests skipped and ]F failures (U unexpected) in 0.2 (0.2)
//! seconds`.
//!
//! Suites nest and each prints its own `Executed` line, the outermost last: the last one read
//! decides the counts (`unexpected` failures are thrown errors, counted among the failures).

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, Runner};
use crate::text::leading_number;

#[derive(Default)]
pub(crate) struct XctestParser {
    run: Option<XctestRun>,
}

struct XctestRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    /// The outermost suite (`All tests`, `Selected tests`, `*.xctest`) has finished.
    done: bool,
}

/// `Executed 24 tests, with 2 tests skipped and 5 failures (0 unexpected) in …` → counts.
fn executed(t: &str) -> Option<Counts> {
    let rest = t.strip_prefix("Executed ")?;
    let (total, rest) = leading_number(rest)?;
    let rest = rest
        .strip_prefix(" tests, with ")
        .or_else(|| rest.strip_prefix(" test, with "))?;
    let (skipped, rest) = match rest.split_once(" skipped and ") {
        Some((s, r)) => (leading_number(s)?.0, r),
        None => (0, rest),
    };
    let (failures, rest) = leading_number(rest)?;
    rest.trim_start().starts_with("failure").then_some(Counts {
        passed: total.saturating_sub(skipped).saturating_sub(failures),
        failed: failures,
        skipped,
        errors: 0,
    })
}

/// `Test Case '-[Mod.Class testX]' failed (0.002 seconds).` → (name, outcome).
fn test_case(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix("Test Case '")?;
    let (name, rest) = rest.split_once("' ")?;
    let outcome = rest.split([' ', '.']).next()?;
    Some((name, outcome))
}

impl RunParser for XctestParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.done => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.b.finish_by_summary(run.summary, run.tally, None));
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let suite = t.starts_with("Test Suite '")
            && (t.contains("' started at ")
                || t.contains("' passed at ")
                || t.contains("' failed at "));
        let run = match self.run.as_mut() {
            Some(run) => run,
            None => {
                if !(suite || test_case(t).is_some()) {
                    return Claim::NotMine;
                }
                self.run.insert(XctestRun {
                    b: RunBuilder::new(Runner::Xctest, ctx.line_no),
                    tally: Counts::default(),
                    summary: None,
                    done: false,
                })
            }
        };
        if let Some(c) = executed(t) {
            run.summary = Some(c);
            return Claim::Mine;
        }
        if suite {
            let outer = ["'All tests'", "'Selected tests'"]
                .iter()
                .any(|n| t.contains(n));
            if outer && !t.contains("' started at ") {
                run.done = true;
            } else if run.done {
                // A new outermost suite: the next invocation.
                if let Some(prev) = self.run.take() {
                    out.push(prev.b.finish_by_summary(prev.summary, prev.tally, None));
                }
                return Claim::NotMine;
            }
            return Claim::Mine;
        }
        if let Some((name, outcome)) = test_case(t) {
            match outcome {
                "passed" => run.tally.passed += 1,
                "skipped" => run.tally.skipped += 1,
                "failed" => {
                    run.tally.failed += 1;
                    run.b.failure_or_push(name);
                }
                _ => run.b.set_running(name),
            }
            return Claim::Mine;
        }
        // `/path/FooTests.swift:12: error: -[Mod.Class testX] : XCTAssertEqual failed: …`.
        if let Some((_, rest)) = t.split_once(": error: ")
            && let Some((name, msg)) = rest.split_once(" : ")
        {
            if let Some(i) = run.b.failure_or_push(name.trim()) {
                run.b.set_reason_if_none(i, msg);
            }
            return Claim::Mine;
        }
        if run.done && !t.is_empty() {
            if let Some(run) = self.run.take() {
                out.push(run.b.finish_by_summary(run.summary, run.tally, None));
            }
            return Claim::NotMine;
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
    fn the_executed_line_counts_skips_and_failures() {
        let c = executed(
            "Executed 24 tests, with 2 tests skipped and 5 failures (0 unexpected) in 197.131 (197.131) seconds",
        )
        .unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (17, 5, 2));
        let c = executed("Executed 3 tests, with 0 failures (0 unexpected) in 0.01 (0.02) seconds")
            .unwrap();
        assert_eq!((c.passed, c.failed), (3, 0));
        assert!(executed("Executed the plan").is_none());
    }
}
