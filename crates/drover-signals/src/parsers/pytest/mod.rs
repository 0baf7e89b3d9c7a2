//! pytest: plain, `-q` and `-v` output, the FAILURES/ERRORS sections and "short test summary
//! info".
//!
//! The final `=== N failed, M passed in 0.1s ===` line is authoritative for counts; progress
//! characters and `-v` status words are tallied only for runs that never reach it. Output a
//! test captured (`--- Captured stdout call ---`) is never read as structure, and a summary
//! line is only accepted if it agrees with the progress tally (or, before any progress, with
//! the collected count) — a test that prints `=== 390 passed ===` cannot pass a run.
//! With `-s` the test's own output sits between pytest's words: only a test id at the start of a
//! line and a status word at its end are read, and the summary is checked against the collected
//! count (the progress tally cannot be read there). pytest-sugar's `Results (0.2s):` block
//! stands for the summary line; under pytest-xdist a file that fails to collect leaves the
//! rest running (still an error), and a worker that died and was replaced is the summary's
//! failure, not a crash of the run.

mod idle;
mod lines;
mod rich;

pub(crate) use rich::PytestRichParser;

use lines::{
    interrupted_in_collection, parse_summary, progress_chars, starts_with_status, tail_of,
    traceback_location, trailing_status, verbose_status, xdist_status,
};

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner, truncate};
use crate::text::strip_banner;

const MAX_REASON_LINES: u8 = 8;

#[derive(Default)]
pub(crate) struct PytestParser {
    run: Option<PytestRun>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Header,
    Failures,
    Errors,
    Captured,
    ShortSummary,
    Other,
}

struct PytestRun {
    b: RunBuilder,
    section: Section,
    /// Section to return to after captured output (Failures or Errors).
    block_section: Section,
    tally: Counts,
    tally_seen: bool,
    collection_interrupted: bool,
    /// `N` in `Interrupted: N errors during collection`, for a run cut before its summary.
    collection_errors: u64,
    /// Unindented lines of failure blocks (block, line), bounded: the full text behind a short
    /// summary reason pytest cut with `...`.
    block_lines: Vec<(usize, String)>,
    /// `Fatal Python error: …` (faulthandler's report of the crash): the reason of the test
    /// that was running.
    crash_reason: Option<String>,
    cut_off: bool,
    /// `collected N items`.
    collected: Option<u64>,
    /// `ERROR collecting x.py` blocks: files that failed to collect (under xdist pytest runs
    /// the rest and prints no `collected … / N errors`).
    collect_blocks: u64,
    /// pytest-sugar's `Results (0.17s):` block, read so far: its counts replace pytest's
    /// summary line.
    sugar: Option<Counts>,
    /// The run began with `=== test session starts ===` (not `-q`).
    session_banner: bool,
    block: Option<usize>,
    block_reason_lines: u8,
    /// Test output is interleaved with the progress (`-s`): the progress tally cannot be
    /// read, so a summary is checked against the collected count instead.
    interleaved: bool,
}

impl PytestRun {
    fn new(line_no: u64, section: Section) -> Self {
        PytestRun {
            b: RunBuilder::new(Runner::Pytest, line_no),
            section,
            block_section: Section::Failures,
            tally: Counts::default(),
            tally_seen: false,
            collection_interrupted: false,
            collection_errors: 0,
            block_lines: Vec::new(),
            cut_off: false,
            crash_reason: None,
            collected: None,
            collect_blocks: 0,
            sugar: None,
            session_banner: false,
            block: None,
            block_reason_lines: 0,
            interleaved: false,
        }
    }

