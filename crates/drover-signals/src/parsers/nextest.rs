//! cargo-nextest's human output: `Starting N tests across M binaries`, one status line per
//! test (`PASS [0.005s] (1/5) crate tests::x`), indented `stdout ───`/`stderr ───` sections for
//! failures, and `Summary [..] N tests run: a passed, b failed, c skipped`.
//!
//! The summary is authoritative; status lines are tallied for runs cut off before it. A summary
//! alone (its run's start not pasted) is a run, wrapped over two lines or not, and the `FAIL`
//! lines after it name its failures. The
//! failure sections are the test's captured output (never read as structure) from which the
//! panic message and location are taken. The JUnit report nextest writes is read by
//! `signals::junit`.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser, rust_panic_header};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms, indent};

const MAX_PANIC_LINES: u8 = 6;

#[derive(Default)]
pub(crate) struct NextestParser {
    run: Option<NxRun>,
    /// A `Summary [..] N tests run: a passed (x slow,` line wrapped before its end: joined
    /// with the next line.
    wrapped_summary: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Results,
    Output,
    AfterSummary,
}

struct NxRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    section: Section,
    current: Option<usize>,
    in_panic: bool,
    panic_lines: u8,
    interrupted: bool,
    final_error_seen: bool,
    /// `Starting N tests`.
    planned: Option<u64>,
}

impl NxRun {
    fn new(line_no: u64) -> Self {
        NxRun {
            b: RunBuilder::new(Runner::CargoNextest, line_no),
            tally: Counts::default(),
            summary: None,
            section: Section::Results,
            current: None,
            in_panic: false,
            panic_lines: 0,
            interrupted: false,
            final_error_seen: false,
            planned: None,
        }
    }

    fn finish(mut self) -> Emitted {
        let end = if self.interrupted || self.summary.is_none() {
            RunEnd::CutOff
        } else {
            RunEnd::Completed
        };
        self.b.counts = self.summary.unwrap_or(self.tally);
        self.b.finish(end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Skip,
    Other,
}

/// `    FAIL [   0.076s] (2/7) ledger tests::adds` → (status, name).
fn status_line(line: &str) -> Option<(Status, &str)> {
    let t = line.trim_start();
    let (status, rest) = t.split_once(" [")?;
    let (timing, rest) = rest.split_once("] ")?;
    if !timing.trim_start_matches('>').trim().ends_with('s') {
        return None;
    }
    let (counter, name) = match rest.strip_prefix('(') {
        Some(r) => {
            let (c, n) = r.split_once(") ")?;
            (Some(c), n)
        }
        None => (None, rest),
    };
    let mut status = status.trim();
    // `TRY 3 FAIL [ 0.02s] (2/5) bin test`: with retries, the try that carries the progress
    // counter is the test's result; earlier tries show `(───)` instead.
    if let Some(rest) = status.strip_prefix("TRY ")
        && let Some((_, final_status)) = rest.split_once(' ')
        && counter.is_some_and(|c| c.contains('/'))
    {
        status = final_status.trim();
    }
    let kind = match status {
        "PASS" | "LEAK" | "FLAKY" => Status::Pass,
        "SKIP" => Status::Skip,
        "FAIL" | "TIMEOUT" | "ABORT" | "LEAK-FAIL" | "EXEC FAIL" => Status::Fail,
        s if s.starts_with("SIG") && s.len() <= 10 => Status::Fail,
        s if s.starts_with("TRY ") || s == "SLOW" || s == "RETRY" || s == "START" => Status::Other,
        _ => return None,
    };
    (!name.is_empty()).then_some((kind, name.trim()))
}

/// `Summary [   0.189s] 7 tests run: 3 passed, 4 failed, 0 skipped` → counts, duration.
/// Also returns the number of tests the run was to run (`7` in `7 tests run` and `3/7 tests run`).
fn summary_line(line: &str) -> Option<(Counts, Option<u64>, u64)> {
    let rest = line.trim_start().strip_prefix("Summary [")?;
    let (dur, rest) = rest.split_once("] ")?;
    let (planned, items) = rest.split_once(" run: ")?;
    let planned = planned.split_whitespace().next()?;
    let planned = planned.rsplit('/').next()?.parse().ok()?;
    // `5 passed (1 flaky)`, `1959 passed (42 slow, 2 leaky)`: parenthesised parts are details
    // (and may hold commas of their own).
    let mut plain = String::with_capacity(items.len());
    let mut depth = 0u32;
    for ch in items.chars() {
        match ch {
            '(' => depth = depth.saturating_add(1),
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(ch),
            _ => {}
        }
    }
    let mut c = Counts::default();
    for item in plain.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (n, word) = count_item(item)?;
        match word {
            "passed" => c.passed += n,
            "failed" | "timed out" | "exec failed" => c.failed += n,
            "skipped" => c.skipped += n,
            _ => {}
        }
    }
    Some((c, duration_ms(dur.trim()), planned))
}

/// `Starting 7 tests across 2 binaries (1 test skipped)` → 7.
fn starting_count(t: &str) -> Option<u64> {
    let rest = t.strip_prefix("Starting ")?;
    let (n, _) = crate::text::leading_number(rest)?;
    Some(n)
}

fn is_start(t: &str) -> bool {
    t.starts_with("Nextest run ID ")
        || (t.starts_with("Starting ") && t.contains(" across ") && t.contains(" binar"))
}

/// `stdout ───` / `stderr ───` (current nextest) or `--- STDOUT: x ---` (older).
fn is_output_header(t: &str) -> bool {
    ((t.starts_with("stdout ") || t.starts_with("stderr ")) && t.ends_with('─'))
        || t.starts_with("--- STDOUT:")
        || t.starts_with("--- STDERR:")
}

fn is_rule(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| c == '─')
}

