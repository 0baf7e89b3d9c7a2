//! Loop detectors the core judges itself, from its own inputs: the same failing tests run
//! after run with no commit, the token budget of the slot's current task, and what every
//! detector does when it fires (alert, pause, block, restart — [`act_on_loop`]). The re-claim
//! detector's records live in [`super::claims`] and its firings are acted on here
//! (`Fleet::evaluate_claims`); the log-fed ones run in the output pipeline and arrive
//! as [`super::Input::DetectorFired`].
//!
//! Invariants: a firing acts once (when its alert is new); a detector that is disabled neither
//! alerts nor acts; the failing-test streak and the task budget restart on the slot's next
//! commit and next task respectively, so progress always ends these conditions.

use serde_json::json;

use super::effect::{Effect, EventKind, SlotMode};
use super::model::alert::{AlertKey, AlertKind, Severity};

use super::fleet::{Fleet, Scope};
use super::model::{Actor, DetectorAction, Millis, TestSummary, Verdict};
use super::policy::{LoopPolicy, RoleSpec};
use super::slot::{Cx, Slot, block};
use drover_signals::BudgetLevel;

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
            block(s, role, cx, msg.to_string(), Actor::Drover);
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

impl Fleet {
    /// The `[loops]` policy (every role carries the same one; the first role's is used for
    /// fleet-wide detectors).
    pub(crate) fn loop_policy(&self) -> LoopPolicy {
        self.roles.first().map(|r| r.spec.loops).unwrap_or_default()
    }

    /// Re-claim loops: alerts, claim counters on the lock table, actions on new firings.
    pub(crate) fn evaluate_claims(
        &mut self,
        now: Millis,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        let rule = self.loop_policy().reclaim;
        let index = &self.index;
        let firings =
            self.claims
                .evaluate(now, &rule, |h| index.contains_key(h), &mut self.alerts, out);
        let claims = &self.claims;
        scope.visible |= self.locks.set_claims(|task| claims.total(task));
        for f in firings {
            let i = self.index.get(&f.slot).copied();
            self.on_slot(i, now, out, scope, |s, r, cx| {
                act_on_loop(
                    s,
                    r,
                    cx,
                    "reclaim",
                    rule.rule.action,
                    &f.message,
                    &f.evidence,
                )
            });
        }
    }
}
