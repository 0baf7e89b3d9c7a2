//! CTest's console output: `Test project /path`, per test `Start N: name` and
//! `i/n Test #N: name ....   Passed 0.01 sec` (or `***Failed`, `***Exception: SegFault`,
//! `***Timeout`, `***Not Run`, `***Skipped`), then `P% tests passed, F tests failed out of N`
//! and the lists `The following tests did not run:` / `The following tests FAILED:` with
//! `  N - name (Status)` entries.
//!
//! The summary line decides the counts. Its `out of N` leaves out disabled tests and counts
//! skipped ones as passed, so skipped = the `did not run` entries and passed = N − F − the
//! entries that are not `Disabled`. A failing test's reason is its output (printed by
//! `--output-on-failure` under its result line) or else the status CTest gives it. A run cut
//! off before the summary keeps the per-test tallies.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::leading_number;

#[derive(Default)]
pub(crate) struct CtestParser {
    run: Option<CtestRun>,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum List {
    None,
    DidNotRun,
    Failed,
}

struct CtestRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<(u64, u64)>,
    list: List,
    skipped_listed: u64,
    skipped_in_total: u64,
    /// The failed test whose `--output-on-failure` text is being read.
    output_of: Option<usize>,
    output_started: bool,
}

impl CtestRun {
    fn new(line_no: u64) -> Self {
        CtestRun {
            b: RunBuilder::new(Runner::Ctest, line_no),
            tally: Counts::default(),
            summary: None,
            list: List::None,
            skipped_listed: 0,
            skipped_in_total: 0,
            output_of: None,
            output_started: false,
        }
    }

    fn finish(mut self) -> Emitted {
        match self.summary {
            Some((total, failed)) => {
                self.b.counts = Counts {
                    passed: total
                        .saturating_sub(failed)
                        .saturating_sub(self.skipped_in_total),
                    failed,
                    skipped: self.skipped_listed,
                    errors: 0,
                };
                self.b.finish(RunEnd::Completed)
            }
            None => {
                self.b.counts = self.tally;
                self.b.finish(RunEnd::CutOff)
            }
        }
    }

    /// `2/8 Test #2: area_circle ......***Failed    0.01 sec` → counts it.
    fn result_line(&mut self, t: &str) -> bool {
        let Some((_, rest)) = leading_number(t) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix('/') else {
            return false;
        };
        let Some((_, rest)) = leading_number(rest) else {
            return false;
        };
        let Some(rest) = rest.trim_start().strip_prefix("Test") else {
            return false;
        };
        let Some((_, rest)) = rest.trim_start().split_once(": ") else {
            return false;
        };
        let name = rest.split([' ', '.']).next().unwrap_or_default().to_owned();
        let status = rest.trim_start_matches(|c| c != ' ' && c != '.');
        let status = status.trim_start_matches([' ', '.']);
        self.output_of = None;
        self.b.running = None;
        if status.starts_with("Passed") {
            self.tally.passed += 1;
        } else if status.starts_with("***Skipped") || status.starts_with("***Not Run (Disabled)") {
            self.tally.skipped += 1;
        } else if let Some(s) = status.strip_prefix("***") {
            self.tally.failed += 1;
            // `***Failed  Required regular expression not found.Regex=[…]  0.87 sec`: the
            // status, then CTest's own why (a regex or a property), then the time.
            let reason = s
                .split("  ")
                .map(str::trim)
                .filter(|p| !p.is_empty() && !p.ends_with(" sec"))
                .collect::<Vec<_>>()
                .join(": ");
            self.output_of = self.b.push_failure(&name, None, None);
            if let Some(i) = self.output_of {
                // The status stands until the test's output replaces it.
                self.b.set_reason_if_none(i, &reason);
            }
            self.output_started = false;
        } else {
            return false;
        }
        true
    }
}

/// `67% tests passed, 1 tests failed out of 3` → (3, 1).
fn summary(t: &str) -> Option<(u64, u64)> {
    let (_, rest) = leading_number(t)?;
    let rest = rest.strip_prefix("% ")?;
    let rest = rest
        .strip_prefix("tests passed, ")
        .or_else(|| rest.strip_prefix("test passed, "))?;
    let (failed, rest) = leading_number(rest)?;
    let rest = rest
        .strip_prefix(" tests failed out of ")
        .or_else(|| rest.strip_prefix(" test failed out of "))?;
    let (total, _) = leading_number(rest.trim())?;
    Some((total, failed))
}

