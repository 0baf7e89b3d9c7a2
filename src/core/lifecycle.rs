//! Slot lifecycle: what to do next ([`drive`]) and how each Docker answer changes the slot.
//!
//! `drive` is level-triggered: it compares what the slot's mode wants with the container as
//! last observed and issues at most one operation, and only when none is in flight and Docker
//! is synced. Results clear the in-flight operation and update the facts; the fleet then calls
//! `drive` again. So a repeated or reordered answer can never double a create or a start.

use serde_json::json;

use super::alerts::{AlertKind, Severity};
use super::effect::{Effect, EventKind, FailureStreak, RecoveryStep, RestartPlan, SlotMode};
use super::incidents::IncidentCause;
use super::model::{Actor, ContainerStatus, ExitInfo, Millis, container_name};
use super::policy::{RestartMode, RoleSpec, jitter_unit};
use super::signature::{explaining_line, failure_signature};
use super::slot::{Container, Cx, InFlight, PendingOp, Slot};

/// Pause before retrying after a failed stop/pause/unpause/remove.
pub const OP_RETRY_HOLD: Millis = 5_000;

/// Issues the next Docker operation the slot needs, if any.
pub(crate) fn drive(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    if s.in_flight.is_some() || !cx.docker_ready || s.retired || s.hold_until.is_some() {
        return;
    }
    match s.rec.mode {
        SlotMode::TakenOver { .. } => {}
        SlotMode::Blocked { .. } | SlotMode::Stopped { .. } => {
            if s.is_live() {
                stop(s, role, cx);
            }
        }
        SlotMode::Retiring => match s.status() {
            Some(st) if st.is_live() => stop(s, role, cx),
            Some(_) => remove(s, cx),
            None => s.retired = true,
        },
        SlotMode::Paused { .. } => {
            if s.is_running() {
                let id = s.container_id().unwrap_or_default().to_string();
                issue(s, cx, PendingOp::Pause { id: id.clone() });
                cx.out.push(Effect::Pause {
                    slot: s.name.clone(),
                    id,
                });
            }
        }
        SlotMode::Auto => drive_auto(s, role, cx),
    }
}

fn drive_auto(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    let now = cx.now;
    let Some(c) = &s.container else {
        if s.rec.completed || s.rec.restart.is_some_and(|p| p.at > now) {
            return;
        }
        if role.preflight && !s.preflight_passed {
            return preflight(s, role, cx);
        }
        return create(s, role, cx);
    };
    let wants_stop = c.replace || s.restart_requested || s.probe_kill.is_some();
    match c.status {
        ContainerStatus::Running | ContainerStatus::Paused if wants_stop => stop(s, role, cx),
        ContainerStatus::Paused => {
            let id = c.id.clone();
            issue(s, cx, PendingOp::Unpause { id: id.clone() });
            cx.out.push(Effect::Unpause {
                slot: s.name.clone(),
                id,
            });
        }
        ContainerStatus::Running => {}
        ContainerStatus::Created | ContainerStatus::Exited { .. } => {
            if c.replace {
                return remove(s, cx);
            }
            let exited = matches!(c.status, ContainerStatus::Exited { .. });
            match s.rec.restart {
                // Exited for good by policy, or held by an operator decision.
                None if exited => {}
                Some(p) if p.at > now => {}
                Some(RestartPlan {
                    via: RecoveryStep::Recreate,
                    ..
                }) => remove(s, cx),
                _ if role.preflight && !s.preflight_passed => preflight(s, role, cx),
                _ => {
                    let id = c.id.clone();
                    issue(s, cx, PendingOp::Start { id: id.clone() });
                    cx.out.push(Effect::Start {
                        slot: s.name.clone(),
                        id,
                    });
                }
            }
        }
    }
}

fn issue(s: &mut Slot, cx: &Cx, op: PendingOp) {
    s.in_flight = Some(InFlight { op, since: cx.now });
}

fn preflight(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    issue(s, cx, PendingOp::Preflight);
    cx.out.push(Effect::RunPreflight {
        slot: s.name.clone(),
        role: role.name.clone(),
    });
}

fn create(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    let generation = s.rec.generation + 1;
    issue(s, cx, PendingOp::Create { generation });
    cx.out.push(Effect::Create {
        slot: s.name.clone(),
        role: role.name.clone(),
        generation,
        spec_hash: role.spec_hash.clone(),
        name: container_name(cx.fleet, &s.name),
    });
}

