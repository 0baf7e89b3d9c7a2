//! Gradle's test task output: `> Task :test FAILED` (`:test FAILED` in Gradle < 4), per failing
//! test `pkg.Class > method FAILED` with the exception indented under it (`PASSED`/`SKIPPED`
//! lines when the build logs them), then `N tests completed, F failed[, S skipped]`, and on
//! failure `Execution failed for task ':test'.` with `> reason` under it.
//!
//! The `tests completed` line decides the counts: passed = N − F − S. Gradle prints no count
//! when every test passed, so a passing task alone is not read as a run (its per-test lines,
//! when the build logs them, are counted up to `BUILD SUCCESSFUL`). A test task that
//! failed without running its tests — the test JVM died (`Process 'Gradle Test Executor 7'
//! finished with non-zero exit value`), or a filter matched nothing — is one error named after
//! the task, with Gradle's reason.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::leading_number;

const MAX_REASON_LINES: u8 = 3;

#[derive(Default)]
pub(crate) struct GradleParser {
    run: Option<GradleRun>,
}

struct GradleRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    detail: Option<usize>,
    reason_lines: u8,
    /// `Execution failed for task 'X'.` was read: its `> reason` follows.
    failed_task: Option<String>,
    broken: Option<RunEnd>,
}

impl GradleRun {
    fn new(line_no: u64) -> Self {
        GradleRun {
            b: RunBuilder::new(Runner::Gradle, line_no),
            tally: Counts::default(),
            summary: None,
            detail: None,
            reason_lines: 0,
            failed_task: None,
            broken: None,
        }
    }

    fn finish(self) -> Emitted {
        self.b
            .finish_by_summary(self.summary, self.tally, self.broken)
    }
}

/// Removes a CI timestamp written as `2015-12-10T06:14:19.408Z: `.
fn strip_colon_timestamp(t: &str) -> &str {
    let b = t.as_bytes();
    if b.len() > 20
        && b.get(4) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && let Some(i) = t.find("Z: ")
        && i < 32
    {
        return t.get(i + 3..).unwrap_or(t);
    }
    t
}

/// `57 tests completed, 4 failed, 2 skipped`.
fn completed(t: &str) -> Option<Counts> {
    let (n, rest) = leading_number(t)?;
    let rest = rest
        .strip_prefix(" tests completed")
        .or_else(|| rest.strip_prefix(" test completed"))?;
    let mut c = Counts::default();
    for item in rest.split(',').skip(1) {
        let (v, word) = crate::text::count_item(item)?;
        match word {
            "failed" => c.failed = v,
            "skipped" => c.skipped = v,
            _ => return None,
        }
    }
    c.passed = n.saturating_sub(c.failed).saturating_sub(c.skipped);
    Some(c)
}

/// `pkg.Class > method FAILED` → (`pkg.Class > method`, `FAILED`).
fn test_line(t: &str) -> Option<(&str, &str)> {
    let (name, status) = t.rsplit_once(' ')?;
    if !matches!(status, "FAILED" | "PASSED" | "SKIPPED") || !name.contains(" > ") {
        return None;
    }
    Some((name.trim(), status))
}

/// `> Task :app:test FAILED` / `:lint:test FAILED` → the task path, when it is a test task.
fn failed_test_task(t: &str) -> Option<&str> {
    let task = t.strip_prefix("> Task ").unwrap_or(t);
    let task = task.strip_suffix(" FAILED")?;
    let last = task.rsplit(':').next()?;
    (task.starts_with(':') && last.to_ascii_lowercase().contains("test")).then_some(task)
}

