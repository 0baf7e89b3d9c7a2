//! node-tap's classic reporter (`tap -R classic`, and the default of old releases): one dotted
//! line per test file (`test/a.js ......... 6/6 2s`), the failing assertions indented under it
//! (`  parser` / `  not ok reads objects` and its diagnostic), `Skipped: N` notes, then
//! `total ........ 18/19` and either mocha-style counts (`18 passing (7s)`, `1 pending`,
//! `1 failing`) or, in old releases, a bare `ok` / `not ok`.
//!
//! TAP streams themselves (tape, node-tap's `-R tap`) are read by the TAP parser of `node/`,
//! which names them `tap`. Here the closing counts are authoritative; without them the `total`
//! line's `passed/planned` gives passed and failed (less the skipped notes). A run starts at the
//! first dotted file line or at the `total` line. node-tap 18's base reporter closes with
//! `Asserts:  84 pass  0 fail  84 of 84 complete`: its tally, read as a run of one line.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Decides, Emitted, RunBuilder, RunEnd, Runner};
use crate::text::{count_item, duration_ms, indent};

const MAX_REASON_LINES: u8 = 6;

#[derive(Default)]
pub(crate) struct TapClassicParser {
    run: Option<ClassicRun>,
}

struct ClassicRun {
    b: RunBuilder,
    /// From the `total` line: (passed, planned).
    total: Option<(u64, u64)>,
    skipped_notes: u64,
    summary: Option<Counts>,
    complete: bool,
    /// The subtest a following `not ok` belongs to (`  parser`).
    group: String,
    detail: Option<usize>,
    reason_lines: u8,
}

impl ClassicRun {
    fn new(line_no: u64) -> Self {
        ClassicRun {
            b: RunBuilder::new(Runner::Tap, line_no),
            total: None,
            skipped_notes: 0,
            summary: None,
            complete: false,
            group: String::new(),
            detail: None,
            reason_lines: 0,
        }
    }

    fn finish(mut self) -> Emitted {
        let counts = match (self.summary, self.total) {
            (Some(s), _) => Some(s),
            (None, Some((passed, planned))) => {
                let skipped = self.skipped_notes.min(planned.saturating_sub(passed));
                Some(Counts {
                    passed,
                    failed: planned.saturating_sub(passed).saturating_sub(skipped),
                    skipped,
                    errors: 0,
                })
            }
            (None, None) => None,
        };
        let end = if counts.is_some() {
            RunEnd::Completed
        } else {
            RunEnd::CutOff
        };
        self.b.counts = counts.unwrap_or_default();
        self.b.finish(end)
    }
}

/// `test/a.js ................ 6/6 2s` or `total ........ 18/19` → (label, passed, planned).
fn dotted(t: &str) -> Option<(&str, u64, u64)> {
    let (label, rest) = t.split_once(" ...")?;
    let rest = rest.trim_start_matches('.').trim_start();
    let ratio = rest.split_whitespace().next()?;
    let (a, b) = ratio.split_once('/')?;
    if label.trim().is_empty() || label.starts_with(' ') {
        return None;
    }
    Some((label.trim(), a.parse().ok()?, b.parse().ok()?))
}