fn stop(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    let Some(id) = s.container_id().map(str::to_string) else {
        return;
    };
    issue(s, cx, PendingOp::Stop { id: id.clone() });
    cx.out.push(Effect::Stop {
        slot: s.name.clone(),
        id,
        grace: role.stop_grace,
    });
}

fn remove(s: &mut Slot, cx: &mut Cx) {
    let Some(id) = s.container_id().map(str::to_string) else {
        return;
    };
    issue(s, cx, PendingOp::Remove { id: id.clone() });
    cx.event(
        &s.name,
        EventKind::Removing,
        None,
        format!("{}: removing container {}", s.name, short(&id)),
        json!({ "id": id }),
    );
    cx.out.push(Effect::Remove {
        slot: s.name.clone(),
        id,
    });
}

/// Clears the in-flight operation if `matches` says the answer is for it.
fn settle(s: &mut Slot, matches: impl Fn(&PendingOp) -> bool) {
    if s.in_flight.as_ref().is_some_and(|f| matches(&f.op)) {
        s.in_flight = None;
    }
}

pub(crate) fn on_created(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, generation: u64, id: &str) {
    settle(s, |op| *op == PendingOp::Create { generation });
    match &s.container {
        Some(c) if c.id == id => {}
        Some(_) => cx.extras.push((s.name.clone(), id.to_string())),
        None => {
            s.container = Some(Container {
                id: id.to_string(),
                generation,
                spec_hash: role.spec_hash.clone(),
                status: ContainerStatus::Created,
                started_at: None,
                replace: false,
                warmed_up: false,
            });
            s.rec.generation = s.rec.generation.max(generation);
            s.rec.container_id = Some(id.to_string());
            cx.event(
                &s.name,
                EventKind::Created,
                None,
                format!(
                    "{}: created generation {generation} ({})",
                    s.name,
                    short(id)
                ),
                json!({ "id": id, "generation": generation }),
            );
        }
    }
}

pub(crate) fn on_create_failed(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    generation: u64,
    error: &str,
) {
    let was_ours = s.in_flight.as_ref().map(|f| &f.op) == Some(&PendingOp::Create { generation });
    if !was_ours {
        return;
    }
    s.in_flight = None;
    // A name conflict means a container exists that we do not know: a listing adopts it.
    *cx.want_listing = true;
    cx.event(
        &s.name,
        EventKind::CreateFailed,
        None,
        format!("{}: create failed: {error}", s.name),
        json!({ "generation": generation, "error": error }),
    );
    let line = explaining_line(&[error.to_string()]);
    record_failure(
        s,
        role,
        cx,
        None,
        false,
        line,
        None,
        IncidentCause::CreateFailed,
    );
}

pub(crate) fn on_started(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, id: &str) {
    settle(s, |op| *op == PendingOp::Start { id: id.to_string() });
    let now = cx.now;
    let Some(c) = s.container.as_mut().filter(|c| c.id == id) else {
        // A start we cannot place: let a listing sort it out.
        *cx.want_listing = true;
        return;
    };
    if c.status == ContainerStatus::Running {
        return;
    }
    c.status = ContainerStatus::Running;
    c.started_at = Some(now);
    c.warmed_up = false;
    let generation = c.generation;
    s.rec.starts += 1;
    s.rec.restart = None;
    s.rec.completed = false;
    s.preflight_passed = false;
    begin_run(s, role, now);
    cx.event(
        &s.name,
        EventKind::Started,
        None,
        format!(
            "{}: started ({}, start #{})",
            s.name,
            short(id),
            s.rec.starts
        ),
        json!({ "id": id, "generation": generation, "starts": s.rec.starts }),
    );
}

/// Fresh health tracking for a run that just began (or was adopted running).
pub(crate) fn begin_run(s: &mut Slot, role: &RoleSpec, now: Millis) {
    s.probe = Default::default();
    s.probe.next_at = role.probe.as_ref().map(|p| now + p.period);
    s.unready = None;
    s.stalled_since = None;
    s.healthy_since = None;
}

