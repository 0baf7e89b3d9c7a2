//! Exits and failures: what a container's end means for its slot — a clean exit restarted
//! at once, a failure counted (incident, signature streak, crash-loop flag, restart window,
//! recovery tier, backoff) or the slot blocked — and forgetting failures after healthy running
//! or an operator's fresh start.
//!
//! Invariant: a failure either schedules exactly one restart (with a delay inside the
//! configured bounds) or blocks the slot; it never does both and never neither (except under
//! restart policy `never`, which leaves the slot exited).

use serde_json::json;

use super::effect::{EventKind, FailureStreak, RecoveryStep, RestartPlan, SlotMode};
use super::loops::act_on_loop;
use super::model::alert::{AlertKind, Severity};
use super::model::incident::IncidentCause;
use super::model::{Actor, ContainerStatus, DetectorAction, ExitInfo, ExitReason, Millis, human};
use super::policy::{RestartMode, RoleSpec, jitter_unit};
use super::signature::{explaining_line, failure_signature, short};
use super::slot::{Cx, PendingExit, PendingOp, Slot, block, forget_failures, settle};

/// The first half of a death: the exit is shown at once; the decision waits for
/// [`on_died`], which brings the last lines (see [`Slot::exit_pending`]).
/// Returns whether the slot changed.
pub(crate) fn on_exited(s: &mut Slot, cx: &mut Cx, id: &str, code: i64) -> bool {
    let live = s
        .container
        .as_ref()
        .is_some_and(|c| c.id == id && !matches!(c.status, ContainerStatus::Exited { .. }));
    if !live || s.awaiting_exit_lines() {
        return false;
    }
    s.exit_pending = Some(PendingExit {
        id: id.to_string(),
        code,
        at: cx.now,
    });
    true
}

pub(crate) fn on_died(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    id: &str,
    code: i64,
    oom_killed: bool,
    lines: &[String],
) {
    // The exit's time is when it was first reported, not when its lines arrived.
    let now = match s.exit_pending.take() {
        Some(p) if p.id == id => p.at.min(cx.now),
        _ => cx.now,
    };
    let Some(c) = s.container.as_mut().filter(|c| c.id == id) else {
        return;
    };
    if matches!(c.status, ContainerStatus::Exited { .. }) {
        // A duplicate (or the answer to a stop of an already dead container).
        settle(
            s,
            |op| matches!(op, PendingOp::Stop { id: i } | PendingOp::Kill { id: i } if i == id),
        );
        return;
    }
    if c.status == ContainerStatus::Created {
        // It started and died before the start was confirmed.
        s.rec.starts += 1;
    }
    let stopped_by_us = s.in_flight.as_ref().is_some_and(
        |f| matches!(&f.op, PendingOp::Stop { id: i } | PendingOp::Kill { id: i } if i == id),
    );
    settle(s, |op| {
        op.id() == Some(id) && !matches!(op, PendingOp::Remove { .. })
    });
    // The run's clock ends with the run; a stop for its time limit makes the exit a timeout.
    let timeout = s.run_clock.timed_out.then_some(s.run_clock.allowed);
    s.run_clock = Default::default();
    let Some(c) = s.container.as_mut() else {
        return;
    };
    let uptime = c.started_at.map(|t| now.saturating_sub(t)).unwrap_or(0);
    c.status = ContainerStatus::Exited { code };
    let replace = c.replace;
    let mut line = explaining_line(lines);
    if oom_killed && line.is_none() {
        line = Some("out of memory (OOM-killed)".into());
    }
    if let Some(allowed) = timeout {
        line = Some(super::run_limit::ended_text(allowed));
    }
    let exit = ExitInfo {
        code: Some(code),
        oom_killed,
        at: now,
        uptime,
        line: line.clone(),
        reason: timeout.map(|_| ExitReason::Timeout),
    };
    cx.event(
        &s.name,
        EventKind::Died,
        None,
        format!(
            "{}: exited with code {code}{} after {}{}",
            s.name,
            if oom_killed { " (OOM-killed)" } else { "" },
            human(uptime),
            line.as_deref().map(|l| format!(": {l}")).unwrap_or_default()
        ),
        json!({ "id": id, "exit_code": code, "oom_killed": oom_killed, "uptime_ms": uptime, "line": line }),
    );
    let clean = exit.is_clean();
    s.rec.last_exit = Some(exit);
    end_run(s, role, cx);
    if s.restart_requested {
        s.restart_requested = false;
        s.rec.restart = Some(RestartPlan {
            at: now,
            via: RecoveryStep::Restart,
        });
        return;
    }
    if replace {
        return;
    }
    if let Some(allowed) = timeout
        && s.rec.mode == SlotMode::Auto
    {
        // A timeout is a failure, never an early exit: however short the limit, timeouts alone
        // do not make a crash loop; the same signature each time blocks after the usual streak.
        let cause = IncidentCause::TimedOut { after: allowed };
        let not_early = uptime.max(role.crash_loop.min_uptime);
        record_failure(s, role, cx, None, false, line, Some(not_early), cause);
        return;
    }
    if stopped_by_us && s.probe_kill.is_none() && s.rec.mode == SlotMode::Auto {
        // Our own stop, and the slot was handed back to drover meanwhile (stop, then start):
        // not a failure, just start it again.
        s.rec.restart = Some(RestartPlan {
            at: now,
            via: RecoveryStep::Restart,
        });
        return;
    }
    match s.rec.mode {
        SlotMode::Auto => {
            if super::throttle::on_exit(s, role, cx, lines) {
                return;
            }
            let probe = s.probe_kill.take();
            if clean && probe.is_none() {
                clean_exit(s, role, cx, uptime);
            } else {
                let line = probe.map(|d| format!("probe failing: {d}")).or(line);
                let cause = IncidentCause::Died {
                    exit_code: Some(code),
                    oom_killed,
                };
                record_failure(
                    s,
                    role,
                    cx,
                    Some(code),
                    oom_killed,
                    line,
                    Some(uptime),
                    cause,
                );
            }
        }
        SlotMode::Paused { .. } if !clean => {
            let detail = line.unwrap_or_else(|| format!("exit code {code}"));
            let cause = IncidentCause::Died {
                exit_code: Some(code),
                oom_killed,
            };
            cx.incidents
                .open(now, &s.name, &role.name, cause, &detail, cx.out);
        }
        _ => {}
    }
}

