//! Mocha's default `spec` reporter: indented `✔ title` / `N) title` / `- title` lines, then
//! `N passing (12ms)`, `N pending`, `N failing`, then numbered failure details (`1) Suite` /
//! `title:` / the error / `at … (file:line:col)`).
//!
//! The closing counts are authoritative. A run starts at the first `✔` line, at the first
//! failure's `1) title` line, or at the `passing` line; a load error before either (mocha
//! prints only the exception) is not seen. A run cut off before its summary names its failed
//! tests by the titles their lines show; the details after a summary name them in full, and
//! when the details are missing the titles of the list name them.
//! The details have no closing line, so the run settles (see the detector). Mocha prints test
//! output unframed: a test printing mocha's exact `  N passing` line (two-space indent) before
//! the real one is taken as the summary; the named failures still keep the run from passing.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Decides, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms, indent, js_frame_location};

const MAX_REASON_LINES: u8 = 6;

/// A load error's stack reaches mocha's loader within this many lines, or it is not mocha's.
const LOAD_ERROR_WINDOW: u64 = 60;
/// The name of a load failure whose file the output does not name.
const UNNAMED_FILE: &str = "(test files)";

#[derive(Default)]
pub(crate) struct MochaParser {
    run: Option<MochaRun>,
    /// A JavaScript error seen while idle, until its stack shows whether mocha was loading a
    /// spec file (a frame in `mocha/lib/`) or something else failed.
    pending_load: Option<PendingLoad>,
    /// `undefined title` pass lines (Debian's mocha) seen while idle, since the last line at
    /// indent 0: the passes of a run that a failing test's `1) title` then starts.
    undefined_marks: u64,
    /// The suite titles above the current line (indent, title), innermost last: a failing
    /// test's `1) title` line is named with them, as its details would name it.
    suites: Vec<(usize, String)>,
}

/// Suite levels remembered.
const MAX_SUITES: usize = 16;

/// What a load error printed so far: node's `file:line` header, the error line, and the file
/// from its `Require stack:`.
#[derive(Default)]
struct PendingLoad {
    since: u64,
    header_file: Option<String>,
    error: Option<String>,
    required_by: Option<String>,
    in_require_stack: bool,
}

/// `TypeError: …`, `Error: …`, `SyntaxError: …` at the start of a line.
fn js_error(t: &str) -> bool {
    t.split_once(": ").is_some_and(|(kind, _)| {
        kind.ends_with("Error")
            && kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b' ' || b == b'[' || b == b']' || b == b'_'
            })
    })
}

/// node's header above a syntax error: `/app/test/broken.spec.js:2`.
fn file_header(t: &str) -> Option<&str> {
    let (path, line) = t.rsplit_once(':')?;
    (path.contains('/')
        && !path.contains(' ')
        && line.bytes().all(|b| b.is_ascii_digit())
        && !line.is_empty())
    .then_some(path)
}

/// mocha's ESM syntax error tag: `SyntaxError[ @/app/test/a.spec.mjs ]: Unexpected token` →
/// the file.
fn tagged_file(t: &str) -> Option<&str> {
    let (_, rest) = t.split_once("[ @")?;
    let (file, _) = rest.split_once(" ]")?;
    Some(file.trim())
}

/// A run that could not start because a spec file failed to load.
fn load_failure(line_no: u64, name: &str, reason: &str, line: &str) -> Emitted {
    let mut b = RunBuilder::new(Runner::Mocha, line_no);
    b.counts.errors = 1;
    b.push_failure(name, Some(reason), None);
    b.note(line_no, line, Decides::Verdict);
    b.finish(RunEnd::NotStarted)
}

