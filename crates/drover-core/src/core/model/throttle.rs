//! A slot held back by a usage-limit notice (`Throttle`, persisted and shown) and the last
//! limit notice seen, and the fleet-wide summary of limits (`LimitsView`); the rules that
//! throttle and resume are `throttle`.

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

/// One quota group that is limited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLimits {
    pub group: String,
    /// Slots of the group that are limited, and all its slots.
    pub throttled: u32,
    pub slots: u32,
    /// The group's reset (the latest stated by its limited slots: the account works again).
    pub until: Option<Millis>,
}

/// The fleet's usage limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsView {
    /// Limited slots, of `slots`.
    pub throttled: u32,
    pub slots: u32,
    /// The earliest reset among the limited slots.
    pub next_reset: Option<Millis>,
    /// The limited groups, by name.
    pub groups: Vec<GroupLimits>,
}
