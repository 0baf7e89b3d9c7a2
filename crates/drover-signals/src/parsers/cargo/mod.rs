//! `cargo test`: one invocation prints a `running N tests` … `test result:` block per test
//! binary (unit tests, each integration test, doc-tests); the blocks are summed into one run.
//!
//! Each block's `test result:` line is authoritative for that block; `test x ... ok` lines are
//! tallied only for a block that never finished (the binary crashed or was killed). Panic
//! messages in the `---- name stdout ----` sections give reasons and `file:line:col`; everything
//! else in those sections is the test's captured output and is never read as structure. A
//! compile error in a test target (`could not compile … (lib test)`) is a run that could not
//! start. The invocation has no closing line, so the run settles (see the detector). A paste
//! that starts at its first `test x ... ok` line (its `running N tests` cut off) opens a block
//! whose `test result:` is taken whatever it counts.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser, rust_panic_header};
use crate::run::{Counts, Decides, Emitted, MAX_REASON_BYTES, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms};

const MAX_PANIC_LINES: u8 = 6;

#[derive(Default)]
pub(crate) struct CargoTestParser {
    run: Option<CargoRun>,
    /// First compiler error since the last `Compiling` line, with its `-->` location: the reason
    /// for a compile failure reported later.
    compile_error: String,
    compile_location: String,
    expect_location: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Between `Running …` and `running N tests`, or between blocks.
    Outside,
    /// Inside a `running N tests` block.
    Block,
    /// In `failures:` before any `---- x stdout ----`.
    Failures,
    /// In a `---- x stdout ----` section.
    Stdout,
}

struct CargoRun {
    b: RunBuilder,
    section: Section,
    block_open: bool,
    /// `running N tests` of the open block.
    declared: Option<u64>,
    block_tally: Counts,
    summaries: u32,
    binary: String,
    crashed: bool,
    not_started: bool,
    /// `error: N targets failed:` was printed: the invocation is over once its list ends.
    closing_list: bool,
    stdout_failure: Option<usize>,
    panic_lines: u8,
    in_panic: bool,
    crash_failure: Option<usize>,
}

impl CargoRun {
    fn new(line_no: u64) -> Self {
        CargoRun {
            b: RunBuilder::new(Runner::CargoTest, line_no),
            section: Section::Outside,
            block_open: false,
            declared: None,
            block_tally: Counts::default(),
            summaries: 0,
            binary: String::new(),
            crashed: false,
            not_started: false,
            closing_list: false,
            stdout_failure: None,
            panic_lines: 0,
            in_panic: false,
            crash_failure: None,
        }
    }

    fn finish(mut self) -> Emitted {
        let end = if self.not_started {
            RunEnd::NotStarted
        } else if self.crashed || self.block_open || self.summaries == 0 {
            RunEnd::CutOff
        } else {
            RunEnd::Completed
        };
        if self.block_open {
            let partial = self.block_tally;
            self.b.counts.add(partial);
        }
        self.b.finish(end)
    }

    fn open_block(&mut self, declared: u64) {
        self.declared = Some(declared);
        self.block_open = true;
        self.block_tally = Counts::default();
        self.section = Section::Block;
    }

    /// A block whose `running N tests` line was not seen (a paste that starts at its first
    /// result): its `test result:` line is taken whatever it counts.
    fn open_headerless_block(&mut self) {
        self.open_block(0);
        self.declared = None;
    }
}

/// `test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in
/// 0.00s` → counts and duration.
struct BlockResult {
    counts: Counts,
    /// `passed + failed + ignored + measured`: what `running N tests` announced.
    ran: u64,
    duration_ms: Option<u64>,
}

fn parse_result(line: &str) -> Option<BlockResult> {
    let rest = line.strip_prefix("test result: ")?;
    let (_, items) = rest.split_once(". ")?;
    let mut c = Counts::default();
    let mut measured = 0;
    let mut dur = None;
    let mut seen = false;
    for item in items.split("; ") {
        if let Some(d) = item.strip_prefix("finished in ") {
            dur = duration_ms(d);
            continue;
        }
        let (n, word) = count_item(item)?;
        match word {
            "passed" => c.passed += n,
            "failed" => c.failed += n,
            "ignored" => c.skipped += n,
            "measured" => measured = n,
            _ => {}
        }
        seen = true;
    }
    seen.then(|| BlockResult {
        counts: c,
        ran: c.passed + c.failed + c.skipped + measured,
        duration_ms: dur,
    })
}

