//! `deno test`'s pretty reporter: `running N tests from ./file.ts`, `name ... ok (2ms)` /
//! `... FAILED (0ms)` / `... ignored (0ms)` (steps indented under their test), captured output
//! framed by `------- output -------` / `----- output end -----`, then ` ERRORS ` (each
//! failure as `name => ./file.ts:3:6` and its `error: …`), ` FAILURES ` (the names again) and
//! the summary `ok | 3 passed (9 steps) | 0 failed (5ms)` or
//! `FAILED | 0 passed | 1 failed | 2 ignored | 1 filtered out (6ms)`, possibly followed by
//! `error: Test failed`.
//!
//! The summary is authoritative (`ignored` counts as skipped, `filtered out` not at all). A run
//! starts at `running N tests from`; a summary line alone (pasted, or `--quiet`) is a run of its
//! own when no other run is active. Deno 0.x (`Found N matching test modules.`, then a
//! cargo-like `test result: OK 2 passed; 0 failed; 0 ignored; …`) is read from that line to
//! its result.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Decides, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms};

#[derive(Default)]
pub(crate) struct DenoParser {
    run: Option<DenoRun>,
    /// Deno 0.x (`Found 3 matching test modules.` … `test result: OK 2 passed; 0 failed; …`):
    /// the line that started it, until its cargo-like result line.
    legacy: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Results,
    Errors,
    Failures,
}

struct DenoRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    section: Section,
    in_output: bool,
    /// The failure whose `error:` the ERRORS section is about to print.
    error_for: Option<usize>,
}

impl DenoRun {
    fn new(line_no: u64) -> Self {
        DenoRun {
            b: RunBuilder::new(Runner::Deno, line_no),
            tally: Counts::default(),
            summary: None,
            section: Section::Results,
            in_output: false,
            error_for: None,
        }
    }

    fn finish(mut self) -> Emitted {
        let end = if self.summary.is_some() {
            RunEnd::Completed
        } else {
            RunEnd::CutOff
        };
        self.b.counts = self.summary.unwrap_or(self.tally);
        self.b.finish(end)
    }
}

/// Deno 0.x: `test result: OK 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out (2ms)`.
fn legacy_result(t: &str) -> Option<Counts> {
    let rest = t.strip_prefix("test result: ")?;
    let rest = rest
        .strip_prefix("OK ")
        .or_else(|| rest.strip_prefix("FAIL "))
        .or_else(|| rest.strip_prefix("FAILED "))?;
    let mut c = Counts::default();
    for item in rest.split(';') {
        let item = item.split(" (").next().unwrap_or(item);
        let Some((n, word)) = count_item(item) else {
            continue;
        };
        match word {
            "passed" => c.passed = n,
            "failed" => c.failed = n,
            "ignored" => c.skipped = n,
            _ => {}
        }
    }
    Some(c)
}

/// `ok | 1 passed (9 steps) | 0 failed | 2 ignored (27ms)` → counts and duration.
fn summary(t: &str) -> Option<(Counts, Option<u64>)> {
    let rest = t
        .strip_prefix("ok | ")
        .or_else(|| t.strip_prefix("FAILED | "))?;
    let (items, dur) = match rest.rfind(" (") {
        Some(i) if rest.ends_with(')') => (
            rest.get(..i)?,
            rest.get(i + 2..rest.len() - 1).and_then(duration_ms),
        ),
        _ => (rest, None),
    };
    let mut c = Counts::default();
    let mut seen_passed = false;
    for item in items.split(" | ") {
        // `3 passed (9 steps)`: the steps are part of their tests.
        let item = item.split(" (").next().unwrap_or(item);
        let (n, word) = count_item(item)?;
        match word {
            "passed" => {
                c.passed = n;
                seen_passed = true;
            }
            "failed" => c.failed = n,
            "ignored" => c.skipped = n,
            "filtered out" | "measured" => {}
            _ => return None,
        }
    }
    seen_passed.then_some((c, dur))
}

/// `running 3 tests from ./a_test.ts` (also `running 1 test from …`).
fn running_line(t: &str) -> bool {
    t.strip_prefix("running ")
        .and_then(|r| r.split_once(' '))
        .is_some_and(|(n, r)| {
            n.bytes().all(|b| b.is_ascii_digit())
                && (r.starts_with("tests from ") || r.starts_with("test from "))
        })
}