impl RunParser for NextestParser {
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
        let t = line.trim_start();
        if is_start(t) {
            match self.run.as_ref() {
                // `Nextest run ID` and `Starting` belong to the same run.
                Some(run) if run.summary.is_none() && run.tally == Counts::default() => {}
                _ => {
                    if let Some(prev) = self.run.take() {
                        out.push(prev.finish());
                    }
                    self.run = Some(NxRun::new(ctx.line_no));
                }
            }
            if let Some(run) = self.run.as_mut()
                && let Some(n) = starting_count(t)
            {
                run.planned = Some(n);
            }
            return Claim::Mine;
        }
        // A summary wrapped over two lines (as pasted): read it joined.
        let joined;
        let (line, t) = match self.wrapped_summary.take() {
            Some(head) => {
                joined = format!("{head} {t}");
                (joined.as_str(), joined.as_str())
            }
            None => (line, t),
        };
        if t.starts_with("Summary [") && t.ends_with(',') && t.contains(" run: ") {
            self.wrapped_summary = Some(t.to_owned());
            return Claim::Mine;
        }
        if self.run.is_none()
            && !ctx.foreign_run_active
            && let Some((_, _, planned)) = summary_line(line)
        {
            // The closing summary alone (the run's start scrolled off or was not pasted): the
            // summary is the run.
            let mut run = NxRun::new(ctx.line_no);
            run.planned = Some(planned);
            self.run = Some(run);
        }
        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };

        if run.section == Section::Output {
            // Everything up to the next structural line is the test's captured output (and any
            // unrelated line interleaved with it); only indented lines are read for reasons.
            let structural = status_line(line).is_some()
                || summary_line(line).is_some()
                || is_rule(t)
                || is_output_header(t)
                || t.starts_with("Cancelling due to ")
                || t.starts_with("Canceling due to ");
            if !structural {
                if line.is_empty() || indent(line) >= 4 {
                    Self::feed_output(run, line);
                }
                return Claim::Mine;
            }
            run.section = Section::Results;
        }

        if is_rule(t) {
            return Claim::Mine;
        }
        if let Some((counts, dur, planned)) = summary_line(line) {
            // Only the summary of the tests this run announced (a quoted one is output).
            if run.planned != Some(planned) {
                return Claim::Weak;
            }
            run.summary = Some(counts);
            run.b.duration_ms = dur;
            run.section = Section::AfterSummary;
            if counts.failed == 0
                && counts.ran() > 0
                && let Some(run) = self.run.take()
            {
                out.push(run.finish());
            }
            return Claim::Mine;
        }
        if t.starts_with("Cancelling due to ") || t.starts_with("Canceling due to ") {
            if t.contains("interrupt") || t.contains("signal") {
                run.interrupted = true;
            }
            return Claim::Mine;
        }
        if let Some((status, name)) = status_line(line) {
            if run.section == Section::AfterSummary {
                // The final list repeats the failures; it names them when the run's own lines
                // were not seen.
                if status == Status::Fail {
                    run.b.failure_or_push(name);
                }
                return Claim::Mine;
            }
            match status {
                Status::Pass => run.tally.passed += 1,
                Status::Skip => run.tally.skipped += 1,
                Status::Fail => {
                    run.tally.failed += 1;
                    run.current = run.b.push_failure(name, None, None);
                    if let Some(i) = run.current
                        && let Some(sig) = t.split_whitespace().next()
                        && sig.starts_with("SIG")
                    {
                        run.b
                            .set_reason_if_none(i, &format!("test killed by {sig}"));
                    }
                    run.in_panic = false;
                    run.panic_lines = 0;
                }
                Status::Other => {}
            }
            return Claim::Mine;
        }
        if is_output_header(t) {
            run.section = Section::Output;
            run.in_panic = false;
            return Claim::Mine;
        }
        if run.section == Section::AfterSummary {
            if t == "error: test run failed" || t == "error: no tests to run" {
                run.final_error_seen = true;
                if t == "error: test run failed"
                    && let Some(run) = self.run.take()
                {
                    out.push(run.finish());
                }
                return Claim::Mine;
            }
            if run.final_error_seen && t.starts_with("(hint:") {
                if let Some(run) = self.run.take() {
                    out.push(run.finish());
                }
                return Claim::Mine;
            }
            // Anything else: the run settles (unrelated lines do not end it early, so a
            // summary quoted right after it cannot pass as a run of its own).
            return if t.is_empty() {
                Claim::Mine
            } else {
                Claim::NotMine
            };
        }
        if t.is_empty() {
            return Claim::Mine;
        }
        Claim::Weak
    }
}

