//! Loop detectors the core judges itself, from its own inputs: the same failing tests run
//! after run with no commit, the token budget of the slot's current task, and what every
//! detector does when it fires (alert, pause, block, restart — [`act_on_loop`]). The re-claim
//! detector lives in [`super::claims`]; the log-fed ones run in the output pipeline and arrive
//! as [`super::Input::DetectorFired`].
//!
//! Invariants: a firing acts once (when its alert is new); a detector that is disabled neither
//! alerts nor acts; the failing-test streak and the task budget restart on the slot's next
//! commit and next task respectively, so progress always ends these conditions.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::alerts::{AlertKey, AlertKind, Severity};
use super::effect::{EventKind, SlotMode};
use super::failure as fail;
use super::model::{Actor, DetectorAction, Millis, TestSummary, Verdict};
use super::policy::RoleSpec;
use super::slot::{Cx, Slot};
use drover_signals::{BudgetLevel, BudgetLimits};

const HOUR: Millis = 3_600_000;

/// Whether a detector runs and what it does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorRule {
    pub enabled: bool,
    pub action: DetectorAction,
}

impl Default for DetectorRule {
    fn default() -> Self {
        Self {
            enabled: true,
            action: DetectorAction::Alert,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclaimRule {
    pub rule: DetectorRule,
    /// Claims of one task within `window` that make a re-claim loop.
    pub max_claims: u32,
    /// Claims of one task by one slot within `window` that make one too.
    pub max_claims_per_slot: u32,
    pub window: Millis,
}

impl Default for ReclaimRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            max_claims: 5,
            max_claims_per_slot: 3,
            window: 6 * HOUR,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingTestsRule {
    pub rule: DetectorRule,
    /// The same failing set in this many consecutive runs with no commit in between.
    pub runs: u32,
}

impl Default for FailingTestsRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            runs: 3,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRule {
    pub rule: DetectorRule,
    pub limits: BudgetLimits,
}

/// The `[loops]` policy: what each detector does. Carried by every role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoopPolicy {
    pub crash_loop: DetectorRule,
    pub stall: DetectorRule,
    pub lock_overdue: DetectorRule,
    pub reclaim: ReclaimRule,
    pub failing_tests: FailingTestsRule,
    pub budget: BudgetRule,
    /// `context_high`, `compaction_loop`, `idle_after_compaction`.
    pub context: ContextPolicy,
}

/// `[loops.context]`: the agent's context is nearly full (`context_high`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextHighRule {
    pub rule: DetectorRule,
    /// Percent of the model's window at which it fires.
    pub warn_at: u32,
}

impl Default for ContextHighRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            warn_at: 85,
        }
    }
}

/// `[loops.compaction_loop]`: compaction after compaction in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionLoopRule {
    pub rule: DetectorRule,
    /// Compactions within `window` that fire it.
    pub max: u32,
    pub window: Millis,
}

impl Default for CompactionLoopRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            max: 3,
            window: HOUR,
        }
    }
}

/// `[loops.idle_after_compaction]`: silence after a compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleAfterCompactionRule {
    pub rule: DetectorRule,
    /// Silence after a compaction that fires it.
    pub after: Millis,
}

impl Default for IdleAfterCompactionRule {
    fn default() -> Self {
        Self {
            rule: DetectorRule::default(),
            after: HOUR / 12,
        }
    }
}

/// The context detectors, judged in [`super::context`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextPolicy {
    pub high: ContextHighRule,
    pub compaction_loop: CompactionLoopRule,
    pub idle_after_compaction: IdleAfterCompactionRule,
}

pub(crate) const FAILING_TESTS: &str = "failing_tests";
pub(crate) const BUDGET: &str = "budget";

/// Applies a detector's action to its slot. Only a slot drover holds (`Auto`) is paused or
/// restarted; a block also applies to a paused one. Audited as a `Detector` event.
pub(crate) fn act_on_loop(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    detector: &str,
    action: DetectorAction,
    msg: &str,
    evidence: &[String],
) {
    cx.event(
        &s.name,
        EventKind::Detector,
        None,
        format!("{}: {msg} (action: {})", s.name, action_word(action)),
        json!({ "detector": detector, "action": action, "evidence": evidence }),
    );
    match action {
        DetectorAction::Alert => {}
        DetectorAction::Pause if s.rec.mode == SlotMode::Auto => {
            s.rec.mode = SlotMode::Paused { by: Actor::Drover };
        }
        DetectorAction::Block if matches!(s.rec.mode, SlotMode::Auto | SlotMode::Paused { .. }) => {
            fail::block(s, role, cx, msg.to_string(), Actor::Drover);
        }
        DetectorAction::Restart if s.rec.mode == SlotMode::Auto && s.is_live() => {
            s.restart_requested = true;
        }
        _ => {}
    }
}