/// `name ... ok (2ms)` → (name, outcome word).
fn result_line(t: &str) -> Option<(&str, &str)> {
    let (name, rest) = t.rsplit_once(" ... ")?;
    let word = rest.split(" (").next().unwrap_or(rest).trim();
    matches!(word, "ok" | "FAILED" | "ignored" | "cancelled").then_some((name.trim(), word))
}

impl RunParser for DenoParser {
    fn phase(&self) -> Phase {
        if self.legacy.is_some() {
            return Phase::Running;
        }
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(start) = self.legacy.take() {
            out.push(RunBuilder::new(Runner::Deno, start).finish(RunEnd::CutOff));
        }
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim_end();
        if let Some(start) = self.legacy {
            if let Some(c) = legacy_result(t) {
                self.legacy = None;
                let mut b = RunBuilder::new(Runner::Deno, start);
                b.counts = c;
                out.push(b.finish(RunEnd::Completed));
            }
            return Claim::Mine;
        }
        if self.run.is_none()
            && !ctx.foreign_run_active
            && t.starts_with("Found ")
            && (t.ends_with(" matching test modules.") || t.ends_with(" matching test module."))
        {
            self.legacy = Some(ctx.line_no);
            return Claim::Mine;
        }
        let Some(run) = self.run.as_mut() else {
            if running_line(t) {
                self.run = Some(DenoRun::new(ctx.line_no));
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some((c, dur)) = summary(t.trim_start())
            {
                let mut b = RunBuilder::new(Runner::Deno, ctx.line_no);
                b.counts = c;
                b.duration_ms = dur;
                out.push(b.finish(RunEnd::Completed));
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        if run.in_output {
            if t.trim() == "----- output end -----" {
                run.in_output = false;
            }
            return Claim::Mine;
        }
        if let Some(s) = run.summary {
            // `error: Test failed` (and the `only` notice) close a failed run.
            if s.failed > 0 && t.starts_with("error: Test failed") {
                return Claim::Mine;
            }
            return Claim::NotMine;
        }
        if let Some((c, dur)) = summary(t.trim_start()) {
            run.summary = Some(c);
            run.b.duration_ms = dur;
            return Claim::Mine;
        }
        if running_line(t) {
            run.section = Section::Results;
            return Claim::Mine;
        }
        if t.trim() == "------- output -------" {
            run.in_output = true;
            return Claim::Mine;
        }
        match t.trim() {
            "ERRORS" => {
                run.section = Section::Errors;
                return Claim::Mine;
            }
            "FAILURES" => {
                run.section = Section::Failures;
                return Claim::Mine;
            }
            _ => {}
        }
        match run.section {
            Section::Results => {
                if let Some((name, word)) = result_line(t) {
                    // Steps are indented under their test and are not counted on their own.
                    if !t.starts_with(' ') {
                        match word {
                            "ok" => run.tally.passed += 1,
                            "ignored" => run.tally.skipped += 1,
                            "cancelled" => run.tally.errors += 1,
                            _ => {
                                run.tally.failed += 1;
                                run.b.push_failure(name, None, None);
                                run.b.note(ctx.line_no, line, Decides::Verdict);
                            }
                        }
                    }
                    return Claim::Mine;
                }
                Claim::Weak
            }
            Section::Errors => {
                if let Some((name, loc)) = t.split_once(" => ")
                    && !t.starts_with(' ')
                {
                    let i = run.b.failure_or_push(name.trim());
                    if let Some(i) = i {
                        run.b.set_location_if_none(i, loc.trim());
                    }
                    run.error_for = i;
                    return Claim::Mine;
                }
                if let Some(i) = run.error_for.take()
                    && let Some(e) = t.strip_prefix("error: ")
                {
                    run.b.set_reason_if_none(i, e);
                    return Claim::Mine;
                }
                Claim::Mine
            }
            Section::Failures => Claim::Mine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let (c, d) = summary("ok | 15 passed (9 steps) | 0 failed (5s)").unwrap();
        assert_eq!((c.passed, c.failed, d), (15, 0, Some(5000)));
        let (c, _) = summary("FAILED | 0 passed | 1 failed | 2 ignored | 1 filtered out").unwrap();
        assert_eq!((c.failed, c.skipped), (1, 2));
        assert!(summary("ok | nothing").is_none());
        assert!(running_line("running 1 test from ./testonly.ts"));
        assert_eq!(
            result_line("fails on its own ... FAILED (0ms)"),
            Some(("fails on its own", "FAILED"))
        );
    }
}
