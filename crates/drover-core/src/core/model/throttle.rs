//! A slot held back by a usage-limit notice (`Throttle`, persisted and shown) and the last
//! limit notice seen; the rules that throttle and resume are `throttle`.

use serde::{Deserialize, Serialize};

use super::Millis;

/// A slot waiting for its account's limit to lift (persisted in the slot record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// The reset as stated by the notice, or the end of the cool-down.
    pub until: Millis,
    /// When the slot starts again: `until` plus its jitter.
    pub restart_at: Millis,
    pub since: Millis,
    /// The notice line (bounded).
    pub reason: String,
    /// The slot whose notice it was: itself, or a peer in its quota group.
    pub source: String,
    /// The notice stated the reset (false: cool-down).
    pub stated: bool,
}

/// The notice the log follower saw while the slot ran, with the reset it resolved (it knows
/// named time zones, the core does not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LimitSeen {
    pub reset_at: Option<Millis>,
    pub line: String,
}
