//! Python unittest (`python -m unittest`, plain and `-v`).
//!
//! `Ran N tests in Xs` followed by `OK (...)` / `FAILED (...)` is authoritative; the failure
//! blocks (`FAIL: name (id)` between separator lines) give names, the last traceback line as
//! the reason and the last `File "...", line N` as the location. A module that fails to import
//! (`unittest.loader._FailedTest`) means the run could not start.
//!
//! Plain (non `-v`) output has no marker before its first failure block or `Ran` line, so a
//! plain run killed before either is not seen.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, MAX_REASON_BYTES, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms};

#[derive(Default)]
pub(crate) struct UnittestParser {
    run: Option<UtRun>,
    after_separator: bool,
    /// Lines since a `-----` rule while idle: `Ran N tests` only counts right after one.
    lines_since_rule: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Header,
    Body,
}

struct UtRun {
    b: RunBuilder,
    tally: Counts,
    /// `Ran N tests`, with the duration.
    ran: Option<u64>,
    block: Block,
    failure: Option<usize>,
    last_line: String,
    last_location: String,
    in_exception: bool,
    loader_error: bool,
    /// `ERROR:` / `FAIL:` block headers seen: for a run cut off before its result line.
    error_blocks: u64,
    fail_blocks: u64,
    /// A `-----` rule came after the last result or failure header: the next `Ran N tests` is
    /// unittest's own (test output printing one is not).
    rule_since_result: bool,
}

impl UtRun {
    fn new(line_no: u64) -> Self {
        UtRun {
            b: RunBuilder::new(Runner::Unittest, line_no),
            tally: Counts::default(),
            ran: None,
            block: Block::None,
            failure: None,
            last_line: String::new(),
            last_location: String::new(),
            in_exception: false,
            loader_error: false,
            error_blocks: 0,
            fail_blocks: 0,
            rule_since_result: false,
        }
    }

    /// A `-v` result: tallied, and a failing test named at once (a run killed before its
    /// failure blocks still names it); the test is no longer running.
    fn verbose_outcome(&mut self, id: &str, outcome: Outcome) {
        if matches!(outcome, Outcome::Fail | Outcome::Error) {
            self.b.failure_or_push(id);
        }
        self.b.running = None;
        self.tally_outcome(outcome);
    }

    fn close_block(&mut self) {
        if let Some(i) = self.failure.take() {
            if !self.last_line.is_empty() {
                self.b.set_reason_if_none(i, &self.last_line);
            }
            if !self.last_location.is_empty() {
                self.b.set_location_if_none(i, &self.last_location);
            }
        }
        self.last_line.clear();
        self.last_location.clear();
        self.in_exception = false;
        self.block = Block::None;
    }

    fn finish(mut self, result: Option<&str>) -> Emitted {
        self.close_block();
        let end = if self.loader_error {
            RunEnd::NotStarted
        } else if result.is_some() && self.ran.is_some() {
            RunEnd::Completed
        } else {
            RunEnd::CutOff
        };
        match (result, self.ran) {
            (Some(result), Some(ran)) => {
                let (mut f, mut e, mut s, mut xf, mut us) = (0u64, 0u64, 0u64, 0u64, 0u64);
                if let Some(open) = result.find('(') {
                    let inner = result.get(open + 1..).unwrap_or("").trim_end_matches(')');
                    for item in inner.split(", ") {
                        let Some((key, value)) = item.split_once('=') else {
                            continue;
                        };
                        let n: u64 = value.trim().parse().unwrap_or(0);
                        match key.trim() {
                            "failures" => f = n,
                            "errors" => e = n,
                            "skipped" => s = n,
                            "expected failures" => xf = n,
                            "unexpected successes" => us = n,
                            _ => {}
                        }
                    }
                }
                self.b.counts = Counts {
                    passed: ran
                        .saturating_sub(f)
                        .saturating_sub(e)
                        .saturating_sub(s)
                        .saturating_sub(xf)
                        .saturating_sub(us),
                    failed: f.saturating_add(us),
                    skipped: s.saturating_add(xf),
                    errors: e,
                };
            }
            _ => {
                // No result line: the blocks printed are failures and errors all the same.
                self.b.counts = self.tally;
                self.b.counts.errors = self.b.counts.errors.max(self.error_blocks);
                self.b.counts.failed = self.b.counts.failed.max(self.fail_blocks);
            }
        }
        self.b.finish(end)
    }
}

fn is_rule(line: &str, ch: u8) -> bool {
    line.len() >= 60 && line.bytes().all(|b| b == ch)
}

/// `FAIL: test_x (mod.Class.test_x) (i=2)` → (`mod.Class.test_x (i=2)`, is loader failure).
fn block_header(line: &str) -> Option<(String, bool)> {
    let rest = line
        .strip_prefix("FAIL: ")
        .or_else(|| line.strip_prefix("ERROR: "))
        .or_else(|| line.strip_prefix("UNEXPECTED SUCCESS: "))?;
    let (method, after) = rest.split_once(" (")?;
    let (id, extra) = after.split_once(')')?;
    let name = if id.ends_with(&format!(".{method}")) || id == method {
        id.to_owned()
    } else {
        format!("{id}.{method}")
    };
    let name = match extra.trim() {
        "" => name,
        extra => format!("{name} {extra}"),
    };
    let loader = id.starts_with("unittest.loader.");
    Some((name, loader))
}

