//! PHPUnit's console output, default and `--testdox`: the `PHPUnit X.Y by Sebastian Bergmann`
//! header, progress characters (`.FESIRW`), sections `There was 1 failure:` / `There were 2
//! errors:` with `1) Class::method` and the message under it (testdox: `Class` headings with
//! ` ✔ title` / ` ✘ title` and the message on `│` lines), then `OK (N tests, M assertions)` or
//! `FAILURES!` / `ERRORS!` / `OK, but …` followed by `Tests: N, Assertions: M, Errors: E,
//! Failures: F, Skipped: S, Incomplete: I, Risky: R.`
//!
//! The `Tests:` line decides the counts: passed = N − F − E − S − I (incomplete is skipped;
//! warnings and risky tests passed). Test-level errors in a completed run make it a failure, as
//! PHPUnit says. A PHP fatal error (memory exhausted, a crash) ends the run as an error keeping
//! the progress before it; a fatal error while loading the test files (a stack through
//! PHPUnit's loader) is a run that never started, named after the file.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{labelled_counts, leading_number};

/// Lines after a stray `PHP Fatal error:` within which PHPUnit's loader must appear.
const LOADER_WINDOW: u8 = 12;
const MAX_REASON_LINES: u8 = 4;

#[derive(Default)]
pub(crate) struct PhpunitParser {
    run: Option<PhpunitRun>,
    /// A fatal error seen while idle: (file, message, lines since).
    fatal: Option<(String, String, u8)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    /// A failure or error section: its entries are failing tests.
    Failing,
    /// Risky, skipped, incomplete, warning sections.
    Other,
}

struct PhpunitRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    section: Section,
    detail: Option<usize>,
    reason_lines: u8,
    /// The testdox class heading the ` ✘ title` lines belong to.
    class: String,
}

impl PhpunitRun {
    fn new(line_no: u64) -> Self {
        PhpunitRun {
            b: RunBuilder::new(Runner::Phpunit, line_no),
            tally: Counts::default(),
            summary: None,
            section: Section::None,
            detail: None,
            reason_lines: 0,
            class: String::new(),
        }
    }

    fn finish(mut self) -> Emitted {
        match self.summary {
            Some(c) => {
                self.b.counts = c;
                self.b.finish(RunEnd::Completed)
            }
            None => {
                self.b.counts = self.tally;
                self.b.finish(RunEnd::CutOff)
            }
        }
    }

    fn progress(&mut self, chars: &str) {
        for ch in chars.chars() {
            match ch {
                '.' | 'R' | 'W' => self.tally.passed += 1,
                'F' => self.tally.failed += 1,
                'E' => self.tally.errors += 1,
                'S' | 'I' => self.tally.skipped += 1,
                _ => {}
            }
        }
    }

    fn reason_line(&mut self, t: &str) {
        if let Some(i) = self.detail
            && self.reason_lines < MAX_REASON_LINES
        {
            if self.reason_lines == 0 {
                self.b.set_reason_if_none(i, t);
            } else {
                self.b.append_reason(i, t);
            }
            self.reason_lines += 1;
        }
    }
}

/// `Tests: 8, Assertions: 5, Errors: 1, Failures: 1, Skipped: 1, Incomplete: 1.`
fn tests_line(t: &str) -> Option<Counts> {
    let rest = t.strip_prefix("Tests: ")?;
    let (n, _) = leading_number(rest)?;
    let mut c = Counts::default();
    let mut seen_assertions = false;
    for (key, v) in labelled_counts(rest.trim_end_matches('.'), ", ") {
        match key {
            "Assertions" => seen_assertions = true,
            "Failures" => c.failed = v,
            "Errors" => c.errors = v,
            "Skipped" | "Incomplete" => c.skipped = c.skipped.saturating_add(v),
            _ => {}
        }
    }
    c.passed = n
        .saturating_sub(c.failed)
        .saturating_sub(c.errors)
        .saturating_sub(c.skipped);
    seen_assertions.then_some(c)
}

/// `OK (156 tests, 422 assertions)`.
fn ok_line(t: &str) -> Option<Counts> {
    let rest = t.strip_prefix("OK (")?;
    let (n, rest) = leading_number(rest)?;
    (rest.starts_with(" test") && rest.contains("assertion")).then_some(Counts {
        passed: n,
        ..Counts::default()
    })
}

/// `There was 1 failure:` / `There were 2 errors:` → the section kind.
fn section(t: &str) -> Option<Section> {
    let rest = t
        .strip_prefix("There was 1 ")
        .or_else(|| t.strip_prefix("There were "))?;
    let rest = rest.strip_suffix(':')?;
    let word = rest.trim_start_matches(|c: char| c.is_ascii_digit()).trim();
    Some(match word {
        "failure" | "failures" | "error" | "errors" => Section::Failing,
        _ => Section::Other,
    })
}

/// The progress part of a line: `..F.E  8 / 8 (100%)` → `..F.E`.
fn progress_chars(t: &str) -> Option<&str> {
    let chars = t.split(' ').next()?;
    (!chars.is_empty() && chars.bytes().all(|b| b".FESIRWD".contains(&b))).then_some(chars)
}

/// `PHP Fatal error:  Uncaught ParseError: msg in /x/FooTest.php:6` → (file, msg).
fn fatal(t: &str) -> Option<(&str, &str)> {
    let rest = t
        .strip_prefix("PHP Fatal error:")
        .or_else(|| t.strip_prefix("Fatal error:"))?
        .trim();
    let msg = rest.strip_prefix("Uncaught ").unwrap_or(rest);
    let (msg, place) = msg.rsplit_once(" in ")?;
    let file = place.rsplit_once(':').map_or(place, |(f, _)| f);
    let file = file.split(" on line").next().unwrap_or(file);
    Some((file.trim(), msg.trim()))
}