impl NextestParser {
    fn feed_output(run: &mut NxRun, line: &str) {
        let Some(i) = run.current else {
            return;
        };
        let t = line.trim();
        if let Some((loc, inline)) = rust_panic_header(t) {
            run.b.set_location_if_none(i, loc);
            match inline {
                Some(msg) => run.b.set_reason_if_none(i, msg),
                None => {
                    run.in_panic = true;
                    run.panic_lines = 0;
                }
            }
            return;
        }
        if run.in_panic {
            if t.is_empty() || t.starts_with("note: ") || t == "stack backtrace:" {
                run.in_panic = false;
            } else if run.panic_lines < MAX_PANIC_LINES {
                if run.panic_lines == 0 {
                    // Replaces a `test killed by SIG…` placeholder only when none was set.
                    run.b.set_reason_if_none(i, t);
                } else {
                    run.b.append_reason(i, line.get(4..).unwrap_or(t));
                }
                run.panic_lines += 1;
            }
            return;
        }
        if t.starts_with("(test aborted with signal") {
            if let Some(f) = run.b.failures.get_mut(i) {
                f.reason = Some(t.trim_matches(['(', ')']).to_owned());
            }
        } else if let Some(err) = t.strip_prefix("Error: ") {
            run.b.set_reason_if_none(i, err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_tests_last_try_is_its_result() {
        assert_eq!(
            status_line("  TRY 3 FAIL [   0.024s] (2/5) ledger tests::sums_entries").map(|s| s.0),
            Some(Status::Fail)
        );
        assert_eq!(
            status_line("  TRY 1 FAIL [   0.032s] (───) ledger tests::sums_entries").map(|s| s.0),
            Some(Status::Other)
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line("        FAIL [   0.076s] (2/7) ledger tests::adds"),
            Some((Status::Fail, "ledger tests::adds"))
        );
        assert_eq!(
            status_line("     SIGABRT [   0.207s] (2/4) ledger tests::b_aborts"),
            Some((Status::Fail, "ledger tests::b_aborts"))
        );
        assert_eq!(
            status_line("        PASS [   0.005s] ledger::api api_add"),
            Some((Status::Pass, "ledger::api api_add"))
        );
        assert_eq!(status_line("  stdout ───"), None);
    }

    #[test]
    fn summaries() {
        let (c, d, n) =
            summary_line("     Summary [   0.189s] 7 tests run: 3 passed, 4 failed, 0 skipped")
                .unwrap();
        assert_eq!(
            (c.passed, c.failed, c.skipped, d, n),
            (3, 4, 0, Some(189), 7)
        );
        let (c, _, n) =
            summary_line("Summary [ 1.0s] 3/5 tests run: 3 passed (1 flaky), 2 skipped").unwrap();
        assert_eq!((c.passed, c.skipped, n), (3, 2, 5));
    }
}
