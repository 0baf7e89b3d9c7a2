//! A test run as drover records it, and the one pure function that judges it.
//!
//! Invariants: `total == passed + failed + skipped + errors`; `verdict` is always
//! `Verdict::judge` of the other fields; a run cut off mid-way counts the test that was
//! running as one error, named as precisely as the output allowed ([`RUNNING_TEST`] when it
//! never named it); a completed run that names failing tests counts at
//! least that many failures and errors (so it is never a pass); `failures` holds at most [`MAX_FAILURES`] entries with
//! names and reasons truncated to [`MAX_NAME_BYTES`] / [`MAX_REASON_BYTES`], and
//! `failures_omitted` counts the ones that did not fit.

use serde::{Deserialize, Serialize};

/// Failing tests kept per run; the rest are only counted.
pub const MAX_FAILURES: usize = 64;
/// A failing test's name is cut to this many bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// A failure reason (assertion message) is cut to this many bytes.
pub const MAX_REASON_BYTES: usize = 480;
/// The name given to the test that was running when a run was cut off, when the output
/// never named it.
pub const RUNNING_TEST: &str = "(running test)";
/// A failure location (`file:line`) is cut to this many bytes.
pub const MAX_LOCATION_BYTES: usize = 256;
/// Evidence lines kept per run (the first ones a run records win: its header and summary are
/// recorded as they are read, failure lines only while there is room).
pub const MAX_EVIDENCE: usize = 16;
/// An evidence line is cut to this many bytes.
pub const MAX_EVIDENCE_BYTES: usize = 200;

/// What an evidence line decided about its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decides {
    /// The line named the runner (its header, or the first line only that runner prints).
    Runner,
    /// The line gave counts (the runner's own summary, or a tally line).
    Counts,
    /// The line made the verdict what it is: a failure, a load or build error, a crash, the
    /// stream ending before the summary.
    Verdict,
}

/// A log line that decided something about a run: its 1-based line number in the stream, its
/// cleaned text (cut to [`MAX_EVIDENCE_BYTES`]) and what it decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub line: u64,
    pub text: String,
    pub decides: Decides,
}

/// The test runner whose output produced a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    Pytest,
    Unittest,
    CargoTest,
    CargoNextest,
    GoTest,
    Jest,
    Vitest,
    Mocha,
    NodeTest,
    Rspec,
    Phpunit,
    /// `dotnet test` (VSTest console), and its TRX reports.
    DotnetTest,
    /// Maven Surefire's console summary.
    Surefire,
    Gradle,
    Ctest,
    /// A JUnit XML report from a tool drover has no closer name for.
    Junit,
    /// The plain `N passed, N failed[, N skipped]` line of a custom script.
    Generic,
    Bun,
    Deno,
    /// A TAP stream from a producer drover has no closer name for (tape, node-tap).
    Tap,
    /// Elixir's ExUnit (`mix test`).
    Exunit,
    /// Catch2's console reporter.
    Catch2,
    /// A GoogleTest binary run directly (run through CTest it is `Ctest`).
    Gtest,
    /// `zig test` and `zig build test`.
    Zig,
    /// XCTest (`swift test`, `xcodebuild test`).
    Xctest,
    /// `dart test` / `flutter test`.
    Dart,
    /// Haskell's test-framework console table (HUnit and QuickCheck suites).
    TestFramework,
    /// Haskell's doctest (`Examples: N  Tried: N  Errors: N  Failures: N`).
    Doctest,
}

impl Runner {
    /// The stable name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::Pytest => "pytest",
            Runner::Unittest => "unittest",
            Runner::CargoTest => "cargo-test",
            Runner::CargoNextest => "cargo-nextest",
            Runner::GoTest => "go-test",
            Runner::Jest => "jest",
            Runner::Vitest => "vitest",
            Runner::Mocha => "mocha",
            Runner::NodeTest => "node-test",
            Runner::Rspec => "rspec",
            Runner::Phpunit => "phpunit",
            Runner::DotnetTest => "dotnet-test",
            Runner::Surefire => "surefire",
            Runner::Gradle => "gradle",
            Runner::Ctest => "ctest",
            Runner::Junit => "junit",
            Runner::Generic => "generic",
            Runner::Bun => "bun",
            Runner::Deno => "deno",
            Runner::Tap => "tap",
            Runner::Exunit => "exunit",
            Runner::Catch2 => "catch2",
            Runner::Gtest => "gtest",
            Runner::Zig => "zig",
            Runner::Xctest => "xctest",
            Runner::Dart => "dart",
            Runner::TestFramework => "test-framework",
            Runner::Doctest => "doctest",
        }
    }
}

