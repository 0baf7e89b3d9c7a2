//! Health and time: warm-up, readiness probes, stall detection, failure-memory reset and lost
//! operations, plus the deadlines that tell the supervisor when to wake the core.
//!
//! Invariant: every deadline reported by [`deadlines`] is consumed by [`on_timers`] (or by
//! `drive`) once due, so a due deadline always leads to progress — the supervisor can never
//! be told to wake up in a loop for nothing.

use serde_json::json;

use super::effect::{Effect, EventKind, SlotMode};
use super::failure::{has_failure_memory, maybe_forget_failures};
use super::loops::act_on_loop;
use super::model::alert::{AlertKind, Severity};
use super::model::incident::IncidentCause;
use super::model::{Health, Millis, human};
use super::policy::RoleSpec;
use super::slot::{Cx, Slot};

/// Acts on every due time-based condition of the slot.
pub(crate) fn on_timers(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, op_timeout: Millis) {
    let now = cx.now;
    if let Some(f) = &s.in_flight
        && f.since.saturating_add(op_timeout) <= now
    {
        cx.event(
            &s.name,
            EventKind::OpLost,
            None,
            format!(
                "{}: no answer to {:?} after {}",
                s.name,
                f.op,
                human(op_timeout)
            ),
            json!({ "op": format!("{:?}", f.op) }),
        );
        s.in_flight = None;
        super::lifecycle::doubt(s, cx);
    }
    if s.probe
        .in_flight_since
        .is_some_and(|t| t.saturating_add(op_timeout) <= now)
    {
        s.probe.in_flight_since = None;
        s.probe.next_at = Some(now);
    }
    if s.hold_until.is_some_and(|t| t <= now) {
        s.hold_until = None;
    }
    super::unblock::on_timer(s, role, cx);
    super::run_limit::on_timer(s, cx);
    super::context::on_timer(s, role, cx);
    // A run without a known start has no timers: `deadlines` must offer exactly the timers
    // this function can fire, or a wake-up stays due forever and the core spins.
    if s.is_running()
        && let Some(c) = s.container.as_mut()
        && let Some(started) = c.started_at
    {
        if !c.warmed_up && started.saturating_add(role.crash_loop.min_uptime) <= now {
            c.warmed_up = true;
            s.rec.crash_looping = false;
            s.rec.idle_spinning = false;
            s.rec.early_failures.clear();
            s.rec.idle_exits.clear();
            cx.clear(&s.name, AlertKind::CrashLoop);
        }
        if s.rec.mode == SlotMode::Auto {
            let base = stall_base(s.last_activity, started.max(c.watched_from));
            if s.stalled_since.is_none() && base.saturating_add(role.stall_after) <= now {
                s.stalled_since = Some(base);
                let msg = format!(
                    "no output, commit or progress for {}",
                    human(now.saturating_sub(base))
                );
                let rule = role.loops.stall;
                if rule.enabled {
                    cx.raise(&s.name, AlertKind::Stall, Severity::Warning, &msg);
                    act_on_loop(s, role, cx, "stall", rule.action, &msg, &[]);
                }
                cx.incidents.open(
                    now,
                    &s.name,
                    &role.name,
                    IncidentCause::Stalled,
                    &msg,
                    cx.out,
                );
                cx.event(
                    &s.name,
                    EventKind::Stalled,
                    None,
                    format!("{}: stalled: {msg}", s.name),
                    json!({ "since": base }),
                );
            }
            if role.probe.is_some()
                && cx.docker_ready
                && s.probe.in_flight_since.is_none()
                && !s.awaiting_exit_lines()
                && s.probe.next_at.is_some_and(|t| t <= now)
                && let Some(id) = s.container_id().map(str::to_string)
            {
                s.probe.in_flight_since = Some(now);
                s.probe.next_at = None;
                cx.out.push(Effect::RunProbe {
                    slot: s.name.clone(),
                    role: role.name.clone(),
                    id,
                });
            }
        }
    }
    maybe_forget_failures(s, role, cx);
    refresh_health(s, role, cx);
}

fn stall_base(last_activity: Option<Millis>, started: Millis) -> Millis {
    last_activity.map_or(started, |a| a.max(started))
}