/// `running 3 tests` / `running 1 test`.
fn running_count(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("running ")?;
    let (n, word) = count_item(rest)?;
    (word == "tests" || word == "test").then_some(n)
}

/// `test tests::adds ... FAILED` → (name, outcome).
fn test_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("test ")?;
    let (name, outcome) = rest.rsplit_once(" ... ")?;
    let outcome = outcome.trim();
    let known = outcome == "ok"
        || outcome == "FAILED"
        || outcome.starts_with("ignored")
        || outcome.starts_with("bench:");
    known.then_some((name.trim(), outcome))
}

/// `     Running unittests src/lib.rs (target/debug/deps/x-1)` or `   Doc-tests ledger` → the
/// binary's description.
fn binary_line(line: &str) -> Option<&str> {
    let t = line.trim();
    if let Some(rest) = t.strip_prefix("Running ") {
        let (desc, path) = rest.rsplit_once(" (")?;
        return (path.ends_with(')') && path.contains("/deps/")).then_some(desc);
    }
    let rest = t.strip_prefix("Doc-tests ")?;
    (!rest.contains(' ')).then_some(t)
}

/// `error: could not compile `x` (lib test) due to 1 previous error` → `x (lib test)` when the
/// failed target is a test target (a failed plain build is not a test run).
fn compile_failure(line: &str) -> Option<String> {
    let rest = line.strip_prefix("error: could not compile `")?;
    let (krate, after) = rest.split_once('`')?;
    let target = after.trim_start().strip_prefix('(')?.split_once(')')?.0;
    let is_test = target == "lib test"
        || target == "doctest"
        || target.starts_with("test ")
        || target.ends_with(" test");
    is_test.then(|| format!("{krate} ({target})"))
}

/// `error: could not compile `x`.` / `error: Could not compile `x`.` (no target named) → `x`.
fn old_compile_failure(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("error: could not compile `")
        .or_else(|| line.strip_prefix("error: Could not compile `"))?;
    let (krate, after) = rest.split_once('`')?;
    matches!(after.trim(), "" | ".").then_some(krate)
}

/// A compiler location in a test file: `tests/x.rs:3:13`, `crate/tests/x.rs:…`.
fn is_test_source(location: &str) -> bool {
    location.starts_with("tests/") || location.contains("/tests/")
}

