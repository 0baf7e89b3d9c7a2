//! `node --test` with its TAP reporter (the default when output is not a terminal) and its spec
//! reporter (`✔ name (1.2ms)`, the default on a terminal).
//!
//! Node's closing counts (`# tests` / `ℹ tests`, `pass`, `fail`, `cancelled`, `skipped`, `todo`)
//! are authoritative: `skipped` and `todo` count as skipped, `cancelled` as errors. Failures
//! list leaf tests only (a parent that failed because a subtest failed, or a suite, is not
//! listed), with names qualified by their parents (`suite > test`). A test file whose process
//! exited or could not load (node reports it as a failing test named by the file's path) makes
//! the run cut off, or not started when node printed a load error such as `SyntaxError`.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::signals::run::{Counts, Emitted, RunBuilder, RunEnd, Runner, truncate};
use crate::signals::text::{decimal_ms, indent, js_frame_location};

const MAX_REASON_LINES: u8 = 6;
const MAX_DEPTH: usize = 16;

/// Node's final counts.
#[derive(Debug, Clone, Copy, Default)]
struct NodeSummary {
    pass: u64,
    fail: u64,
    cancelled: u64,
    skipped: u64,
    todo: u64,
    seen: bool,
}

impl NodeSummary {
    /// `tests 9`, `pass 3`, …; returns true for the closing `duration_ms` line.
    fn absorb(&mut self, key: &str, value: &str, b: &mut RunBuilder) -> Option<bool> {
        let n = || value.trim().parse::<u64>().ok();
        match key {
            "tests" | "suites" => {
                n()?;
            }
            "pass" => self.pass = n()?,
            "fail" => self.fail = n()?,
            "cancelled" => self.cancelled = n()?,
            "skipped" => self.skipped = n()?,
            "todo" => self.todo = n()?,
            "duration_ms" => {
                b.duration_ms = decimal_ms(value);
                self.seen = true;
                return Some(true);
            }
            _ => return None,
        }
        self.seen = true;
        Some(false)
    }

    fn counts(&self) -> Counts {
        Counts {
            passed: self.pass,
            failed: self.fail,
            skipped: self.skipped.saturating_add(self.todo),
            errors: self.cancelled,
        }
    }
}

