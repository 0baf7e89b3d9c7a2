//! drover-signals: signals read from agent output: test runs (every common runner and JUnit XML) with an exact
//! verdict, ANSI/prefix cleaning of log lines, and line normalisation for loop detection.
//!
//! Pure: no I/O, no clock, no async. Parsers are fed bytes line by line (invalid UTF-8 and
//! 10 MB lines included) and keep bounded state; time never enters — a run's duration is what
//! the runner printed.
//!
//! Entry points: [`TestRunDetector`] (one per log stream), [`parse_junit`], [`parse_trx`], [`scan_bytes`] /
//! [`Scanner`] for `drover scan`, [`OutputLoopDetector`], [`BudgetMeter`] and
//! [`FailingSetStreak`] for loop detection.

/// Milliseconds since the Unix epoch. Signals never read a clock: a time they state (a limit's
/// reset) is computed from the `now` the caller passes in.
pub type Millis = u64;

mod ansi;
mod detector;
mod junit;
mod loops;
mod normalize;
mod parsers;
pub mod quota;
mod run;
mod scan;
mod text;
pub mod transcript;
mod trx;
pub mod usage;

pub use ansi::{LineCleaner, MAX_LINE_BYTES, strip_prefixes, visible_segment};
pub use detector::{
    ABANDON_LINES, COOLDOWN_LINES, SAMPLE_WINDOW_LINES, SETTLE_LINES, TestRunDetector,
};
pub use junit::{JunitError, parse_junit};
pub use loops::{
    BudgetLevel, BudgetLimits, BudgetMeter, CYCLE_REPEATS_LIMIT, EVIDENCE_LINE_BYTES,
    FailingSetStreak, LoopChange, LoopFinding, MAX_CYCLE_LIMIT, MAX_EVIDENCE_LINES, OutputDetector,
    OutputLimits, OutputLoopDetector, TurnLimits, tool_call_key, usage_tokens,
};
pub use normalize::{LineNormalizer, line_hash, normalize_into};
pub use parsers::PARSER_NAMES;
pub use run::{
    Decides, Evidence, MAX_EVIDENCE, MAX_EVIDENCE_BYTES, MAX_FAILURES, MAX_LOCATION_BYTES,
    MAX_NAME_BYTES, MAX_REASON_BYTES, RunEnd, Runner, TestFailure, TestRun, Verdict,
};
pub use scan::{
    Finding, ScanLimits, Scanner, looks_like_json_document, looks_like_junit, scan_bytes,
    scan_bytes_with, scan_turns,
};
pub use transcript::{Format as TranscriptFormat, TranscriptParser, Turn, TurnKind};
pub use trx::{looks_like_trx, parse_trx};
