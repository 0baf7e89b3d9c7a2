//! `node --test` TAP reporter: `# Subtest:` / `ok N - name` / `not ok N - name` with YAML
//! diagnostics (`error`, `location`, `stack`, `failureType`, `exitCode`), closed by the
//! `# tests` … `# duration_ms` comments. Node escapes `#` in test output (`# \# tests 390`), so
//! a test cannot fake those comments. The same reader takes the other producers' TAP: tape,
//! mocha's TAP 12, vitest's (`# time=` and `{` blocks) and node-tap's (`# Subtest:` with `#
//! time=` results: leaves are its tests, the results closing subtests are not).

use super::tap_line::{Outcome, is_script, tap_result};
use super::{MAX_DEPTH, MAX_REASON_LINES, NodeSummary, is_file_test, load_error, qualified};
use crate::parsers::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner, truncate};
use crate::text::{indent, js_frame_location};

#[derive(Default)]
pub(crate) struct NodeTapParser {
    run: Option<TapRun>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YamlField {
    None,
    Error,
    Stack,
    Diff,
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
    /// A test file's process died (exit code or signal): node reports the file as one failed
    /// test; it was running when the process died, so it is one error, not a failure.
    file_crashed: bool,
    not_started: bool,
    /// Node's own dialect (`# Subtest:` lines or node's closing counts): node's counts are
    /// authoritative and its `# duration_ms` closes the run.
    node_style: bool,
    /// vitest's dialect (`# time=` directives, `{`/`}` blocks around suites and files).
    vitest: bool,
    /// node-tap's dialect (`# Subtest:` lines and `# time=` directives): its leaves are the
    /// tests (assertions, as its other reporters count them), the results that close a
    /// subtest are not, and it has no closing counts of node's.
    node_tap: bool,
    /// Open `{` blocks (vitest): a result opening one is a suite or file, not a test.
    blocks: usize,
    /// The top-level plan (`1..N`) and the top-level results seen: a TAP stream without node's
    /// closing counts is complete once its plan is met and its blocks are closed.
    plan: Option<u64>,
    top_results: u64,
    complete: bool,
    /// The run began with a bare plan line (`1..N`, mocha's TAP 12 has no version line): it is
    /// only a run once a result follows.
    provisional: bool,
    /// The plan came before the first result and the closing comments were mocha's (`# tests`,
    /// `# pass`, `# fail`).
    plan_first: bool,
    mocha_summary: bool,
    /// The run began at its first result (`ok 1 …` / `not ok 1 …`) with neither a version
    /// line nor a plan before it: mocha's TAP 12, whose plan closes the stream.
    results_first: bool,
    /// A run begun at a bare first result is not yet known to be TAP: a lone passing `ok 1`
    /// line in other output is dropped, a failing one never is.
    unconfirmed: bool,
    /// Lines of a TAP 12 failure's indented message/stack read so far (mocha).
    diag_lines: u8,
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
            file_crashed: false,
            not_started: false,
            node_style: false,
            node_tap: false,
            vitest: false,
            blocks: 0,
            plan: None,
            top_results: 0,
            complete: false,
            provisional: false,
            plan_first: false,
            mocha_summary: false,
            results_first: false,
            unconfirmed: false,
            diag_lines: 0,
        }
    }

    /// A stream that is not node's is complete when its top-level plan is met and every block
    /// is closed; the YAML block of its last result may still follow.
    fn check_complete(&mut self) {
        if !self.node_style && self.blocks == 0 && self.plan.is_some_and(|n| self.top_results >= n)
        {
            self.complete = true;
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
        self.b.runner = if self.node_tap {
            Runner::Tap
        } else if self.node_style {
            Runner::NodeTest
        } else if self.vitest {
            Runner::Vitest
        } else if (self.plan_first || self.results_first) && self.mocha_summary {
            Runner::Mocha
        } else {
            // tape, node-tap and other producers: a TAP stream whose producer is unknown.
            Runner::Tap
        };
        // Only node's closing counts are authoritative; other producers (mocha's `# tests`,
        // `# pass`, `# fail`) leave skipped tests out, so their results are counted instead.
        self.b.counts = if self.summary.seen && self.node_style {
            self.summary.counts()
        } else {
            self.tally
        };
        if self.file_crashed && self.b.counts.failed > 0 {
            self.b.counts.failed -= 1;
            self.b.counts.errors += 1;
            self.b.crash_recorded = true;
        }
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
                    YamlField::Diff
                        if self.reason_lines < MAX_REASON_LINES
                            && t.starts_with(['-', '+'])
                            && !t.starts_with("---")
                            && !t.starts_with("+++") =>
                    {
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
        let unquoted = value.trim_matches(['\'', '"']);
        match key {
            "type" if unquoted == "suite" => self.undo_current(true),
            "failureType" if unquoted == "subtestsFailed" => self.undo_current(false),
            "location" => {
                if let Some(i) = self.yaml_failure {
                    self.b.set_location_if_none(i, unquoted);
                }
            }
            // vitest: `at: "file:line:col"`; tape: `at: Test.<anonymous> (/app/t.js:4:5)`,
            // the assertion's own place, better than the stack's first frame (tape's code).
            "at" => {
                if let Some(i) = self.yaml_failure {
                    if let Some(loc) = js_frame_location(&format!("at {unquoted}"))
                        && unquoted.ends_with(')')
                    {
                        self.b.set_location_if_none(i, loc);
                        self.stack_located = true;
                    } else {
                        self.b.set_location_if_none(i, unquoted);
                    }
                }
            }
            // node-tap's assertion diff (`diff: |` then `--- expected` / `+++ actual` / `-4`
            // / `+3`): the lines that differ are the reason.
            "diff"
                if value.starts_with('|')
                    && self.yaml_failure.is_some_and(|i| !self.b.has_reason(i)) =>
            {
                self.yaml_field = YamlField::Diff;
                self.yaml_field_indent = 0;
            }
            // vitest's `error:` map and mocha's TAP 13 block carry `message`.
            "error" | "message" => {
                if value == "|-" || value == "|" || value == ">-" {
                    self.yaml_field = YamlField::Error;
                    self.yaml_field_indent = 0;
                } else if let Some(i) = self.yaml_failure {
                    self.b.set_reason_if_none(i, unquoted);
                }
            }
            "stack" => self.yaml_field = YamlField::Stack,
            // tape's block: `operator`, `expected`, `actual`, `at`; the test line carries the
            // assertion's name, these lines its reason.
            "expected" | "actual" if !self.node_style => {
                if let Some(i) = self.yaml_failure {
                    let part = format!("{key}: {unquoted}");
                    if self.b.has_reason(i) {
                        self.b.append_reason(i, &part);
                    } else {
                        self.b.set_reason_if_none(i, &part);
                    }
                }
            }
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
                        self.file_crashed = true;
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

impl RunParser for NodeTapParser {
    fn phase(&self) -> Phase {
        match &self.run {
            Some(run) if run.complete => Phase::Settling,
            Some(_) => Phase::Running,
            None => Phase::Idle,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            if run.provisional || (run.unconfirmed && run.tally.failed == 0) {
                return;
            }
            let complete = run.complete;
            out.push(run.finish(complete));
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
        if self.run.is_none() {
            // A TAP 12 stream that starts with its plan: a run once a result follows.
            if !ctx.foreign_run_active
                && let Some(n) = line
                    .strip_prefix("1..")
                    .and_then(|n| n.trim_end().parse::<u64>().ok())
            {
                let mut run = TapRun::new(ctx.line_no);
                run.plan = Some(n);
                run.plan_first = true;
                run.provisional = true;
                self.run = Some(run);
                return Claim::Mine;
            }
            // mocha's TAP 12 as mocha 10 prints it: results first, the plan last.
            if !ctx.foreign_run_active
                && (line.starts_with("ok 1 ") || line.starts_with("not ok 1 "))
            {
                let mut run = TapRun::new(ctx.line_no);
                run.results_first = true;
                run.unconfirmed = true;
                self.run = Some(run);
            } else {
                return Claim::NotMine;
            }
        }
        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };
        let ind = indent(line);
        let t = line.get(ind..).unwrap_or("");
        if run.provisional {
            if tap_result(line).is_some() {
                run.provisional = false;
            } else {
                // A lone `1..N` line in other output: not a run.
                self.run = None;
                return Claim::NotMine;
            }
        }
        if run.complete {
            // Settling: the last result's YAML block, closing comments and blank lines still
            // belong to the run; anything else ends it.
            let own =
                run.yaml_open || t == "---" || t.is_empty() || (ind == 0 && t.starts_with("# "));
            if !own {
                if let Some(run) = self.run.take() {
                    out.push(run.finish(true));
                }
                return Claim::NotMine;
            }
        }
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
        if t == "}" && run.blocks > 0 {
            run.blocks -= 1;
            run.subtests.truncate((ind / 4).min(MAX_DEPTH));
            run.check_complete();
            return Claim::Mine;
        }
        if let Some(name) = t.strip_prefix("# Subtest: ") {
            run.node_style = !run.node_tap;
            let depth = (ind / 4).min(MAX_DEPTH);
            run.subtests.truncate(depth);
            if run.subtests.len() == depth {
                run.subtests.push(truncate(name, 200));
            }
            return Claim::Mine;
        }
        // vitest opens a block after a suite's or file's result: `ok 1 - suite # time=2ms {`.
        let (body, opens) = match line.trim_end().strip_suffix(" {") {
            Some(b) => (b, true),
            None => (line, false),
        };
        if let Some((ind, outcome, name)) = tap_result(body) {
            let depth = (ind / 4).min(MAX_DEPTH);
            if run.node_style && !run.node_tap && body.contains(" # time=") {
                // Node's own reporter never prints `# time=`: this is node-tap.
                run.node_tap = true;
                run.node_style = false;
                // Failures named before this was known lose the file-level subtest too.
                if let Some(file) = run.subtests.first().filter(|f| is_script(f)) {
                    let prefix = format!("{file} > ");
                    for f in &mut run.b.failures {
                        if let Some(rest) = f.name.strip_prefix(prefix.as_str()) {
                            f.name = rest.to_owned();
                        }
                    }
                }
            }
            run.vitest |= body.contains(" # time=") && !run.node_tap;
            if run.node_tap && run.subtests.get(depth).is_some_and(|s| s == name) {
                // The result that closes a `# Subtest:` (node-tap counts its leaves).
                if depth == 0 {
                    run.top_results += 1;
                }
                run.subtests.truncate(depth);
                run.yaml_outcome = None;
                run.yaml_failure = None;
                run.check_complete();
                return Claim::Mine;
            }
            if depth == 0 {
                run.top_results += 1;
                run.unconfirmed &= run.top_results < 2;
            }
            if opens {
                // A suite or a file: a parent of the results inside, never a test.
                run.subtests.truncate(depth);
                if run.subtests.len() == depth {
                    run.subtests.push(truncate(name, 200));
                }
                run.blocks += 1;
                run.yaml_outcome = None;
                run.yaml_failure = None;
                return Claim::Mine;
            }
            run.yaml_outcome = Some(outcome);
            run.yaml_failure = None;
            run.diag_lines = 0;
            match outcome {
                Outcome::Pass => run.tally.passed += 1,
                Outcome::Skip => run.tally.skipped += 1,
                Outcome::Fail => {
                    run.tally.failed += 1;
                    // node-tap runs each file as a top-level subtest: named like its other
                    // reporters name a failure, without the file.
                    let file_level = run.node_tap
                        && depth > 0
                        && run.subtests.first().is_some_and(|f| is_script(f));
                    let q = if file_level {
                        qualified(run.subtests.get(1..).unwrap_or(&[]), depth - 1, name)
                    } else {
                        qualified(&run.subtests, depth, name)
                    };
                    run.yaml_failure = run.b.push_failure(&q, None, None);
                }
            }
            run.subtests.truncate(depth);
            run.check_complete();
            return Claim::Mine;
        }
        if ind == 0
            && let Some(rest) = t.strip_prefix("# ")
        {
            if let Some((key, value)) = rest.split_once(' ')
                && let Some(closing) = run.summary.absorb(key, value, &mut run.b)
            {
                // Keys only node prints.
                run.node_style |= matches!(key, "suites" | "cancelled" | "todo" | "duration_ms");
                run.mocha_summary |= matches!(key, "tests" | "pass" | "fail");
                run.unconfirmed = false;
                if closing && let Some(run) = self.run.take() {
                    out.push(run.finish(true));
                }
                return Claim::Mine;
            }
            if let Some(err) = load_error(rest)
                && run.load_error.is_empty()
            {
                run.load_error = truncate(err, 400);
            } else if !run.node_style && !run.vitest {
                // tape names each test in a comment before its assertions: the test that was
                // running if the stream stops here.
                run.b.set_running(rest.trim());
            }
            return Claim::Mine;
        }
        if ind == 0
            && let Some(n) = t
                .strip_prefix("1..")
                .and_then(|n| n.trim().parse::<u64>().ok())
        {
            run.unconfirmed = false;
            if run.plan.is_none() {
                run.plan = Some(n);
                run.plan_first = run.top_results == 0;
            }
            run.check_complete();
            return Claim::Mine;
        }
        if t.starts_with("1..") || t.starts_with("Bail out!") {
            if t.starts_with("Bail out!") {
                run.crashed = true;
            }
            return Claim::Mine;
        }
        // TAP 12 (mocha): a failure's message and stack follow its `not ok` line, indented by
        // two spaces, without YAML: the first line is the reason, the first frame the place.
        if !run.node_style
            && ind >= 2
            && let Some(i) = run.yaml_failure
            && run.diag_lines < MAX_REASON_LINES * 4
        {
            run.diag_lines += 1;
            if let Some(loc) = t.starts_with("at ").then(|| js_frame_location(t)).flatten() {
                run.b.set_location_if_none(i, loc);
            } else if !run.b.has_reason(i) {
                run.b.set_reason_if_none(i, t);
            }
            return Claim::Weak;
        }
        Claim::Weak
    }
}