impl std::fmt::Display for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run's output ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunEnd {
    /// The runner printed its final summary.
    Completed,
    /// The run could not start: collection, import or compile error.
    NotStarted,
    /// The run started and then stopped without a summary: a crash, a timeout, a kill, the stream
    /// ending, or another run starting.
    CutOff,
}

/// The judgement of a run. Serialised as `"pass" | "fail" | "error" | "no-tests"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Error,
    NoTests,
}

impl Verdict {
    /// The one rule: a run that could not start or was cut off is an `Error`; a run in which no
    /// test ran (skipped tests do not run) is `NoTests`, never a pass; a run with at least one
    /// test run and no failure and no error is a `Pass`; anything else is a `Fail`.
    pub fn judge(passed: u64, failed: u64, errors: u64, end: RunEnd) -> Verdict {
        if end != RunEnd::Completed {
            return Verdict::Error;
        }
        let ran = passed.saturating_add(failed).saturating_add(errors);
        if ran == 0 {
            Verdict::NoTests
        } else if failed == 0 && errors == 0 {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::NoTests => "no-tests",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failing (or erroring) test with what the runner said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    /// The test's name as the runner prints it (qualified where the runner qualifies it).
    pub name: String,
    /// The assertion message or error, lines joined with `\n`.
    pub reason: Option<String>,
    /// `file:line[:column]` where the runner points at the failure.
    pub location: Option<String>,
}

/// One invocation of a test runner, as read from its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    pub runner: Runner,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Tests the runner reports as errors rather than failures (pytest setup errors, unittest
    /// errors, cancelled node tests, JUnit `<error>`).
    pub errors: u64,
    /// `passed + failed + skipped + errors`.
    pub total: u64,
    pub duration_ms: Option<u64>,
    /// The agent announced a sampled run (for example `--fast` or "running a 10% sample").
    pub sampled: bool,
    pub end: RunEnd,
    pub failures: Vec<TestFailure>,
    /// Failing tests beyond [`MAX_FAILURES`], counted but not kept.
    pub failures_omitted: u64,
    pub verdict: Verdict,
    /// The lines that decided this run's runner, counts and verdict, in line order (at most
    /// [`MAX_EVIDENCE`]): what `drover scan --explain` shows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

/// The counts a parser gathers before a run is complete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.passed = self.passed.saturating_add(other.passed);
        self.failed = self.failed.saturating_add(other.failed);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.errors = self.errors.saturating_add(other.errors);
    }

    pub fn ran(&self) -> u64 {
        self.passed
            .saturating_add(self.failed)
            .saturating_add(self.errors)
    }
}

/// A run being assembled by a parser: bounded whatever the input.
#[derive(Debug, Clone)]
pub(crate) struct RunBuilder {
    pub runner: Runner,
    pub counts: Counts,
    pub duration_ms: Option<u64>,
    pub failures: Vec<TestFailure>,
    pub failures_omitted: u64,
    /// Line number (1-based, per stream) where the run's output began.
    pub start_line: u64,
    /// The test that started and has not reported a result yet, when the runner names a test
    /// before running it (verbose modes) — or the file it is in. A cut-off run counts it as
    /// one error.
    pub running: Option<String>,
    /// The parser already recorded what was running when the run died (a crash line naming
    /// it), so `finish` must not count it again.
    pub crash_recorded: bool,
    pub evidence: Vec<Evidence>,
}

impl RunBuilder {
    pub fn new(runner: Runner, start_line: u64) -> Self {
        RunBuilder {
            runner,
            counts: Counts::default(),
            duration_ms: None,
            failures: Vec::new(),
            failures_omitted: 0,
            start_line,
            running: None,
            crash_recorded: false,
            evidence: Vec::new(),
        }
    }

    /// Records that line `line` (cleaned text `text`) decided something about the run; a
    /// line and role already recorded is not repeated. Bounded by [`MAX_EVIDENCE`].
    pub fn note(&mut self, line: u64, text: &str, decides: Decides) {
        push_evidence(&mut self.evidence, line, text, decides);
    }

