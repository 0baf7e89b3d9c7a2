//! Log-fed loop detectors: repeated output windows, repeated blocks and identical tool calls in
//! a row, plus the per-task token budget and the failing-test streak shared with the core.
//!
//! Invariants: pure (time is the caller's `stamp`, a log timestamp or a line number); O(line
//! length) per line plus O(1) amortised bookkeeping; memory bounded by the limits, never by the
//! length of the log. Blank lines and the lines of a test run in progress are not fed here (the
//! caller skips them): runner output is structured progress, and the failing-test streak judges
//! it instead.
//!
//! What makes output a loop and not a busy healthy agent: repetition of *several distinct*
//! lines. One or two lines repeated (health checks, heartbeats, progress lines, numbered
//! `Compiling`/`test … ok` lines once numbers are normalised) never fire the window or block
//! detectors; a commit by the slot during the repetition also rules it out (the core checks that,
//! using `since`).

mod blocks;
mod budget;
mod chant;
mod failing;
mod tool_calls;
mod turns;
mod windows;

pub use budget::{BudgetLevel, BudgetLimits, BudgetMeter, usage_tokens};
pub use failing::FailingSetStreak;
pub use tool_calls::tool_call_key;

use super::ansi::LineCleaner;
use super::normalize::{line_hash, normalize_into};
use super::transcript::{TranscriptParser, Turn, TurnKind};
use blocks::BlockRepetition;
use chant::Chant;
use tool_calls::ToolCallStreak;
use turns::TurnLoops;
use windows::WindowRepetition;

/// Evidence lines are cut to this many bytes.
pub const EVIDENCE_LINE_BYTES: usize = 200;
/// Evidence lines kept per finding.
pub const MAX_EVIDENCE_LINES: usize = 10;

/// Thresholds of the output detectors (defaults from the field, see DESIGN.md §5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputLimits {
    /// Lines per comparison window.
    pub window_lines: u32,
    /// Share of a window's lines already seen (in the previous windows or earlier in it).
    pub threshold: f64,
    /// Consecutive repetitive windows before it fires.
    pub windows: u32,
    pub block_lines: u32,
    /// The same block this many times (without overlap, each soon after the previous).
    pub block_repeats: u32,
    /// Identical tool calls in a row.
    pub tool_call_repeats: u32,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            window_lines: 50,
            threshold: 0.8,
            windows: 3,
            block_lines: 10,
            block_repeats: 10,
            tool_call_repeats: 5,
        }
    }
}

/// Which output detector a finding comes from; the name is what alerts and `drover scan` show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputDetector {
    OutputRepetition,
    RepeatedBlock,
    ToolCallRepetition,
    /// One to four lines of assistant text written again and again.
    Chant,
    /// The same action got the same result (or error) several times in a row.
    RepeatedAction,
    /// A short cycle of different actions repeated (A-B-A-B).
    Oscillation,
    /// Assistant turns without any action, all the same or all answered the same.
    Monologue,
    /// Sessions in a row that made the same actions and got the same results.
    SessionRepeat,
}

impl OutputDetector {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputDetector::OutputRepetition => "output_repetition",
            OutputDetector::RepeatedBlock => "repeated_block",
            OutputDetector::ToolCallRepetition => "tool_call_repetition",
            OutputDetector::Chant => "chant",
            OutputDetector::RepeatedAction => "repeated_action",
            OutputDetector::Oscillation => "oscillation",
            OutputDetector::Monologue => "monologue",
            OutputDetector::SessionRepeat => "session_repeat",
        }
    }
}

/// A change of a detector's condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopChange {
    /// The condition holds. Sent again (with `first == false`) while it keeps holding, so a
    /// consumer always has a fresh `since`: the stamp where the evidence span began.
    Holding {
        first: bool,
        since: u64,
        evidence: Vec<String>,
    },
    Cleared,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopFinding {
    pub detector: OutputDetector,
    /// The stamp of the line that made the change.
    pub at: u64,
    pub change: LoopChange,
}

/// The output detectors of one log stream.
#[derive(Debug)]
pub struct OutputLoopDetector {
    limits: OutputLimits,
    cleaner: LineCleaner,
    normalized: String,
    windows: WindowRepetition,
    blocks: BlockRepetition,
    tools: ToolCallStreak,
    parser: TranscriptParser,
    turn_buf: Vec<Turn>,
    chant: Chant,
    turns: TurnLoops,
}

impl Default for OutputLoopDetector {
    fn default() -> Self {
        Self::new(OutputLimits::default())
    }
}

impl OutputLoopDetector {
    pub fn new(limits: OutputLimits) -> Self {
        Self {
            limits,
            cleaner: LineCleaner::new(),
            normalized: String::new(),
            windows: WindowRepetition::new(&limits),
            blocks: BlockRepetition::new(&limits),
            tools: ToolCallStreak::new(&limits),
            parser: TranscriptParser::new(),
            turn_buf: Vec::new(),
            chant: Chant::default(),
            turns: TurnLoops::default(),
        }
    }

    /// The transcript format recognised in the lines fed so far.
    pub fn format(&self) -> super::transcript::Format {
        self.parser.format()
    }

    /// Judges one turn of an already parsed transcript (a JSON document read whole).
    pub fn feed_turn(&mut self, turn: &Turn, stamp: u64, out: &mut Vec<LoopFinding>) {
        if matches!(turn.kind, TurnKind::Text | TurnKind::Reply) {
            self.chant.feed(&turn.first_line, stamp, out);
        }
        self.turns.feed(turn, stamp, out);
    }

    /// The input ended: turns still being assembled are judged, the last session closed.
    pub fn finish(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        let mut turns = std::mem::take(&mut self.turn_buf);
        self.parser.finish(&mut turns);
        for t in turns.drain(..) {
            self.feed_turn(&t, stamp, out);
        }
        self.turn_buf = turns;
        self.turns.finish(stamp, out);
    }

    pub fn limits(&self) -> &OutputLimits {
        &self.limits
    }

    /// Feeds one raw line (ANSI, prefixes and `\r` redraws are handled here).
    pub fn feed(&mut self, raw: &[u8], stamp: u64, out: &mut Vec<LoopFinding>) {
        let mut turns = std::mem::take(&mut self.turn_buf);
        self.parser.feed(raw, self.cleaner.clean(raw), &mut turns);
        for t in turns.drain(..) {
            self.feed_turn(&t, stamp, out);
        }
        self.turn_buf = turns;
        let text = self.cleaner.clean(raw);
        self.normalized.clear();
        normalize_into(text, &mut self.normalized);
        if self.normalized.is_empty() {
            return;
        }
        let hash = line_hash(&self.normalized);
        self.windows.feed(hash, text, stamp, out);
        self.blocks.feed(hash, text, stamp, out);
        self.tools.feed(text, stamp, out);
    }
}

/// `text` cut to [`EVIDENCE_LINE_BYTES`] on a character boundary.
pub(crate) fn evidence_line(text: &str) -> String {
    let mut end = text.len().min(EVIDENCE_LINE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}