impl RunParser for CargoTestParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.block_open || (r.summaries == 0 && !r.not_started && !r.crashed) => {
                Phase::Running
            }
            Some(_) => Phase::Settling,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        self.remember_compile_error(line);

        if let Some(run) = self.run.as_mut()
            && run.section == Section::Stdout
        {
            return Self::feed_stdout_section(run, line);
        }

        if let Some(n) = running_count(line) {
            match self.run.as_mut() {
                Some(run) if run.block_open => {
                    // A block that never printed its result: that binary died.
                    if let Some(mut prev) = self.run.take() {
                        prev.crashed = true;
                        out.push(prev.finish());
                    }
                    self.run.insert(CargoRun::new(ctx.line_no)).open_block(n);
                }
                Some(run) => run.open_block(n),
                None => self.run.insert(CargoRun::new(ctx.line_no)).open_block(n),
            }
            return Claim::Mine;
        }

        if self.run.is_none() && !ctx.foreign_run_active && test_line(line).is_some() {
            self.run
                .insert(CargoRun::new(ctx.line_no))
                .open_headerless_block();
        }

        if let Some(desc) = binary_line(line) {
            let run = self.run.get_or_insert_with(|| CargoRun::new(ctx.line_no));
            run.binary.clear();
            run.binary.push_str(desc.get(..200).unwrap_or(desc));
            run.section = Section::Outside;
            return Claim::Mine;
        }

        if let Some(target) = compile_failure(line) {
            let reason = (!self.compile_error.is_empty()).then_some(self.compile_error.as_str());
            let location =
                (!self.compile_location.is_empty()).then_some(self.compile_location.as_str());
            let run = self.run.get_or_insert_with(|| CargoRun::new(ctx.line_no));
            run.not_started = true;
            // One error per test target that failed to build (a crate, a test binary).
            run.b.counts.errors = run.b.counts.errors.saturating_add(1);
            run.b.push_failure(&target, reason, location);
            run.b.note(ctx.line_no, line, Decides::Verdict);
            // The next target's failure has its own first error.
            self.compile_error.clear();
            self.compile_location.clear();
            return Claim::Mine;
        }

        // Cargo before 1.50 named no target (`error: could not compile `x`.`, and before 1.30
        // `Could not compile`): a test run's when the first error was in a test file. One
        // error per crate, however many of its targets failed.
        if let Some(krate) = old_compile_failure(line) {
            if let Some(run) = self.run.as_ref()
                && run.b.failure_index(krate).is_some()
            {
                return Claim::Mine;
            }
            if is_test_source(&self.compile_location) {
                let reason =
                    (!self.compile_error.is_empty()).then_some(self.compile_error.as_str());
                let location = Some(self.compile_location.as_str());
                let run = self.run.get_or_insert_with(|| CargoRun::new(ctx.line_no));
                run.not_started = true;
                run.b.counts.errors = run.b.counts.errors.saturating_add(1);
                run.b.push_failure(krate, reason, location);
                run.b.note(ctx.line_no, line, Decides::Verdict);
                self.compile_error.clear();
                self.compile_location.clear();
                return Claim::Mine;
            }
        }

        if let Some(result) = parse_result(line) {
            match self.run.as_ref() {
                None if ctx.foreign_run_active => return Claim::NotMine,
                // A result belongs to the block that announced as many tests; anything else is
                // output (a test running `cargo test` in a child process, say).
                Some(run) if !run.block_open || run.declared.is_some_and(|n| n != result.ran) => {
                    return Claim::Weak;
                }
                _ => {}
            }
            let run = self.run.get_or_insert_with(|| CargoRun::new(ctx.line_no));
            run.b.counts.add(result.counts);
            if let Some(d) = result.duration_ms {
                run.b.add_duration_ms(d);
            }
            run.block_open = false;
            run.summaries += 1;
            run.section = Section::Outside;
            return Claim::Mine;
        }

        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };

        // A new invocation builds first: whatever the previous one left is over.
        let t = line.trim_start();
        if (t.starts_with("Compiling ")
            || t.starts_with("Finished `test`")
            || t.starts_with("Finished test ["))
            && !run.not_started
        {
            if let Some(run) = self.run.take() {
                out.push(run.finish());
            }
            return Claim::NotMine;
        }

        // `test x ... ` with no result yet: the test runs (its result, or the crash report
        // of the binary dying inside it, follows on the same line or the next).
        let mut line = line;
        if run.block_open
            && test_line(line).is_none()
            && let Some((name, after)) = line
                .strip_prefix("test ")
                .and_then(|r| r.split_once(" ..."))
            && !name.contains(' ')
        {
            run.b.set_running(name);
            let after = after.trim_start();
            if after.is_empty() {
                return Claim::Mine;
            }
            line = after;
        }
        if let Some(flag) = line
            .strip_prefix("error: test failed, to rerun pass `")
            .and_then(|r| r.strip_suffix('`'))
        {
            if run.block_open {
                run.crashed = true;
                // The binary died inside a test: that test (or, when the output never named
                // it, the binary) is one error.
                let name = match run.b.running.take() {
                    Some(test) => test,
                    None if run.binary.is_empty() => flag.to_owned(),
                    None => run.binary.clone(),
                };
                run.b.crash_recorded = true;
                run.b.counts.errors += 1;
                run.crash_failure = run.b.push_failure(&name, None, None);
                let partial = run.block_tally;
                run.b.counts.add(partial);
                run.block_open = false;
            }
            run.section = Section::Outside;
            return Claim::Mine;
        }
        if line == "Caused by:" {
            return Claim::Mine;
        }
        if let Some(rest) = line
            .trim()
            .strip_prefix("process didn't exit successfully: ")
        {
            if let Some(i) = run.crash_failure {
                let status = rest.rsplit_once("` ").map_or(rest, |(_, s)| s);
                run.b
                    .set_reason_if_none(i, &format!("process didn't exit successfully {status}"));
            }
            return Claim::Mine;
        }
        if (line.starts_with("error: ") && line.ends_with(" targets failed:"))
            || line == "error: 1 target failed:"
        {
            run.closing_list = true;
            return Claim::Mine;
        }
        if run.closing_list {
            // The list of failed targets ends the invocation; the run settles.
            return if line.starts_with("    `") {
                Claim::Mine
            } else {
                Claim::NotMine
            };
        }
        if run.not_started {
            if line.starts_with("error: command `") && line.contains("--no-run") {
                // cargo-nextest builds through `cargo test --no-run`.
                run.b.runner = Runner::CargoNextest;
                return Claim::Mine;
            }
            if line.starts_with("warning: build failed") {
                return Claim::Mine;
            }
        }

        match run.section {
            Section::Block => {
                if let Some((name, outcome)) = test_line(line) {
                    run.b.running = None;
                    match outcome {
                        "ok" => run.block_tally.passed += 1,
                        "FAILED" => {
                            run.block_tally.failed += 1;
                            if run.b.failure_index(name).is_none() {
                                run.b.push_failure(name, None, None);
                            }
                        }
                        o if o.starts_with("ignored") => run.block_tally.skipped += 1,
                        _ => {}
                    }
                    return Claim::Mine;
                }
                if line == "failures:" {
                    run.section = Section::Failures;
                    return Claim::Mine;
                }
                Claim::Weak
            }
            Section::Failures => {
                if let Some(name) = stdout_header(line) {
                    Self::enter_stdout(run, name);
                    return Claim::Mine;
                }
                Claim::Mine
            }
            Section::Outside | Section::Stdout => {
                if line == "failures:" && run.block_open {
                    run.section = Section::Failures;
                    return Claim::Mine;
                }
                if line.is_empty() {
                    return Claim::Mine;
                }
                if run.block_open || (run.summaries == 0 && !run.not_started && !run.crashed) {
                    Claim::Weak
                } else {
                    Claim::NotMine
                }
            }
        }
    }
}