    /// Records a failing test; returns its index when it was kept.
    pub fn push_failure(
        &mut self,
        name: &str,
        reason: Option<&str>,
        location: Option<&str>,
    ) -> Option<usize> {
        if self.failures.len() >= MAX_FAILURES {
            self.failures_omitted = self.failures_omitted.saturating_add(1);
            return None;
        }
        self.failures.push(TestFailure {
            name: truncate(name, MAX_NAME_BYTES),
            reason: reason
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| truncate(r, MAX_REASON_BYTES)),
            location: location.map(|l| truncate(l.trim(), MAX_LOCATION_BYTES)),
        });
        Some(self.failures.len() - 1)
    }

    /// The index of the kept failure with this name, or a new one if there is room. Unlike
    /// [`push_failure`](Self::push_failure) this never counts an omitted failure: it is for
    /// details about a failure already counted elsewhere (a failure section after the result
    /// line).
    pub fn failure_or_push(&mut self, name: &str) -> Option<usize> {
        match self.failure_index(name) {
            Some(i) => Some(i),
            None if self.failures.len() < MAX_FAILURES => self.push_failure(name, None, None),
            None => None,
        }
    }

    /// The index of a kept failure with this exact name.
    pub fn failure_index(&self, name: &str) -> Option<usize> {
        self.failures.iter().position(|f| f.name == name)
    }

    /// Appends a line to a kept failure's reason, within the cap.
    pub fn append_reason(&mut self, index: usize, line: &str) {
        let line = line.trim_end();
        if line.trim().is_empty() {
            return;
        }
        if let Some(f) = self.failures.get_mut(index) {
            match &mut f.reason {
                Some(r) => {
                    if r.len() + 1 < MAX_REASON_BYTES {
                        r.push('\n');
                        let room = MAX_REASON_BYTES - r.len();
                        if line.len() <= room {
                            r.push_str(line);
                        } else {
                            r.push_str(&truncate(line, room));
                        }
                    }
                }
                None => f.reason = Some(truncate(line.trim(), MAX_REASON_BYTES)),
            }
        }
    }

    /// Sets a kept failure's reason if it has none yet.
    pub fn set_reason_if_none(&mut self, index: usize, reason: &str) {
        if let Some(f) = self.failures.get_mut(index)
            && f.reason.is_none()
            && !reason.trim().is_empty()
        {
            f.reason = Some(truncate(reason.trim(), MAX_REASON_BYTES));
        }
    }

    /// Sets a kept failure's location if it has none yet.
    pub fn set_location_if_none(&mut self, index: usize, location: &str) {
        if let Some(f) = self.failures.get_mut(index)
            && f.location.is_none()
            && !location.trim().is_empty()
        {
            f.location = Some(truncate(location.trim(), MAX_LOCATION_BYTES));
        }
    }

    pub fn has_reason(&self, index: usize) -> bool {
        self.failures.get(index).is_some_and(|f| f.reason.is_some())
    }

    pub fn add_duration_ms(&mut self, ms: u64) {
        self.duration_ms = Some(self.duration_ms.unwrap_or(0).saturating_add(ms));
    }

    /// Records that the named test (or file) started and has no result yet.
    pub fn set_running(&mut self, name: &str) {
        self.running = Some(truncate(name, MAX_NAME_BYTES));
    }

    /// Ends a run by the principle every parser follows: the runner's own `summary` wins over
    /// the `tally` of per-test lines; a run that never printed its summary is cut off and keeps
    /// what it saw; a run the runner reported `broken` (its process died) is one error more,
    /// with whatever counts it had.
    pub fn finish_by_summary(
        mut self,
        summary: Option<Counts>,
        tally: Counts,
        broken: Option<RunEnd>,
    ) -> Emitted {
        if let Some(end) = broken {
            self.counts = summary.unwrap_or(tally);
            self.counts.errors += 1;
            self.crash_recorded = true;
            return self.finish(end);
        }
        match summary {
            Some(c) => {
                self.counts = c;
                self.finish(RunEnd::Completed)
            }
            None => {
                self.counts = tally;
                self.finish(RunEnd::CutOff)
            }
        }
    }

    pub fn finish(mut self, end: RunEnd) -> Emitted {
        // A run cut off mid-way died inside a test: that test counts as one error, named as
        // precisely as the output allowed.
        if end == RunEnd::CutOff && !self.crash_recorded {
            let name = self
                .running
                .take()
                .unwrap_or_else(|| RUNNING_TEST.to_owned());
            self.counts.errors = self.counts.errors.saturating_add(1);
            match self.failure_index(&name) {
                Some(_) => {}
                None => {
                    self.push_failure(&name, None, None);
                }
            }
        }
        let Counts {
            passed,
            mut failed,
            skipped,
            errors,
        } = self.counts;
        // A run that named failing tests is never a pass, whatever a (possibly quoted or
        // garbled) summary said: the counts are raised to cover the named failures.
        let named = (self.failures.len() as u64).saturating_add(self.failures_omitted);
        if end == RunEnd::Completed && named > failed.saturating_add(errors) {
            failed = named - errors;
        }
        let run = TestRun {
            runner: self.runner,
            passed,
            failed,
            skipped,
            errors,
            total: passed
                .saturating_add(failed)
                .saturating_add(skipped)
                .saturating_add(errors),
            duration_ms: self.duration_ms,
            sampled: false,
            end,
            failures: self.failures,
            failures_omitted: self.failures_omitted,
            verdict: Verdict::judge(passed, failed, errors, end),
            evidence: self.evidence,
        };
        Emitted {
            run,
            start_line: self.start_line,
        }
    }
}