/// The run ended: health is unknown until the next one, and run-bound alerts end with it.
/// Past failures are forgotten first if the run was healthy for `reset_after`.
fn end_run(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    maybe_forget_failures(s, role, cx);
    s.preflight_passed = false;
    s.health = Default::default();
    s.healthy_since = None;
    s.unready = None;
    s.stalled_since = None;
    s.probe = Default::default();
    cx.clear(&s.name, AlertKind::ProbeFailing);
    cx.clear(&s.name, AlertKind::Stall);
}

fn clean_exit(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, uptime: Millis) {
    let now = cx.now;
    s.rec.streak = None;
    if uptime < role.crash_loop.min_uptime {
        push_in_window(
            &mut s.rec.idle_exits,
            now,
            role.crash_loop.window,
            role.crash_loop.failures,
        );
        let spinning = s.rec.idle_exits.len() as u32 >= role.crash_loop.failures.max(1);
        if spinning && !s.rec.idle_spinning {
            cx.event(
                &s.name,
                EventKind::IdleSpinning,
                None,
                format!("{}: idle spinning (clean exits within seconds)", s.name),
                json!({ "exits": s.rec.idle_exits.len() }),
            );
        }
        s.rec.idle_spinning = spinning;
    }
    match role.restart.mode {
        RestartMode::Always => {
            let delay = if s.rec.idle_spinning {
                role.restart.idle_backoff
            } else {
                0
            };
            s.rec.restart = Some(RestartPlan {
                at: now + delay,
                via: RecoveryStep::Restart,
            });
        }
        RestartMode::OnFailure | RestartMode::Never => {
            s.rec.completed = true;
            s.rec.restart = None;
        }
    }
}