    fn finish(mut self, summary: Option<(Counts, Option<u64>)>) -> Emitted {
        // Files that failed to collect (pytest before 3.0 ran the rest): never a pass or a
        // plain failure.
        let end =
            if self.collection_interrupted || self.collection_errors > 0 || self.collect_blocks > 0
            {
                RunEnd::NotStarted
            } else if self.cut_off || summary.is_none() {
                RunEnd::CutOff
            } else {
                RunEnd::Completed
            };
        match summary {
            Some((counts, dur)) => {
                self.b.counts = counts;
                self.b.duration_ms = dur;
            }
            None => {
                self.b.counts = self.tally;
                self.b.counts.errors = self.b.counts.errors.max(self.collection_errors);
            }
        }
        if end == RunEnd::CutOff
            && let Some(reason) = self.crash_reason.take()
        {
            // The crash is what the running test died of: one error with that reason.
            let name = self.b.running.take();
            let name = name.as_deref().unwrap_or(crate::run::RUNNING_TEST);
            self.b.crash_recorded = true;
            self.b.counts.errors = self.b.counts.errors.saturating_add(1);
            match self.b.failure_index(name) {
                Some(i) => self.b.set_reason_if_none(i, &reason),
                None => {
                    self.b.push_failure(name, Some(&reason), None);
                }
            }
        }
        // A block without an `E` line (a collection error's message, a plugin's report): its
        // first plain line is the reason.
        for (i, l) in std::mem::take(&mut self.block_lines) {
            if !l.starts_with('>') && !self.b.has_reason(i) {
                self.b.set_reason_if_none(i, &l);
            }
        }
        if self.b.failures.len() >= crate::run::MAX_FAILURES {
            let failing = self.b.counts.failed.saturating_add(self.b.counts.errors);
            self.b.failures_omitted = failing.saturating_sub(self.b.failures.len() as u64);
        }
        self.b.finish(end)
    }

    fn tally_char(&mut self, c: u8) {
        self.tally_seen = true;
        let t = &mut self.tally;
        match c {
            b'.' | b'X' => t.passed += 1,
            b'F' => t.failed += 1,
            b'E' => t.errors += 1,
            b's' | b'x' => t.skipped += 1,
            _ => {}
        }
    }

    /// A test's result: tallied, a failing test named; nothing is running any more.
    fn result(&mut self, name: &str, c: u8) {
        self.tally_char(c);
        if c == b'F' || c == b'E' {
            self.failure_for(name);
        }
        self.b.running = None;
    }

    /// Lines of `-s` runs, where the test's own output sits between pytest's words:
    /// `test_x.py::test_y hello PASSED`, `test_x.py::test_y hello` then `PASSED` on the next
    /// line, or `test_x.py hello.` (plain). Test output is free-form, so only the test id at
    /// the start of a line and a status word at its end are read.
    fn interleaved_line(&mut self, line: &str) -> Option<Claim> {
        let t = line.trim();
        let first = t.split(' ').next().unwrap_or("");
        if let Some((path, _)) = first.split_once("::")
            && path.ends_with(".py")
        {
            self.interleaved = true;
            match trailing_status(t.get(first.len()..).unwrap_or("")) {
                Some(c) => self.result(first, c),
                None => self.b.set_running(first),
            }
            return Some(Claim::Mine);
        }
        if first.ends_with(".py") && first.len() == t.len() {
            // The file's progress begins: its first test runs.
            self.b.set_running(first);
            return Some(Claim::Mine);
        }
        if first.ends_with(".py") && first.len() < t.len() && !first.contains('/') {
            self.interleaved = true;
            self.b.set_running(first);
            return Some(Claim::Weak);
        }
        if let Some(name) = self.b.running.clone()
            && name.contains("::")
            && let Some(c) = trailing_status(t).filter(|_| starts_with_status(t))
        {
            self.result(&name, c);
            return Some(Claim::Mine);
        }
        None
    }

    fn tally_total(&self) -> u64 {
        self.tally.ran() + self.tally.skipped
    }

    /// A failure for this canonical (`file::test`) or block (`Class.test`) name.
    fn failure_for(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.b.failure_index(name) {
            return Some(i);
        }
        let wanted_tail = tail_of(name);
        let found = self.b.failures.iter().position(|f| {
            let other = tail_of(&f.name);
            other == wanted_tail && (f.name.contains("::") != name.contains("::") || f.name == name)
        });
        match found {
            Some(i) => {
                // Prefer the canonical `path::test` form once it is known.
                if name.contains("::")
                    && let Some(f) = self.b.failures.get_mut(i)
                    && !f.name.contains("::")
                {
                    f.name = truncate(name, crate::run::MAX_NAME_BYTES);
                }
                Some(i)
            }
            // A test appears up to three times (progress, section, short summary): none of
            // them counts an omitted failure; `finish` derives that from the counts.
            None => self.b.failure_or_push(name),
        }
    }
}

