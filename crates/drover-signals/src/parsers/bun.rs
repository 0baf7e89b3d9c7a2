//! `bun test`'s console reporter: `bun test v1.2.20 (hash)`, per-file headers (`a.test.ts:`),
//! `(pass) name [ms]` / `(fail) name [ms]` / `(skip) name` / `(todo) name` (older releases:
//! `✓` / `✗`), each failure's error printed *before* its `(fail)` line (`error: …` and an
//! `at … (file:line:col)` frame), then the tallies ` N pass`, ` N fail`, ` N skip`, ` N todo`,
//! ` N expect() calls` and `Ran N tests across M files. [time]`.
//!
//! The tallies are authoritative (`todo` counts as skipped); `Ran …` closes the run. A run
//! starts at the header, at the first result line, or at the ` N pass` tally (a pasted
//! summary). An error printed just before the first result belongs to it, so the parser keeps
//! the last error line it saw while idle (bounded, and only for [`ERROR_WINDOW`] lines).

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Decides, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms, js_frame_location};

/// An error line seen while idle is the first failure's reason only this many lines later.
const ERROR_WINDOW: u64 = 60;

#[derive(Default)]
pub(crate) struct BunParser {
    run: Option<BunRun>,
    /// The last `error: …` line seen while idle, its frame location and its line number.
    idle_error: Option<(String, Option<String>, u64)>,
}

struct BunRun {
    b: RunBuilder,
    tally: Counts,
    summary: Option<Counts>,
    complete: bool,
    /// The error printed for the next `(fail)` line, and where it was raised.
    error: Option<String>,
    location: Option<String>,
}

impl BunRun {
    fn new(line_no: u64) -> Self {
        BunRun {
            b: RunBuilder::new(Runner::Bun, line_no),
            tally: Counts::default(),
            summary: None,
            complete: false,
            error: None,
            location: None,
        }
    }

