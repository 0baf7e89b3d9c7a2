//! The `[loops]` section mapped onto the detectors' own limit types: the log-fed ones in
//! `signals` (used by the supervisor's output pipeline and by `drover scan`) and the
//! event-fed ones in the core's [`LoopPolicy`].

use super::schema::{DetectorAction as ConfigAction, LoopsSection, SimpleDetector};
use crate::core::{DetectorAction, DetectorRule, LoopPolicy};
use crate::signals::{BudgetLimits, OutputLimits, ScanLimits};

impl From<ConfigAction> for DetectorAction {
    fn from(a: ConfigAction) -> Self {
        match a {
            ConfigAction::Alert => DetectorAction::Alert,
            ConfigAction::Pause => DetectorAction::Pause,
            ConfigAction::Block => DetectorAction::Block,
            ConfigAction::Restart => DetectorAction::Restart,
        }
    }
}

fn rule(d: &SimpleDetector) -> DetectorRule {
    DetectorRule {
        enabled: d.enabled,
        action: d.action.into(),
    }
}

impl LoopsSection {
    /// Output-repetition limits, or `None` when that detector is off.
    pub fn output_limits(&self) -> Option<OutputLimits> {
        let o = &self.output_repetition;
        o.enabled.then_some(OutputLimits {
            window_lines: o.window_lines,
            threshold: o.threshold,
            windows: o.windows,
            block_lines: o.block_lines,
            block_repeats: o.block_repeats,
            tool_call_repeats: o.tool_call_repeats,
            turns: self.transcript.enabled.then(|| self.transcript.limits()),
        })
    }

    pub fn output_action(&self) -> DetectorAction {
        self.output_repetition.action.into()
    }

    pub fn budget_limits(&self) -> BudgetLimits {
        BudgetLimits {
            warn_tokens: self.budget.warn_tokens_per_task,
            alert_tokens: self.budget.alert_tokens_per_task,
            max_rounds: self.budget.max_rounds,
        }
    }

    /// What `drover scan` applies.
    pub fn scan_limits(&self) -> ScanLimits {
        ScanLimits {
            output: self.output_limits(),
            failing_runs: self
                .failing_tests
                .enabled
                .then_some(self.failing_tests.runs),
            budget: self.budget.enabled.then(|| self.budget_limits()),
        }
    }

    /// The core's share: crash loop, stall, lock overdue, re-claim, failing tests, budget,
    /// and the context detectors.
    pub fn loop_policy(&self) -> LoopPolicy {
        LoopPolicy {
            crash_loop: rule(&self.crash_loop),
            stall: rule(&self.stall),
            lock_overdue: rule(&self.lock_overdue),
            reclaim: crate::core::ReclaimRule {
                rule: DetectorRule {
                    enabled: self.reclaim.enabled,
                    action: self.reclaim.action.into(),
                },
                max_claims: self.reclaim.max_claims,
                max_claims_per_slot: self.reclaim.max_claims_per_slot,
                window: self.reclaim.window.as_millis_u64(),
            },
            failing_tests: crate::core::FailingTestsRule {
                rule: DetectorRule {
                    enabled: self.failing_tests.enabled,
                    action: self.failing_tests.action.into(),
                },
                runs: self.failing_tests.runs,
            },
            budget: crate::core::BudgetRule {
                rule: DetectorRule {
                    enabled: self.budget.enabled,
                    action: self.budget.action.into(),
                },
                limits: self.budget_limits(),
            },
            context: crate::core::ContextPolicy {
                high: crate::core::ContextHighRule {
                    rule: rule(&SimpleDetector {
                        enabled: self.context.enabled,
                        action: self.context.action,
                    }),
                    warn_at: self.context.warn_at,
                },
                compaction_loop: crate::core::CompactionLoopRule {
                    rule: rule(&SimpleDetector {
                        enabled: self.compaction_loop.enabled,
                        action: self.compaction_loop.action,
                    }),
                    max: self.compaction_loop.compactions,
                    window: self.compaction_loop.window.as_millis_u64(),
                },
                idle_after_compaction: crate::core::IdleAfterCompactionRule {
                    rule: rule(&SimpleDetector {
                        enabled: self.idle_after_compaction.enabled,
                        action: self.idle_after_compaction.action,
                    }),
                    after: self.idle_after_compaction.after.as_millis_u64(),
                },
            },
        }
    }
}