/// A `-v` result line: `test_x (mod.Class.test_x) ... ok` → the outcome.
#[cfg(test)]
fn verbose_result(line: &str) -> Option<Outcome> {
    verbose_named_result(line).map(|(_, o)| o)
}

/// The test id of a `-v` line, `test_x (mod.Class.test_x) ...`, with or without its result.
fn verbose_id(head: &str) -> Option<&str> {
    let (_, paren) = head.split_once(" (")?;
    if !paren.contains(')') || (paren.contains(' ') && !paren.contains(") (")) {
        return None;
    }
    paren.split_once(')').map(|(id, _)| id)
}

/// A `-v` line that announces a test which has not reported yet (`test_x (m.C.test_x) ... `,
/// the process dies before the result): the test id.
fn verbose_start(line: &str) -> Option<&str> {
    let head = line.trim().strip_suffix(" ...")?;
    verbose_id(head).filter(|id| !id.is_empty())
}

/// A `-v` result line with the test id.
fn verbose_named_result(line: &str) -> Option<(&str, Outcome)> {
    let (head, result) = line.trim_start().rsplit_once(" ... ")?;
    let id = verbose_id(head)?;
    Some((
        id,
        match result.trim() {
            "ok" => Outcome::Pass,
            "FAIL" | "unexpected success" => Outcome::Fail,
            "ERROR" => Outcome::Error,
            "expected failure" => Outcome::Skip,
            r if r.starts_with("skipped") => Outcome::Skip,
            _ => return None,
        },
    ))
}

enum Outcome {
    Pass,
    Fail,
    Error,
    Skip,
}

/// `Ran 5 tests in 0.005s`.
fn ran_line(line: &str) -> Option<(u64, Option<u64>)> {
    let rest = line.strip_prefix("Ran ")?;
    let (count, dur) = rest.split_once(" in ")?;
    let (n, word) = count_item(count)?;
    if word != "tests" && word != "test" {
        return None;
    }
    Some((n, duration_ms(dur)))
}

fn is_result_line(line: &str) -> bool {
    line == "OK"
        || line == "NO TESTS RAN"
        || (line.starts_with("OK (") || line.starts_with("FAILED (")) && line.ends_with(')')
        || line == "FAILED"
}

