//! The streaming test-run detector: one per log stream. Lines go through the cleaner and then
//! to every runner parser; whole runs come out.
//!
//! Invariants:
//! - At most one parser owns a run at a time. The owner sees each line first; other parsers only
//!   see lines the owner did not claim, and may take over only by starting a run of their own —
//!   which cuts the owner's run off (an `Error` verdict unless it had already printed its
//!   summary).
//! - A summary-looking line printed while another runner's run is in progress or settling, or
//!   within [`COOLDOWN_LINES`] lines after a run ended (test output quoting a summary), never
//!   becomes a run of its own; only unambiguous run headers may start a run there.
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
/// Non-blank lines without any structural line from a run that never printed its summary, after
/// which it is declared cut off (the runner died and the agent moved on). Generous, because a
/// test may print a lot of uncaptured output.
pub const ABANDON_LINES: u32 = 20_000;
/// Non-blank lines after a run ends during which summary-like lines are still taken as that
/// run's trailing output rather than as runs of their own.
pub const COOLDOWN_LINES: u32 = 3;
/// A sample announcement applies to a run starting within this many lines after it.
pub const SAMPLE_WINDOW_LINES: u64 = 500;

/// A shell prompt with a command after it: `$ go test ./...`, `user@host:~/app$ pytest`.
fn is_prompt(line: &str) -> bool {
    let t = line.trim_start();
    let command = match t.strip_prefix("$ ") {
        Some(c) => c,
        None => match t.split_once("$ ") {
            // `user@host:~/dir$ cmd`: no space before the `$`.
            Some((head, c)) if head.contains('@') && head.contains(':') && !head.contains(' ') => c,
            _ => return false,
        },
    };
    command
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'_'))
}

/// Finds test runs in one log stream, fed line by line.
pub struct TestRunDetector {
    cleaner: LineCleaner,
    parsers: Vec<Box<dyn RunParser + Send>>,
    owner: Option<usize>,
    /// Unrelated non-blank lines since the owner last claimed one.
    settle_count: u32,
    /// Non-blank lines since the owner last claimed one as structure (`Claim::Mine`).
    since_structure: u32,
    /// Non-blank lines during which summary-like lines still count as the output of the run
    /// that just ended (a summary quoted right after a run is not a run).
    cooldown: u32,
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
        Self::with_parsers(parsers::all())
    }

    /// A detector running only the named parsers (see [`parsers::PARSER_NAMES`]); `auto`, or
    /// no name at all, runs every parser. Unknown names are ignored (the config rejects them).
    pub fn for_runners(names: &[String]) -> Self {
        if names.is_empty() || names.iter().any(|n| n == "auto") {
            return Self::new();
        }
        Self::with_parsers(parsers::selected(|p| names.iter().any(|n| n == p)))
    }

    fn with_parsers(parsers: Vec<Box<dyn RunParser + Send>>) -> Self {
        TestRunDetector {
            cleaner: LineCleaner::new(),
            parsers,
            owner: None,
            settle_count: 0,
            since_structure: 0,
            cooldown: 0,
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

    /// A runner's run is in progress or settling: its lines are test output.
    pub fn in_run(&self) -> bool {
        self.owner.is_some()
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
            settle_count,
            since_structure,
            cooldown,
            scratch,
            ..
        } = self;
        let line = cleaner.clean(raw);
        let blank = line.trim().is_empty();
        let prompt = is_prompt(line);
        if !blank {
            *cooldown = cooldown.saturating_sub(1);
        }

        // A prompt ends a run that has printed its summary: the new command is another run.
        if prompt
            && let Some(o) = *owner
            && let Some(p) = parsers.get_mut(o)
            && p.phase() == Phase::Settling
        {
            p.interrupt(Interrupt::OtherRunStarted, scratch);
            *owner = None;
        }
        let mut owner_claim = Claim::NotMine;
        // A line that ends a settling run by not belonging to it is still adjacent to that run:
        // it may start another run but not be a summary of its own.
        let had_owner = owner.is_some();
        if let Some(o) = *owner
            && let Some(p) = parsers.get_mut(o)
        {
            let ctx = LineCtx {
                line_no,
                foreign_run_active: false,
            };
            owner_claim = p.feed(line, &ctx, scratch);
            if p.phase() == Phase::Idle {
                *owner = None;
            }
        }
        let weak = owner_claim == Claim::Weak;
        let mut taken_over = false;
        if owner_claim != Claim::Mine {
            // While a run is in progress or settling, a line may only start another run with
            // an unambiguous header, never complete one: a quoted summary is not a run.
            let foreign_run_active = had_owner || *cooldown > 0;
            let before = scratch.len();
            for (i, p) in parsers.iter_mut().enumerate() {
                if Some(i) == *owner {
                    continue;
                }
                let ctx = LineCtx {
                    line_no,
                    foreign_run_active,
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
                        *owner = Some(i);
                    }
                    taken_over = true;
                    break;
                }
            }
        }
        // Counters: a settling run is emitted after SETTLE_LINES unrelated lines; a running one
        // is declared cut off after ABANDON_LINES lines with nothing structural from it.
        if taken_over || owner_claim == Claim::Mine {
            *settle_count = 0;
            *since_structure = 0;
        } else if let Some(o) = *owner
            && let Some(p) = parsers.get_mut(o)
            && !blank
        {
            *since_structure = since_structure.saturating_add(1);
            if !weak {
                *settle_count = settle_count.saturating_add(1);
            } else {
                *settle_count = 0;
            }
            let expired = match p.phase() {
                Phase::Settling => *settle_count >= SETTLE_LINES,
                Phase::Running => *since_structure >= ABANDON_LINES,
                Phase::Idle => false,
            };
            if expired {
                p.interrupt(Interrupt::Quiet, scratch);
                *owner = None;
                *settle_count = 0;
                *since_structure = 0;
            }
        }
        if !taken_over && owner_claim == Claim::NotMine && !blank {
            let bytes = line.as_bytes();
            if self.sample_markers.iter().any(|f| f.find(bytes).is_some()) {
                self.sample_hint_line = Some(line_no);
            }
        }
        self.take_scratch();
        // A shell prompt (`$ go test ./...`) means a new command was typed: what follows is
        // its output, not the previous run's quoted summary.
        if prompt {
            self.cooldown = 0;
        }
    }

    /// Moves finished runs from the parsers' scratch into the output queue, marking the ones an
    /// announcement just before them said were sampled.
    fn take_scratch(&mut self) {
        if !self.scratch.is_empty() {
            self.cooldown = COOLDOWN_LINES;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_ends_the_quiet_after_a_run() {
        assert!(is_prompt("$ go test ./price/ ./cart/"));
        assert!(is_prompt("dev@box:~/shop$ go test ./..."));
        assert!(!is_prompt("costs $ 5"));
        assert!(!is_prompt("$ "));
        // A package line right after a pytest run and the command that started go: go's run.
        let log = "3 passed in 0.01s\n$ go test ./price/\nok  \texample.com/shop/price\t(cached)\n";
        let mut d = TestRunDetector::new();
        let mut runs = Vec::new();
        for l in log.lines() {
            runs.extend(d.feed_line(l.as_bytes()));
        }
        runs.extend(d.finish());
        let names: Vec<&str> = runs.iter().map(|r| r.runner.as_str()).collect();
        assert_eq!(names, ["pytest", "go-test"]);
        assert_eq!(runs[1].passed, 1);
    }
}
