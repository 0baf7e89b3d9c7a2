//! Jest's default reporter: `PASS`/`FAIL path` lines, optional `--verbose` tree, `● suite ›
//! test` failure blocks with the assertion message and `at … (file:line:col)`, and the closing
//! `Test Suites:` / `Tests:` / `Time:` / `Ran all test suites.` block.
//!
//! `Tests:` is authoritative (`todo` counts as skipped). A suite that fails to run
//! (`● Test suite failed to run`) counts as an error and means the run could not start —
//! unless its worker died (killed, or `process.exit()` until jest gave up retrying): then the
//! run was cut off inside that file. `● Console` blocks are test output, never failures. A
//! `●  process.exit called with …` notice outside a run starts one: jest running in band
//! stops right after it, so the test that was running is one error with that reason.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Decides, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms, indent, js_frame_location};

const MAX_REASON_LINES: u8 = 6;

#[derive(Default)]
pub(crate) struct JestParser {
    run: Option<JestRun>,
}

struct JestRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    current_file: String,
    block: Option<usize>,
    block_reason_lines: u8,
    block_done: bool,
    suites_failed_to_run: u64,
    crashed: bool,
    /// `●  process.exit called with …` and where: the reason of the running test if the run
    /// ends without a summary.
    exit_note: Option<(String, Option<String>)>,
    /// The `at …` line that follows is the place of `exit_note`.
    exit_note_open: bool,
    /// The current block is a `Test suite failed to run`: jest's help text comes first, the
    /// error itself (`SyntaxError: …`) later; the error line is the reason.
    suite_block: bool,
    /// `Test Suites:` was the previous summary line: only then is `Tests:` jest's own.
    after_suites_line: bool,
}

impl JestRun {
    fn new(line_no: u64) -> Self {
        JestRun {
            b: RunBuilder::new(Runner::Jest, line_no),
            tally: Counts::default(),
            summary: None,
            current_file: String::new(),
            block: None,
            block_reason_lines: 0,
            block_done: false,
            suites_failed_to_run: 0,
            crashed: false,
            exit_note: None,
            exit_note_open: false,
            suite_block: false,
            after_suites_line: false,
        }
    }

    fn finish(mut self) -> Emitted {
        let end = if self.crashed {
            RunEnd::CutOff
        } else if self.suites_failed_to_run > 0 {
            RunEnd::NotStarted
        } else if self.summary.is_none() {
            RunEnd::CutOff
        } else {
            RunEnd::Completed
        };
        self.b.counts = self.summary.unwrap_or(self.tally);
        if self.summary.is_none() {
            // Cut off before its summary: the tests named failing (`● title` blocks) failed,
            // whether or not their file's result line was printed.
            let named = (self.b.failures.len() as u64).saturating_sub(self.suites_failed_to_run);
            self.b.counts.failed = self.b.counts.failed.max(named);
        }
        self.b.counts.errors = self
            .b
            .counts
            .errors
            .saturating_add(self.suites_failed_to_run);
        if self.crashed && self.suites_failed_to_run > 0 {
            // The dead worker's file is the error already counted.
            self.b.crash_recorded = true;
        } else if end == RunEnd::CutOff
            && let Some((reason, location)) = self.exit_note.take()
        {
            self.b.crash_recorded = true;
            self.b.counts.errors = self.b.counts.errors.saturating_add(1);
            let name = self.b.running.take();
            let name = name.as_deref().unwrap_or(crate::run::RUNNING_TEST);
            self.b
                .push_failure(name, Some(&reason), location.as_deref());
        }
        self.b.finish(end)
    }
}

/// `PASS src/a.test.js (5.2 s)` → the file.
fn file_line(line: &str) -> Option<&str> {
    // With colour on, jest pads the badge: ` PASS  src/a.test.js`.
    let line = line.strip_prefix(' ').unwrap_or(line);
    let rest = line
        .strip_prefix("PASS ")
        .or_else(|| line.strip_prefix("FAIL "))?;
    let file = rest.trim_start().split(" (").next()?.trim();
    (!file.is_empty() && !file.contains(' ') && file.contains('.')).then_some(file)
}

