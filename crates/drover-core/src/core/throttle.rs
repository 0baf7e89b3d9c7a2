//! Usage limits: a slot whose agent stopped because its account hit a usage or rate limit is
//! *throttled*, not failed. It waits until the stated reset (or a cool-down that doubles with
//! each limit in a row, up to a cap), plus a per-slot jitter so a group does not restart in one
//! burst, then starts again by itself.
//!
//! Agent output is untrusted, so a notice's effect is bounded: a throttle lasts at most
//! `max_throttle` (a stated reset years away is cut there), a stated reset already past (or
//! zero) falls back to the cool-down rule — never an immediate restart — and more than
//! `max_limits` limits within `limits_window` block the slot like a crash loop would (a slot
//! that "hits the limit" every few seconds is a loop, not an account waiting for its reset).
//!
//! Invariants: a throttled exit opens no incident, counts toward no failure streak, restart
//! window or recovery tier, and raises one info alert per slot; no automatic start
//! before the restart time; slots sharing a quota group (the role's name unless configured)
//! are held together — one limit seen holds every peer that is not running until the same
//! reset, and a running peer that exits before it is throttled too. `ctl resume` ends a
//! slot's throttle at once. Recognition reads the tail of the output only (the notice is the
//! agent's last word), so a notice quoted in the middle of a run throttles nothing.

use serde_json::json;

use super::effect::{EventKind, RecoveryStep, RestartPlan, SlotMode};
use super::fleet::{Fleet, Scope};
use super::model::alert::{AlertKind, Severity};
use super::model::throttle::{LimitSeen, Throttle};
use super::model::{Millis, human};
use super::policy::{RestartMode, RoleSpec, jitter_unit};
use super::signature::{cut, strip_ansi};
use super::slot::{Cx, Slot};
use crate::core::Effect;
use drover_signals::quota;

/// Output lines (from the end) searched for a usage-limit notice when a container exits.
pub const TAIL_LINES: usize = 20;

/// Called for every exit of an automatic slot before failure accounting. Returns true when
/// the exit was a usage limit and the slot is now throttled (nothing else to do).
pub(crate) fn on_exit(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, lines: &[String]) -> bool {
    let seen = s.limit_seen.take();
    if s.probe_kill.is_some() || role.restart.mode == RestartMode::Never {
        return false;
    }
    let now = cx.now;
    let tail = lines
        .iter()
        .rev()
        .map(|l| strip_ansi(cut(l, quota::MAX_LINE_BYTES)).trim().to_string())
        .filter(|l| !l.is_empty())
        .take(TAIL_LINES);
    let mut hit = None;
    for line in tail {
        if let Some(h) = quota::recognise(&line) {
            hit = Some((h, line));
            break;
        }
    }
    let (reset, line) = match hit {
        Some((h, line)) => {
            let from_follower = seen
                .filter(|s| s.line.trim() == line)
                .and_then(|s| s.reset_at);
            let reset = from_follower.or_else(|| quota::reset_at(&h, now, &|_, _| None));
            (reset, line)
        }
        None => match &s.rec.throttle {
            // A peer of the quota group hit the limit while this slot ran: whatever ended
            // this run, the account is still limited.
            Some(t) if t.until > now && t.source != s.name => {
                let (until, reason) = (t.until, t.reason.clone());
                (Some(until), reason)
            }
            _ => {
                s.rec.throttle = None;
                s.rec.throttles = 0;
                return false;
            }
        },
    };
    // Limits in a row count like starts for crash-loop protection: past `max_limits` in the
    // window the slot is Blocked instead of waiting once more.
    let policy = &role.throttle;
    if policy.max_limits > 0 {
        let window = policy.limits_window;
        s.rec
            .limit_exits
            .retain(|t| now.saturating_sub(*t) < window);
        s.rec.limit_exits.push(now);
        let excess = s
            .rec
            .limit_exits
            .len()
            .saturating_sub(policy.max_limits as usize);
        s.rec.limit_exits.drain(..excess);
        if s.rec.limit_exits.len() >= policy.max_limits as usize {
            s.rec.limit_exits.clear();
            s.rec.throttle = None;
            s.rec.throttles = 0;
            cx.clear(&s.name, AlertKind::UsageLimit);
            let why = format!(
                "hit the usage limit {} times within {}: {}",
                policy.max_limits,
                human(window),
                cut(&line, 300)
            );
            super::slot::block(s, role, cx, why, super::model::Actor::Drover);
            return true;
        }
    }
    throttle(s, role, cx, reset, &line);
    true
}

/// Throttles the slot until `reset` (or the cool-down) plus its jitter.
fn throttle(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, reset: Option<Millis>, line: &str) {
    let now = cx.now;
    let policy = &role.throttle;
    // A reset already past (or zero) says nothing about when the account works again: the
    // cool-down rule decides, so such notices cannot make a restart storm.
    let reset = reset.filter(|r| *r > now);
    let stated = reset.is_some();
    let until = reset.unwrap_or_else(|| now.saturating_add(policy.cooldown_after(s.rec.throttles)));
    let until = until.min(now.saturating_add(policy.max_throttle.max(1)));
    let restart_at = until.saturating_add(jitter(cx.seed, &s.name, until, policy.jitter));
    s.rec.throttles = s.rec.throttles.saturating_add(1);
    let reason = cut(line, 300).to_string();
    s.rec.throttle = Some(Box::new(Throttle {
        until,
        restart_at,
        since: now,
        reason: reason.clone(),
        source: s.name.clone(),
        stated,
    }));
    s.rec.restart = Some(RestartPlan {
        at: restart_at,
        via: RecoveryStep::Restart,
    });
    s.rec.completed = false;
    s.preflight_passed = false;
    let how = if stated {
        format!("until the stated reset in {}", human(until - now))
    } else {
        format!("for a cool-down of {}", human(until - now))
    };
    let msg = format!("usage limit: {reason}");
    cx.raise(&s.name, AlertKind::UsageLimit, Severity::Info, &msg);
    cx.event(
        &s.name,
        EventKind::Throttled,
        None,
        format!("{}: throttled {how}: {reason}", s.name),
        json!({ "until": until, "restart_at": restart_at, "stated": stated,
                "group": policy.group_of(&role.name), "reason": reason,
                "limits_in_a_row": s.rec.throttles }),
    );
}