impl RunParser for TapClassicParser {
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
        let line = line.trim_end();
        let ind = indent(line);
        let t = line.get(ind..).unwrap_or("");
        if self.run.is_none()
            && !ctx.foreign_run_active
            && let Some(c) = asserts_line(t)
        {
            // node-tap 18's base reporter closes with `Asserts:  84 pass  0 fail  84 of 84
            // complete`: its own tally, a run of one line.
            let mut b = RunBuilder::new(Runner::Tap, ctx.line_no);
            b.counts = c;
            out.push(b.finish(RunEnd::Completed));
            return Claim::Mine;
        }
        let Some(run) = self.run.as_mut() else {
            if ind == 0 && !ctx.foreign_run_active && dotted(t).is_some() {
                let run = self.run.insert(ClassicRun::new(ctx.line_no));
                return feed_dotted(run, t, ctx, line);
            }
            return Claim::NotMine;
        };
        if ind == 0 && dotted(t).is_some() {
            return feed_dotted(run, t, ctx, line);
        }
        if let Some(s) = run.summary.as_mut() {
            if let Some((n, word)) = count_item(t) {
                match word {
                    "pending" | "todo" => s.skipped = n,
                    "failing" => s.failed = n,
                    _ => return Claim::NotMine,
                }
                run.b.note(ctx.line_no, line, Decides::Counts);
                return Claim::Mine;
            }
            return if t.is_empty() {
                Claim::Mine
            } else {
                Claim::NotMine
            };
        }
        if run.total.is_some() {
            // After `total`: the closing counts, or old releases' bare `ok` / `not ok`.
            let (count, dur) = match t.split_once(" (") {
                Some((c, d)) => (c, duration_ms(d.trim_end_matches(')'))),
                None => (t, None),
            };
            if let Some((n, "passing")) = count_item(count) {
                run.summary = Some(Counts {
                    passed: n,
                    ..Counts::default()
                });
                run.b.duration_ms = dur;
                run.complete = true;
                run.b.note(ctx.line_no, line, Decides::Counts);
                return Claim::Mine;
            }
            if ind == 0 && (t == "ok" || t == "not ok") {
                run.complete = true;
                run.b.note(ctx.line_no, line, Decides::Verdict);
                return Claim::Mine;
            }
            return if t.is_empty() {
                Claim::Mine
            } else {
                Claim::Weak
            };
        }
        if ind == 2
            && let Some(name) = t.strip_prefix("not ok ")
        {
            let full = if run.group.is_empty() {
                name.to_owned()
            } else {
                format!("{} > {name}", run.group)
            };
            run.detail = run.b.push_failure(&full, None, None);
            run.reason_lines = 0;
            run.b.note(ctx.line_no, line, Decides::Verdict);
            return Claim::Mine;
        }
        if ind == 2 && t.starts_with("Skipped: ") {
            if let Some(n) = t.get(9..).and_then(|n| n.trim().parse::<u64>().ok()) {
                run.skipped_notes = run.skipped_notes.saturating_add(n);
            }
            run.detail = None;
            return Claim::Mine;
        }
        if ind == 2 && !t.is_empty() {
            run.group.clear();
            run.group.push_str(t);
            run.detail = None;
            return Claim::Mine;
        }
        if ind >= 4
            && let Some(i) = run.detail
        {
            if t == "at:" || t.starts_with("stack:") {
                run.reason_lines = MAX_REASON_LINES;
            } else if run.reason_lines < MAX_REASON_LINES {
                run.b.append_reason(i, t);
                run.reason_lines += 1;
            }
            return Claim::Mine;
        }
        if t.is_empty() {
            Claim::Mine
        } else {
            Claim::Weak
        }
    }
}

/// `Asserts:  84 pass  1 fail  2 skip  87 of 87 complete` → counts.
fn asserts_line(t: &str) -> Option<Counts> {
    let rest = t.strip_prefix("Asserts:")?;
    let mut words = rest.split_whitespace();
    let mut c = Counts::default();
    let (mut pass, mut fail) = (false, false);
    while let Some(n) = words.next() {
        let n: u64 = n.parse().ok()?;
        match words.next()? {
            "pass" => {
                c.passed = n;
                pass = true;
            }
            "fail" => {
                c.failed = n;
                fail = true;
            }
            "skip" | "todo" => c.skipped += n,
            "of" => break,
            _ => return None,
        }
    }
    (pass && fail).then_some(c)
}

fn feed_dotted(run: &mut ClassicRun, t: &str, ctx: &LineCtx, line: &str) -> Claim {
    if let Some(("total", passed, planned)) = dotted(t) {
        run.total = Some((passed, planned));
        run.b.note(ctx.line_no, line, Decides::Counts);
    }
    run.group.clear();
    run.detail = None;
    Claim::Mine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            dotted("test/test-api.js ................. 6/6 2s"),
            Some(("test/test-api.js", 6, 6))
        );
        assert_eq!(dotted("total ............ 18/19"), Some(("total", 18, 19)));
        assert_eq!(dotted("loading ... please wait"), None);
    }
}
