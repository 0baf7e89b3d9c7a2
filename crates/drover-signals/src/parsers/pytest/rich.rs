//! pytest-rich's console output (`pytest --rich`): box-drawing banners (`─── pytest session
//! starts ───`), a spinner progress (`⠋ [ 37%] test_inv.py ✔✔❌`), one panel per failure
//! (`╭─── test_x.py::test_y ───╮`, the source, `│ E assert 6 == 7 │`), `FAILED  node reason`
//! lines, then a `Summary` box (`│  11  Total Tests │`, `│   7  Passed (63.6%) │`, `Failed`,
//! `Skipped`, `Xfailed`, `Xpassed`, `Errors`) and a closing banner `─── FAILED in 0.2 seconds
//! ───`.
//!
//! The Summary box decides (xfailed counts as skipped, xpassed as passed); a failure is named
//! by its panel's title and its reason is the panel's first `E` line (pytest-rich's own
//! `FAILED` lines run several reasons together). Without the box the run is cut off.

use crate::parsers::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, Runner};
use crate::text::{leading_number, strip_banner};

#[derive(Default)]
pub(crate) struct PytestRichParser {
    run: Option<RichRun>,
}

struct RichRun {
    b: RunBuilder,
    summary: Option<Counts>,
    /// The failure whose panel is being read (its reason not yet found).
    panel: Option<usize>,
    done: bool,
}

/// The text inside a panel's borders: `│ E assert 6 == 7   │` → `E assert 6 == 7`.
fn panel_text(t: &str) -> Option<&str> {
    Some(t.strip_prefix('│')?.trim_end().strip_suffix('│')?.trim())
}

/// `╭──── test_inv.py::test_div ────╮` → `test_inv.py::test_div`.
fn panel_title(t: &str) -> Option<&str> {
    let inner = t.strip_prefix('╭')?.strip_suffix('╮')?;
    let title = inner.trim_matches('─').trim();
    (!title.is_empty()).then_some(title)
}

impl RichRun {
    fn summary_row(&mut self, row: &str) -> bool {
        let Some((n, rest)) = leading_number(row) else {
            return false;
        };
        let label = rest.split_whitespace().next().unwrap_or("");
        let c = self.summary.get_or_insert_with(Counts::default);
        match label {
            "Passed" | "Xpassed" => c.passed += n,
            "Failed" => c.failed += n,
            "Skipped" | "Xfailed" => c.skipped += n,
            "Errors" | "Error" => c.errors += n,
            "Total" => {}
            _ => return false,
        }
        true
    }
}

impl RunParser for PytestRichParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.done => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(
                run.b
                    .finish_by_summary(run.summary, Counts::default(), None),
            );
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let banner = strip_banner(t, '─');
        let Some(run) = self.run.as_mut() else {
            if banner == Some("pytest session starts") {
                self.run = Some(RichRun {
                    b: RunBuilder::new(Runner::Pytest, ctx.line_no),
                    summary: None,
                    panel: None,
                    done: false,
                });
                return Claim::Mine;
            }
            return Claim::NotMine;
        };
        if run.done {
            if let Some(run) = self.run.take() {
                out.push(
                    run.b
                        .finish_by_summary(run.summary, Counts::default(), None),
                );
            }
            return Claim::NotMine;
        }
        if let Some(title) = banner {
            // `FAILED in 0.00 seconds` / `PASSED in …`: the end, once the box was read.
            if run.summary.is_some() && title.contains(" in ") && title.ends_with("seconds") {
                run.done = true;
            }
            return Claim::Mine;
        }
        if let Some(title) = panel_title(t) {
            run.panel = if title.contains("::") || title.ends_with(".py") {
                run.b.failure_or_push(title)
            } else {
                None
            };
            return Claim::Mine;
        }
        if let Some(text) = panel_text(t) {
            if let Some(i) = run.panel
                && let Some(reason) = text.strip_prefix("E ")
            {
                run.b.set_reason_if_none(i, reason);
                run.panel = None;
            } else if run.panel.is_none() {
                run.summary_row(text);
            }
            return Claim::Mine;
        }
        if t.starts_with('╰') {
            run.panel = None;
            return Claim::Mine;
        }
        if t.is_empty() {
            Claim::Mine
        } else {
            Claim::Weak
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_and_the_summary_box() {
        assert_eq!(
            panel_title("╭──── test_inv.py::test_div ────╮"),
            Some("test_inv.py::test_div")
        );
        assert_eq!(
            panel_text("│ E assert 6 == 7    │"),
            Some("E assert 6 == 7")
        );
        let mut r = RichRun {
            b: RunBuilder::new(Runner::Pytest, 1),
            summary: None,
            panel: None,
            done: false,
        };
        for row in ["11  Total Tests", "7  Passed  (63.6%)", "1  Xfailed (9.1%)"] {
            assert!(r.summary_row(row));
        }
        let c = r.summary.unwrap();
        assert_eq!((c.passed, c.skipped), (7, 1));
        assert!(!r.summary_row("platform linux"));
    }
}
