//! Optional cool-down for Blocked (`[roles.restart] unblock_after`, off by default): a slot
//! that drover blocked on its own retries once after the cool-down; if that retry fails too,
//! it is Blocked again at once, with the number of retries in its reason.
//!
//! Invariants: only automatic blocks (by drover) are retried, never an operator's; one start
//! per cool-down; a retry that runs healthy for `reset_after` forgets the retry count like
//! every other failure memory.

use serde_json::json;

use super::alerts::AlertKind;
use super::effect::{EventKind, RecoveryStep, RestartPlan, SlotMode};
use super::failure::human;
use super::model::{Actor, Millis};
use super::policy::RoleSpec;
use super::slot::{Cx, Slot};

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