    fn finish(mut self) -> Emitted {
        let end = if self.complete {
            RunEnd::Completed
        } else {
            RunEnd::CutOff
        };
        self.b.counts = self.summary.unwrap_or(self.tally);
        self.b.finish(end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// `(fail) suite > name [5.25ms]` or `✗ name [7.16ms]` → (outcome, name).
fn result_line(t: &str) -> Option<(Outcome, &str)> {
    let (outcome, rest) = if let Some(r) = t.strip_prefix("(pass) ") {
        (Outcome::Pass, r)
    } else if let Some(r) = t.strip_prefix("(fail) ") {
        (Outcome::Fail, r)
    } else if let Some(r) = t
        .strip_prefix("(skip) ")
        .or_else(|| t.strip_prefix("(todo) "))
    {
        (Outcome::Skip, r)
    } else if let Some(r) = t.strip_prefix("✓ ") {
        // Older bun: only with its `[1.00ms]` duration, which mocha's and vitest's marks lack.
        (Outcome::Pass, r.strip_suffix(']').map(|_| r)?)
    } else if let Some(r) = t.strip_prefix("✗ ") {
        (Outcome::Fail, r.strip_suffix(']').map(|_| r)?)
    } else {
        return None;
    };
    let name = match rest.rfind(" [") {
        Some(i) if rest.ends_with(']') => rest.get(..i)?,
        _ => rest,
    };
    Some((outcome, name.trim()))
}

/// ` 3 pass` / ` 1 fail` / ` 2 skip` / ` 1 todo` / ` 9 expect() calls`.
fn tally_line(t: &str) -> Option<(u64, &str)> {
    let t = t.trim();
    if let Some(head) = t.strip_suffix(" expect() calls") {
        return Some((head.parse().ok()?, "expect"));
    }
    let (n, word) = count_item(t)?;
    matches!(word, "pass" | "fail" | "skip" | "todo" | "snapshots").then_some((n, word))
}

/// `Ran 11 tests across 1 file. [302.00ms]` → duration.
fn ran_line(t: &str) -> Option<Option<u64>> {
    let rest = t.strip_prefix("Ran ")?;
    let (_, rest) = rest.split_once(" across ")?;
    let (_, after) = rest.split_once(" file")?;
    let dur = after
        .split_once('[')
        .and_then(|(_, d)| d.split_once(']'))
        .and_then(|(d, _)| duration_ms(d));
    Some(dur)
}

/// An error line bun prints above a failing test: `error: expect(received).toBe(expected)`,
/// `TypeError: x is not a function`.
fn error_line(t: &str) -> Option<&str> {
    if let Some(r) = t.strip_prefix("error: ") {
        return Some(r);
    }
    let (head, _) = t.split_once(": ")?;
    (head.ends_with("Error") && head.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(t)
}

impl RunParser for BunParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.complete => Phase::Settling,
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
        let header = t.starts_with("bun test v");
        if self.run.is_none() {
            let result = result_line(line.trim_end());
            let tally = tally_line(t).filter(|(_, w)| *w == "pass" && line.starts_with(' '));
            if !header && result.is_none() && (tally.is_none() || ctx.foreign_run_active) {
                if let Some(e) = error_line(t) {
                    self.idle_error = Some((e.to_owned(), None, ctx.line_no));
                } else if let Some((_, loc @ None, _)) = self.idle_error.as_mut()
                    && let Some(l) = js_frame_location(t)
                {
                    *loc = Some(l.to_owned());
                }
                return Claim::NotMine;
            }
            let mut run = BunRun::new(ctx.line_no);
            if let Some((e, loc, at)) = self.idle_error.take()
                && ctx.line_no.saturating_sub(at) <= ERROR_WINDOW
            {
                run.error = Some(e);
                run.location = loc;
            }
            self.run = Some(run);
            if header {
                return Claim::Mine;
            }
        } else if header {
            if let Some(prev) = self.run.take() {
                out.push(prev.finish());
            }
            self.run = Some(BunRun::new(ctx.line_no));
            return Claim::Mine;
        }
        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };
        if run.complete {
            // Nothing of bun's follows `Ran …`: the run settles.
            return Claim::NotMine;
        }
        if let Some((outcome, name)) = result_line(line.trim_end()) {
            match outcome {
                Outcome::Pass => run.tally.passed += 1,
                Outcome::Skip => run.tally.skipped += 1,
                Outcome::Fail => {
                    run.tally.failed += 1;
                    let reason = run.error.take();
                    let location = run.location.take();
                    run.b
                        .push_failure(name, reason.as_deref(), location.as_deref());
                    run.b.note(ctx.line_no, line, Decides::Verdict);
                }
            }
            run.error = None;
            run.location = None;
            return Claim::Mine;
        }
        if let Some((n, word)) = tally_line(t) {
            let s = run.summary.get_or_insert_with(Counts::default);
            match word {
                "pass" => s.passed = n,
                "fail" => s.failed = n,
                "skip" | "todo" => s.skipped = s.skipped.saturating_add(n),
                // `expect() calls` and snapshots are not tests.
                _ => return Claim::Mine,
            }
            run.b.note(ctx.line_no, line, Decides::Counts);
            return Claim::Mine;
        }
        if let Some(dur) = ran_line(t) {
            run.b.duration_ms = dur;
            run.complete = true;
            run.b.note(ctx.line_no, line, Decides::Counts);
            if run.summary.is_none() {
                // `Ran` without tallies: the per-test lines are all there is.
                run.summary = Some(run.tally);
            }
            return Claim::Mine;
        }
        if let Some(e) = error_line(t) {
            run.error = Some(e.to_owned());
            run.location = None;
            return Claim::Weak;
        }
        if run.error.is_some()
            && run.location.is_none()
            && let Some(loc) = js_frame_location(t)
        {
            run.location = Some(loc.to_owned());
        }
        Claim::Weak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            result_line("(fail) a > b [5.25ms]"),
            Some((Outcome::Fail, "a > b"))
        );
        assert_eq!(
            result_line("✗ run() [7.16ms]"),
            Some((Outcome::Fail, "run()"))
        );
        assert_eq!(result_line("✓ plain mocha line"), None);
        assert_eq!(tally_line(" 1001 fail"), Some((1001, "fail")));
        assert_eq!(tally_line(" 2 expect() calls"), Some((2, "expect")));
        assert_eq!(
            ran_line("Ran 11 tests across 1 file. [302.00ms]"),
            Some(Some(302))
        );
        assert_eq!(ran_line("Ran 999 tests across 1000 files."), Some(None));
        assert_eq!(
            error_line("error: expect(received).toBe(expected)"),
            Some("expect(received).toBe(expected)")
        );
    }
}