/// Adds an evidence line unless that line with that role is already there or the list is
/// full; keeps line order (a line with several roles appears once per role, adjacent).
pub(crate) fn push_evidence(list: &mut Vec<Evidence>, line: u64, text: &str, decides: Decides) {
    if list.len() >= MAX_EVIDENCE || list.iter().any(|e| e.line == line && e.decides == decides) {
        return;
    }
    let at = list.partition_point(|e| (e.line, e.decides) < (line, decides));
    list.insert(
        at,
        Evidence {
            line,
            text: sanitise(&truncate(text.trim_end(), MAX_EVIDENCE_BYTES)),
            decides,
        },
    );
}

/// `text` with control characters (a stray carriage return, a bell, an escape the cleaner
/// left) shown as spaces, so an evidence line prints as one plain line.
fn sanitise(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A finished run plus where its output began (used to tie sample announcements to runs).
#[derive(Debug, Clone)]
pub(crate) struct Emitted {
    pub run: TestRun,
    pub start_line: u64,
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut. Only the kept
/// part is copied, so the result's capacity is bounded too.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let cut = floor_boundary(s, max.saturating_sub('…'.len_utf8()));
    let mut out = String::with_capacity(cut + '…'.len_utf8());
    out.push_str(s.get(..cut).unwrap_or(""));
    out.push('…');
    out
}

/// The largest char boundary of `s` not above `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut cut = at.min(s.len());
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_never_passes_an_empty_or_broken_run() {
        assert_eq!(Verdict::judge(390, 0, 0, RunEnd::Completed), Verdict::Pass);
        assert_eq!(Verdict::judge(0, 0, 0, RunEnd::Completed), Verdict::NoTests);
        assert_eq!(Verdict::judge(3, 0, 0, RunEnd::CutOff), Verdict::Error);
        assert_eq!(Verdict::judge(0, 0, 1, RunEnd::NotStarted), Verdict::Error);
        assert_eq!(Verdict::judge(5, 1, 0, RunEnd::Completed), Verdict::Fail);
        assert_eq!(Verdict::judge(5, 0, 1, RunEnd::Completed), Verdict::Fail);
        assert_eq!(Verdict::judge(0, 0, 2, RunEnd::Completed), Verdict::Fail);
    }

    #[test]
    fn verdict_serialises_as_documented() {
        let names: Vec<String> = [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Error,
            Verdict::NoTests,
        ]
        .iter()
        .map(|v| serde_json::to_string(v).unwrap())
        .collect();
        assert_eq!(names, ["\"pass\"", "\"fail\"", "\"error\"", "\"no-tests\""]);
    }

    #[test]
    fn failures_are_capped_and_counted() {
        let mut b = RunBuilder::new(Runner::Generic, 1);
        for i in 0..(MAX_FAILURES + 10) {
            b.push_failure(&format!("t{i}"), Some(&"x".repeat(5000)), None);
        }
        let run = b.finish(RunEnd::Completed).run;
        assert_eq!(run.failures.len(), MAX_FAILURES);
        assert_eq!(run.failures_omitted, 10);
        assert!(
            run.failures[0].reason.as_ref().unwrap().len() <= MAX_REASON_BYTES,
            "reason is truncated"
        );
    }

    #[test]
    fn evidence_is_bounded_ordered_and_plain() {
        let mut b = RunBuilder::new(Runner::Bun, 1);
        b.note(7, "summary", Decides::Counts);
        b.note(3, "header\x1b[0m\r", Decides::Runner);
        b.note(7, "summary", Decides::Counts);
        for i in 0..100 {
            b.note(100 + i, &"x".repeat(5000), Decides::Verdict);
        }
        let run = b.finish(RunEnd::Completed).run;
        assert_eq!(run.evidence.len(), MAX_EVIDENCE);
        assert_eq!(
            (run.evidence[0].line, run.evidence[0].decides),
            (3, Decides::Runner)
        );
        assert_eq!(run.evidence[0].text, "header [0m");
        assert_eq!(run.evidence[1].line, 7, "one entry per line and role");
        assert_ne!(run.evidence[2].line, 7);
        assert!(
            run.evidence
                .iter()
                .all(|e| e.text.len() <= MAX_EVIDENCE_BYTES)
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let s = "é".repeat(100);
        let t = truncate(&s, 11);
        assert!(t.len() <= 11);
        assert!(t.ends_with('…'));
        let long = "x".repeat(100_000);
        assert!(truncate(&long, 480).capacity() <= 480);
    }
}