impl PytestParser {
    /// A summary line ends the run only if it agrees with the progress tally (when there is
    /// one) or the collected count: a test printing `=== 390 passed ===` cannot end, let alone
    /// pass, a run. A disagreeing summary is ignored; if no agreeing one follows, the run is
    /// cut off (an error, never a pass).
    fn accept_summary(&mut self, summary: (Counts, Option<u64>), out: &mut Vec<Emitted>) -> Claim {
        if let Some(run) = self.run.as_mut() {
            let c = summary.0;
            let total = c.ran() + c.skipped;
            let progress_total = run.tally_total();
            let agrees = if run.tally_seen
                && (total == progress_total
                    || (c.errors >= run.collection_errors.max(run.collect_blocks)
                        && total
                            == progress_total
                                .saturating_add(run.collection_errors.max(run.collect_blocks))))
            {
                true
            } else if run.interleaved {
                // `-s`: the tally is unreadable; all collected tests, or fewer when the run
                // stopped at a failure (`-x`), which can never make a pass.
                run.collected.is_some_and(|n| {
                    total == n || (c.failed.saturating_add(c.errors) > 0 && total <= n)
                })
            } else if run.tally_seen {
                false
            } else {
                // Before any progress: no more tests than were collected (after the session
                // banner pytest always reports its collection before any summary).
                match run.collected {
                    Some(n) => c.passed + c.failed + c.skipped <= n,
                    None => !run.session_banner,
                }
            };
            if !agrees {
                return Claim::Mine;
            }
        }
        if let Some(run) = self.run.take() {
            out.push(run.finish(Some(summary)));
        }
        Claim::Mine
    }

    fn start(&mut self, ctx: &LineCtx, section: Section) -> &mut PytestRun {
        self.run.insert(PytestRun::new(ctx.line_no, section))
    }
}