impl RunParser for PhpunitParser {
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
            if let Some((file, msg, since)) = self.fatal.as_mut() {
                *since += 1;
                if t.contains("/PHPUnit/") || t.contains("PHPUnit\\") {
                    let mut b = RunBuilder::new(Runner::Phpunit, ctx.line_no);
                    b.counts.errors = 1;
                    b.push_failure(file, Some(msg), None);
                    self.fatal = None;
                    out.push(b.finish(RunEnd::NotStarted));
                    return Claim::Mine;
                }
                if *since > LOADER_WINDOW {
                    self.fatal = None;
                }
            }
            if t.starts_with("PHPUnit ") && t.contains(" by Sebastian Bergmann") {
                self.fatal = None;
                self.run = Some(PhpunitRun::new(ctx.line_no));
                return Claim::Mine;
            }
            if let Some(s) = section(t) {
                let mut run = PhpunitRun::new(ctx.line_no);
                run.section = s;
                self.run = Some(run);
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some(c) = tests_line(t).or_else(|| ok_line(t))
            {
                let mut run = PhpunitRun::new(ctx.line_no);
                run.summary = Some(c);
                self.run = Some(run);
                return Claim::Mine;
            }
            if let Some((file, msg)) = fatal(t) {
                self.fatal = Some((file.to_owned(), msg.to_owned(), 0));
            }
            return Claim::NotMine;
        };
        if let Some(c) = tests_line(t).or_else(|| ok_line(t)) {
            if run.summary.is_none() {
                run.summary = Some(c);
            }
            return Claim::Mine;
        }
        if run.summary.is_some() {
            return if t.is_empty() {
                Claim::Mine
            } else {
                Claim::NotMine
            };
        }
        if let Some(at) = t
            .find("PHP Fatal error:")
            .or_else(|| t.find("Fatal error: "))
        {
            // The process dies here: no summary will come.
            run.progress(t.get(..at).unwrap_or(""));
            let msg = t.get(at..).unwrap_or(t);
            let msg = msg.split_once(':').map_or(msg, |(_, m)| m).trim();
            let name = run
                .b
                .running
                .take()
                .unwrap_or_else(|| crate::run::RUNNING_TEST.to_owned());
            run.b.push_failure(&name, Some(msg), None);
            run.b.crash_recorded = true;
            run.b.counts = run.tally;
            run.b.counts.errors += 1;
            if let Some(run) = self.run.take() {
                out.push(run.b.finish(RunEnd::CutOff));
            }
            return Claim::Mine;
        }
        if let Some(s) = section(t) {
            run.section = s;
            run.detail = None;
            return Claim::Mine;
        }
        if matches!(t, "FAILURES!" | "ERRORS!" | "--")
            || t.starts_with("OK, but")
            || t.starts_with("Time: ")
            || t.starts_with("Runtime:")
            || t.starts_with("Configuration:")
            || t.starts_with("Summary of non-successful tests")
        {
            run.detail = None;
            return Claim::Mine;
        }
        if let Some(chars) = progress_chars(t)
            && run.section == Section::None
            && run.class.is_empty()
        {
            run.progress(chars);
            return Claim::Mine;
        }
        // Default output: `1) Class::method` in a failure/error section.
        if run.section != Section::None
            && let Some((_, rest)) = leading_number(t)
            && let Some(name) = rest.strip_prefix(") ")
        {
            run.detail = if run.section == Section::Failing {
                run.b.failure_or_push(name.trim())
            } else {
                None
            };
            run.reason_lines = 0;
            return Claim::Mine;
        }
        // Testdox: ` ✘ Title` under a `Class` heading, the message on `│` lines.
        if let Some(title) = t.strip_prefix("✘ ") {
            let name = format!("{}::{}", run.class, title.trim());
            run.detail = run.b.failure_or_push(&name);
            run.reason_lines = 0;
            return Claim::Mine;
        }
        if t.starts_with("✔ ") || t.starts_with("↩ ") || t.starts_with("∅ ") {
            run.detail = None;
            return Claim::Mine;
        }
        if let Some(msg) = t.strip_prefix('│') {
            let msg = msg.trim();
            if !msg.is_empty() && !msg.starts_with('/') {
                run.reason_line(msg);
            }
            return Claim::Mine;
        }
        if t.is_empty() {
            return Claim::Mine;
        }
        if run.section == Section::None && line.starts_with(|c: char| c.is_alphanumeric()) {
            // A testdox class heading.
            run.class.clear();
            run.class.push_str(t);
            return Claim::Mine;
        }
        if run.detail.is_some() && !t.starts_with('/') {
            run.reason_line(t);
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
        let c = tests_line(
            "Tests: 8, Assertions: 5, Errors: 1, Failures: 1, Skipped: 1, Incomplete: 1.",
        )
        .unwrap();
        assert_eq!((c.passed, c.failed, c.errors, c.skipped), (4, 1, 1, 2));
        assert_eq!(
            ok_line("OK (156 tests, 422 assertions)").unwrap().passed,
            156
        );
        assert!(section("There were 2 errors:") == Some(Section::Failing));
        assert!(section("There was 1 risky test:") == Some(Section::Other));
        assert_eq!(
            fatal(
                "PHP Fatal error:  Uncaught ParseError: syntax error, unexpected token \"}\" in /t/BrokenTest.php:6"
            ),
            Some((
                "/t/BrokenTest.php",
                "ParseError: syntax error, unexpected token \"}\""
            ))
        );
    }
}
