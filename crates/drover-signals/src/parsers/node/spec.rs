//! `node --test` spec reporter: `✔ name (1.2ms)`, `✖ name (…)` with the error and stack below
//! it, `▶ group` for suites and parents, the `ℹ tests` … `ℹ duration_ms` block, then (node ≥ 20)
//! a `✖ failing tests:` recap that repeats the failures.

use super::{MAX_DEPTH, MAX_REASON_LINES, NodeSummary, is_file_test, load_error, qualified};
use crate::parsers::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner, truncate};
use crate::text::{indent, js_frame_location};

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
    /// A test file's process died (exit code or signal): node reports the file as one failed
    /// test; it was running when the process died, so it is one error, not a failure.
    file_crashed: bool,
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
            file_crashed: false,
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
        if self.file_crashed && self.b.counts.failed > 0 {
            self.b.counts.failed -= 1;
            self.b.counts.errors += 1;
            self.b.crash_recorded = true;
        }
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
                            run.file_crashed = true;
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