/// A failing test named by a test file's path: node's report for a file whose process failed.
fn is_file_test(name: &str) -> bool {
    (name.starts_with('/') || name.contains(":\\"))
        && [".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// `SyntaxError: Unexpected token ';'` at column 0: what node printed when a file failed to
/// load.
fn load_error(line: &str) -> Option<&str> {
    let (head, _) = line.split_once(": ")?;
    let ok = head.ends_with("Error")
        && head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && head.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
    ok.then_some(line)
}

fn qualified(stack: &[String], depth: usize, name: &str) -> String {
    let mut q = String::new();
    for parent in stack.iter().take(depth) {
        q.push_str(parent);
        q.push_str(" > ");
    }
    q.push_str(name);
    q
}

// ------------------------------------------------------------------------------------- TAP

#[derive(Default)]
pub(crate) struct NodeTapParser {
    run: Option<TapRun>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YamlField {
    None,
    Error,
    Stack,
}

struct TapRun {
    b: RunBuilder,
    tally: Counts,
    summary: NodeSummary,
    subtests: Vec<String>,
    /// The test result the current YAML block describes.
    yaml_open: bool,
    yaml_indent: usize,
    yaml_failure: Option<usize>,
    yaml_outcome: Option<Outcome>,
    yaml_field: YamlField,
    yaml_field_indent: usize,
    stack_located: bool,
    reason_lines: u8,
    load_error: String,
    crashed: bool,
    not_started: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Skip,
}

impl TapRun {
    fn new(line_no: u64) -> Self {
        TapRun {
            b: RunBuilder::new(Runner::NodeTest, line_no),
            tally: Counts::default(),
            summary: NodeSummary::default(),
            subtests: Vec::new(),
            yaml_open: false,
            yaml_indent: 0,
            yaml_failure: None,
            yaml_outcome: None,
            yaml_field: YamlField::None,
            yaml_field_indent: 0,
            stack_located: false,
            reason_lines: 0,
            load_error: String::new(),
            crashed: false,
            not_started: false,
        }
    }

    fn finish(mut self, completed: bool) -> Emitted {
        let end = if self.not_started {
            RunEnd::NotStarted
        } else if self.crashed || !completed {
            RunEnd::CutOff
        } else {
            RunEnd::Completed
        };
        self.b.counts = if self.summary.seen {
            self.summary.counts()
        } else {
            self.tally
        };
        self.b.finish(end)
    }

    /// Undoes the tally and the failure entry of the result the YAML block describes (a suite,
    /// or a parent that only failed through its subtests).
    fn undo_current(&mut self, count_too: bool) {
        if count_too {
            match self.yaml_outcome.take() {
                Some(Outcome::Pass) => self.tally.passed = self.tally.passed.saturating_sub(1),
                Some(Outcome::Fail) => self.tally.failed = self.tally.failed.saturating_sub(1),
                Some(Outcome::Skip) => self.tally.skipped = self.tally.skipped.saturating_sub(1),
                None => {}
            }
        }
        if let Some(i) = self.yaml_failure.take()
            && i + 1 == self.b.failures.len()
        {
            self.b.failures.pop();
        }
    }

    fn feed_yaml(&mut self, t: &str, ind: usize) {
        if t.is_empty() {
            // Blank lines inside a block scalar (`error: |-`) do not end it.
            return;
        }
        if self.yaml_field != YamlField::None && ind > self.yaml_field_indent {
            if let Some(i) = self.yaml_failure {
                match self.yaml_field {
                    YamlField::Error if self.reason_lines < MAX_REASON_LINES && !t.is_empty() => {
                        if self.reason_lines == 0 {
                            self.b.set_reason_if_none(i, t);
                        } else {
                            self.b.append_reason(i, t);
                        }
                        self.reason_lines += 1;
                    }
                    YamlField::Stack if !self.stack_located => {
                        // The first frame in user code is where the assertion failed: more
                        // precise than the test's own `location`.
                        if let Some(loc) = js_frame_location(&format!("at {t}"))
                            && let Some(f) = self.b.failures.get_mut(i)
                        {
                            f.location = Some(truncate(loc, 256));
                            self.stack_located = true;
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        self.yaml_field = YamlField::None;
        let Some((key, value)) = t.split_once(':') else {
            return;
        };
        let value = value.trim();
        let unquoted = value.trim_matches('\'');
        match key {
            "type" if unquoted == "suite" => self.undo_current(true),
            "failureType" if unquoted == "subtestsFailed" => self.undo_current(false),
            "location" => {
                if let Some(i) = self.yaml_failure {
                    self.b.set_location_if_none(i, unquoted);
                }
            }
            "error" => {
                if value == "|-" || value == "|" || value == ">-" {
                    self.yaml_field = YamlField::Error;
                    self.yaml_field_indent = 0;
                } else if let Some(i) = self.yaml_failure {
                    self.b.set_reason_if_none(i, unquoted);
                }
            }
            "stack" => self.yaml_field = YamlField::Stack,
            "exitCode" | "signal" if value != "~" && value != "null" => {
                if let Some(i) = self.yaml_failure
                    && self
                        .b
                        .failures
                        .get(i)
                        .is_some_and(|f| is_file_test(&f.name))
                {
                    if self.load_error.is_empty() {
                        self.crashed = true;
                        let what = if key == "exitCode" {
                            format!("test file exited with code {unquoted}")
                        } else {
                            format!("test file killed by {unquoted}")
                        };
                        if let Some(f) = self.b.failures.get_mut(i) {
                            f.reason = Some(what);
                        }
                    } else {
                        self.not_started = true;
                        let err = std::mem::take(&mut self.load_error);
                        if let Some(f) = self.b.failures.get_mut(i) {
                            f.reason = Some(err);
                        }
                    }
                }
            }
            _ => {}
        }
        if self.yaml_field != YamlField::None {
            self.yaml_field_indent = self.yaml_field_indent.max(ind);
        }
    }
}

/// `    not ok 2 - inner bad # TODO` → (indent, outcome, name).
fn tap_result(line: &str) -> Option<(usize, Outcome, &str)> {
    let ind = indent(line);
    let t = line.get(ind..)?;
    let (ok, rest) = if let Some(r) = t.strip_prefix("ok ") {
        (true, r)
    } else {
        (false, t.strip_prefix("not ok ")?)
    };
    let (num, rest) = rest.split_once(' ')?;
    if !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = rest.strip_prefix("- ").unwrap_or(rest);
    let (name, directive) = match name.rfind(" # ") {
        Some(i) => (name.get(..i)?, name.get(i + 3..)?),
        None => (name, ""),
    };
    let directive = directive.to_ascii_uppercase();
    let outcome = if directive.starts_with("SKIP") || directive.starts_with("TODO") {
        Outcome::Skip
    } else if ok {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    Some((ind, outcome, name.trim()))
}

impl RunParser for NodeTapParser {
    fn phase(&self) -> Phase {
        if self.run.is_some() {
            Phase::Running
        } else {
            Phase::Idle
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish(false));
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        if line.starts_with("TAP version ") {
            if let Some(prev) = self.run.take() {
                out.push(prev.finish(false));
            }
            self.run = Some(TapRun::new(ctx.line_no));
            return Claim::Mine;
        }
        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };
        let ind = indent(line);
        let t = line.get(ind..).unwrap_or("");
        if run.yaml_open {
            if ind < run.yaml_indent && !t.is_empty() {
                // Less indented than the block: unrelated output interleaved with it.
                return Claim::Weak;
            }
            if t == "..." {
                run.yaml_open = false;
                run.yaml_field = YamlField::None;
            } else {
                run.feed_yaml(t, ind);
            }
            return Claim::Mine;
        }
        if t == "---" {
            run.yaml_open = true;
            run.yaml_indent = ind;
            run.reason_lines = 0;
            run.stack_located = false;
            return Claim::Mine;
        }
        if let Some(name) = t.strip_prefix("# Subtest: ") {
            let depth = (ind / 4).min(MAX_DEPTH);
            run.subtests.truncate(depth);
            if run.subtests.len() == depth {
                run.subtests.push(truncate(name, 200));
            }
            return Claim::Mine;
        }
        if let Some((ind, outcome, name)) = tap_result(line) {
            let depth = (ind / 4).min(MAX_DEPTH);
            run.yaml_outcome = Some(outcome);
            run.yaml_failure = None;
            match outcome {
                Outcome::Pass => run.tally.passed += 1,
                Outcome::Skip => run.tally.skipped += 1,
                Outcome::Fail => {
                    run.tally.failed += 1;
                    let q = qualified(&run.subtests, depth, name);
                    run.yaml_failure = run.b.push_failure(&q, None, None);
                }
            }
            run.subtests.truncate(depth);
            return Claim::Mine;
        }
        if ind == 0
            && let Some(rest) = t.strip_prefix("# ")
        {
            if let Some((key, value)) = rest.split_once(' ')
                && let Some(closing) = run.summary.absorb(key, value, &mut run.b)
            {
                if closing && let Some(run) = self.run.take() {
                    out.push(run.finish(true));
                }
                return Claim::Mine;
            }
            if let Some(err) = load_error(rest)
                && run.load_error.is_empty()
            {
                run.load_error = truncate(err, 400);
            }
            return Claim::Mine;
        }
        if t.starts_with("1..") || t.starts_with("Bail out!") {
            if t.starts_with("Bail out!") {
                run.crashed = true;
            }
            return Claim::Mine;
        }
        Claim::Weak
    }
}

// ------------------------------------------------------------------------------------ spec

#[derive(Default)]
pub(crate) struct NodeSpecParser {
    run: Option<SpecRun>,
    /// A load error printed before the run's first line (node prints the file's stderr first).
    load_error: String,
}

struct SpecRun {
    b: RunBuilder,
    tally: Counts,
    summary: NodeSummary,
    groups: Vec<String>,
    reason_for: Option<usize>,
    reason_indent: usize,
    reason_lines: u8,
    reason_done: bool,
    crashed: bool,
    not_started: bool,
    /// After `duration_ms` with failures: the `✖ failing tests:` recap follows.
    recap: bool,
}

impl SpecRun {
    fn new(line_no: u64) -> Self {
        SpecRun {
            b: RunBuilder::new(Runner::NodeTest, line_no),
            tally: Counts::default(),
            summary: NodeSummary::default(),
            groups: Vec::new(),
            reason_for: None,
            reason_indent: 0,
            reason_lines: 0,
            reason_done: false,
            crashed: false,
            not_started: false,
            recap: false,
        }
    }

    fn finish(mut self, completed: bool) -> Emitted {
        let end = if self.not_started {
            RunEnd::NotStarted
        } else if self.crashed || !completed {
            RunEnd::CutOff
        } else {
            RunEnd::Completed
        };
        self.b.counts = if self.summary.seen {
            self.summary.counts()
        } else {
            self.tally
        };
        self.b.finish(end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pass,
    Fail,
    Skip,
    GroupEnd,
}

/// `  ✖ inner bad (0.118276ms)` → (indent, mark, name, directive).
fn spec_result(line: &str) -> Option<(usize, Mark, &str, &str)> {
    let ind = indent(line);
    let t = line.get(ind..)?;
    let mut chars = t.chars();
    let mark = match chars.next()? {
        '✔' => Mark::Pass,
        '✖' => Mark::Fail,
        '﹣' => Mark::Skip,
        '▶' => Mark::GroupEnd,
        _ => return None,
    };
    let rest = chars.as_str().strip_prefix(' ')?;
    let (main, directive) = match rest.rfind(") # ") {
        Some(i) => (rest.get(..=i)?, rest.get(i + 4..)?),
        None => (rest, ""),
    };
    let main = main.strip_suffix("ms)")?;
    let (name, ms) = main.rsplit_once(" (")?;
    if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((ind, mark, name, directive))
}

impl RunParser for NodeSpecParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.recap => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        self.load_error.clear();
        if let Some(run) = self.run.take() {
            let completed = run.recap;
            out.push(run.finish(completed));
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let ind = indent(line);
        let t = line.get(ind..).unwrap_or("");

        if let Some(run) = self.run.as_mut()
            && run.recap
        {
            let recap_line = t.is_empty()
                || ind > 0
                || t.starts_with("✖ ")
                || t.starts_with("test at ")
                || t == "✖ failing tests:";
            if recap_line {
                return Claim::Mine;
            }
            // The run settles: it is emitted after enough unrelated lines or when another
            // run starts, so a line interleaved with the recap does not split it.
            return Claim::NotMine;
        }

        let result = spec_result(line);
        let group_start = t
            .strip_prefix("▶ ")
            .filter(|_| result.is_none() && !t.ends_with("ms)"));
        let info = t
            .strip_prefix("ℹ ")
            .and_then(|r| r.split_once(' '))
            .filter(|(k, _)| {
                matches!(
                    *k,
                    "tests"
                        | "suites"
                        | "pass"
                        | "fail"
                        | "cancelled"
                        | "skipped"
                        | "todo"
                        | "duration_ms"
                )
            });

        if self.run.is_none() {
            let starts = ind == 0
                && (result.is_some()
                    || group_start.is_some()
                    || (info.is_some() && !ctx.foreign_run_active));
            if !starts {
                if ind == 0
                    && let Some(err) = load_error(t)
                {
                    self.load_error = truncate(err, 400);
                }
                return Claim::NotMine;
            }
            self.run = Some(SpecRun::new(ctx.line_no));
        }
        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };

        if let Some((key, value)) = info {
            if run.summary.absorb(key, value, &mut run.b) == Some(true) {
                if run.summary.fail > 0 {
                    run.recap = true;
                } else if let Some(run) = self.run.take() {
                    self.load_error.clear();
                    out.push(run.finish(true));
                }
            }
            return Claim::Mine;
        }
        if let Some(name) = group_start {
            let depth = (ind / 2).min(MAX_DEPTH);
            run.groups.truncate(depth);
            if run.groups.len() == depth {
                run.groups.push(truncate(name, 200));
            }
            run.reason_for = None;
            return Claim::Mine;
        }
        if let Some((ind, mark, name, directive)) = result {
            let depth = (ind / 2).min(MAX_DEPTH);
            run.reason_for = None;
            let closes_group = run.groups.get(depth).is_some_and(|g| g == name);
            if closes_group || mark == Mark::GroupEnd {
                run.groups.truncate(depth);
                return Claim::Mine;
            }
            let directive = directive.to_ascii_uppercase();
            match mark {
                Mark::Pass if directive.starts_with("TODO") => run.tally.skipped += 1,
                Mark::Pass => run.tally.passed += 1,
                Mark::Skip => run.tally.skipped += 1,
                Mark::Fail if directive.starts_with("TODO") => run.tally.skipped += 1,
                Mark::Fail => {
                    run.tally.failed += 1;
                    let q = qualified(&run.groups, depth, name);
                    run.reason_for = run.b.push_failure(&q, None, None);
                    run.reason_indent = ind + 2;
                    run.reason_lines = 0;
                    run.reason_done = false;
                    if is_file_test(name) {
                        if self.load_error.is_empty() {
                            run.crashed = true;
                        } else {
                            run.not_started = true;
                            let err = std::mem::take(&mut self.load_error);
                            if let Some(i) = run.reason_for {
                                run.b.set_reason_if_none(i, &err);
                            }
                        }
                    }
                }
                Mark::GroupEnd => {}
            }
            return Claim::Mine;
        }
        if let Some(i) = run.reason_for {
            // Only the next result or group line ends a failure's details (handled above);
            // a less indented line is unrelated output interleaved with them.
            if ind < run.reason_indent && !t.is_empty() {
                return Claim::Weak;
            }
            if !t.is_empty() {
                if t.starts_with("at ") {
                    if let Some(loc) = js_frame_location(t) {
                        run.b.set_location_if_none(i, loc);
                    }
                    run.reason_done = true;
                } else if !run.reason_done && run.reason_lines < MAX_REASON_LINES {
                    if run.reason_lines == 0 {
                        run.b.set_reason_if_none(i, t);
                    } else {
                        run.b.append_reason(i, t);
                    }
                    run.reason_lines += 1;
                }
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
    fn tap_lines() {
        assert_eq!(
            tap_result("    not ok 2 - inner bad"),
            Some((4, Outcome::Fail, "inner bad"))
        );
        assert_eq!(
            tap_result("ok 3 - skipped # SKIP"),
            Some((0, Outcome::Skip, "skipped"))
        );
        assert_eq!(tap_result("ok then"), None);
    }

    #[test]
    fn spec_lines() {
        assert_eq!(
            spec_result("  ✖ inner bad (0.118276ms)"),
            Some((2, Mark::Fail, "inner bad", ""))
        );
        assert_eq!(
            spec_result("﹣ skipped at runtime (0.181882ms) # no database"),
            Some((0, Mark::Skip, "skipped at runtime", "no database"))
        );
        assert_eq!(spec_result("✔ done"), None);
    }
}
