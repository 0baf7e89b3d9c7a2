//! The data of a slot's context health in its current run (readings, compactions) and how
//! faces see it; the rules that judge it live in `context.rs`. Data only, so the slot and the
//! snapshot can hold it without depending on the rules.
//!
//! Invariants: bounded ([`HISTORY_LEN`] readings, [`MAX_COMPACTIONS`] compaction times); a
//! track belongs to the run that started at `run` (a track of another run is stale).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::Millis;
use drover_signals::transcript::context::CompactTrigger;

/// Context readings kept per run for the sparkline.
pub const HISTORY_LEN: usize = 60;
/// Compaction times kept per run (the loop window is judged over these).
pub const MAX_COMPACTIONS: usize = 64;

/// One compaction as faces show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionView {
    pub at: Millis,
    pub trigger: Option<CompactTrigger>,
    /// The context's size just before, when the transcript states it.
    pub pre_tokens: Option<u64>,
    /// How full the context was, in percent of the window, when known.
    pub percent: Option<u32>,
}

/// The current run's context, as faces show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextView {
    /// Tokens the agent's last request was answered from.
    pub used: u64,
    /// The model's window, when known (else no percentage).
    pub window: Option<u64>,
    pub percent: Option<u32>,
}

/// A slot's context health in its current run.
#[derive(Clone, Debug, Default)]
pub(crate) struct ContextTrack {
    /// The start of the run this track belongs to.
    pub run: Option<Millis>,
    pub current: Option<ContextView>,
    /// Percent of each reading (oldest first), for the sparkline.
    pub history: VecDeque<u32>,
    /// Compactions in this run (counting on past what `times` keeps).
    pub count: u32,
    pub times: VecDeque<Millis>,
    pub last: Option<CompactionView>,
    /// A compaction happened at this time and no output has followed yet.
    pub awaiting_output: Option<Millis>,
    /// `idle_after_compaction` fired for the compaction awaiting output.
    pub idle_fired: bool,
}