/// A deterministic share of `max` for this slot and reset (so replays agree).
fn jitter(seed: u64, slot: &str, until: Millis, max: Millis) -> Millis {
    let unit = (jitter_unit(seed, slot, until) + 1.0) / 2.0;
    (max as f64 * unit).round().clamp(0.0, max as f64) as Millis
}

/// The log follower saw a notice: remember it for the exit (which decides).
pub(crate) fn on_limit_seen(s: &mut Slot, reset_at: Option<Millis>, line: &str) {
    if s.is_live() {
        s.limit_seen = Some(LimitSeen {
            reset_at,
            line: line.to_string(),
        });
    }
}

/// The run began: a throttle (its own or a peer's) is over.
pub(crate) fn on_started(s: &mut Slot, cx: &mut Cx) {
    s.limit_seen = None;
    if s.rec.throttle.take().is_some() {
        cx.clear(&s.name, AlertKind::UsageLimit);
    }
}

/// `ctl resume` on a throttled slot: start now. Returns false when it was not throttled.
pub(crate) fn resume(s: &mut Slot, cx: &mut Cx) -> bool {
    let Some(t) = s.rec.throttle.take() else {
        return false;
    };
    cx.clear(&s.name, AlertKind::UsageLimit);
    if !s.is_live() && s.rec.restart.is_some_and(|p| p.at > cx.now) {
        s.rec.restart = Some(RestartPlan {
            at: cx.now,
            via: RecoveryStep::Restart,
        });
    }
    cx.event(
        &s.name,
        EventKind::Throttled,
        None,
        format!("{}: throttle ended early (was until {})", s.name, t.until),
        json!({ "ended": true, "until": t.until }),
    );
    true
}

impl Fleet {
    /// After slot `i` was throttled by its own notice, holds every peer of its quota group
    /// until the same reset (each with its own jitter). Running peers keep running; their next
    /// exit before the reset is a throttle, not a failure.
    pub(crate) fn spread_throttle(
        &mut self,
        i: usize,
        now: Millis,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) {
        let Some(src) = self.slots.get(i) else {
            return;
        };
        let Some(t) = src
            .rec
            .throttle
            .as_deref()
            .cloned()
            .filter(|t| t.source == src.name && t.since == now)
        else {
            return;
        };
        let Some(group) = self
            .roles
            .get(src.role)
            .map(|r| r.spec.throttle.group_of(&r.spec.name).to_string())
        else {
            return;
        };
        let peers: Vec<usize> = (0..self.slots.len())
            .filter(|&j| j != i)
            .filter(|&j| {
                self.slots.get(j).is_some_and(|p| {
                    self.roles
                        .get(p.role)
                        .is_some_and(|r| r.spec.throttle.group_of(&r.spec.name) == group)
                })
            })
            .collect();
        for j in peers {
            let t = t.clone();
            let group = group.clone();
            self.on_slot(Some(j), now, out, scope, move |p, role, cx| {
                hold_peer(p, role, cx, t, &group)
            });
        }
    }
}

fn hold_peer(p: &mut Slot, role: &RoleSpec, cx: &mut Cx, t: Throttle, group: &str) {
    if p.rec.mode != SlotMode::Auto || role.restart.mode == RestartMode::Never {
        return;
    }
    if p.rec.throttle.as_ref().is_some_and(|o| o.until >= t.until) {
        return;
    }
    let restart_at =
        t.until
            .saturating_add(jitter(cx.seed, &p.name, t.until, role.throttle.jitter));
    let live = p.is_live();
    p.rec.throttle = Some(Box::new(Throttle {
        restart_at,
        ..t.clone()
    }));
    if !live {
        p.rec.restart = Some(RestartPlan {
            at: restart_at,
            via: RecoveryStep::Restart,
        });
        p.rec.completed = false;
        p.preflight_passed = false;
    }
    cx.event(
        &p.name,
        EventKind::Throttled,
        None,
        format!(
            "{}: held with quota group {group}: {} hit a usage limit{}",
            p.name,
            t.source,
            if live {
                " (running on; its next exit waits)"
            } else {
                ""
            }
        ),
        json!({ "until": t.until, "restart_at": restart_at, "group": group,
                "source": t.source, "running": live }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::ThrottlePolicy;

    const MINUTE: Millis = 60_000;

    #[test]
    fn cooldown_doubles_up_to_the_cap() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.cooldown_after(0), 15 * MINUTE);
        assert_eq!(p.cooldown_after(1), 30 * MINUTE);
        assert_eq!(p.cooldown_after(3), 120 * MINUTE);
        assert_eq!(p.cooldown_after(30), 120 * MINUTE);
    }

    #[test]
    fn jitter_stays_in_bounds_and_differs_between_slots() {
        let a = jitter(7, "impl-1", 1_000, MINUTE);
        let b = jitter(7, "impl-2", 1_000, MINUTE);
        assert!(a <= MINUTE && b <= MINUTE);
        assert_ne!(a, b);
        assert_eq!(jitter(7, "impl-1", 1_000, 0), 0);
    }
}
