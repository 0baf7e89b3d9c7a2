//! `dart test` / `flutter test` (the compact and expanded reporters): progress lines
//! `00:01 +3 ~1 -1: path/x_test.dart: group name [E]` — a timer, then passed (`+N`), skipped
//! (`~N`) and failed (`-N`) so far — and the final line `00:02 +4 ~1 -1: Some tests failed.` or
//! `00:02 +5: All tests passed!`.
//!
//! The final line decides the counts; a progress line ending `[E]` names a failing test.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, Runner};
use crate::text::leading_number;

#[derive(Default)]
pub(crate) struct DartParser {
    run: Option<RunBuilder>,
}

/// `00:26 +152 ~2 -6: rest` → (counts so far, rest).
fn progress(t: &str) -> Option<(Counts, &str)> {
    let (clock, rest) = t.split_once(' ')?;
    let (m, s) = clock.split_once(':')?;
    if m.len() < 2 || s.len() != 2 || !(m.bytes().chain(s.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (counts, rest) = rest.split_once(": ")?;
    let mut c = Counts::default();
    for item in counts.split(' ') {
        let (sign, n) = item.split_at_checked(1)?;
        let (n, tail) = leading_number(n)?;
        if !tail.is_empty() {
            return None;
        }
        match sign {
            "+" => c.passed = n,
            "~" => c.skipped = n,
            "-" => c.failed = n,
            _ => return None,
        }
    }
    counts.starts_with('+').then_some((c, rest))
}

impl RunParser for DartParser {
    fn phase(&self) -> Phase {
        if self.run.is_some() {
            Phase::Running
        } else {
            Phase::Idle
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(b) = self.run.take() {
            out.push(b.finish_by_summary(None, Counts::default(), None));
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let Some((c, rest)) = progress(line.trim()) else {
            return if self.run.is_some() && !line.trim().is_empty() {
                Claim::Weak
            } else if self.run.is_some() {
                Claim::Mine
            } else {
                Claim::NotMine
            };
        };
        let last = rest == "Some tests failed." || rest == "All tests passed!";
        if self.run.is_none() && last && ctx.foreign_run_active {
            return Claim::NotMine;
        }
        let b = self
            .run
            .get_or_insert_with(|| RunBuilder::new(Runner::Dart, ctx.line_no));
        b.counts = c;
        if let Some(name) = rest.strip_suffix(" [E]") {
            b.failure_or_push(name.trim());
        }
        if last && let Some(b) = self.run.take() {
            out.push(b.finish_by_summary(Some(c), c, None));
        }
        Claim::Mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_carry_the_counts_so_far() {
        let (c, rest) = progress("00:26 +152 -6: Some tests failed.").unwrap();
        assert_eq!((c.passed, c.failed, rest), (152, 6, "Some tests failed."));
        let (c, _) = progress("00:01 +3 ~1 -1: test/a_test.dart: adds [E]").unwrap();
        assert_eq!((c.passed, c.skipped, c.failed), (3, 1, 1));
        assert!(progress("10:00 meeting: notes").is_none());
    }
}
