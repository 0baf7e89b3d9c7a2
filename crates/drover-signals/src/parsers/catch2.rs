//! Catch2's console reporter (v2 and v3): a `~~~~` rule and `x is a Catch v2.13.10 host
//! application.` (v3: `Randomness seeded to: N`), one block per failing test case (a `----`
//! rule, the test case name and its section names, a `----` rule, `file.cpp:12`, a `....`
//! rule, then `file.cpp:14: FAILED:` and the expression, expansion or exception message), then
//! a `====` rule and the summary: `test cases: 3 | 1 passed | 2 failed` (`| N skipped` in v3;
//! `test cases: 2 | 2 failed` when all failed), `assertions: …`, or `All tests passed (4
//! assertions in 2 test cases)`, or `No tests ran`.
//!
//! The compact reporter (`-r compact`) prints `file:line: failed: expr for: 5 == 6` and only
//! `Failed 2 test cases, failed 2 assertions.`: the failed count, no passes, no names.
//!
//! The `test cases:` line decides (assertions are not tests). A failing test case is named by
//! its first line in the block, its reason is what follows `FAILED:`.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, Runner};
use crate::text::leading_number;

/// Lines of a failure's detail kept as its reason.
const MAX_REASON_LINES: usize = 6;

#[derive(Default)]
pub(crate) struct Catch2Parser {
    run: Option<Catch2Run>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Between blocks.
    None,
    /// After the opening `----` rule: the next line names the test case.
    Name,
    /// Section names, until the closing `----` rule.
    Sections,
    /// The location and `....` rule, up to `file.cpp:14: FAILED:`.
    Detail,
    /// The failure detail: the expression, its expansion, the exception message.
    Failed,
}

struct Catch2Run {
    b: RunBuilder,
    summary: Option<Counts>,
    block: Block,
    current: Option<usize>,
    reason: Vec<String>,
}

fn rule(t: &str, ch: char) -> bool {
    t.len() >= 40 && t.chars().all(|c| c == ch)
}

/// `test cases: 3 | 1 passed | 2 failed [| 1 skipped]` → counts.
fn test_cases(t: &str) -> Option<Counts> {
    let rest = t.strip_prefix("test cases:")?;
    let mut parts = rest.split('|');
    let (total, _) = leading_number(parts.next()?.trim())?;
    let mut c = Counts::default();
    for p in parts {
        let (n, word) = leading_number(p.trim())?;
        match word.trim() {
            "passed" => c.passed = n,
            "failed" => c.failed = n,
            "skipped" => c.skipped = n,
            "failed as expected" => c.passed += n,
            _ => {}
        }
    }
    // `test cases: 2 | 2 failed` leaves out the zero; `total` covers the rest.
    if c.passed == 0 {
        c.passed = total.saturating_sub(c.failed).saturating_sub(c.skipped);
    }
    Some(c)
}

/// The compact reporter's last line: `Failed 2 test cases, failed 2 assertions.` (the passed
/// cases are not counted there) / `Passed 1 test case with 1 assertion.` / `Passed all 3 test
/// cases with 7 assertions.`
fn compact_summary(t: &str) -> Option<Counts> {
    if let Some(rest) = t.strip_prefix("Failed ") {
        let (n, rest) = leading_number(rest)?;
        return rest.starts_with(" test case").then_some(Counts {
            failed: n,
            ..Counts::default()
        });
    }
    let rest = t.strip_prefix("Passed ")?;
    let rest = rest.strip_prefix("all ").unwrap_or(rest);
    let (n, rest) = leading_number(rest)?;
    rest.starts_with(" test case").then_some(Counts {
        passed: n,
        ..Counts::default()
    })
}

/// `All tests passed (4 assertions in 2 test cases)` → 2.
fn all_passed(t: &str) -> Option<u64> {
    let rest = t.strip_prefix("All tests passed (")?;
    let (_, rest) = rest.split_once(" in ")?;
    let (n, word) = leading_number(rest)?;
    word.trim_start().starts_with("test case").then_some(n)
}

impl Catch2Run {
    fn new(line_no: u64) -> Self {
        Catch2Run {
            b: RunBuilder::new(Runner::Catch2, line_no),
            summary: None,
            block: Block::None,
            current: None,
            reason: Vec::new(),
        }
    }