impl RunParser for UnittestParser {
    fn phase(&self) -> Phase {
        if self.run.is_some() {
            Phase::Running
        } else {
            Phase::Idle
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish(None));
        }
        self.after_separator = false;
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let after_separator = std::mem::replace(&mut self.after_separator, false);
        if is_rule(line, b'=') {
            self.after_separator = true;
            return match self.run.as_mut() {
                Some(run) => {
                    run.close_block();
                    Claim::Mine
                }
                None => Claim::NotMine,
            };
        }
        // Idle, a block header needs its separator line to count as a start; within a run,
        // a line interleaved between the two must not lose the failure.
        if (after_separator || self.run.is_some())
            && let Some((name, loader)) = block_header(line)
        {
            let run = self.run.get_or_insert_with(|| UtRun::new(ctx.line_no));
            run.close_block();
            run.rule_since_result = false;
            if line.starts_with("ERROR") {
                run.error_blocks = run.error_blocks.saturating_add(1);
            } else {
                run.fail_blocks = run.fail_blocks.saturating_add(1);
            }
            // A `-v` result line may have named the test already: its block (a subtest's
            // block carries `(i=2)` after the id) takes that entry over.
            let provisional = run.b.failures.iter().position(|f| {
                f.reason.is_none()
                    && name
                        .strip_prefix(f.name.as_str())
                        .is_some_and(|rest| rest.starts_with(" ("))
            });
            run.failure = match (run.b.failure_index(&name), provisional) {
                (Some(i), _) => Some(i),
                (None, Some(i)) => {
                    if let Some(f) = run.b.failures.get_mut(i) {
                        f.name = name.clone();
                    }
                    Some(i)
                }
                (None, None) => run.b.push_failure(&name, None, None),
            };
            run.loader_error |= loader;
            run.block = Block::Header;
            return Claim::Mine;
        }
        let rule_recent = self.lines_since_rule.take().filter(|n| *n < 3);
        if is_rule(line, b'-') && self.run.is_none() {
            self.lines_since_rule = Some(0);
            return Claim::NotMine;
        }
        if let Some(n) = rule_recent {
            self.lines_since_rule = Some(n + 1);
        }
        if let Some((n, dur)) = ran_line(line) {
            let accepted = match self.run.as_ref() {
                Some(run) => run.rule_since_result,
                None => rule_recent.is_some() && !ctx.foreign_run_active,
            };
            if !accepted {
                return if self.run.is_some() {
                    Claim::Weak
                } else {
                    Claim::NotMine
                };
            }
            let run = self.run.get_or_insert_with(|| UtRun::new(ctx.line_no));
            run.close_block();
            run.ran = Some(n);
            run.b.duration_ms = dur;
            return Claim::Mine;
        }
        if self.run.is_none() {
            if let Some((id, outcome)) = verbose_named_result(line) {
                let run = self.run.insert(UtRun::new(ctx.line_no));
                run.verbose_outcome(id, outcome);
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some(id) = verbose_start(line)
            {
                let run = self.run.insert(UtRun::new(ctx.line_no));
                run.b.set_running(id);
                return Claim::Mine;
            }
            return Claim::NotMine;
        }
        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };
        if run.ran.is_some() {
            // A result pasted inside markdown backticks (`FAILED (failures=1)`) is still it.
            let result = line.trim_end_matches('`').trim_end();
            if is_result_line(result) {
                if let Some(run) = self.run.take() {
                    out.push(run.finish(Some(result)));
                }
                return Claim::Mine;
            }
            return if line.is_empty() {
                Claim::Mine
            } else {
                Claim::Weak
            };
        }
        if is_rule(line, b'-') {
            match run.block {
                Block::Header => run.block = Block::Body,
                Block::Body => {
                    run.close_block();
                    run.rule_since_result = true;
                }
                Block::None => run.rule_since_result = true,
            }
            return Claim::Mine;
        }
        if run.block == Block::Body {
            let t = line.trim();
            if !t.is_empty() {
                if let Some(loc) = python_frame(t) {
                    run.last_location = loc;
                    run.in_exception = false;
                } else if !t.starts_with('^') && !t.starts_with('~') {
                    // The reason is the last exception line plus the lines that follow it
                    // (multi-line assertion diffs); code lines between frames are replaced.
                    let starts_exception = is_exception_line(t);
                    if starts_exception || !run.in_exception {
                        run.last_line.clear();
                    } else if run.last_line.len() < MAX_REASON_BYTES {
                        run.last_line.push('\n');
                    }
                    run.in_exception |= starts_exception;
                    if run.last_line.len() < MAX_REASON_BYTES {
                        let room = MAX_REASON_BYTES - run.last_line.len();
                        let mut end = t.len().min(room);
                        while end > 0 && !t.is_char_boundary(end) {
                            end -= 1;
                        }
                        run.last_line.push_str(t.get(..end).unwrap_or(""));
                    }
                }
                if t.starts_with("ImportError: Failed to import test module") {
                    run.loader_error = true;
                }
            }
            return Claim::Weak;
        }
        if let Some((id, outcome)) = verbose_named_result(line) {
            run.verbose_outcome(id, outcome);
            run.rule_since_result = false;
            return Claim::Mine;
        }
        if run.ran.is_none()
            && let Some(id) = verbose_start(line)
        {
            run.b.set_running(id);
            return Claim::Mine;
        }
        Claim::Weak
    }
}

impl UtRun {
    fn tally_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Pass => self.tally.passed += 1,
            Outcome::Fail => self.tally.failed += 1,
            Outcome::Error => self.tally.errors += 1,
            Outcome::Skip => self.tally.skipped += 1,
        }
    }
}

/// `AssertionError: 3 != 4`, `KeyError: 'b'`, `mod.CustomError: x`, `StopIteration`.
fn is_exception_line(t: &str) -> bool {
    let head = t.split(':').next().unwrap_or(t);
    let ident_ok = !head.is_empty()
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    ident_ok
        && (head.ends_with("Error")
            || head.ends_with("Exception")
            || head.ends_with("Failure")
            || head.ends_with("Exit")
            || head.ends_with("Interrupt")
            || head.ends_with("Iteration")
            || head.ends_with("Warning"))
}

/// `File "/tmp/x/test_u.py", line 4, in test_bad` → `/tmp/x/test_u.py:4`.
fn python_frame(t: &str) -> Option<String> {
    let rest = t.strip_prefix("File \"")?;
    let (path, rest) = rest.split_once("\", line ")?;
    let line_no: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if line_no.is_empty() {
        return None;
    }
    Some(format!("{path}:{line_no}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            block_header("FAIL: test_sub (test_u.T.test_sub) (i=2)"),
            Some(("test_u.T.test_sub (i=2)".to_owned(), false))
        );
        assert_eq!(
            block_header("ERROR: test_old (mod.Class)"),
            Some(("mod.Class.test_old".to_owned(), false))
        );
        assert_eq!(
            block_header("ERROR: test_zzz (unittest.loader._FailedTest.test_zzz)"),
            Some(("unittest.loader._FailedTest.test_zzz".to_owned(), true))
        );
        assert!(verbose_result("test_ok (test_u.T.test_ok) ... ok").is_some());
        assert!(verbose_result("Checking things ... done").is_none());
        assert_eq!(ran_line("Ran 1 test in 0.000s"), Some((1, Some(0))));
    }
}