pub(crate) fn on_start_failed(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, id: &str, error: &str) {
    let was_ours = s.in_flight.as_ref().map(|f| &f.op) == Some(&PendingOp::Start { id: id.into() });
    if !was_ours {
        return;
    }
    s.in_flight = None;
    cx.event(
        &s.name,
        EventKind::StartFailed,
        None,
        format!("{}: start failed: {error}", s.name),
        json!({ "id": id, "error": error }),
    );
    let line = explaining_line(&[error.to_string()]);
    record_failure(
        s,
        role,
        cx,
        None,
        false,
        line,
        None,
        IncidentCause::StartFailed,
    );
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
    settle(s, |op| {
        op.id() == Some(id) && !matches!(op, PendingOp::Remove { .. })
    });
    let now = cx.now;
    let Some(c) = s.container.as_mut().filter(|c| c.id == id) else {
        return;
    };
    if matches!(c.status, ContainerStatus::Exited { .. }) {
        return;
    }
    let uptime = c.started_at.map(|t| now.saturating_sub(t)).unwrap_or(0);
    c.status = ContainerStatus::Exited { code };
    let replace = c.replace;
    let mut line = explaining_line(lines);
    if oom_killed && line.is_none() {
        line = Some("out of memory (OOM-killed)".into());
    }
    let exit = ExitInfo {
        code: Some(code),
        oom_killed,
        at: now,
        uptime,
        line: line.clone(),
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
    match s.rec.mode {
        SlotMode::Auto => {
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
            cx.raise_with(
                &s.name,
                AlertKind::CrashLoop,
                Severity::Warning,
                &format!("crash loop: {reason}"),
                std::slice::from_ref(&reason),
            );
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

    let r = &role.restart;
    s.rec
        .failure_restarts
        .retain(|t| now.saturating_sub(*t) < r.window);
    if cl.identical_failures_to_block > 0 && count >= cl.identical_failures_to_block {
        return block(s, role, cx, reason, Actor::Drover);
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

/// Blocks the slot: no automatic action until an operator unblocks it.
pub(crate) fn block(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, reason: String, by: Actor) {
    let now = cx.now;
    s.rec.restart = None;
    s.restart_requested = false;
    let severity = match by {
        Actor::Drover => Severity::Critical,
        Actor::Operator(_) => Severity::Warning,
    };
    if by == Actor::Drover {
        cx.incidents.open(
            now,
            &s.name,
            &role.name,
            IncidentCause::Blocked,
            &reason,
            cx.out,
        );
    }
    cx.raise(&s.name, AlertKind::Blocked, severity, &reason);
    cx.event(
        &s.name,
        EventKind::Blocked,
        by.who(),
        format!("{}: blocked by {by}: {reason}", s.name),
        json!({ "reason": reason }),
    );
    s.rec.mode = SlotMode::Blocked {
        reason,
        by,
        at: now,
    };
}

pub(crate) fn on_paused(s: &mut Slot, cx: &mut Cx, id: &str) {
    settle(s, |op| *op == PendingOp::Pause { id: id.to_string() });
    if let Some(c) = s
        .container
        .as_mut()
        .filter(|c| c.id == id && c.status == ContainerStatus::Running)
    {
        c.status = ContainerStatus::Paused;
        s.health = Default::default();
        s.healthy_since = None;
        cx.event(
            &s.name,
            EventKind::Paused,
            None,
            format!("{}: paused", s.name),
            json!({ "id": id }),
        );
    }
}

pub(crate) fn on_unpaused(s: &mut Slot, cx: &mut Cx, id: &str) {
    settle(s, |op| *op == PendingOp::Unpause { id: id.to_string() });
    if let Some(c) = s
        .container
        .as_mut()
        .filter(|c| c.id == id && c.status == ContainerStatus::Paused)
    {
        c.status = ContainerStatus::Running;
        cx.event(
            &s.name,
            EventKind::Unpaused,
            None,
            format!("{}: unpaused", s.name),
            json!({ "id": id }),
        );
    }
}

pub(crate) fn on_removed(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, id: &str) {
    settle(s, |op| op.id() == Some(id));
    if s.container_id() != Some(id) {
        return;
    }
    let planned = matches!(s.rec.mode, SlotMode::Retiring)
        || s.container.as_ref().is_some_and(|c| c.replace)
        || s.rec
            .restart
            .is_some_and(|p| p.via == RecoveryStep::Recreate);
    if planned {
        s.container = None;
        s.rec.container_id = None;
        // The recreate's removal is done; what remains is an ordinary create and start.
        if let Some(plan) = s.rec.restart.as_mut() {
            plan.via = RecoveryStep::Restart;
        }
        cx.event(
            &s.name,
            EventKind::Removed,
            None,
            format!("{}: container removed", s.name),
            json!({ "id": id }),
        );
    } else {
        vanished(s, role, cx);
    }
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
    });
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

pub(crate) fn on_op_failed(
    s: &mut Slot,
    cx: &mut Cx,
    id: &str,
    op: super::model::DockerOp,
    error: &str,
) {
    use super::model::DockerOp as D;
    let ours = s.in_flight.as_ref().is_some_and(|f| {
        f.op.id() == Some(id)
            && matches!(
                (&f.op, op),
                (PendingOp::Stop { .. }, D::Stop)
                    | (PendingOp::Kill { .. }, D::Kill)
                    | (PendingOp::Pause { .. }, D::Pause)
                    | (PendingOp::Unpause { .. }, D::Unpause)
                    | (PendingOp::Remove { .. }, D::Remove)
            )
    });
    if !ours {
        return;
    }
    s.in_flight = None;
    cx.event(
        &s.name,
        EventKind::OpFailed,
        None,
        format!("{}: {op:?} failed: {error}", s.name).to_lowercase(),
        json!({ "id": id, "op": op, "error": error }),
    );
    if op == D::Stop && s.container_id() == Some(id) && cx.docker_ready {
        s.in_flight = Some(InFlight {
            op: PendingOp::Kill { id: id.to_string() },
            since: cx.now,
        });
        cx.out.push(Effect::Kill {
            slot: s.name.clone(),
            id: id.to_string(),
        });
        return;
    }
    s.hold_until = Some(cx.now + OP_RETRY_HOLD);
    *cx.want_listing = true;
}

pub(crate) fn on_preflight(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    result: &Result<(), String>,
) {
    if s.in_flight.as_ref().map(|f| &f.op) != Some(&PendingOp::Preflight) {
        return;
    }
    s.in_flight = None;
    match result {
        Ok(()) => s.preflight_passed = true,
        Err(reason) => {
            let reason = explaining_line(std::slice::from_ref(reason))
                .unwrap_or_else(|| "preflight failed".into());
            cx.event(
                &s.name,
                EventKind::PreflightFailed,
                None,
                format!("{}: preflight failed: {reason}", s.name),
                json!({ "reason": reason }),
            );
            cx.incidents.open(
                cx.now,
                &s.name,
                &role.name,
                IncidentCause::PreflightFailed,
                &reason,
                cx.out,
            );
            block(s, role, cx, reason, Actor::Drover);
        }
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

fn forget_failures(s: &mut Slot) {
    s.rec.backoff_step = 0;
    s.rec.consecutive_failures = 0;
    s.rec.streak = None;
}

/// An operator took responsibility: forget every failure count and flag.
pub(crate) fn fresh_start(s: &mut Slot, cx: &mut Cx) {
    forget_failures(s);
    s.rec.failure_restarts.clear();
    s.rec.early_failures.clear();
    s.rec.idle_exits.clear();
    s.rec.crash_looping = false;
    s.rec.idle_spinning = false;
    s.rec.completed = false;
    s.hold_until = None;
    cx.clear(&s.name, AlertKind::CrashLoop);
    if !s.is_live() {
        s.rec.restart = Some(RestartPlan {
            at: cx.now,
            via: RecoveryStep::Restart,
        });
    }
}

fn push_in_window(times: &mut Vec<Millis>, now: Millis, window: Millis, keep: u32) {
    times.retain(|t| now.saturating_sub(*t) < window);
    times.push(now);
    let excess = times.len().saturating_sub(keep.max(1) as usize);
    times.drain(..excess);
}

/// The first 12 characters of a container id.
pub(crate) fn short(id: &str) -> &str {
    super::signature::cut(id, 12)
}

/// "1.5s", "2m", "1h 5m" for event messages.
pub(crate) fn human(ms: Millis) -> String {
    if ms < 60_000 {
        let tenths = ms / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else if ms < 3_600_000 {
        let s = ms / 1_000;
        if s.is_multiple_of(60) {
            format!("{}m", s / 60)
        } else {
            format!("{}m {}s", s / 60, s % 60)
        }
    } else {
        let m = ms / 60_000;
        format!("{}h {}m", m / 60, m % 60)
    }
}