/// `  2 - area_circle (Failed)` → (`area_circle`, `Failed`).
fn list_entry(t: &str) -> Option<(&str, &str)> {
    let (_, rest) = leading_number(t.trim())?;
    let rest = rest.strip_prefix(" - ")?;
    let (name, status) = rest.rsplit_once(" (")?;
    Some((name.trim(), status.strip_suffix(')')?))
}

impl RunParser for CtestParser {
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

    fn feed(&mut self, line: &str, ctx: &LineCtx, _out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let Some(run) = self.run.as_mut() else {
            if t.starts_with("Test project /") || t.starts_with("Test project ") && t.len() > 14 {
                self.run = Some(CtestRun::new(ctx.line_no));
                return Claim::Mine;
            }
            let mut probe = CtestRun::new(ctx.line_no);
            if probe.result_line(t) {
                self.run = Some(probe);
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some(s) = summary(t)
            {
                probe.summary = Some(s);
                self.run = Some(probe);
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        if run.summary.is_none() {
            if let Some(s) = summary(t) {
                run.summary = Some(s);
                run.output_of = None;
                return Claim::Mine;
            }
            if let Some(name) = t.strip_prefix("Start ") {
                run.output_of = None;
                if let Some((_, name)) = name.split_once(": ") {
                    run.b.set_running(name.trim());
                }
                return Claim::Mine;
            }
            if run.result_line(t) {
                return Claim::Mine;
            }
            // The rest of a result line whose reason held a newline (`]  0.87 sec`).
            if run.output_of.is_some()
                && !run.output_started
                && t.ends_with(" sec")
                && t.rsplit("  ").next().is_some_and(|d| {
                    d.trim_end_matches(" sec")
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.')
                })
            {
                return Claim::Mine;
            }
            if let Some(i) = run.output_of
                && !t.is_empty()
            {
                // The test's own output replaces the bare status as its reason.
                if !run.output_started
                    && let Some(f) = run.b.failures.get_mut(i)
                {
                    f.reason = None;
                    run.output_started = true;
                }
                run.b.append_reason(i, t);
                return Claim::Mine;
            }
            return if t.is_empty() {
                Claim::Mine
            } else {
                Claim::Weak
            };
        }
        // After the summary: the two lists, then CTest's closing lines.
        if t.starts_with("The following tests did not run:") {
            run.list = List::DidNotRun;
            return Claim::Mine;
        }
        if t.starts_with("The following tests FAILED:") {
            run.list = List::Failed;
            return Claim::Mine;
        }
        if let Some((name, status)) = list_entry(t) {
            match run.list {
                List::DidNotRun => {
                    run.skipped_listed += 1;
                    if status != "Disabled" {
                        run.skipped_in_total += 1;
                    }
                }
                // Older CTest prints the failed entries without the heading.
                List::Failed | List::None => {
                    if let Some(i) = run.b.failure_or_push(name) {
                        // The list's status (`SEGFAULT`, `Timeout`) is added to what the
                        // result line or the test's output said.
                        let known = run.b.failures.get(i).and_then(|f| f.reason.as_deref());
                        if !known.is_some_and(|r| r.contains(status)) {
                            run.b.append_reason(i, status);
                        }
                    }
                }
            }
            return Claim::Mine;
        }
        if t.is_empty()
            || t.starts_with("Total Test time")
            || t.starts_with("Errors while running CTest")
            || t.starts_with("Error while running Ctest")
            || t.starts_with("Output from these tests are in:")
            || t.starts_with("Use \"--rerun-failed")
        {
            return Claim::Mine;
        }
        Claim::NotMine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            summary("67% tests passed, 1 tests failed out of 3"),
            Some((3, 1))
        );
        assert_eq!(
            summary("93% test passed, 2 test failed out of 27"),
            Some((27, 2))
        );
        assert_eq!(
            list_entry("\t  2 - structure-test (Failed)"),
            Some(("structure-test", "Failed"))
        );
        assert_eq!(summary("100% passed"), None);
    }
}
