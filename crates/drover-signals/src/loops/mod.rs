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

mod admissions;
mod blocks;
mod budget;
mod chant;
mod counters;
mod edits;
mod failing;
mod limits;
mod notices;
mod paraphrase;
mod reruns;
mod tool_calls;
mod turns;
mod windows;

pub use budget::{BudgetLevel, BudgetLimits, BudgetMeter, usage_tokens};
pub use failing::FailingSetStreak;
pub use limits::{CYCLE_REPEATS_LIMIT, MAX_CYCLE_LIMIT, TurnLimits};
pub use tool_calls::tool_call_key;

use super::ansi::LineCleaner;
use super::normalize::{line_hash, normalize_into};
use super::transcript::{TranscriptParser, Turn, TurnKind};
use admissions::Admissions;
use blocks::BlockRepetition;
use chant::Chant;
use notices::Notices;
use paraphrase::Paraphrase;
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
    /// The transcript (turn-level) detectors; `None` turns them off.
    pub turns: Option<TurnLimits>,
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
            turns: Some(TurnLimits::default()),
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
    /// The agent's harness said, in its own words, that the agent is stuck in a loop.
    HarnessNotice,
    /// The harness rejected the agent's replies several times in a row (format errors).
    RejectedReplies,
    /// An edit failed, the file was re-read, the edit re-sent and failed again.
    EditRetry,
    /// The same paragraph of assistant text a third time, reworded a little.
    Paraphrase,
    /// The same action failed the same way three times with other work between the tries.
    RepeatedFailure,
    /// The agent said, in its own words, that it is stuck in a loop.
    SelfReport,
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
            OutputDetector::HarnessNotice => "harness_notice",
            OutputDetector::RejectedReplies => "rejected_replies",
            OutputDetector::EditRetry => "edit_retry",
            OutputDetector::Paraphrase => "paraphrase",
            OutputDetector::RepeatedFailure => "repeated_failure",
            OutputDetector::SelfReport => "self_report",
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

/// Lines seen recently, to tell new content from repetition: a line is novel when its
/// normalised form was not seen in the last [`NOVELTY_LINES`] lines and it holds at least
/// three words (so counters, braces and separators never count as progress).
#[derive(Debug, Default)]
pub(crate) struct Novelty {
    /// Keys are already hashes: a fast fixed hasher is enough.
    seen: std::collections::HashMap<u64, u64, foldhash::fast::FixedState>,
    line_no: u64,
    last_novel: u64,
}

/// How far back [`Novelty`] remembers lines.
pub const NOVELTY_LINES: u64 = 16_384;

impl Novelty {
    /// Records one line; returns whether it is new content.
    fn observe(&mut self, hash: u64, normalized: &str) -> bool {
        self.line_no += 1;
        let line = self.line_no;
        let before = self.seen.insert(hash, line);
        let novel = before.is_none_or(|l| line - l > NOVELTY_LINES) && wordy(normalized);
        if novel {
            self.last_novel = line;
        }
        if self.seen.len() as u64 > 2 * NOVELTY_LINES {
            self.seen.retain(|_, l| line - *l <= NOVELTY_LINES);
        }
        novel
    }
}