impl RunParser for GradleParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() || r.broken.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, _out: &mut Vec<Emitted>) -> Claim {
        let t = strip_colon_timestamp(line.trim()).trim();
        let Some(run) = self.run.as_mut() else {
            if failed_test_task(t).is_some() {
                self.run = Some(GradleRun::new(ctx.line_no));
                return Claim::Mine;
            }
            if let Some((name, status)) = test_line(t) {
                let mut run = GradleRun::new(ctx.line_no);
                match status {
                    "FAILED" => {
                        run.tally.failed += 1;
                        run.detail = run.b.push_failure(name, None, None);
                    }
                    "SKIPPED" => run.tally.skipped += 1,
                    _ => run.tally.passed += 1,
                }
                self.run = Some(run);
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some(c) = completed(t)
            {
                let mut run = GradleRun::new(ctx.line_no);
                run.summary = Some(c);
                self.run = Some(run);
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        if let Some(task) = run.failed_task.take()
            && let Some(reason) = t.strip_prefix("> ")
        {
            if !reason.starts_with("There were failing tests") {
                let end = if reason.starts_with("No tests found") {
                    RunEnd::NotStarted
                } else {
                    RunEnd::CutOff
                };
                run.b.push_failure(&task, Some(reason), None);
                if run.summary.is_none() {
                    run.broken = Some(end);
                }
            }
            return Claim::Mine;
        }
        if let Some(task) = t
            .strip_prefix("Execution failed for task '")
            .and_then(|r| r.strip_suffix("'."))
        {
            run.failed_task = Some(task.to_owned());
            return Claim::Mine;
        }
        if let Some(c) = completed(t) {
            if run.summary.is_none() {
                run.summary = Some(c);
            }
            run.detail = None;
            return Claim::Mine;
        }
        if let Some((name, status)) = test_line(t) {
            run.detail = None;
            match status {
                "FAILED" => {
                    run.tally.failed += 1;
                    run.detail = run.b.push_failure(name, None, None);
                    run.reason_lines = 0;
                }
                "SKIPPED" => run.tally.skipped += 1,
                _ => run.tally.passed += 1,
            }
            return Claim::Mine;
        }
        if failed_test_task(t).is_some() || t.starts_with("> Task ") {
            run.detail = None;
            return Claim::Mine;
        }
        if let Some(i) = run.detail
            && indent_of(line) >= 4
            && !t.is_empty()
        {
            if t.starts_with("at ") {
                run.detail = None;
            } else if run.reason_lines < MAX_REASON_LINES {
                if run.reason_lines == 0 {
                    run.b.set_reason_if_none(i, t);
                } else {
                    run.b.append_reason(i, t);
                }
                run.reason_lines += 1;
            }
            return Claim::Mine;
        }
        if t.starts_with("BUILD SUCCESSFUL") && run.summary.is_none() && run.broken.is_none() {
            // Gradle prints its count only when a test failed: a build that succeeded after
            // logging its tests (`PASSED`/`SKIPPED` events) completed with that tally.
            run.summary = Some(run.tally);
            return Claim::Mine;
        }
        if t.is_empty()
            || t.starts_with("FAILURE: Build failed")
            || t.starts_with("* What went wrong")
            || t.starts_with("* Try")
            || t.starts_with("* Get more help")
            || t.starts_with("BUILD FAILED")
            || t.starts_with("BUILD SUCCESSFUL")
            || t.contains("actionable task")
        {
            return Claim::Mine;
        }
        Claim::Weak
    }
}

fn indent_of(line: &str) -> usize {
    crate::text::indent(strip_colon_timestamp(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let c = completed("4 tests completed, 2 failed").unwrap();
        assert_eq!((c.passed, c.failed), (2, 2));
        let c = completed("1 test completed, 1 failed").unwrap();
        assert_eq!((c.passed, c.failed), (0, 1));
        assert_eq!(failed_test_task(":lint:test FAILED"), Some(":lint:test"));
        assert_eq!(failed_test_task("> Task :compileJava FAILED"), None);
        assert_eq!(test_line("a.B > c FAILED"), Some(("a.B > c", "FAILED")));
        assert_eq!(
            strip_colon_timestamp("2015-12-10T06:14:19.408Z: 57 tests completed, 4 failed"),
            "57 tests completed, 4 failed"
        );
    }

    /// With `testLogging { events "passed" }` a passing task prints its tests and no count.
    #[test]
    fn logged_passes_complete_at_build_successful() {
        let mut p = GradleParser::default();
        let mut out = Vec::new();
        let lines = [
            "a.CartTest > addsItems PASSED",
            "a.CartTest > computesTotal PASSED",
            "a.CartTest > discount SKIPPED",
            "",
            "BUILD SUCCESSFUL in 3s",
        ];
        for (i, l) in lines.iter().enumerate() {
            let ctx = LineCtx {
                line_no: i as u64 + 1,
                foreign_run_active: false,
            };
            p.feed(l, &ctx, &mut out);
        }
        p.interrupt(Interrupt::EndOfStream, &mut out);
        let run = &out[0].run;
        assert_eq!(
            (run.passed, run.skipped, run.verdict.as_str()),
            (2, 1, "pass")
        );
    }
}
