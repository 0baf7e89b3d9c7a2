//! `dotnet test` through the VSTest console: `Starting test execution, please wait...`,
//! per test `  Passed Name [1 ms]` / `  Failed Name [12 ms]` / `  Skipped Name [< 1 ms]` with
//! `  Error Message:` and `  Stack Trace:` under a failure, then one summary per test assembly:
//! `Passed!  - Failed: 0, Passed: 7, Skipped: 0, Total: 7, Duration: 28 s - X.dll (net8.0)`
//! (`Failed!` when a test failed), or, from older SDKs, `Test Run Failed.` / `Test Run
//! Successful.` followed by `Total tests:`, `Passed:`, `Failed:`, `Skipped:` and `Total time:`
//! lines (or all of it on one `Total tests: N. Passed: N. Failed: N. Skipped: N.` line).
//!
//! The summary decides the counts; the `Failed Name` lines before it name the failures, with
//! the first line under `Error Message:` as reason. `Test Run Aborted.` or a crashed test host
//! ends the run as an error keeping what passed and failed before it.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{labelled_counts, leading_number};

#[derive(Default)]
pub(crate) struct DotnetParser {
    run: Option<DotnetRun>,
}

struct DotnetRun {
    b: RunBuilder,
    tally: Counts,
    /// Reading the multi-line summary of older SDKs.
    old_summary: Option<Counts>,
    done: bool,
    /// The failure whose `Error Message:` is expected / being read.
    detail: Option<usize>,
    in_message: bool,
    aborted: bool,
}

impl DotnetRun {
    fn new(line_no: u64) -> Self {
        DotnetRun {
            b: RunBuilder::new(Runner::DotnetTest, line_no),
            tally: Counts::default(),
            old_summary: None,
            done: false,
            detail: None,
            in_message: false,
            aborted: false,
        }
    }

    fn finish(mut self) -> Emitted {
        if let Some(c) = self.old_summary.take() {
            self.b.counts = c;
            return self.b.finish(RunEnd::Completed);
        }
        if self.done {
            return self.b.finish(RunEnd::Completed);
        }
        self.b.counts = self.tally;
        if self.aborted {
            self.b.counts.errors += 1;
            self.b.crash_recorded = true;
        }
        self.b.finish(RunEnd::CutOff)
    }
}

/// `Passed!  - Failed:     0, Passed:     7, Skipped:     0, Total:     7, Duration: …`.
fn one_line_summary(t: &str) -> Option<Counts> {
    let rest = t
        .strip_prefix("Passed!")
        .or_else(|| t.strip_prefix("Failed!"))?
        .trim_start()
        .strip_prefix("- ")?;
    let mut c = Counts::default();
    let mut seen_total = false;
    for (key, n) in labelled_counts(rest, ",") {
        match key {
            "Failed" => c.failed = n,
            "Passed" => c.passed = n,
            "Skipped" => c.skipped = n,
            "Total" => seen_total = true,
            _ => {}
        }
    }
    seen_total.then_some(c)
}

/// `Total tests: 39. Passed: 33. Failed: 4. Skipped: 2.` (VSTest 15).
fn dotted_summary(t: &str) -> Option<Counts> {
    let rest = t.strip_prefix("Total tests:")?;
    if !rest.contains(". Passed:") {
        return None;
    }
    let mut c = Counts::default();
    for item in rest.split(". ") {
        if let Some((key, value)) = item.split_once(':')
            && let Some((n, _)) = leading_number(value.trim())
        {
            match key.trim() {
                "Passed" => c.passed = n,
                "Failed" => c.failed = n,
                "Skipped" => c.skipped = n,
                _ => {}
            }
        }
    }
    Some(c)
}

/// `Failed Name [12 ms]` → `Name`; the bracket is optional in older SDKs.
fn result_name<'a>(t: &'a str, word: &str) -> Option<&'a str> {
    let rest = t.strip_prefix(word)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let rest = rest.trim();
    let name = match rest.rsplit_once(" [") {
        Some((n, d)) if d.ends_with(']') => n,
        _ => rest,
    };
    (!name.is_empty() && !name.contains(": ")).then_some(name)
}

/// `Microsoft.DotNet.Tests.Given.It_works` or `A.B.Theory(x: 1)`: dotted, no spaces before any
/// argument list.
fn looks_like_test_name(name: &str) -> bool {
    let head = name.split('(').next().unwrap_or(name);
    head.contains('.')
        && !head.contains(' ')
        && !head.ends_with('.')
        && head.starts_with(|c: char| c.is_ascii_alphabetic())
}

