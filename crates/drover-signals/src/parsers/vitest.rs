//! Vitest's default reporter (written from Vitest's documented output; vitest cannot be
//! installed here, see the handwritten fixtures): ` RUN  v1.6.0 /app`, per-file lines,
//! `⎯⎯ Failed Tests N ⎯⎯` / `⎯⎯ Failed Suites N ⎯⎯` sections with ` FAIL  file > suite > test`,
//! the error and ` ❯ file:line:col`, and the closing ` Test Files` / `Tests` / `Duration` lines.
//!
//! `Tests` is authoritative (`todo` counts as skipped); unhandled errors (` Errors  N errors`)
//! count as errors; a suite that fails to load means the run could not start, and so does a
//! file `Test Files` counts as failed when no test failed (one error per such file).

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Decides, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms, has_line_suffix};

const MAX_REASON_LINES: u8 = 6;

/// A worker's death reported this many lines before the summary belongs to that run.
const WORKER_EXIT_WINDOW: u64 = 40;

#[derive(Default)]
pub(crate) struct VitestParser {
    run: Option<VitestRun>,
    /// Where a `Worker exited unexpectedly` was seen while no run was open (vitest prints the
    /// unhandled error before or after its summary), and the line itself.
    worker_exit: Option<(u64, String)>,
}

/// vitest's pool reporting that a worker process died mid-run.
fn worker_exited(t: &str) -> bool {
    t.contains("Worker exited unexpectedly") || t.contains("[vitest-pool]: Worker")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    List,
    FailedTests,
    FailedSuites,
    Other,
}

struct VitestRun {
    b: RunBuilder,
    section: Section,
    summary: Option<Counts>,
    /// From the per-file lines, for a run cut off before its summary.
    tally: Counts,
    unhandled_errors: u64,
    suites_failed: u64,
    /// Files the closing `Test Files` line counts as failed.
    files_failed: u64,
    block: Option<usize>,
    reason_lines: u8,
    block_done: bool,
    in_console: bool,
    /// `Test Files` was the previous line: only then is `Tests` vitest's own summary.
    after_files_line: bool,
    /// A worker died: the run was cut off inside the test it was running, whatever the
    /// summary says (the dead worker's tests are missing from it).
    worker_died: bool,
}

impl VitestRun {
    fn new(line_no: u64) -> Self {
        VitestRun {
            b: RunBuilder::new(Runner::Vitest, line_no),
            section: Section::List,
            summary: None,
            tally: Counts::default(),
            unhandled_errors: 0,
            suites_failed: 0,
            files_failed: 0,
            block: None,
            reason_lines: 0,
            block_done: false,
            in_console: false,
            after_files_line: false,
            worker_died: false,
        }
    }

    fn finish(mut self, completed: bool) -> Emitted {
        if self.worker_died {
            // The worker's death is the unhandled error vitest counted: it becomes the one
            // error of a run cut off inside a test.
            self.unhandled_errors = self.unhandled_errors.saturating_sub(1);
        }
        let summary_failed = self.summary.map_or(self.tally.failed, |c| c.failed);
        // `Test Files  2 failed | 297 passed` beside `Tests  8818 passed`: files failed with no
        // failing test in them, so they failed to load. Never a pass.
        let unloaded = if summary_failed == 0 {
            self.files_failed.saturating_sub(self.suites_failed)
        } else {
            0
        };
        let end = if self.suites_failed > 0 || unloaded > 0 {
            RunEnd::NotStarted
        } else if self.worker_died || !completed || self.summary.is_none() {
            RunEnd::CutOff
        } else {
            RunEnd::Completed
        };
        let mut c = self.summary.unwrap_or(self.tally);
        c.errors = c.errors.saturating_add(unloaded);
        c.errors = c
            .errors
            .saturating_add(self.unhandled_errors)
            .saturating_add(self.suites_failed);
        self.b.counts = c;
        self.b.finish(end)
    }
}

