//! The per-run time limit (`[roles.limits] run_timeout`): a run that lasts longer is stopped
//! (the role's stop grace, then kill) and ends as "timed out after …".
//!
//! Invariants: the clock runs only while the slot is under automation (`SlotMode::Auto`) and
//! its container is running — a paused or taken-over run does not age; the deadline is kept as
//! an absolute time that moves later by exactly the time the clock was stopped, plus operator
//! extensions; a timed-out run is stopped once (the flag stays until the container is gone).

use serde_json::json;

use super::effect::{EventKind, KeptClock, SlotMode};
use super::model::{ContainerStatus, Millis, human};
use super::policy::RoleSpec;
use super::slot::{Cx, RunClock, Slot};

/// The most one `extend` may add: a week.
pub const MAX_EXTEND: Millis = 7 * 24 * 60 * 60 * 1000;

/// A run started (or was adopted) at `started`: its clock starts there, unless the slot's
/// record keeps this container's clock from before a restart of drover (then it continues).
pub(crate) fn start(s: &mut Slot, role: &RoleSpec, started: Millis) {
    let container = s.container.as_ref().map(|c| c.id.clone());
    let kept = s
        .rec
        .run_clock
        .as_ref()
        .filter(|k| role.run_timeout.is_some() && Some(&k.container) == container.as_ref());
    if let Some(k) = kept {
        s.run_clock = RunClock {
            ends_at: Some(k.ends_at),
            stopped_at: k.stopped_at,
            allowed: k.allowed,
            timed_out: false,
        };
        return;
    }
    s.run_clock = match role.run_timeout {
        Some(limit) => RunClock {
            ends_at: Some(started.saturating_add(limit)),
            stopped_at: None,
            allowed: limit,
            timed_out: false,
        },
        None => RunClock::default(),
    };
    keep(s);
}

/// Copies the clock into the slot's record (persisted with it).
fn keep(s: &mut Slot) {
    let container = s.container.as_ref().map(|c| c.id.clone());
    s.rec.run_clock = match (container, s.run_clock.ends_at) {
        (Some(container), Some(ends_at)) => Some(KeptClock {
            container,
            ends_at,
            stopped_at: s.run_clock.stopped_at,
            allowed: s.run_clock.allowed,
        }),
        _ => None,
    };
}

fn clock_runs(s: &Slot) -> bool {
    s.rec.mode == SlotMode::Auto
        && s.container
            .as_ref()
            .is_some_and(|c| c.status == ContainerStatus::Running)
}

/// Stops or restarts the clock to match the slot's state at `now`. Called after every change
/// to the slot, so a stop is dated when it happened.
pub(crate) fn sync(s: &mut Slot, now: Millis) {
    if s.run_clock.ends_at.is_none() {
        return;
    }
    let runs = clock_runs(s);
    let clock = &mut s.run_clock;
    match (runs, clock.stopped_at) {
        (true, Some(since)) => {
            let stopped_for = now.saturating_sub(since);
            clock.ends_at = clock.ends_at.map(|t| t.saturating_add(stopped_for));
            clock.stopped_at = None;
        }
        (false, None) => clock.stopped_at = Some(now),
        _ => return,
    }
    keep(s);
}

/// The deadline the fleet must wake up for, if the clock runs.
pub(crate) fn deadline(s: &Slot) -> Option<Millis> {
    let c = &s.run_clock;
    if c.timed_out || c.stopped_at.is_some() || !clock_runs(s) {
        return None;
    }
    c.ends_at
}

/// Fires when the deadline has passed: marks the run timed out (the lifecycle then stops it).
pub(crate) fn on_timer(s: &mut Slot, cx: &mut Cx) {
    if deadline(s).is_none_or(|t| t > cx.now) {
        return;
    }
    s.run_clock.timed_out = true;
    let allowed = s.run_clock.allowed;
    cx.event(
        &s.name,
        EventKind::TimedOut,
        None,
        format!(
            "{}: run time limit reached ({}): stopping",
            s.name,
            human(allowed)
        ),
        json!({ "allowed_ms": allowed }),
    );
}

/// Why an extension cannot be given, or the new end of the run.
pub(crate) fn extend(s: &mut Slot, by: Millis) -> Result<Millis, String> {
    // An audited extension of nothing, or of centuries (2^64 s saturates to "never"), is a
    // typo or an attack on the limit, not a decision.
    if by == 0 {
        return Err("extend needs a duration above zero".into());
    }
    if by > MAX_EXTEND {
        return Err(format!(
            "extend by at most {} at a time (asked {})",
            human(MAX_EXTEND),
            human(by)
        ));
    }
    let clock = &mut s.run_clock;
    let Some(ends_at) = clock.ends_at else {
        return Err(format!("{} has no run time limit running", s.name));
    };
    if clock.timed_out {
        return Err(format!("{}'s run already timed out", s.name));
    }
    clock.ends_at = Some(ends_at.saturating_add(by));
    clock.allowed = clock.allowed.saturating_add(by);
    keep(s);
    Ok(ends_at.saturating_add(by))
}

/// The text a timed-out run ends with, e.g. "timed out after 30m".
pub(crate) fn ended_text(allowed: Millis) -> String {
    format!("timed out after {}", human(allowed))
}

/// When the current run must end, for faces: `None` without a limit or while the clock is
/// stopped (then `remaining` tells how much is left).
pub(crate) fn view(s: &Slot, now: Millis) -> (Option<Millis>, Option<Millis>) {
    let c = &s.run_clock;
    match (c.ends_at, c.stopped_at) {
        (Some(t), None) => (Some(t), Some(t.saturating_sub(now))),
        (Some(t), Some(since)) => (None, Some(t.saturating_sub(since))),
        _ => (None, None),
    }
}