impl RunParser for DotnetParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.done || r.old_summary.is_some() => Phase::Settling,
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
        if self.run.as_ref().is_some_and(|r| r.done) {
            // VSTest 15 prints its verdict and time after the counts.
            if t == "Test Run Failed."
                || t == "Test Run Successful."
                || t.starts_with("Test execution time:")
            {
                return Claim::Mine;
            }
            // One summary per assembly: a run ends at its summary line.
            if let Some(run) = self.run.take() {
                out.push(run.finish());
            }
        }
        let Some(run) = self.run.as_mut() else {
            if t.starts_with("Starting test execution, please wait")
                || (t.starts_with("Test run for ") && t.contains(".dll"))
            {
                self.run = Some(DotnetRun::new(ctx.line_no));
                return Claim::Mine;
            }
            // A result line names a .NET test (`Namespace.Class.Method`) before any header when
            // the log starts mid-run.
            if let Some(name) = result_name(t, "Failed")
                && looks_like_test_name(name)
            {
                let mut run = DotnetRun::new(ctx.line_no);
                run.tally.failed += 1;
                run.detail = run.b.push_failure(name, None, None);
                self.run = Some(run);
                return Claim::Mine;
            }
            if ctx.foreign_run_active {
                return Claim::NotMine;
            }
            if let Some(c) = one_line_summary(t).or_else(|| dotted_summary(t)) {
                let mut run = DotnetRun::new(ctx.line_no);
                run.b.counts = c;
                run.done = true;
                self.run = Some(run);
                return Claim::Mine;
            }
            if t == "Test Run Failed." || t == "Test Run Successful." {
                let mut run = DotnetRun::new(ctx.line_no);
                run.old_summary = Some(Counts::default());
                self.run = Some(run);
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        if let Some(c) = run.old_summary.as_mut() {
            let Some((key, value)) = t.split_once(':') else {
                return Claim::NotMine;
            };
            let n = leading_number(value.trim()).map(|(n, _)| n);
            match (key.trim(), n) {
                ("Total tests", Some(_)) => {}
                ("Passed", Some(n)) => c.passed = n,
                ("Failed", Some(n)) => c.failed = n,
                ("Skipped", Some(n)) => c.skipped = n,
                ("Total time", _) => {
                    run.done = true;
                    let counts = *c;
                    run.old_summary = None;
                    run.b.counts = counts;
                }
                _ => return Claim::NotMine,
            }
            return Claim::Mine;
        }
        if let Some(c) = one_line_summary(t).or_else(|| dotted_summary(t)) {
            run.b.counts = c;
            run.done = true;
            return Claim::Mine;
        }
        if t == "Test Run Failed." || t == "Test Run Successful." {
            run.old_summary = Some(Counts::default());
            return Claim::Mine;
        }
        if t.starts_with("Test Run Aborted")
            || t.starts_with("The active test run was aborted")
            || t.contains("Test host process crashed")
        {
            if !run.aborted {
                run.aborted = true;
                let i = run.b.push_failure("(test host)", Some(t), None);
                run.detail = i;
            }
            return Claim::Mine;
        }
        if t == "Error Message:" {
            run.in_message = run.detail.is_some();
            return Claim::Mine;
        }
        if t == "Stack Trace:" || t.starts_with("Standard Output Messages:") {
            run.in_message = false;
            return Claim::Mine;
        }
        if let Some(name) = result_name(t, "Failed") {
            run.tally.failed += 1;
            run.detail = run.b.push_failure(name, None, None);
            run.in_message = false;
            return Claim::Mine;
        }
        if result_name(t, "Passed").is_some() {
            run.tally.passed += 1;
            run.detail = None;
            return Claim::Mine;
        }
        if result_name(t, "Skipped").is_some() {
            run.tally.skipped += 1;
            run.detail = None;
            return Claim::Mine;
        }
        if run.in_message
            && let Some(i) = run.detail
            && !t.is_empty()
        {
            if run.b.has_reason(i) {
                run.b.append_reason(i, t);
            } else {
                run.b.set_reason_if_none(i, t);
            }
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
    fn summaries() {
        let c = one_line_summary(
            "Failed!  - Failed:     2, Passed:     5, Skipped:     1, Total:     8, Duration: 1 s - A.dll (net8.0)",
        )
        .unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (5, 2, 1));
        let c = dotted_summary("Total tests: 39. Passed: 33. Failed: 4. Skipped: 2.").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (33, 4, 2));
        assert_eq!(result_name("Failed A.B.C [12 ms]", "Failed"), Some("A.B.C"));
        assert_eq!(result_name("Failed: 3", "Failed"), None);
    }
}