/// `Tests  1 failed | 4 passed | 1 skipped (6)` (label already removed).
fn counts(items: &str) -> Option<Counts> {
    let items = items.trim();
    let mut c = Counts::default();
    if items == "no tests" {
        return Some(c);
    }
    let items = match items.rfind(" (") {
        Some(i) if items.ends_with(')') => items.get(..i)?,
        _ => items,
    };
    for item in items.split('|') {
        let (n, word) = count_item(item)?;
        match word {
            "passed" => c.passed += n,
            "failed" => c.failed += n,
            "skipped" | "todo" => c.skipped += n,
            _ => {}
        }
    }
    Some(c)
}

/// A per-file line: ` ✓ src/a.test.ts  (2 tests) 3ms` or
/// ` ❯ src/b.test.ts  (5 tests | 2 failed | 1 skipped) 9ms`.
fn file_counts(t: &str) -> Option<Counts> {
    let (_, rest) = t.split_once(" (")?;
    let (inner, _) = rest.split_once(')')?;
    let mut parts = inner.split('|');
    let (total, word) = count_item(parts.next()?)?;
    if word != "tests" && word != "test" {
        return None;
    }
    let mut c = Counts::default();
    for part in parts {
        let (n, word) = count_item(part)?;
        match word {
            "failed" => c.failed += n,
            "skipped" | "todo" => c.skipped += n,
            _ => {}
        }
    }
    c.passed = total.saturating_sub(c.failed).saturating_sub(c.skipped);
    Some(c)
}

fn section_title(t: &str) -> Option<&str> {
    if !t.starts_with('⎯') {
        return None;
    }
    let inner = t.trim_matches('⎯').trim();
    Some(inner)
}