/// Failure accounting and the restart decision: incident, signature streak, crash-loop flag,
/// window limit, recovery tier, backoff — or Blocked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_failure(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    code: Option<i64>,
    oom_killed: bool,
    line: Option<String>,
    uptime: Option<Millis>,
    cause: IncidentCause,
) {
    let now = cx.now;
    let reason = line.clone().unwrap_or_else(|| match code {
        Some(c) => format!("exit code {c}"),
        None => "failed".to_string(),
    });
    s.preflight_passed = false;
    let timed_out_after = match &cause {
        IncidentCause::TimedOut { after } => Some(*after),
        _ => None,
    };
    cx.incidents
        .open(now, &s.name, &role.name, cause, &reason, cx.out);
    if role.restart.mode == RestartMode::Never {
        s.rec.completed = true;
        s.rec.restart = None;
        return;
    }
    let signature = failure_signature(code, oom_killed, line.as_deref());
    let count = match &s.rec.streak {
        Some(st) if st.signature == signature => st.count.saturating_add(1),
        _ => 1,
    };
    s.rec.streak = Some(FailureStreak { signature, count });

    let cl = &role.crash_loop;
    if uptime.is_none_or(|u| u < cl.min_uptime) {
        push_in_window(&mut s.rec.early_failures, now, cl.window, cl.failures);
        if s.rec.early_failures.len() as u32 >= cl.failures.max(1) && !s.rec.crash_looping {
            s.rec.crash_looping = true;
            let rule = role.loops.crash_loop;
            if rule.enabled {
                let msg = format!("crash loop: {reason}");
                let evidence = std::slice::from_ref(&reason);
                cx.raise_with(
                    &s.name,
                    AlertKind::CrashLoop,
                    Severity::Warning,
                    &msg,
                    evidence,
                );
                // Restarting a crash-looping slot is what is already happening.
                if rule.action != DetectorAction::Restart {
                    act_on_loop(s, role, cx, "crash_loop", rule.action, &msg, evidence);
                    if s.rec.mode != SlotMode::Auto {
                        // Paused or blocked by the detector: no restart is planned.
                        return;
                    }
                }
            }
            cx.event(
                &s.name,
                EventKind::CrashLoop,
                None,
                format!(
                    "{}: crash loop ({} early exits)",
                    s.name,
                    s.rec.early_failures.len()
                ),
                json!({ "early_failures": s.rec.early_failures.len() }),
            );
        }
    }

    if let Some(why) = super::unblock::still_failing(s, &reason) {
        return block(s, role, cx, why, Actor::Drover);
    }
    let r = &role.restart;
    s.rec
        .failure_restarts
        .retain(|t| now.saturating_sub(*t) < r.window);
    if cl.identical_failures_to_block > 0 && count >= cl.identical_failures_to_block {
        let why = match timed_out_after {
            Some(after) => format!("timed out {count} times in a row ({})", human(after)),
            None => reason,
        };
        return block(s, role, cx, why, Actor::Drover);
    }
    if s.rec.failure_restarts.len() as u32 >= r.max_restarts {
        let why = format!(
            "{} restarts within {}; last error: {reason}",
            s.rec.failure_restarts.len(),
            human(r.window)
        );
        return block(s, role, cx, why, Actor::Drover);
    }
    s.rec.consecutive_failures = s.rec.consecutive_failures.saturating_add(1);
    let rec = &role.recovery;
    if s.rec.consecutive_failures > rec.restarts.saturating_add(rec.recreates) {
        let why = format!(
            "recovery exhausted ({} restarts, {} recreations); last error: {reason}",
            rec.restarts, rec.recreates
        );
        return block(s, role, cx, why, Actor::Drover);
    }
    let via = if s.rec.consecutive_failures > rec.restarts {
        RecoveryStep::Recreate
    } else {
        RecoveryStep::Restart
    };
    let attempt = s.rec.starts.wrapping_mul(1_000_003) ^ u64::from(s.rec.backoff_step);
    let delay = r.jittered_delay(s.rec.backoff_step, jitter_unit(cx.seed, &s.name, attempt));
    s.rec.backoff_step = s.rec.backoff_step.saturating_add(1).min(64);
    s.rec.failure_restarts.push(now);
    s.rec.restart = Some(RestartPlan {
        at: now + delay,
        via,
    });
    s.rec.completed = false;
    cx.incidents.note_restart(&s.name);
    let how = match via {
        RecoveryStep::Restart => "restart",
        RecoveryStep::Recreate => "recreate",
    };
    cx.event(
        &s.name,
        EventKind::RestartScheduled,
        None,
        format!(
            "{}: {how} in {} (failure {} in a row)",
            s.name,
            human(delay),
            s.rec.consecutive_failures
        ),
        json!({ "at": now + delay, "delay_ms": delay, "via": how, "step": s.rec.backoff_step,
                "consecutive_failures": s.rec.consecutive_failures }),
    );
}

/// The slot's container is gone although nothing here asked for it (removed behind drover's
/// back, or missing from a listing). A live one counts as a failure.
pub(crate) fn vanished(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    let Some(c) = s.container.take() else {
        return;
    };
    s.rec.container_id = None;
    let now = cx.now;
    cx.event(
        &s.name,
        EventKind::Vanished,
        None,
        format!("{}: container {} disappeared", s.name, short(&c.id)),
        json!({ "id": c.id }),
    );
    if !c.status.is_live() {
        return;
    }
    let uptime = c.started_at.map(|t| now.saturating_sub(t)).unwrap_or(0);
    let line = "container disappeared".to_string();
    s.rec.last_exit = Some(ExitInfo {
        code: None,
        oom_killed: false,
        at: now,
        uptime,
        line: Some(line.clone()),
        reason: None,
    });
    s.run_clock = Default::default();
    end_run(s, role, cx);
    if s.restart_requested || c.replace {
        s.restart_requested = false;
        s.rec.restart = Some(RestartPlan {
            at: now,
            via: RecoveryStep::Restart,
        });
        return;
    }
    if s.rec.mode == SlotMode::Auto {
        s.probe_kill = None;
        record_failure(
            s,
            role,
            cx,
            None,
            false,
            Some(line),
            Some(uptime),
            IncidentCause::Disappeared,
        );
    }
}

/// Forgets past failures once the slot has been healthy for `reset_after`.
pub(crate) fn maybe_forget_failures(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    let Some(since) = s.healthy_since else {
        return;
    };
    if cx.now.saturating_sub(since) < role.restart.reset_after || !has_failure_memory(s) {
        return;
    }
    forget_failures(s);
    cx.event(
        &s.name,
        EventKind::Recovered,
        None,
        format!(
            "{}: healthy for {}, failure history reset",
            s.name,
            human(role.restart.reset_after)
        ),
        json!({}),
    );
}

pub(crate) fn has_failure_memory(s: &Slot) -> bool {
    s.rec.backoff_step > 0 || s.rec.consecutive_failures > 0 || s.rec.streak.is_some()
}

fn push_in_window(times: &mut Vec<Millis>, now: Millis, window: Millis, keep: u32) {
    times.retain(|t| now.saturating_sub(*t) < window);
    times.push(now);
    let excess = times.len().saturating_sub(keep.max(1) as usize);
    times.drain(..excess);
}
