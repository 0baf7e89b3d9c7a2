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

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_sections_reach_the_core_policy_and_the_window_table() {
        let text = r#"
[fleet]
name = "ci"

[[roles]]
name = "worker"
image = "agent:1"

[loops.context]
warn_at = 90
action = "pause"

[loops.compaction_loop]
compactions = 4
window = "30m"

[loops.idle_after_compaction]
after = "2m"
action = "restart"

[context_windows]
"claude-sonnet-4-5" = 1000000
default = 128000
"#;
        let cfg = crate::config::parse(text, Path::new("fleet.toml")).unwrap();
        let p = cfg.file.loops.loop_policy().context;
        assert_eq!(p.high.warn_at, 90);
        assert_eq!(p.high.rule.action, crate::core::DetectorAction::Pause);
        assert_eq!(
            (p.compaction_loop.max, p.compaction_loop.window),
            (4, 30 * 60_000)
        );
        assert_eq!(p.idle_after_compaction.after, 2 * 60_000);
        assert_eq!(
            p.idle_after_compaction.rule.action,
            crate::core::DetectorAction::Restart
        );
        let w = super::windows(&cfg.file.context_windows);
        assert_eq!(
            w.window(Some("claude-sonnet-4-5-20250929")),
            Some(1_000_000)
        );
        assert_eq!(
            w.window(Some("claude-opus-4-6")),
            Some(200_000),
            "built in stays"
        );
        assert_eq!(w.window(Some("llama-3")), Some(128_000));
    }
}
