//! The streaming test-run detector: one per log stream. Lines go through the cleaner and then
//! to every runner parser; whole runs come out.
//!
//! Invariants:
//! - At most one parser owns a run at a time. The owner sees each line first; other parsers only
//!   see lines the owner did not claim, and may take over only by starting a run of their own —
//!   which cuts the owner's run off (an `Error` verdict unless it had already printed its
//!   summary).
//! - A summary-looking line printed while another runner's run is in progress (test output that
//!   quotes a summary) never becomes a run of its own.
//! - Memory is bounded: parsers keep counts plus capped failures; no line is retained.
//! - Runs whose summary was printed but which may still continue (cargo's several
//!   `test result:` blocks, a go invocation's several packages) are emitted after
//!   [`SETTLE_LINES`] unrelated lines, when another run starts, on [`TestRunDetector::flush`]
//!   or on [`TestRunDetector::finish`].

use memchr::memmem;

use super::ansi::LineCleaner;
use super::parsers::{self, Claim, Interrupt, LineCtx, Phase, RunParser};
use super::run::{Emitted, TestRun};

/// Unrelated non-blank lines after which a run that has printed its summary is emitted.
pub const SETTLE_LINES: u32 = 10;
/// Unrelated non-blank lines after which a run that never printed its summary is declared cut
/// off (the runner died and the agent moved on).
pub const ABANDON_LINES: u32 = 5_000;
/// A sample announcement applies to a run starting within this many lines after it.
pub const SAMPLE_WINDOW_LINES: u64 = 500;

/// Finds test runs in one log stream, fed line by line.
pub struct TestRunDetector {
    cleaner: LineCleaner,
    parsers: Vec<Box<dyn RunParser + Send>>,
    owner: Option<usize>,
    unclaimed_since_owner_claim: u32,
    line_no: u64,
    sample_hint_line: Option<u64>,
    sample_markers: Vec<memmem::Finder<'static>>,
    scratch: Vec<Emitted>,
    emitted: Vec<Emitted>,
}

