//! RSpec's console output (progress or documentation format): `Pending:` and `Failures:`
//! sections with numbered entries (`  1) Group example` / `Failure/Error: code` / the message),
//! `Finished in 0.07 seconds (files took 0.4 seconds to load)`, then `N examples, M failures[,
//! K pending][, J errors occurred outside of examples]` and `Failed examples:` with
//! `rspec ./spec/x_spec.rb:5 # Group example` lines. A file that fails to load prints
//! `An error occurred while loading ./spec/x_spec.rb.` with the same detail layout.
//!
//! The summary decides the counts: passed = N − M − K. Errors outside of examples make the run
//! an error (the suite did not run as written), named after the file that failed to load.
//! Failure details are read while idle too (RSpec prints them before any line that names the
//! runner) and kept only when `Finished in` or the summary follows.

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Counts, Emitted, RunBuilder, RunEnd, Runner, TestFailure};
use crate::text::{count_item, indent, leading_number};

const MAX_REASON_LINES: u8 = 4;
/// Failure entries remembered before the run is known to be RSpec's.
const MAX_PENDING_FAILURES: usize = 64;

#[derive(Default)]
pub(crate) struct RspecParser {
    run: Option<RspecRun>,
    /// Failure details read while idle: kept if a run follows.
    early: Details,
}

#[derive(Default)]
struct Details {
    failures: Vec<TestFailure>,
    in_failures: bool,
    /// Reading the current entry's message: after `Failure/Error:`.
    in_message: bool,
    reason_lines: u8,
    /// A load error's file, named before its detail.
    load_error: Option<String>,
}

impl Details {
    /// Reads one line of a `Failures:` section; true when it belonged to it.
    fn feed(&mut self, line: &str) -> bool {
        let t = line.trim();
        if line.starts_with("Failures:") {
            self.in_failures = true;
            self.in_message = false;
            return true;
        }
        if line.starts_with("Pending:") {
            self.in_failures = false;
            self.in_message = false;
            return true;
        }
        if let Some(file) = t
            .strip_prefix("An error occurred while loading ")
            .map(|r| r.split(" - Did you mean?").next().unwrap_or(r))
        {
            let file = file.trim().trim_end_matches('.');
            self.load_error = Some(file.to_owned());
            self.push(file);
            self.in_failures = true;
            return true;
        }
        if !self.in_failures {
            return false;
        }
        if indent(line) == 2
            && let Some((_, rest)) = leading_number(t)
            && let Some(name) = rest.strip_prefix(") ")
        {
            self.push(name.trim());
            return true;
        }
        if t.starts_with("Failure/Error:") {
            self.in_message = true;
            self.reason_lines = 0;
            return true;
        }
        if t.starts_with("# ") {
            self.in_message = false;
            return true;
        }
        if self.in_message && !t.is_empty() && self.reason_lines < MAX_REASON_LINES {
            if let Some(f) = self.failures.last_mut() {
                match &mut f.reason {
                    Some(r) => {
                        r.push('\n');
                        r.push_str(t);
                    }
                    None => f.reason = Some(t.to_owned()),
                }
                self.reason_lines += 1;
            }
            return true;
        }
        t.is_empty() || indent(line) >= 2
    }

    fn push(&mut self, name: &str) {
        if self.failures.len() < MAX_PENDING_FAILURES {
            self.failures.push(TestFailure {
                name: name.to_owned(),
                reason: None,
                location: None,
            });
        }
        self.in_message = false;
    }
}

struct RspecRun {
    b: RunBuilder,
    details: Details,
    summary: Option<(Counts, u64)>,
}

impl RspecRun {
    fn new(line_no: u64, details: Details) -> Self {
        RspecRun {
            b: RunBuilder::new(Runner::Rspec, line_no),
            details,
            summary: None,
        }
    }

