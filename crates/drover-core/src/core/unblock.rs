//! When a block by drover ends on its own. Blocked by drover means "until the cause changes":
//! on a config reload or a restart of drover, a slot blocked under another role spec, required
//! env or image ([`RoleSpec::cause_key`]) is re-evaluated — it unblocks with an event saying
//! why, preflight runs again before its start, and a failure blocks it again with a reason
//! computed now. And the optional cool-down (`[roles.restart] unblock_after`, off by default):
//! a slot that drover blocked on its own retries once after the cool-down; if that retry fails
//! too, it is Blocked again at once, with the number of retries in its reason.
//!
//! Invariants: only automatic blocks (by drover) are retried or re-evaluated, never an
//! operator's; one start per cool-down; a retry that runs healthy for `reset_after` forgets
//! the retry count like every other failure memory.

use serde_json::json;

use super::effect::{Effect, EventKind, RecoveryStep, RestartPlan, SlotMode};
use super::fleet::{Fleet, Scope};
use super::model::alert::AlertKind;
use super::model::{Actor, Millis, human};
use super::policy::RoleSpec;
use super::slot::{Cx, Slot, fresh_start};

/// When the blocked slot retries, if it does.
pub(crate) fn due(s: &Slot, role: &RoleSpec) -> Option<Millis> {
    match (&s.rec.mode, role.restart.unblock_after) {
        (
            SlotMode::Blocked {
                by: Actor::Drover,
                at,
                ..
            },
            Some(after),
        ) => Some(at.saturating_add(after)),
        _ => None,
    }
}

/// Retries the slot if its cool-down is over.
pub(crate) fn on_timer(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    if due(s, role).is_none_or(|t| t > cx.now) {
        return;
    }
    s.rec.unblock_retries = s.rec.unblock_retries.saturating_add(1);
    s.rec.retrying = true;
    s.rec.mode = SlotMode::Auto;
    s.rec.completed = false;
    s.hold_until = None;
    cx.clear(&s.name, AlertKind::Blocked);
    if !s.is_live() {
        s.rec.restart = Some(RestartPlan {
            at: cx.now,
            via: RecoveryStep::Restart,
        });
    }
    cx.event(
        &s.name,
        EventKind::Recovered,
        None,
        format!(
            "{}: blocked for {}, retrying once (retry {})",
            s.name,
            human(role.restart.unblock_after.unwrap_or(0)),
            s.rec.unblock_retries
        ),
        json!({ "unblock_retry": s.rec.unblock_retries }),
    );
}

/// A failure during a retry: the reason it is Blocked again, if it was a retry.
pub(crate) fn still_failing(s: &Slot, reason: &str) -> Option<String> {
    s.rec.retrying.then(|| {
        let n = s.rec.unblock_retries;
        format!(
            "{reason} (still failing after {n} automatic retr{})",
            if n == 1 { "y" } else { "ies" }
        )
    })
}

/// Re-evaluates a block by drover whose cause may have changed (config reload, restart of
/// drover): unblocks it when the role's cause key differs from the one it was blocked under.
/// Returns true when the slot was unblocked.
pub(crate) fn review(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) -> bool {
    let SlotMode::Blocked {
        by: Actor::Drover,
        reason,
        ..
    } = &s.rec.mode
    else {
        return false;
    };
    let key = role.cause_key();
    let why = match s.rec.blocked_under.as_deref() {
        Some(k) if k == key => return false,
        Some(k) if k.split('/').next() != Some(role.spec_hash.as_str()) => {
            "its role's configuration changed"
        }
        Some(_) => "its required environment or image changed",
        // Blocked before the cause was recorded: what it was blocked under is unknown.
        None => "the cause it was blocked under is no longer known",
    };
    let was = reason.clone();
    s.rec.mode = SlotMode::Auto;
    s.rec.blocked_under = None;
    s.rec.unblock_retries = 0;
    s.rec.retrying = false;
    cx.clear(&s.name, AlertKind::Blocked);
    fresh_start(s, cx);
    cx.event(
        &s.name,
        EventKind::Recovered,
        None,
        format!(
            "{}: unblocked because {why} (was blocked: {was}); checking again",
            s.name
        ),
        json!({ "unblocked": why, "was": was }),
    );
    true
}

impl Fleet {
    /// Re-evaluates every block by drover against its role's current cause key.
    pub(crate) fn review_blocks(&mut self, now: Millis, out: &mut Vec<Effect>, scope: &mut Scope) {
        for i in 0..self.slots.len() {
            self.on_slot(Some(i), now, out, scope, review);
        }
    }
}