/// `---- tests::adds stdout ----` → `tests::adds`.
fn stdout_header(line: &str) -> Option<&str> {
    line.strip_prefix("---- ")?.strip_suffix(" stdout ----")
}

impl CargoTestParser {
    fn enter_stdout(run: &mut CargoRun, name: &str) {
        run.section = Section::Stdout;
        run.stdout_failure = match run.b.failure_index(name) {
            Some(i) => Some(i),
            None => run.b.failure_or_push(name),
        };
        run.panic_lines = 0;
        run.in_panic = false;
    }

    /// Inside `---- x stdout ----`: the test's own output, claimed whole; panic messages give
    /// the reason.
    fn feed_stdout_section(run: &mut CargoRun, line: &str) -> Claim {
        if let Some(name) = stdout_header(line) {
            Self::enter_stdout(run, name);
            return Claim::Mine;
        }
        if line == "failures:" {
            run.section = Section::Failures;
            return Claim::Mine;
        }
        if parse_result(line).is_some() {
            // Only reachable for a `test result:` printed by the test itself: a real one is
            // always preceded by the `failures:` list.
            return Claim::Mine;
        }
        let Some(i) = run.stdout_failure else {
            return Claim::Mine;
        };
        if let Some((loc, inline)) = rust_panic_header(line) {
            run.b.set_location_if_none(i, loc);
            if let Some(msg) = inline {
                run.b.set_reason_if_none(i, msg);
            } else {
                run.in_panic = true;
            }
            return Claim::Mine;
        }
        if run.in_panic {
            let t = line.trim_end();
            if t.is_empty() || t.starts_with("note: ") || t == "stack backtrace:" {
                run.in_panic = false;
            } else if run.panic_lines < MAX_PANIC_LINES {
                if run.panic_lines == 0 {
                    run.b.set_reason_if_none(i, t);
                } else {
                    run.b.append_reason(i, t);
                }
                run.panic_lines += 1;
            }
            return Claim::Mine;
        }
        if let Some(err) = line.strip_prefix("Error: ") {
            // A test returning `Err(..)`.
            run.b.set_reason_if_none(i, err);
        }
        Claim::Mine
    }

    fn remember_compile_error(&mut self, line: &str) {
        if self.expect_location {
            self.expect_location = false;
            if let Some(loc) = line.trim_start().strip_prefix("--> ")
                && self.compile_location.is_empty()
            {
                self.compile_location
                    .push_str(loc.get(..200).unwrap_or(loc));
                return;
            }
        }
        if !line.starts_with('e') && !line.starts_with(' ') {
            return;
        }
        if line.trim_start().starts_with("Compiling ") {
            self.compile_error.clear();
            self.compile_location.clear();
            return;
        }
        let is_error = line.starts_with("error[E")
            || (line.starts_with("error: ")
                && !line.starts_with("error: could not compile")
                && !line.starts_with("error: Could not compile")
                && !line.starts_with("error: test failed")
                && !line.starts_with("error: aborting")
                && !line.starts_with("error: command"));
        if is_error && self.compile_error.is_empty() {
            let end = line.len().min(MAX_REASON_BYTES);
            let mut cut = end;
            while cut > 0 && !line.is_char_boundary(cut) {
                cut -= 1;
            }
            self.compile_error.push_str(line.get(..cut).unwrap_or(""));
            self.expect_location = true;
        }
    }
}

#[cfg(test)]
mod tests;