pub(crate) fn action_word(action: DetectorAction) -> &'static str {
    match action {
        DetectorAction::Alert => "alert",
        DetectorAction::Pause => "pause",
        DetectorAction::Block => "block",
        DetectorAction::Restart => "restart",
    }
}

/// One firing of a detector.
pub(crate) struct Firing<'a> {
    pub detector: &'a str,
    pub action: DetectorAction,
    pub severity: Severity,
    pub message: &'a str,
    pub evidence: &'a [String],
}

/// Raises the loop alert for the firing's detector; acts when the alert is new.
pub(crate) fn fire(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, f: Firing<'_>) {
    let kind = AlertKind::Loop {
        detector: f.detector.to_string(),
    };
    let new = !cx.alerts.is_active(&AlertKey::slot(&s.name, kind.clone()));
    cx.raise_with(&s.name, kind, f.severity, f.message, f.evidence);
    if new {
        act_on_loop(s, role, cx, f.detector, f.action, f.message, f.evidence);
    }
}

fn clear_loop(s: &Slot, cx: &mut Cx, detector: &str) {
    cx.clear(
        &s.name,
        AlertKind::Loop {
            detector: detector.to_string(),
        },
    );
}

/// A finished test run: extends or ends the failing-test streak.
pub(crate) fn on_test_run(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, summary: &TestSummary) {
    let rule = role.loops.failing_tests;
    if !rule.rule.enabled {
        return;
    }
    let failed = summary.verdict == Verdict::Fail;
    // `failing` holds "name - reason": the set compared is the names (a reason may carry a
    // duration or an address that differs every run).
    let names = summary
        .failing
        .iter()
        .map(|f| f.split_once(" - ").map_or(f.as_str(), |(name, _)| name));
    let streak = s.failing.observe(failed, names);
    if streak >= rule.runs.max(1) {
        let names = s.failing.names();
        let msg = format!(
            "the same {} failing test{} in {streak} runs in a row with no new commit",
            names.len(),
            if names.len() == 1 { "" } else { "s" }
        );
        let evidence = names.to_vec();
        let firing = Firing {
            detector: FAILING_TESTS,
            action: rule.rule.action,
            severity: Severity::Warning,
            message: &msg,
            evidence: &evidence,
        };
        fire(s, role, cx, firing);
    } else {
        clear_loop(s, cx, FAILING_TESTS);
    }
}

/// A commit by the slot is progress: the failing-test streak starts over.
pub(crate) fn on_commit(s: &mut Slot, cx: &mut Cx) {
    s.last_commit = Some(cx.now);
    s.failing.reset();
    clear_loop(s, cx, FAILING_TESTS);
}

/// Usage printed by the slot's agent. `task` is the task the slot holds now; a different task
/// than the one the meter counts for starts a fresh meter (and ends its budget alert).
pub(crate) fn on_usage(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    task: Option<&str>,
    tokens: u64,
    rounds: u32,
) {
    s.session_tokens = s.session_tokens.saturating_add(tokens);
    if s.budget_task.as_deref() != task {
        s.budget_task = task.map(str::to_string);
        s.budget = Default::default();
        clear_loop(s, cx, BUDGET);
    }
    let rule = role.loops.budget;
    let Some(level) = s.budget.add(&rule.limits, tokens, rounds) else {
        return;
    };
    if !rule.rule.enabled {
        return;
    }
    let what = s.budget.describe(&rule.limits);
    let on = task.map_or_else(|| "without a task".to_string(), |t| format!("task {t}"));
    match level {
        BudgetLevel::Ok => {}
        // A warning is visible but needs no human yet: Info, and no action.
        BudgetLevel::Warn => cx.raise_with(
            &s.name,
            AlertKind::Loop {
                detector: BUDGET.into(),
            },
            Severity::Info,
            &format!("budget warning on {on}: {what}"),
            &[],
        ),
        BudgetLevel::Alert => {
            let msg = format!("over budget on {on}: {what}");
            let kind = AlertKind::Loop {
                detector: BUDGET.into(),
            };
            cx.raise_with(&s.name, kind, Severity::Warning, &msg, &[]);
            act_on_loop(s, role, cx, BUDGET, rule.rule.action, &msg, &[]);
        }
    }
}