/// `●  process.exit called with "3"`: jest's notice when a test calls `process.exit()`.
fn exit_notice(t: &str) -> Option<&str> {
    let t = t.trim_start().strip_prefix("●")?.trim();
    t.starts_with("process.exit called with").then_some(t)
}

/// `SyntaxError: …`, `TypeError: …`: a JavaScript error's first line.
fn error_line(t: &str) -> bool {
    t.split_once(": ").is_some_and(|(kind, _)| {
        kind.len() > 5
            && kind.ends_with("Error")
            && kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A `Test suite failed to run` reason saying the file's worker process died.
fn worker_died(t: &str) -> bool {
    (t.contains("jest worker process") && (t.contains("terminated") || t.contains("crashed")))
        || t.contains("child process exceptions, exceeding retry limit")
}

/// `Tests:       1 failed, 1 skipped, 2 passed, 4 total`.
fn tests_line(line: &str) -> Option<Counts> {
    let rest = line.strip_prefix("Tests:")?;
    let mut c = Counts::default();
    for item in rest.split(',') {
        let (n, word) = count_item(item)?;
        match word {
            "passed" => c.passed += n,
            "failed" => c.failed += n,
            "skipped" | "todo" | "pending" => c.skipped += n,
            _ => {}
        }
    }
    Some(c)
}

impl RunParser for JestParser {
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
        if let Some(file) = file_line(line) {
            let run = match self.run.as_mut() {
                Some(run) if run.summary.is_none() => run,
                _ => {
                    if let Some(prev) = self.run.take() {
                        out.push(prev.finish());
                    }
                    self.run.insert(JestRun::new(ctx.line_no))
                }
            };
            run.current_file.clear();
            run.current_file.push_str(file.get(..200).unwrap_or(file));
            run.block = None;
            return Claim::Mine;
        }
        let Some(run) = self.run.as_mut() else {
            if line.starts_with("Test Suites: ") && !ctx.foreign_run_active {
                self.run.insert(JestRun::new(ctx.line_no)).after_suites_line = true;
                return Claim::Mine;
            }
            if let Some(note) = exit_notice(line)
                && !ctx.foreign_run_active
            {
                let run = self.run.insert(JestRun::new(ctx.line_no));
                run.exit_note = Some((note.to_owned(), None));
                run.exit_note_open = true;
                return Claim::Mine;
            }
            if line.starts_with("No tests found, exiting with code") && !ctx.foreign_run_active {
                out.push(JestRun::new(ctx.line_no).b.finish(RunEnd::Completed));
                return Claim::Mine;
            }
            return Claim::NotMine;
        };

        let after_suites_line = std::mem::replace(&mut run.after_suites_line, false);
        if line.starts_with("Test Suites: ") {
            run.block = None;
            run.after_suites_line = true;
            return Claim::Mine;
        }
        if line.starts_with("Snapshots: ") {
            return Claim::Mine;
        }
        if after_suites_line && let Some(c) = tests_line(line) {
            run.summary = Some(c);
            run.block = None;
            return Claim::Mine;
        }
        if let Some(t) = line.strip_prefix("Time:") {
            run.b.duration_ms = duration_ms(t.split(',').next().unwrap_or(t));
            return Claim::Mine;
        }
        if line.starts_with("Ran all test suites") {
            if let Some(run) = self.run.take() {
                out.push(run.finish());
            }
            return Claim::Mine;
        }
        if run.summary.is_some() {
            return Claim::NotMine;
        }
        let ind = indent(line);
        let t = line.get(ind..).unwrap_or("");
        if let Some(note) = exit_notice(t) {
            run.exit_note = Some((note.to_owned(), None));
            run.exit_note_open = true;
            run.block = None;
            return Claim::Mine;
        }
        // Old jest (0.x): a dead worker is reported as an error line under the file's `FAIL`
        // line, and jest shuts down: the file was running, the run is cut off there.
        if t.contains("Worker process exited before responding")
            || t.starts_with("A worker process has quit unexpectedly")
        {
            if !run.crashed {
                run.crashed = true;
                if !run.current_file.is_empty() {
                    let file = run.current_file.clone();
                    run.b.set_running(&file);
                }
                run.exit_note = Some((t.to_owned(), None));
                run.b.note(ctx.line_no, line, Decides::Verdict);
            }
            run.block = None;
            return Claim::Mine;
        }
        if run.exit_note_open && t.starts_with("at ") {
            run.exit_note_open = false;
            if let Some((_, loc)) = run.exit_note.as_mut() {
                *loc = js_frame_location(t).map(str::to_owned);
            }
            return Claim::Mine;
        }
        if let Some(name) = t.strip_prefix("● ") {
            run.exit_note_open = false;
            if name == "Console" {
                // Test output jest gathered for the file: not a failure.
                run.block = None;
                return Claim::Mine;
            }
            run.suite_block = name == "Test suite failed to run";
            if run.suite_block {
                run.suites_failed_to_run += 1;
                run.b.note(ctx.line_no, line, Decides::Verdict);
                let file = run.current_file.clone();
                run.block = run.b.push_failure(&file, None, None);
            } else {
                run.block = run.b.push_failure(name, None, None);
            }
            run.block_reason_lines = 0;
            run.block_done = false;
            return Claim::Mine;
        }
        if let Some(i) = run.block {
            if t.is_empty() {
                return Claim::Mine;
            }
            if t.starts_with("at ") {
                if let Some(loc) = js_frame_location(t) {
                    run.b.set_location_if_none(i, loc);
                }
                run.block_done = true;
                return Claim::Mine;
            }
            let code_frame = t.starts_with('|')
                || t.starts_with('>')
                || t.split('|').next().is_some_and(|n| {
                    let n = n.trim();
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                });
            if code_frame {
                run.block_done = true;
            } else if run.suite_block && !run.block_done && error_line(t) {
                // The first error line beats the help text read so far; later ones do not.
                run.suite_block = false;
                if let Some(f) = run.b.failures.get_mut(i) {
                    f.reason = None;
                }
                run.b.set_reason_if_none(i, t);
                run.block_reason_lines = MAX_REASON_LINES;
            } else if !run.block_done && run.block_reason_lines < MAX_REASON_LINES {
                run.crashed |= worker_died(t);
                if run.block_reason_lines == 0 {
                    run.b.set_reason_if_none(i, t);
                } else {
                    run.b.append_reason(i, t);
                }
                run.block_reason_lines += 1;
            }
            return Claim::Mine;
        }
        // `--verbose` tree.
        if let Some(rest) = t.strip_prefix("✓ ").or_else(|| t.strip_prefix("√ ")) {
            let _ = rest;
            run.tally.passed += 1;
            return Claim::Mine;
        }
        if t.starts_with("✕ ") || t.starts_with("× ") {
            run.tally.failed += 1;
            return Claim::Mine;
        }
        if t.starts_with("○ ") || t.starts_with("✎ ") {
            run.tally.skipped += 1;
            return Claim::Mine;
        }
        Claim::Weak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(file_line("PASS src/sum.test.js"), Some("src/sum.test.js"));
        assert_eq!(
            file_line("FAIL  src/cart.test.js (5.2 s)"),
            Some("src/cart.test.js")
        );
        assert_eq!(file_line("PASS the butter"), None);
        assert!(error_line(
            "SyntaxError: /app/a.test.js: Unexpected token (2:12)"
        ));
        assert!(!error_line("Error: boom"));
        assert!(!error_line("Jest encountered an unexpected token"));
        let c = tests_line("Tests:       2 failed, 1 skipped, 1 todo, 5 passed, 9 total").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped), (5, 2, 2));
    }
}
