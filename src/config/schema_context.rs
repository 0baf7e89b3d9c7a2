//! `[loops.context]`, `[loops.compaction_loop]`, `[loops.idle_after_compaction]`: the context
//! detectors, and `[context_windows]`: the context window per model prefix. Part of the schema
//! (deny unknown keys; defaults from the core's own rules and the signals' window table, so
//! the example file, the parser and the detectors cannot drift apart).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::schema_action::DetectorAction;
use super::units::HumanDuration;
use crate::core::{CompactionLoopRule, ContextHighRule, IdleAfterCompactionRule};
use crate::signals::transcript::context::WindowTable;

/// `context_high`: the agent's context is at least `warn_at` percent of its model's window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextDetector {
    pub enabled: bool,
    pub action: DetectorAction,
    /// Percent of the window (1–100).
    pub warn_at: u32,
}

impl Default for ContextDetector {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
            warn_at: ContextHighRule::default().warn_at,
        }
    }
}

/// `compaction_loop`: this many compactions within `window` in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionLoopDetector {
    pub enabled: bool,
    pub action: DetectorAction,
    pub compactions: u32,
    pub window: HumanDuration,
}

impl Default for CompactionLoopDetector {
    fn default() -> Self {
        let r = CompactionLoopRule::default();
        Self {
            enabled: true,
            action: DetectorAction::Alert,
            compactions: r.max,
            window: HumanDuration::from_secs(r.window / 1000),
        }
    }
}

/// `idle_after_compaction`: no output for `after` once the context was compacted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdleAfterCompactionDetector {
    pub enabled: bool,
    pub action: DetectorAction,
    pub after: HumanDuration,
}

impl Default for IdleAfterCompactionDetector {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
            after: HumanDuration::from_secs(IdleAfterCompactionRule::default().after / 1000),
        }
    }
}

/// The window table the fleet uses: the built-in one with `[context_windows]` on top (a key
/// the config names replaces the built-in value; the others stay).
pub fn windows(overrides: &BTreeMap<String, u64>) -> WindowTable {
    let mut t = WindowTable::default();
    t.0.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
    t
}
