//! Slot lifecycle: what to do next ([`drive`]) and how each Docker answer changes the slot.
//!
//! `drive` is level-triggered: it compares what the slot's mode wants with the container as
//! last observed and issues at most one operation, and only when none is in flight and Docker
//! is synced. Results clear the in-flight operation and update the facts; the fleet then calls
//! `drive` again. So a repeated or reordered answer can never double a create or a start.

use serde_json::json;

use super::effect::{Effect, EventKind, RecoveryStep, RestartPlan, SlotMode};
use super::failure::{record_failure, vanished};
use super::model::incident::IncidentCause;
use super::model::{Actor, ContainerStatus, Millis, container_name};
use super::policy::RoleSpec;
use super::signature::{explaining_line, short};
use super::slot::{Container, Cx, InFlight, PendingOp, Slot, block, settle};

/// Pause before retrying after a failed stop/pause/unpause/remove.
pub const OP_RETRY_HOLD: Millis = 5_000;

/// Issues the next Docker operation the slot needs, if any.
pub(crate) fn drive(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    if s.in_flight.is_some()
        || s.awaiting_exit_lines()
        || !cx.docker_ready
        || s.retired
        || s.hold_until.is_some()
        || s.awaiting_listing
    {
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
    let main_hold = cx.main_hold && !role.fixes_main;
    s.main_held = false;
    let Some(c) = &s.container else {
        if s.rec.completed || s.rec.restart.is_some_and(|p| p.at > now) {
            return;
        }
        if let Some(until) = cx.budget_hold {
            return hold_for_budget(s, until);
        }
        if main_hold {
            s.main_held = true;
            return;
        }
        if role.preflight && !s.preflight_passed {
            return preflight(s, role, cx);
        }
        return create(s, role, cx);
    };
    let wants_stop =
        c.replace || s.restart_requested || s.probe_kill.is_some() || s.run_clock.timed_out;
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
                // The daily budget is spent: the next session waits for midnight UTC.
                _ if cx.budget_hold.is_some() => {
                    hold_for_budget(s, cx.budget_hold.unwrap_or(now));
                }
                // Main is red: the run ended and the next waits for green (the drain).
                _ if main_hold => s.main_held = true,
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

/// The next session is scheduled for the end of the budget hold (so no wake-up is due before).
fn hold_for_budget(s: &mut Slot, until: Millis) {
    let via = s.rec.restart.map_or(RecoveryStep::Restart, |p| p.via);
    s.rec.restart = Some(RestartPlan { at: until, via });
    s.rec.completed = false;
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
    issue(
        s,
        cx,
        PendingOp::Create {
            generation,
            spec_hash: role.spec_hash.clone(),
        },
    );
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

pub(crate) fn on_created(s: &mut Slot, role: &RoleSpec, cx: &mut Cx, generation: u64, id: &str) {
    let awaited = match s.in_flight.as_ref().map(|f| &f.op) {
        Some(PendingOp::Create {
            generation: g,
            spec_hash,
        }) if *g == generation => Some(spec_hash.clone()),
        _ => None,
    };
    if awaited.is_some() {
        s.in_flight = None;
    }
    match &s.container {
        Some(c) if c.id == id => {}
        Some(_) => cx.extras.push((s.name.clone(), id.to_string())),
        None => {
            // An answer we stopped waiting for does not say which spec it was created with.
            if awaited.is_none() {
                doubt(s, cx);
            }
            let spec_hash = awaited.unwrap_or_else(|| role.spec_hash.clone());
            s.container = Some(Container {
                id: id.to_string(),
                generation,
                replace: spec_hash != role.spec_hash,
                spec_hash,
                status: ContainerStatus::Created,
                started_at: None,
                warmed_up: false,
                watched_from: cx.now,
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
    let was_ours = matches!(
        s.in_flight.as_ref().map(|f| &f.op),
        Some(PendingOp::Create { generation: g, .. }) if *g == generation
    );
    if !was_ours {
        return;
    }
    s.in_flight = None;
    // A name conflict means a container exists that we do not know: a listing adopts it.
    doubt(s, cx);
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
    let awaited = s.in_flight.as_ref().map(|f| &f.op) == Some(&PendingOp::Start { id: id.into() });
    settle(s, |op| *op == PendingOp::Start { id: id.to_string() });
    let now = cx.now;
    let Some(c) = s.container.as_mut().filter(|c| c.id == id) else {
        // A start we cannot place: let a listing sort it out.
        doubt(s, cx);
        return;
    };
    if c.status == ContainerStatus::Running {
        return;
    }
    if matches!(c.status, ContainerStatus::Exited { .. }) && !awaited {
        // The answer to a start whose container already died (the die event overtook it),
        // or one we stopped waiting for: only a listing can tell which.
        doubt(s, cx);
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
    s.session_tokens = 0;
    s.run_tokens = Default::default();
    s.run_cost_micros = 0;
    super::throttle::on_started(s, cx);
    // A new run (a restart in place keeps the container id): its clock starts fresh.
    s.rec.run_clock = None;
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
    super::run_limit::start(s, role, now);
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
    // The container may be gone ("no such container"): a listing tells before the next try.
    doubt(s, cx);
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
    doubt(s, cx);
}

/// The slot's knowledge is doubtful: hold Docker operations until a listing was reconciled.
pub(crate) fn doubt(s: &mut Slot, cx: &mut Cx) {
    s.awaiting_listing = true;
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