impl MochaParser {
    /// Idle lines that may be a spec file failing to load; returns the run once it is sure.
    fn watch_load_error(&mut self, line: &str, ctx: &LineCtx) -> Option<Emitted> {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Exception during run: ") {
            self.pending_load = None;
            // `Unknown file extension ".ts" for ./src/a.test.ts`, `… imported from /app/x.js`.
            let file = rest
                .rsplit_once(" for ")
                .or_else(|| rest.rsplit_once(" imported from "))
                .map(|(_, f)| f.trim())
                .filter(|f| !f.is_empty() && !f.contains(' '));
            return Some(load_failure(
                ctx.line_no,
                file.unwrap_or(UNNAMED_FILE),
                rest,
                line,
            ));
        }
        if line.starts_with(|c: char| !c.is_whitespace())
            && let Some(file) = tagged_file(t)
            && t.split_once("[ @")
                .is_some_and(|(kind, _)| kind.ends_with("Error"))
        {
            self.pending_load = None;
            return Some(load_failure(ctx.line_no, file, t, line));
        }
        if line.starts_with(|c: char| !c.is_whitespace()) && js_error(t) {
            let p = self.pending_load.get_or_insert_with(PendingLoad::default);
            if p.error.is_none() {
                p.since = ctx.line_no;
                p.error = Some(t.to_owned());
            }
            return None;
        }
        if line.starts_with('/')
            && let Some(file) = file_header(t)
        {
            self.pending_load = Some(PendingLoad {
                since: ctx.line_no,
                header_file: Some(file.to_owned()),
                ..PendingLoad::default()
            });
            return None;
        }
        let p = self.pending_load.as_mut()?;
        if ctx.line_no.saturating_sub(p.since) > LOAD_ERROR_WINDOW {
            self.pending_load = None;
            return None;
        }
        if t == "Require stack:" {
            p.in_require_stack = true;
        } else if p.in_require_stack
            && let Some(f) = t.strip_prefix("- ")
        {
            if p.required_by.is_none() {
                p.required_by = Some(f.to_owned());
            }
        } else if t.starts_with("at ")
            && (t.contains("/mocha/lib/") || t.contains("/mocha/bin/"))
            && let Some(error) = p.error.take()
        {
            let file = p.required_by.take().or_else(|| p.header_file.take());
            self.pending_load = None;
            return Some(load_failure(
                ctx.line_no,
                file.as_deref().unwrap_or(UNNAMED_FILE),
                &error,
                line,
            ));
        } else if !t.starts_with("at ") {
            p.in_require_stack = false;
        }
        None
    }
}

struct MochaRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    /// Title parts of the failure detail being read (`1) Suite` + `title:`).
    title: String,
    title_open: bool,
    detail: Option<usize>,
    reason_lines: u8,
    detail_done: bool,
    /// Indentation the output lost (a summary pasted flush left): added back to every line.
    shift: usize,
    /// The failing titles of the list (`1) title`), kept for a summary whose details are
    /// missing (cut from the paste, or not printed).
    listed: Vec<String>,
}

impl MochaRun {
    fn new(line_no: u64) -> Self {
        MochaRun {
            b: RunBuilder::new(Runner::Mocha, line_no),
            tally: Counts::default(),
            summary: None,
            title: String::new(),
            title_open: false,
            detail: None,
            reason_lines: 0,
            detail_done: false,
            shift: 0,
            listed: Vec::new(),
        }
    }

    fn finish(mut self) -> Emitted {
        let end = if self.summary.is_some() {
            RunEnd::Completed
        } else {
            RunEnd::CutOff
        };
        self.b.counts = self.summary.unwrap_or(self.tally);
        if self.b.counts.failed > 0 && self.b.failures.is_empty() {
            for title in std::mem::take(&mut self.listed) {
                self.b.push_failure(&title, None, None);
            }
        }
        self.b.finish(end)
    }
}

fn pass_mark(t: &str) -> bool {
    t.starts_with("✔ ") || t.starts_with("✓ ")
}

/// Debian's mocha 10 prints `undefined` where its tick symbol is missing: `    undefined
/// adds an item`. Read as a pass inside a run, and remembered while idle (see
/// [`MochaParser::undefined_marks`]).
fn undefined_mark(t: &str) -> bool {
    t.strip_prefix("undefined ")
        .is_some_and(|r| !r.trim().is_empty())
}