impl Default for TestRunDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TestRunDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRunDetector")
            .field("line_no", &self.line_no)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl TestRunDetector {
    pub fn new() -> Self {
        TestRunDetector {
            cleaner: LineCleaner::new(),
            parsers: parsers::all(),
            owner: None,
            unclaimed_since_owner_claim: 0,
            line_no: 0,
            sample_hint_line: None,
            sample_markers: [
                "--fast",
                "--sample",
                "sampled",
                "Sampled",
                "SAMPLED",
                "% sample",
                "% of the tests",
                "sample of the tests",
            ]
            .into_iter()
            .map(|m| memmem::Finder::new(m.as_bytes()))
            .collect(),
            scratch: Vec::new(),
            emitted: Vec::new(),
        }
    }

    /// Lines fed so far (1-based number of the last line).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Feeds one raw line (a trailing newline is allowed). Returns the runs this line completed,
    /// in order; usually none.
    pub fn feed_line(&mut self, raw: &[u8]) -> Vec<TestRun> {
        let mut out = Vec::new();
        self.feed_line_into(raw, &mut out);
        out
    }

    /// Like [`feed_line`](Self::feed_line) but appends the completed runs (with the line number
    /// where each run's output began) to `out`, allocating nothing when there are none.
    pub fn feed_line_into(&mut self, raw: &[u8], out: &mut Vec<TestRun>) {
        self.feed_inner(raw);
        self.drain_into(out);
    }

    /// Like [`feed_line_into`](Self::feed_line_into), but each run comes with the 1-based line
    /// number where its output began.
    pub fn feed_line_located(&mut self, raw: &[u8], out: &mut Vec<(u64, TestRun)>) {
        self.feed_inner(raw);
        for e in self.emitted.drain(..) {
            out.push((e.start_line, e.run));
        }
    }

    /// Emits runs that have printed their summary and are only waiting for possible further
    /// output (call on an idle stream). Runs still in progress are left alone.
    pub fn flush(&mut self) -> Vec<TestRun> {
        if let Some(o) = self.owner
            && let Some(p) = self.parsers.get_mut(o)
            && p.phase() == Phase::Settling
        {
            p.interrupt(Interrupt::Flush, &mut self.scratch);
            self.owner = None;
            self.take_scratch();
        }
        let mut out = Vec::new();
        self.drain_into(&mut out);
        out
    }

    /// The stream ended: emits what is pending. A run that started but never printed its
    /// summary is emitted as cut off (`Error`).
    pub fn finish(&mut self) -> Vec<TestRun> {
        self.finish_located().into_iter().map(|(_, r)| r).collect()
    }

    /// [`finish`](Self::finish) with the line number where each run's output began.
    pub fn finish_located(&mut self) -> Vec<(u64, TestRun)> {
        if let Some(o) = self.owner.take()
            && let Some(p) = self.parsers.get_mut(o)
        {
            p.interrupt(Interrupt::EndOfStream, &mut self.scratch);
            self.take_scratch();
        }
        self.emitted
            .drain(..)
            .map(|e| (e.start_line, e.run))
            .collect()
    }

    fn drain_into(&mut self, out: &mut Vec<TestRun>) {
        out.extend(self.emitted.drain(..).map(|e| e.run));
    }

    fn feed_inner(&mut self, raw: &[u8]) {
        self.line_no = self.line_no.saturating_add(1);
        let line_no = self.line_no;
        // Split borrows: the cleaned line borrows the cleaner while parsers are mutated.
        let TestRunDetector {
            cleaner,
            parsers,
            owner,
            unclaimed_since_owner_claim,
            scratch,
            ..
        } = self;
        let line = cleaner.clean(raw);
        let blank = line.trim().is_empty();

        let mut claimed = false;
        let mut weak = false;
        if let Some(o) = *owner
            && let Some(p) = parsers.get_mut(o)
        {
            let ctx = LineCtx {
                line_no,
                foreign_run_active: false,
            };
            match p.feed(line, &ctx, scratch) {
                Claim::Mine => claimed = true,
                Claim::Weak => weak = true,
                Claim::NotMine => {}
            }
            if p.phase() == Phase::Idle {
                *owner = None;
            }
            if claimed || weak {
                *unclaimed_since_owner_claim = 0;
            }
        }
        let mut handoff: Option<usize> = None;
        if !claimed {
            // Output inside a run (weakly claimed) may only start another run, never complete
            // a one-line run: a quoted summary is not a run.
            let owner_running = weak
                || owner
                    .and_then(|o| parsers.get(o))
                    .is_some_and(|p| p.phase() == Phase::Running);
            let before = scratch.len();
            for (i, p) in parsers.iter_mut().enumerate() {
                if Some(i) == *owner {
                    continue;
                }
                let ctx = LineCtx {
                    line_no,
                    foreign_run_active: owner_running,
                };
                let mut local = Vec::new();
                let c = p.feed(line, &ctx, &mut local);
                if c != Claim::NotMine || !local.is_empty() {
                    // The previous owner's run ends before this one begins.
                    if let Some(o) = owner.take()
                        && let Some(prev) = parsers.get_mut(o)
                    {
                        let mut prev_out = Vec::new();
                        prev.interrupt(Interrupt::OtherRunStarted, &mut prev_out);
                        let tail = scratch.split_off(before);
                        scratch.extend(prev_out);
                        scratch.extend(tail);
                    }
                    scratch.extend(local);
                    if parsers.get(i).is_some_and(|p| p.phase() != Phase::Idle) {
                        handoff = Some(i);
                    }
                    claimed = true;
                    *unclaimed_since_owner_claim = 0;
                    break;
                }
            }
            claimed |= weak;
        }
        if let Some(i) = handoff {
            *owner = Some(i);
        }
        if !claimed && !blank {
            if let Some(o) = *owner
                && let Some(p) = parsers.get_mut(o)
            {
                *unclaimed_since_owner_claim = unclaimed_since_owner_claim.saturating_add(1);
                let limit = match p.phase() {
                    Phase::Settling => SETTLE_LINES,
                    _ => ABANDON_LINES,
                };
                if *unclaimed_since_owner_claim >= limit {
                    p.interrupt(Interrupt::Quiet, scratch);
                    *owner = None;
                    *unclaimed_since_owner_claim = 0;
                }
            }
            let bytes = line.as_bytes();
            if self.sample_markers.iter().any(|f| f.find(bytes).is_some()) {
                self.sample_hint_line = Some(line_no);
            }
        }
        self.take_scratch();
    }

    /// Moves finished runs from the parsers' scratch into the output queue, marking the ones an
    /// announcement just before them said were sampled.
    fn take_scratch(&mut self) {
        for mut e in self.scratch.drain(..) {
            if let Some(hint) = self.sample_hint_line
                && hint <= e.start_line
                && e.start_line - hint <= SAMPLE_WINDOW_LINES
            {
                e.run.sampled = true;
                self.sample_hint_line = None;
            }
            self.emitted.push(e);
        }
    }
}