/// At least three words of two letters or more.
fn wordy(text: &str) -> bool {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() >= 2)
        .take(3)
        .count()
        >= 3
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
    novelty: Novelty,
    parser: TranscriptParser,
    turn_buf: Vec<Turn>,
    /// The cleaned line, kept while its turns are judged (cleaning once per line).
    text_buf: String,
    chant: Chant,
    turns: TurnLoops,
    notices: Notices,
    paraphrase: Paraphrase,
    admissions: Admissions,
    /// The text turns being judged are the assistant's (a recognised transcript format), not
    /// plain text where tool output and the agent's words cannot be told apart.
    agent_text: bool,
    /// The turns being judged come from JSON (an event line or a whole document): their replies
    /// and results never reach the line detectors, so the harness's words in them are read
    /// here.
    structured_turns: bool,
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
            novelty: Novelty::default(),
            parser: TranscriptParser::new(),
            turn_buf: Vec::new(),
            text_buf: String::new(),
            chant: Chant::new(limits.turns.unwrap_or_default()),
            turns: TurnLoops::new(limits.turns.unwrap_or_default()),
            notices: Notices::default(),
            paraphrase: Paraphrase::default(),
            admissions: Admissions::default(),
            agent_text: false,
            structured_turns: false,
        }
    }

    /// The transcript format recognised in the lines fed so far.
    pub fn format(&self) -> super::transcript::Format {
        self.parser.format()
    }

    /// Judges one turn of an already parsed transcript (a JSON document read whole: its text
    /// turns are the assistant's).
    pub fn feed_turn(&mut self, turn: &Turn, stamp: u64, out: &mut Vec<LoopFinding>) {
        self.agent_text = true;
        self.structured_turns = true;
        self.judge_turn(turn, stamp, out);
    }

    fn judge_turn(&mut self, turn: &Turn, stamp: u64, out: &mut Vec<LoopFinding>) {
        if self.limits.turns.is_none() {
            // Only the identical-tool-call streak judges results when the turn detectors are
            // off.
            if turn.kind == TurnKind::Result {
                self.tools.result(turn.key, stamp, out);
            }
            return;
        }
        match turn.kind {
            TurnKind::Text | TurnKind::Quote => {
                let quoted = turn.kind == TurnKind::Quote;
                self.chant.feed(&turn.first_line, quoted, stamp, out);
                // Quoted and prompt lines are the human's words, never the agent's paragraph;
                // plain text mixes the agent's words with tool output (templated summaries), so
                // its paragraphs are judged at the stricter plain-text settings.
                if !quoted && self.agent_text {
                    self.paraphrase.text(&turn.first_line, stamp, out);
                } else if !quoted {
                    self.paraphrase.plain_text(&turn.first_line, stamp, out);
                }
                // An admission is read wherever it is written: quoted by the person who saw
                // it, or in plain text (its wording needs the agent as subject).
                self.admissions.text(&turn.first_line, stamp, out);
            }
            // Doing something ends a chant: the same words around new actions are narration.
            TurnKind::Action | TurnKind::Result | TurnKind::SessionStart => {
                self.chant.interrupt(stamp, out);
                self.paraphrase.act(stamp, out);
                if turn.kind == TurnKind::Result {
                    self.tools.result(turn.key, stamp, out);
                }
            }
            TurnKind::Reply => self.paraphrase.end(stamp, out),
        }
        if self.structured_turns {
            // The harness's words inside JSON (a format error as a user message, a loop verdict
            // in a tool result) are read as the line detectors read them in plain logs; doing
            // something valid ends a streak of rejected replies.
            match turn.kind {
                TurnKind::Reply | TurnKind::Result => {
                    self.notices.feed(&turn.first_line, stamp, out)
                }
                TurnKind::Action => self.notices.acted(),
                _ => {}
            }
        }
        if turn.kind != TurnKind::Quote {
            self.turns.agent_text = self.agent_text;
            self.turns.feed(turn, stamp, out);
        }
    }

    /// The input ended: turns still being assembled are judged, the last session closed.
    pub fn finish(&mut self, stamp: u64, out: &mut Vec<LoopFinding>) {
        let mut turns = std::mem::take(&mut self.turn_buf);
        self.parser.finish(&mut turns);
        // What the parser still held is terminal text, whose lines were read already.
        self.structured_turns = false;
        for t in turns.drain(..) {
            self.judge_turn(&t, stamp, out);
        }
        self.turn_buf = turns;
        if self.limits.turns.is_some() {
            self.paraphrase.end(stamp, out);
            self.turns.finish(stamp, out);
        }
    }

    pub fn limits(&self) -> &OutputLimits {
        &self.limits
    }

    /// Feeds one raw line (ANSI, prefixes and `\r` redraws are handled here).
    pub fn feed(&mut self, raw: &[u8], stamp: u64, out: &mut Vec<LoopFinding>) {
        let mut turns = std::mem::take(&mut self.turn_buf);
        let mut text_buf = std::mem::take(&mut self.text_buf);
        text_buf.clear();
        let text = self.cleaner.clean(raw);
        text_buf.push_str(text);
        if usage_tokens(text).is_some_and(|n| n > 0) {
            // The agent's model was asked: idle lines repeated around this are paid for.
            self.chant.spent(stamp);
        }
        let structured = self.parser.feed(raw, text, &mut turns);
        self.agent_text = self.parser.format() != super::transcript::Format::PlainText;
        // A blank line ends a paragraph, and so does each JSON event (one message is one
        // paragraph) — after the turns the line produced.
        let paragraph_ends = structured || text_buf.trim().is_empty();
        self.structured_turns = structured;
        for t in turns.drain(..) {
            self.judge_turn(&t, stamp, out);
        }
        self.turn_buf = turns;
        if paragraph_ends && self.limits.turns.is_some() {
            self.paraphrase.end(stamp, out);
        }
        self.judge_line(&text_buf, structured, stamp, out);
        self.text_buf = text_buf;
    }

    /// The line detectors, on one cleaned line (not on the lines of a JSON event, judged as
    /// turns).
    fn judge_line(&mut self, text: &str, structured: bool, stamp: u64, out: &mut Vec<LoopFinding>) {
        if structured {
            // A JSON event is judged by its turns; its lines (look-alike usage blocks, ids,
            // tool results) are not repetition. Identical tool calls are still counted.
            self.tools.feed(text, stamp, out);
            return;
        }
        if self.limits.turns.is_some() {
            self.notices.feed(text, stamp, out);
        }
        self.normalized.clear();
        normalize_into(text, &mut self.normalized);
        if self.normalized.is_empty() {
            return;
        }
        let hash = line_hash(&self.normalized);
        let novel = self.novelty.observe(hash, &self.normalized);
        self.windows.feed(hash, text, novel, stamp, out);
        self.blocks
            .feed(hash, text, self.novelty.last_novel, stamp, out);
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