/// `title` under the suites above indent `ind`: `Cart checkout rejects an empty cart`.
fn full_title(suites: &[(usize, String)], ind: usize, title: &str) -> String {
    let mut name = String::new();
    for (_, s) in suites.iter().filter(|(i, _)| *i < ind) {
        name.push_str(s);
        name.push(' ');
    }
    name.push_str(title);
    name
}

impl MochaParser {
    fn full_title(&self, ind: usize, title: &str) -> String {
        full_title(&self.suites, ind, title)
    }

    /// Remembers a suite title line (indented, no mark, no number), dropping the suites at
    /// its depth or deeper; an unindented line ends every suite.
    fn note_suite(&mut self, ind: usize, t: &str) {
        if t.is_empty() {
            return;
        }
        if ind == 0 {
            self.suites.clear();
            return;
        }
        let marked = pass_mark(t)
            || undefined_mark(t)
            || numbered(t).is_some()
            || t.starts_with("- ")
            || count_item(t).is_some()
            || passing(t).is_some();
        if ind < 2 || marked {
            return;
        }
        self.suites.retain(|(i, _)| *i < ind);
        if self.suites.len() < MAX_SUITES {
            self.suites
                .push((ind, crate::run::truncate(t.trim_end(), 200)));
        }
    }
}

/// `1) title` → (1, title).
fn numbered(t: &str) -> Option<(u64, &str)> {
    let (n, rest) = t.split_once(") ")?;
    let n: u64 = n.parse().ok()?;
    Some((n, rest))
}

/// `3 passing (12ms)`.
fn passing(t: &str) -> Option<(u64, Option<u64>)> {
    let (count, rest) = match t.split_once(" (") {
        Some((c, r)) => (c, Some(r)),
        None => (t, None),
    };
    let (n, word) = count_item(count)?;
    (word == "passing").then(|| (n, rest.and_then(|r| duration_ms(r.trim_end_matches(')')))))
}