/// Calls `f` with every deadline the slot currently has.
pub(crate) fn deadlines(
    s: &Slot,
    role: &RoleSpec,
    docker_ready: bool,
    op_timeout: Millis,
    mut f: impl FnMut(Millis),
) {
    if let Some(fl) = &s.in_flight {
        f(fl.since.saturating_add(op_timeout));
    }
    if let Some(t) = super::unblock::due(s, role) {
        f(t);
    }
    if let Some(t) = s.probe.in_flight_since {
        f(t.saturating_add(op_timeout));
    }
    if let Some(t) = s.hold_until {
        f(t);
    }
    if let Some(t) = super::run_limit::deadline(s) {
        f(t);
    }
    if let Some(t) = super::context::deadline(s, role) {
        f(t);
    }
    if s.is_running()
        && let Some(c) = &s.container
        && let Some(started) = c.started_at
    {
        if !c.warmed_up {
            f(started.saturating_add(role.crash_loop.min_uptime));
        }
        if s.rec.mode == SlotMode::Auto {
            if s.stalled_since.is_none() {
                f(stall_base(s.last_activity, started.max(c.watched_from))
                    .saturating_add(role.stall_after));
            }
            if role.probe.is_some()
                && docker_ready
                && s.probe.in_flight_since.is_none()
                && let Some(t) = s.probe.next_at
            {
                f(t);
            }
        }
    }
    if let Some(h) = s.healthy_since
        && has_failure_memory(s)
    {
        f(h.saturating_add(role.restart.reset_after));
    }
    if docker_ready
        && s.rec.mode == SlotMode::Auto
        && s.in_flight.is_none()
        && s.hold_until.is_none()
        && !s.awaiting_listing
        && !s.is_live()
        && !s.main_held
        && let Some(plan) = s.rec.restart
    {
        f(plan.at);
    }
}

pub(crate) fn on_probe(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    id: &str,
    ok: bool,
    detail: &str,
) {
    let Some(policy) = &role.probe else {
        return;
    };
    if s.container_id() != Some(id) || !s.is_running() {
        return;
    }
    let now = cx.now;
    s.probe.in_flight_since = None;
    s.probe.next_at = Some(now + policy.period);
    if ok {
        s.probe.failures = 0;
        s.probe.ok_seen = true;
        if s.unready.take().is_some() {
            cx.clear(&s.name, AlertKind::ProbeFailing);
            cx.event(
                &s.name,
                EventKind::Ready,
                None,
                format!("{}: ready again", s.name),
                json!({}),
            );
        }
    } else {
        s.probe.failures = s.probe.failures.saturating_add(1);
        if s.probe.failures >= policy.failure_threshold.max(1) && s.unready.is_none() {
            let detail =
                super::signature::cut(detail, super::signature::MAX_REASON_BYTES).to_string();
            s.unready = Some((detail.clone(), now));
            let msg = format!("probe failing: {detail}");
            cx.raise(&s.name, AlertKind::ProbeFailing, Severity::Warning, &msg);
            if s.rec.mode == SlotMode::Auto {
                cx.incidents.open(
                    now,
                    &s.name,
                    &role.name,
                    IncidentCause::Unready,
                    &msg,
                    cx.out,
                );
            }
            cx.event(
                &s.name,
                EventKind::Unready,
                None,
                format!("{}: unready: {detail}", s.name),
                json!({ "detail": detail, "failures": s.probe.failures }),
            );
            if policy.action == super::policy::ProbeAction::Restart && s.rec.mode == SlotMode::Auto
            {
                s.probe_kill = Some(detail);
            }
        }
    }
    refresh_health(s, role, cx);
}

/// Records a sign of life; ends a stall. Returns true when something visible changed.
pub(crate) fn on_activity(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) -> bool {
    // Faces show "last output Ns ago": a line in the same second as the last changes nothing
    // they show, so it must not make a new snapshot (every line of every agent would).
    let changed = s.last_activity.map(|t| t / 1_000) != Some(cx.now / 1_000);
    s.last_activity = Some(cx.now);
    if s.stalled_since.take().is_some() {
        cx.clear(&s.name, AlertKind::Stall);
        cx.event(
            &s.name,
            EventKind::Active,
            None,
            format!("{}: active again", s.name),
            json!({}),
        );
        refresh_health(s, role, cx);
    }
    changed
}

/// Recomputes health from the facts; a return to health closes the slot's incident.
pub(crate) fn refresh_health(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    let warmed = s.container.as_ref().is_some_and(|c| c.warmed_up);
    let health = if s.rec.mode != SlotMode::Auto || !s.is_running() {
        Health::Unknown
    } else if let Some((detail, since)) = &s.unready {
        Health::Unready {
            detail: detail.clone(),
            since: *since,
        }
    } else if let Some(since) = s.stalled_since {
        Health::Stalled { since }
    } else if !warmed || (role.probe.is_some() && !s.probe.ok_seen) {
        Health::Unknown
    } else {
        Health::Healthy
    };
    if health == Health::Healthy {
        if s.healthy_since.is_none() {
            s.healthy_since = Some(cx.now);
            cx.incidents.close_recovered(cx.now, &s.name, cx.out);
        }
    } else {
        s.healthy_since = None;
    }
    s.health = health;
}