    fn close_failure(&mut self) {
        if let Some(i) = self.current.take()
            && !self.reason.is_empty()
        {
            let reason = self.reason.join("\n");
            self.b.set_reason_if_none(i, &reason);
        }
        self.reason.clear();
    }

    fn finish(mut self) -> Emitted {
        self.close_failure();
        let tally = Counts {
            failed: self.b.failures.len() as u64,
            ..Counts::default()
        };
        self.b.finish_by_summary(self.summary, tally, None)
    }
}

impl RunParser for Catch2Parser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim_end();
        let Some(run) = self.run.as_mut() else {
            let header = t.contains(" is a Catch v") && t.ends_with(" host application.")
                || t.starts_with("Randomness seeded to: ");
            if header {
                self.run = Some(Catch2Run::new(ctx.line_no));
                return Claim::Mine;
            }
            if ctx.foreign_run_active {
                return Claim::NotMine;
            }
            let summary = test_cases(t).or_else(|| compact_summary(t)).or_else(|| {
                all_passed(t).map(|n| Counts {
                    passed: n,
                    ..Counts::default()
                })
            });
            if let Some(c) = summary {
                let mut run = Catch2Run::new(ctx.line_no);
                run.summary = Some(c);
                self.run = Some(run);
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        if run.summary.is_some() {
            // `assertions: 7 | 5 passed | 2 failed` follows the test case line.
            if t.starts_with("assertions:") || t.trim().is_empty() {
                return Claim::Mine;
            }
            if let Some(run) = self.run.take() {
                out.push(run.finish());
            }
            return Claim::NotMine;
        }
        if let Some(c) = test_cases(t) {
            run.close_failure();
            run.summary = Some(c);
            return Claim::Mine;
        }
        if let Some(n) = all_passed(t) {
            run.close_failure();
            run.summary = Some(Counts {
                passed: n,
                ..Counts::default()
            });
            return Claim::Mine;
        }
        if t == "No tests ran" {
            run.summary = Some(Counts::default());
            return Claim::Mine;
        }
        if rule(t, '-') {
            run.block = match run.block {
                Block::Name | Block::Sections => Block::Detail,
                Block::Failed => {
                    run.close_failure();
                    Block::Name
                }
                _ => {
                    run.close_failure();
                    Block::Name
                }
            };
            return Claim::Mine;
        }
        if rule(t, '=') || rule(t, '~') || rule(t, '.') {
            return Claim::Mine;
        }
        match run.block {
            Block::Name if !t.trim().is_empty() => {
                run.current = run.b.failure_or_push(t.trim());
                run.block = Block::Sections;
                Claim::Mine
            }
            Block::Detail => {
                if let Some(loc) = t.strip_suffix(": FAILED:") {
                    if let Some(i) = run.current {
                        run.b.set_location_if_none(i, loc.trim());
                    }
                    run.block = Block::Failed;
                }
                Claim::Mine
            }
            Block::Failed => {
                let d = t.trim();
                if !d.is_empty() && d != "with expansion:" && run.reason.len() < MAX_REASON_LINES {
                    run.reason.push(d.to_owned());
                }
                Claim::Mine
            }
            _ => {
                if t.trim().is_empty() {
                    Claim::Mine
                } else {
                    Claim::Weak
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cases_decide_not_assertions() {
        let c = test_cases("test cases: 3 | 1 passed | 2 failed").unwrap();
        assert_eq!((c.passed, c.failed), (1, 2));
        let c = test_cases("test cases: 2 | 2 failed").unwrap();
        assert_eq!((c.passed, c.failed), (0, 2));
        let c = test_cases("test cases: 5 | 3 passed | 1 failed | 1 skipped").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (3, 1, 1));
        assert_eq!(
            all_passed("All tests passed (4 assertions in 2 test cases)"),
            Some(2)
        );
        assert_eq!(
            all_passed("All tests passed (1 assertion in 1 test case)"),
            Some(1)
        );
        assert_eq!(all_passed("All tests passed"), None);
        let c = compact_summary("Failed 2 test cases, failed 2 assertions.").unwrap();
        assert_eq!((c.passed, c.failed), (0, 2));
        let c = compact_summary("Passed all 3 test cases with 7 assertions.").unwrap();
        assert_eq!(c.passed, 3);
        assert!(compact_summary("Failed to open file").is_none());
    }
}