    fn finish(mut self) -> Emitted {
        for f in std::mem::take(&mut self.details.failures) {
            if let Some(i) = self.b.failure_or_push(&f.name)
                && let Some(r) = f.reason.as_deref()
            {
                self.b.set_reason_if_none(i, r);
            }
        }
        let Some((counts, outside)) = self.summary else {
            return self.b.finish(RunEnd::CutOff);
        };
        self.b.counts = counts;
        if outside > 0 {
            self.b.counts.errors = outside;
            self.b.crash_recorded = true;
            // Failures outside examples are the errors, not failed examples.
            let named: u64 = self.b.failures.len() as u64;
            if named > counts.failed.saturating_add(outside) {
                self.b.counts.failed = named - outside;
            }
            return self.b.finish(RunEnd::NotStarted);
        }
        self.b.finish(RunEnd::Completed)
    }
}

/// `6 examples, 2 failures, 2 pending, 1 error occurred outside of examples` → (counts, errors
/// outside examples).
fn summary(t: &str) -> Option<(Counts, u64)> {
    let mut parts = t.split(", ");
    let (n, word) = count_item(parts.next()?)?;
    if word != "examples" && word != "example" {
        return None;
    }
    let (failed, word) = count_item(parts.next()?)?;
    if word != "failures" && word != "failure" {
        return None;
    }
    let mut c = Counts {
        failed,
        ..Counts::default()
    };
    let mut outside = 0;
    for p in parts {
        let (k, word) = count_item(p)?;
        if word == "pending" {
            c.skipped = k;
        } else if word.ends_with("outside of examples") {
            outside = k;
        } else {
            return None;
        }
    }
    c.passed = n.saturating_sub(failed).saturating_sub(c.skipped);
    Some((c, outside))
}

impl RunParser for RspecParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.summary.is_some() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
        self.early = Details::default();
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, _out: &mut Vec<Emitted>) -> Claim {
        let t = line.trim();
        let Some(run) = self.run.as_mut() else {
            if t.starts_with("Finished in ") && t.contains(" second") {
                let early = std::mem::take(&mut self.early);
                self.run = Some(RspecRun::new(ctx.line_no, early));
                return Claim::Mine;
            }
            if !ctx.foreign_run_active
                && let Some(s) = summary(t)
            {
                let early = std::mem::take(&mut self.early);
                let mut run = RspecRun::new(ctx.line_no, early);
                run.summary = Some(s);
                self.run = Some(run);
                return Claim::Mine;
            }
            if t.starts_with("An error occurred while loading ") {
                let mut early = std::mem::take(&mut self.early);
                early.feed(line);
                self.run = Some(RspecRun::new(ctx.line_no, early));
                return Claim::Mine;
            }
            if !self.early.feed(line) {
                self.early = Details::default();
            }
            return Claim::NotMine;
        };
        if run.summary.is_none() {
            if let Some(s) = summary(t) {
                run.summary = Some(s);
                return Claim::Mine;
            }
            if t.starts_with("Finished in ") {
                return Claim::Mine;
            }
            return if run.details.feed(line) {
                Claim::Mine
            } else {
                Claim::Weak
            };
        }
        // After the summary: `Failed examples:` and its `rspec ./x:5 # name` lines.
        if t.is_empty() || t == "Failed examples:" {
            return Claim::Mine;
        }
        if let Some(rest) = t.strip_prefix("rspec ")
            && let Some((_, name)) = rest.split_once(" # ")
        {
            let name = name.trim().to_owned();
            if !run.details.failures.iter().any(|f| f.name == name) {
                run.details.push(&name);
            }
            return Claim::Mine;
        }
        Claim::NotMine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let (c, o) = summary("6 examples, 2 failures, 2 pending").unwrap();
        assert_eq!((c.passed, c.failed, c.skipped, o), (2, 2, 2, 0));
        let (c, o) =
            summary("0 examples, 0 failures, 1 error occurred outside of examples").unwrap();
        assert_eq!((c.passed, o), (0, 1));
        assert!(summary("1 example, 0 failures").is_some());
        assert!(summary("3 examples passed").is_none());
    }
}