impl RunParser for PytestParser {
    fn phase(&self) -> Phase {
        if self.run.is_some() {
            Phase::Running
        } else {
            Phase::Idle
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(c) = self.run.as_ref().and_then(|r| r.sugar) {
            // pytest-sugar's Results block was the last thing printed.
            self.accept_summary((c, None), out);
        }
        if let Some(run) = self.run.take() {
            out.push(run.finish(None));
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let banner = strip_banner(line, '=');
        if banner == Some("test session starts")
            || line.starts_with("Test session starts (platform: ")
        {
            if let Some(prev) = self.run.take() {
                out.push(prev.finish(None));
            }
            self.start(ctx, Section::Header).session_banner = true;
            return Claim::Mine;
        }

        let Some(run) = self.run.as_mut() else {
            return self.feed_idle(line, banner, ctx, out);
        };

        if let Some(title) = banner {
            if let Some(summary) = parse_summary(title) {
                return self.accept_summary(summary, out);
            }
            let next = match title {
                "FAILURES" => Some(Section::Failures),
                "ERRORS" => Some(Section::Errors),
                "short test summary info" => Some(Section::ShortSummary),
                t if t.starts_with("warnings summary")
                    || t.starts_with("slowest")
                    || t == "PASSES"
                    || t.starts_with("rerun test summary")
                    || t.starts_with("tests coverage") =>
                {
                    Some(Section::Other)
                }
                _ => None,
            };
            match next {
                Some(s) => {
                    run.section = s;
                    if matches!(s, Section::Failures | Section::Errors) {
                        run.block_section = s;
                    }
                    run.block = None;
                    return Claim::Mine;
                }
                None if run.section == Section::Captured => return Claim::Mine,
                None => {
                    run.section = Section::Other;
                    return Claim::Mine;
                }
            }
        }

        let t = line.trim();
        if let Some(n) = interrupted_in_collection(t) {
            run.collection_interrupted = true;
            run.collection_errors = n;
            return Claim::Mine;
        }
        if t.starts_with("!!!") && t.ends_with("!!!") {
            if t.contains("during collection") {
                run.collection_interrupted = true;
            } else if t.contains("KeyboardInterrupt") || t.contains("Timeout") {
                run.cut_off = true;
            }
            return Claim::Mine;
        }
        if t.starts_with("+++") && t.contains("Timeout") {
            run.cut_off = true;
            return Claim::Mine;
        }

        if let Some(c) = run.sugar.as_mut() {
            if t.is_empty() || t.starts_with("- ") {
                return Claim::Mine;
            }
            if let Some((n, word)) = crate::text::count_item(t) {
                match word {
                    "passed" | "xpassed" => c.passed += n,
                    "failed" => c.failed += n,
                    "skipped" | "xfailed" => c.skipped += n,
                    "error" | "errors" => c.errors += n,
                    _ => {}
                }
                return Claim::Mine;
            }
            let c = *c;
            self.accept_summary((c, None), out);
            return Claim::NotMine;
        }
        if t.starts_with("Results (") && t.ends_with("):") {
            run.sugar = Some(Counts::default());
            return Claim::Mine;
        }
        // pytest-xdist replaced a worker that died: the run goes on, and the test it was
        // running is reported as failed in the summary.
        if t.starts_with("replacing crashed worker ") {
            run.cut_off = false;
            run.crash_reason = None;
            return Claim::Mine;
        }
        let line = match line.find("[gw") {
            Some(i) if line.contains("] node down:") => line.get(..i).unwrap_or(""),
            _ => line,
        };
        match run.section {
            Section::Header => {
                // A crash report glued to the progress line (`test_x.py ..Fatal Python
                // error: Segmentation fault`): the progress before it still counts.
                let (line, crashed) = match line.find("Fatal Python error: ") {
                    Some(i) => {
                        if run.crash_reason.is_none() {
                            let report = line.get(i..).unwrap_or("").trim();
                            run.crash_reason = Some(crate::run::truncate(report, 200));
                        }
                        (line.get(..i).unwrap_or(""), true)
                    }
                    None => (line, false),
                };
                if crashed {
                    run.cut_off = true;
                }
                if let Some((name, c)) = verbose_status(line).or_else(|| xdist_status(line)) {
                    run.result(name, c);
                    return Claim::Mine;
                }
                if let Some((chars, _)) = progress_chars(line) {
                    for c in chars.bytes() {
                        run.tally_char(c);
                    }
                    if let Some((file, _)) = line.trim().split_once(' ')
                        && file.ends_with(".py")
                    {
                        run.b.set_running(file);
                    }
                    return Claim::Mine;
                }
                if let Some(claim) = run.interleaved_line(line) {
                    return claim;
                }
                if crashed {
                    return Claim::Mine;
                }
                if let Some(summary) = parse_summary(t) {
                    return self.accept_summary(summary, out);
                }
                if let Some(rest) = t
                    .strip_prefix("collected ")
                    .or_else(|| t.strip_prefix("collecting ... collected "))
                {
                    run.collected = crate::text::leading_number(rest).map(|(n, _)| n);
                    // `collected 2 items / 1 errors`: files that failed to collect, which the
                    // progress never shows but the summary counts.
                    if let Some((_, errs)) = rest.split_once(" / ")
                        && let Some((n, word)) = crate::text::count_item(errs)
                        && matches!(word, "error" | "errors")
                    {
                        run.collection_errors = n;
                    }
                    return Claim::Mine;
                }
                if t.starts_with("platform ")
                    || t.starts_with("rootdir:")
                    || t.starts_with("cachedir:")
                    || t.starts_with("plugins:")
                    || t.starts_with("configfile:")
                    || t.starts_with("collecting")
                    || t.starts_with("collected ")
                    || t.starts_with("created: ")
                    || t.is_empty()
                {
                    return Claim::Mine;
                }
                Claim::Weak
            }
            Section::Failures | Section::Errors | Section::Captured => {
                if let Some(title) = strip_banner(line, '_')
                    && line.starts_with("___")
                {
                    if title.starts_with("ERROR collecting ") {
                        run.collect_blocks += 1;
                    }
                    let name = title
                        .strip_prefix("ERROR at setup of ")
                        .or_else(|| title.strip_prefix("ERROR at teardown of "))
                        .or_else(|| title.strip_prefix("ERROR collecting "))
                        .unwrap_or(title);
                    run.section = run.block_section;
                    run.block = run.failure_for(name);
                    run.block_reason_lines = 0;
                    return Claim::Mine;
                }
                if line.starts_with("---")
                    && let Some(title) = strip_banner(line, '-')
                {
                    run.section = if title.starts_with("Captured ") {
                        Section::Captured
                    } else {
                        run.block_section
                    };
                    return Claim::Mine;
                }
                if run.section == Section::Captured {
                    // `-q` prints its summary unbannered right after captured output.
                    if !line.starts_with(' ')
                        && let Some(summary) = parse_summary(t)
                    {
                        return self.accept_summary(summary, out);
                    }
                    return Claim::Mine;
                }
                // `[gw0] linux -- Python 3.11.7 …`: which xdist worker ran the test.
                if t.starts_with("[gw") {
                    return Claim::Mine;
                }
                // xdist names a crashed worker's block after the file; this line names the test.
                if let Some(block) = run.block
                    && let Some(node) = t
                        .strip_prefix("worker '")
                        .and_then(|r| r.split_once("' crashed while running '"))
                        .map(|(_, n)| n.trim_end_matches('\''))
                {
                    if run.b.failure_index(node).is_none()
                        && let Some(f) = run.b.failures.get_mut(block)
                        && !f.name.contains("::")
                    {
                        f.name = truncate(node, crate::run::MAX_NAME_BYTES);
                    }
                    run.b.set_reason_if_none(block, t);
                    return Claim::Mine;
                }
                if let Some(block) = run.block {
                    if let Some(reason) = line.strip_prefix("E ") {
                        if run.block_reason_lines == 0 {
                            run.b.set_reason_if_none(block, reason);
                            if run.b.has_reason(block) {
                                run.block_reason_lines = 1;
                            }
                        } else if run.block_reason_lines < MAX_REASON_LINES {
                            run.b.append_reason(block, reason.trim());
                            run.block_reason_lines += 1;
                        }
                    } else if let Some(loc) = traceback_location(line)
                        && let Some(f) = run.b.failures.get_mut(block)
                    {
                        f.location = Some(truncate(loc, crate::run::MAX_LOCATION_BYTES));
                    } else if !line.starts_with(' ') && !t.is_empty() && run.block_lines.len() < 64
                    {
                        run.block_lines.push((block, truncate(t, 300)));
                    }
                }
                // Traceback source lines are indented; `-q` summaries are not.
                if !line.starts_with(' ')
                    && let Some(summary) = parse_summary(t)
                {
                    return self.accept_summary(summary, out);
                }
                Claim::Weak
            }
            Section::ShortSummary => {
                if let Some(summary) = parse_summary(t) {
                    return self.accept_summary(summary, out);
                }
                let entry = t
                    .strip_prefix("FAILED ")
                    .or_else(|| t.strip_prefix("ERROR "));
                if let Some(entry) = entry {
                    let (name, reason) = match entry.split_once(" - ") {
                        Some((n, r)) => (n.trim(), Some(r)),
                        None => (entry.trim(), None),
                    };
                    if let Some(i) = run.failure_for(name)
                        && let Some(r) = reason
                    {
                        // pytest cuts a long reason with `...`: its failure block has it whole.
                        let whole = r.strip_suffix("...").and_then(|head| {
                            run.block_lines
                                .iter()
                                .find(|(b, l)| *b == i && l.starts_with(head))
                                .map(|(_, l)| l.clone())
                        });
                        run.b.set_reason_if_none(i, whole.as_deref().unwrap_or(r));
                    }
                    return Claim::Mine;
                }
                Claim::Weak
            }
            Section::Other => {
                if let Some(summary) = parse_summary(t) {
                    return self.accept_summary(summary, out);
                }
                Claim::Weak
            }
        }
    }
}

#[cfg(test)]
mod tests;