impl RunParser for VitestParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            // A run whose summary was printed completed, even without its `Duration` line.
            let summarised = run.summary.is_some();
            out.push(run.finish(summarised));
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let is_header = t.starts_with("RUN ")
            && t.get(4..).map(str::trim_start).is_some_and(|v| {
                v.starts_with('v')
                    && v.get(1..2)
                        .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
            });
        if is_header {
            if let Some(prev) = self.run.take() {
                out.push(prev.finish(false));
            }
            self.run = Some(VitestRun::new(ctx.line_no));
            return Claim::Mine;
        }
        if worker_exited(t) {
            match self.run.as_mut() {
                Some(run) => {
                    run.worker_died = true;
                    run.b.note(ctx.line_no, line, Decides::Verdict);
                    return Claim::Mine;
                }
                None => {
                    self.worker_exit = Some((ctx.line_no, crate::run::truncate(line, 200)));
                }
            }
        }
        let Some(run) = self.run.as_mut() else {
            if t.starts_with("Test Files ") && !ctx.foreign_run_active {
                // The closing block alone (a pasted summary, or the run's header scrolled off).
                let run = self.run.insert(VitestRun::new(ctx.line_no));
                run.after_files_line = true;
                run.files_failed = t
                    .strip_prefix("Test Files ")
                    .and_then(counts)
                    .map_or(0, |c| c.failed);
                if let Some((at, text)) = self.worker_exit.take()
                    && ctx.line_no.saturating_sub(at) <= WORKER_EXIT_WINDOW
                {
                    run.worker_died = true;
                    run.b.note(at, &text, Decides::Verdict);
                }
                return Claim::Mine;
            }
            if t.starts_with("No test files found, exiting with code") && !ctx.foreign_run_active {
                out.push(VitestRun::new(ctx.line_no).b.finish(RunEnd::Completed));
                return Claim::Mine;
            }
            return Claim::NotMine;
        };

        // `RUN v3.2.4 /app` then `No test files found, exiting with code 1` (0 with
        // `--passWithNoTests`): nothing ran, whatever the exit code.
        if t.starts_with("No test files found")
            && run.summary.is_none()
            && run.b.counts.ran() + run.b.counts.skipped == 0
            && run.b.failures.is_empty()
        {
            if let Some(run) = self.run.take() {
                out.push(run.b.finish(RunEnd::Completed));
            }
            return Claim::Mine;
        }
        // `stdout | file > test` starts a test's console output, up to a blank line: never
        // read as structure.
        if run.in_console {
            if t.is_empty() {
                run.in_console = false;
            }
            return Claim::Mine;
        }
        if (t.starts_with("stdout | ") || t.starts_with("stderr | ")) && run.summary.is_none() {
            run.in_console = true;
            return Claim::Mine;
        }
        let after_files_line = std::mem::replace(&mut run.after_files_line, false);
        if let Some(rest) = t.strip_prefix("Test Files ") {
            run.files_failed = counts(rest).map_or(0, |c| c.failed);
            run.block = None;
            run.after_files_line = true;
            return Claim::Mine;
        }
        if after_files_line
            && let Some(rest) = t.strip_prefix("Tests ")
            && let Some(c) = counts(rest)
        {
            run.summary = Some(c);
            run.block = None;
            return Claim::Mine;
        }
        if let Some(rest) = t.strip_prefix("Errors ") {
            if let Some((n, _)) = count_item(rest) {
                run.unhandled_errors = n;
            }
            return Claim::Mine;
        }
        if t.starts_with("Start at ") {
            return Claim::Mine;
        }
        if let Some(rest) = t.strip_prefix("Duration ") {
            run.b.duration_ms = duration_ms(rest.split(" (").next().unwrap_or(rest));
            if let Some(run) = self.run.take() {
                out.push(run.finish(true));
            }
            return Claim::Mine;
        }
        if let Some(title) = section_title(t) {
            run.block = None;
            run.section = if title.starts_with("Failed Tests") {
                Section::FailedTests
            } else if title.starts_with("Failed Suites") {
                Section::FailedSuites
            } else if title.starts_with("Unhandled") {
                Section::Other
            } else {
                run.section
            };
            return Claim::Mine;
        }
        if run.summary.is_some() {
            return Claim::NotMine;
        }

        match run.section {
            Section::List | Section::Other => {
                if t.is_empty() {
                    Claim::Mine
                } else if t.starts_with('✓')
                    || t.starts_with('❯')
                    || t.starts_with('×')
                    || t.starts_with('↓')
                    || t.starts_with('→')
                {
                    if let Some(c) = file_counts(t) {
                        run.tally.add(c);
                    }
                    Claim::Mine
                } else {
                    Claim::Weak
                }
            }
            Section::FailedTests | Section::FailedSuites => {
                if let Some(name) = t.strip_prefix("FAIL ") {
                    let name = name.trim();
                    let name = name.split(" [ ").next().unwrap_or(name);
                    if run.section == Section::FailedSuites {
                        run.suites_failed += 1;
                    }
                    run.block = run.b.push_failure(name, None, None);
                    run.reason_lines = 0;
                    run.block_done = false;
                    return Claim::Mine;
                }
                let Some(i) = run.block else {
                    return Claim::Weak;
                };
                if t.is_empty() {
                    return Claim::Mine;
                }
                if let Some(loc) = t.strip_prefix("❯ ") {
                    let loc = loc.rsplit(' ').next().unwrap_or(loc);
                    if has_line_suffix(loc) && !loc.contains("node_modules") {
                        run.b.set_location_if_none(i, loc);
                    }
                    run.block_done = true;
                    return Claim::Mine;
                }
                if !run.block_done && run.reason_lines < MAX_REASON_LINES {
                    if run.reason_lines == 0 {
                        run.b.set_reason_if_none(i, t);
                    } else {
                        run.b.append_reason(i, t);
                    }
                    run.reason_lines += 1;
                }
                Claim::Mine
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_lines() {
        let c = counts("1 failed | 4 passed | 1 skipped (6)").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (4, 1, 1));
        assert_eq!(counts("no tests").unwrap().ran(), 0);
        assert!(counts("running").is_none());
        let c = file_counts("❯ src/b.test.ts  (5 tests | 2 failed | 1 skipped) 9ms").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (2, 2, 1));
    }
}
