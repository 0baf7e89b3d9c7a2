//! Zig's test output. `zig test`: `1/3 test.add... OK`, `2/3 test.sub... FAIL
//! (TestUnexpectedResult)` (its error trace follows), `3/3 test.x... SKIP`, then `N passed; M
//! skipped; K failed.` or `All N tests passed.`. `zig build test`: nothing on success unless
//! `--summary`, and on failure `run test: error: 'test.name' failed: <trace>` and `Build
//! Summary: 1/3 steps succeeded; 1 failed; 0/1 tests passed; 1 failed[; 1 skipped]`.
//!
//! The closing line decides the counts; a failing test is named as zig names it
//! (`test.sub`), its reason is its error name or the first lines of its trace.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, Runner};
use crate::text::leading_number;

/// Trace lines kept as a failure's reason.
const MAX_REASON_LINES: usize = 4;

#[derive(Default)]
pub(crate) struct ZigParser {
    run: Option<ZigRun>,
}

struct ZigRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    /// The failure whose trace is being read, and the lines read.
    trace: Option<(usize, usize)>,
}

/// `2/3 test.sub... FAIL (TestUnexpectedResult)` → (name, status).
fn result_line(t: &str) -> Option<(&str, &str)> {
    let (_, rest) = leading_number(t)?;
    let rest = rest.strip_prefix('/')?;
    let (_, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(' ')?;
    let (name, status) = rest.split_once("... ")?;
    (name.starts_with("test") && !name.is_empty()).then_some((name, status.trim()))
}

/// `2 passed; 0 skipped; 1 failed.` / `All 4 tests passed.` / `Build Summary: …; 0/1 tests
/// passed; 1 failed` → counts.
fn summary(t: &str) -> Option<Counts> {
    if let Some(rest) = t.strip_prefix("All ") {
        let (n, rest) = leading_number(rest)?;
        return matches!(rest, " tests passed." | " test passed.").then_some(Counts {
            passed: n,
            ..Counts::default()
        });
    }
    if let Some(rest) = t.strip_prefix("Build Summary: ") {
        // `…; 0/1 tests passed; 1 failed[; 1 skipped]` after the step counts.
        let (_, tests) = rest.split_once(" steps succeeded")?;
        let mut c = Counts::default();
        let mut seen = false;
        for part in tests.split("; ").skip(1) {
            if let Some((passed, _)) = part.split_once(" tests passed") {
                let (p, _) = leading_number(passed.trim())?;
                c.passed = p;
                seen = true;
            } else if seen && let Some((n, w)) = leading_number(part.trim()) {
                match w.trim() {
                    "failed" => c.failed = n,
                    "skipped" => c.skipped = n,
                    _ => {}
                }
            }
        }
        return seen.then_some(c);
    }
    let body = t.strip_suffix('.')?;
    let mut c = Counts::default();
    let mut words = 0;
    for part in body.split("; ") {
        let (n, w) = leading_number(part)?;
        match w.trim() {
            "passed" => c.passed = n,
            "skipped" => c.skipped = n,
            "failed" => c.failed = n,
            "leaked" => {}
            _ => return None,
        }
        words += 1;
    }
    (words >= 2).then_some(c)
}

/// `run test: error: 'test.sign and verify' failed: <location and trace>` → (name, rest).
fn build_failure(t: &str) -> Option<(&str, &str)> {
    let (_, rest) = t.split_once(": error: '")?;
    let (name, rest) = rest.split_once("' failed")?;
    Some((name, rest.trim_start_matches(':').trim()))
}

impl ZigRun {
    fn new(line_no: u64) -> Self {
        ZigRun {
            b: RunBuilder::new(Runner::Zig, line_no),
            tally: Counts::default(),
            summary: None,
            trace: None,
        }
    }

    fn result(&mut self, name: &str, status: &str) {
        self.trace = None;
        if status.starts_with("OK") {
            self.tally.passed += 1;
        } else if status.starts_with("SKIP") {
            self.tally.skipped += 1;
        } else {
            self.tally.failed += 1;
            let reason = status
                .strip_prefix("FAIL (")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or(status);
            if let Some(i) = self.b.push_failure(name, Some(reason), None) {
                self.trace = Some((i, 0));
            }
        }
    }

    fn finish(self) -> Emitted {
        self.b.finish_by_summary(self.summary, self.tally, None)
    }
}

impl RunParser for ZigParser {
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
        let t = line.trim();
        let Some(run) = self.run.as_mut() else {
            if let Some((name, status)) = result_line(t) {
                let mut run = ZigRun::new(ctx.line_no);
                run.result(name, status);
                self.run = Some(run);
                return Claim::Mine;
            }
            if let Some((name, rest)) = build_failure(t) {
                let mut run = ZigRun::new(ctx.line_no);
                if let Some(i) = run.b.push_failure(name, Some(rest), None) {
                    run.trace = Some((i, 0));
                }
                run.tally.failed += 1;
                self.run = Some(run);
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some(c) = summary(t)
            {
                let mut run = ZigRun::new(ctx.line_no);
                run.summary = Some(c);
                self.run = Some(run);
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        if run.summary.is_some() {
            // `test transitive failure` / `└─ run test 0/1 passed, 1 failed`: the build
            // summary's tree.
            if t.is_empty()
                || t.starts_with("test ")
                || t.starts_with("└─")
                || t.starts_with("├─")
                || t.starts_with("error: the following build command failed")
            {
                return Claim::Mine;
            }
            if let Some(run) = self.run.take() {
                out.push(run.finish());
            }
            return Claim::NotMine;
        }
        if let Some(c) = summary(t) {
            run.summary = Some(c);
            run.trace = None;
            return Claim::Mine;
        }
        if let Some((name, status)) = result_line(t) {
            run.result(name, status);
            return Claim::Mine;
        }
        if let Some((name, rest)) = build_failure(t) {
            if run.b.failure_index(name).is_none() {
                run.tally.failed += 1;
                if let Some(i) = run.b.push_failure(name, Some(rest), None) {
                    run.trace = Some((i, 0));
                }
            }
            return Claim::Mine;
        }
        if let Some((i, n)) = run.trace
            && !t.is_empty()
            && n < MAX_REASON_LINES
        {
            run.b.append_reason(i, t);
            run.trace = Some((i, n + 1));
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
    fn zig_summaries() {
        let c = summary("2 passed; 0 skipped; 1 failed.").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (2, 1, 0));
        assert_eq!(summary("All 4 tests passed.").map(|c| c.passed), Some(4));
        let c = summary("Build Summary: 1/3 steps succeeded; 1 failed; 0/1 tests passed; 1 failed")
            .unwrap();
        assert_eq!((c.passed, c.failed), (0, 1));
        assert!(summary("Build Summary: 3/3 steps succeeded").is_none());
        assert!(summary("3 passed, 1 failed.").is_none());
        assert_eq!(
            result_line("2/3 test.sub... FAIL (TestUnexpectedResult)"),
            Some(("test.sub", "FAIL (TestUnexpectedResult)"))
        );
        assert_eq!(
            build_failure("run test: error: 'test.sign and verify' failed: /a.zig:1:2: x"),
            Some(("test.sign and verify", "/a.zig:1:2: x"))
        );
    }
}