impl RunParser for MochaParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        self.undefined_marks = 0;
        self.suites.clear();
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let ind = indent(line);
        let t = line.get(ind..).unwrap_or("");
        let shift = self.run.as_ref().map_or(0, |r| r.shift);
        if self.run.as_ref().is_none_or(|r| r.summary.is_none()) {
            self.note_suite(ind + shift, t);
        }
        if self.run.is_none() {
            if ind >= 4 && undefined_mark(t) {
                self.undefined_marks = self.undefined_marks.saturating_add(1);
                return Claim::NotMine;
            }
            if ind == 0 && !t.is_empty() {
                self.undefined_marks = 0;
            }
        }
        let Some(run) = self.run.as_mut() else {
            if ind >= 2 && pass_mark(t) {
                let run = self.run.insert(MochaRun::new(ctx.line_no));
                run.tally.passed += 1 + std::mem::take(&mut self.undefined_marks);
                return Claim::Mine;
            }
            // The first test failed: `    1) title`, indented under its suite.
            if ind >= 4
                && !ctx.foreign_run_active
                && let Some((1, title)) = numbered(t)
            {
                let name = self.full_title(ind, title);
                let run = self.run.insert(MochaRun::new(ctx.line_no));
                run.tally.failed += 1;
                run.tally.passed += std::mem::take(&mut self.undefined_marks);
                run.b.push_failure(&name, None, None);
                return Claim::Mine;
            }
            // `  3 passing (12ms)`; flush left when the output was pasted without its indent
            // (only with its duration, the part prose lacks).
            if (ind == 2 || (ind == 0 && t.ends_with("ms)")))
                && !ctx.foreign_run_active
                && let Some((n, dur)) = passing(t)
            {
                let run = self.run.insert(MochaRun::new(ctx.line_no));
                run.shift = 2 - ind;
                run.summary = Some(Counts {
                    passed: n,
                    ..Counts::default()
                });
                run.b.duration_ms = dur;
                return Claim::Mine;
            }
            if t.starts_with("Error: No test files found") && !ctx.foreign_run_active {
                out.push(MochaRun::new(ctx.line_no).b.finish(RunEnd::Completed));
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some(run) = self.watch_load_error(line, ctx)
            {
                out.push(run);
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        let ind = if t.is_empty() { ind } else { ind + run.shift };

        if ind == 2
            && run.summary.is_none()
            && let Some((n, dur)) = passing(t)
        {
            // The details that follow name every failure in full.
            run.listed = run.b.failures.drain(..).map(|f| f.name).collect();
            run.b.failures_omitted = 0;
            run.summary = Some(Counts {
                passed: n,
                ..Counts::default()
            });
            run.b.duration_ms = dur;
            return Claim::Mine;
        }
        if let Some(summary) = run.summary.as_mut() {
            if t.is_empty() {
                return Claim::Mine;
            }
            if ind == 0 {
                // Mocha prints nothing after the details: the run settles. Unindented lines do
                // not end it early, so a summary quoted right after it is not a run.
                return Claim::NotMine;
            }
            if ind == 2
                && let Some((n, word)) = count_item(t)
            {
                match word {
                    "pending" => {
                        summary.skipped = n;
                        return Claim::Mine;
                    }
                    "failing" => {
                        summary.failed = n;
                        return Claim::Mine;
                    }
                    _ => {}
                }
            }
            if ind == 2
                && let Some((_, first)) = numbered(t)
                && let first = first.trim_start()
            {
                run.title.clear();
                run.title.push_str(first.trim_end_matches(':'));
                run.title_open = !first.ends_with(':');
                run.detail = None;
                if !run.title_open {
                    let title = run.title.clone();
                    run.detail = run.b.push_failure(&title, None, None);
                }
                run.reason_lines = 0;
                run.detail_done = false;
                return Claim::Mine;
            }
            if run.title_open {
                run.title.push(' ');
                run.title.push_str(t.trim_end_matches(':'));
                if t.ends_with(':') {
                    run.title_open = false;
                    let title = run.title.clone();
                    run.detail = run.b.push_failure(&title, None, None);
                }
                return Claim::Mine;
            }
            if let Some(i) = run.detail {
                if t.starts_with("at ") {
                    if let Some(loc) = js_frame_location(t) {
                        run.b.set_location_if_none(i, loc);
                    }
                    run.detail_done = true;
                } else if !run.detail_done && run.reason_lines < MAX_REASON_LINES {
                    if run.reason_lines == 0 {
                        run.b.set_reason_if_none(i, t);
                    } else {
                        run.b.append_reason(i, t);
                    }
                    run.reason_lines += 1;
                }
            }
            return Claim::Mine;
        }

        if ind >= 2 {
            if pass_mark(t) || undefined_mark(t) {
                run.tally.passed += 1;
                return Claim::Mine;
            }
            if let Some((_, title)) = numbered(t) {
                let name = full_title(&self.suites, ind, title);
                run.tally.failed += 1;
                run.b.push_failure(&name, None, None);
                return Claim::Mine;
            }
            if t.starts_with("- ") {
                run.tally.skipped += 1;
                return Claim::Mine;
            }
        }
        if t.is_empty() {
            return Claim::Mine;
        }
        Claim::Weak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debians_undefined_tick_is_a_pass() {
        assert!(undefined_mark("undefined adds an item"));
        assert!(!undefined_mark("undefined "));
        let mut p = MochaParser::default();
        let mut out = Vec::new();
        for (i, l) in ["  sync", "    undefined pulls", "    1) pushes"]
            .iter()
            .enumerate()
        {
            let ctx = LineCtx {
                line_no: i as u64 + 1,
                foreign_run_active: false,
            };
            p.feed(l, &ctx, &mut out);
        }
        p.interrupt(Interrupt::EndOfStream, &mut out);
        let r = &out[0].run;
        assert_eq!((r.passed, r.failed, r.errors), (1, 1, 1));
    }

    #[test]
    fn lines() {
        assert_eq!(passing("2 passing (78ms)"), Some((2, Some(78))));
        assert_eq!(passing("0 passing (2ms)"), Some((0, Some(2))));
        assert_eq!(passing("2 failing"), None);
        assert_eq!(numbered("1) Cart"), Some((1, "Cart")));
        assert_eq!(numbered("a) b"), None);
    }
}
