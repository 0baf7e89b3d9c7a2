//! Operator commands: the one vocabulary shared by the TUI, `drover ctl` and the control
//! socket, and how the core applies them.
//!
//! Every command is idempotent — repeating one changes nothing and emits no Docker or alert
//! effect — and every request, repeated or not, is audited as one `command` event naming who
//! asked, why, and the reply (`accepted`, `unchanged`, `not_found`, `refused`), because the
//! audit log records requests, not only changes. Blocked, taken-over, paused and stopped slots
//! are only ever started by an explicit command. The one exception to idempotence is
//! `extend`: each request gives the current run that much more time (and is audited).

use serde_json::json;

use super::alerts::AckOutcome;
use super::effect::{Effect, EventKind, FleetEvent, RecoveryStep, RestartPlan, SlotMode};
use super::fleet::{Fleet, Scope};
use super::model::alert::AlertKind;
use super::model::command::{Command, CommandReply, CommandRequest};
use super::model::incident::Resolution;
use super::model::{Actor, Millis};
use super::policy::RoleSpec;
use super::slot::{Cx, PendingOp, Slot, block, fresh_start};

impl Fleet {
    pub(crate) fn apply_command(
        &mut self,
        now: Millis,
        req: CommandRequest,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) -> CommandReply {
        let mut effects = Vec::new();
        let reply = self.execute(now, &req, &mut effects, scope);
        let why = req
            .why
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let detail = match &reply {
            CommandReply::NotFound { what } => format!(": no such {what}"),
            CommandReply::Refused { why } => format!(": {why}"),
            _ => String::new(),
        };
        out.push(Effect::PersistEvent(FleetEvent {
            at: now,
            slot: req.command.slot().map(str::to_string),
            kind: EventKind::Command,
            who: Some(req.who.clone()),
            message: format!(
                "{}: {} {}{why} → {}{detail}",
                req.who,
                req.command.verb(),
                req.command.target(),
                reply.word()
            ),
            detail: json!({ "command": req.command, "why": req.why, "reply": reply }),
        }));
        out.extend(effects);
        reply
    }

    fn execute(
        &mut self,
        now: Millis,
        req: &CommandRequest,
        out: &mut Vec<Effect>,
        scope: &mut Scope,
    ) -> CommandReply {
        // A command for a slot on an unreachable host could not reach its container: refused
        // with the reason, never acknowledged as done. Closing an incident touches no engine.
        if !matches!(req.command, Command::CloseIncident { .. })
            && let Some(why) = req.command.slot().and_then(|s| self.host_refusal(s))
        {
            return CommandReply::Refused { why };
        }
        match &req.command {
            Command::AckAlert { alert } => match self.alerts.ack(now, alert, &req.who, out) {
                AckOutcome::Acked => CommandReply::Accepted,
                AckOutcome::AlreadyAcked => CommandReply::Unchanged,
                AckOutcome::NotFound => CommandReply::NotFound {
                    what: "alert".into(),
                },
            },
            Command::Scale { role, replicas } => self.scale(now, role, *replicas, out, scope),
            Command::ResumeGroup { group } => self.resume_group(now, group, out, scope),
            Command::ReleaseLock { task } => match self.locks.get(task) {
                None => CommandReply::NotFound {
                    what: format!("lock {task}"),
                },
                Some(l) if l.release_requested => CommandReply::Unchanged,
                Some(l) => {
                    let claim = l.claim_commit.clone();
                    self.locks.mark_release_requested(task);
                    scope.visible = true;
                    out.push(Effect::ReleaseLock {
                        task: task.clone(),
                        who: req.who.clone(),
                        why: req.why.clone(),
                        claim,
                    });
                    CommandReply::Accepted
                }
            },
            Command::CloseIncident { slot } => {
                if !self.index.contains_key(slot) {
                    return CommandReply::NotFound {
                        what: format!("slot {slot}"),
                    };
                }
                let by = Resolution::ClosedByOperator {
                    by: req.who.clone(),
                };
                if self.incidents.close(now, slot, by, out) {
                    CommandReply::Accepted
                } else {
                    CommandReply::Unchanged
                }
            }
            cmd => {
                let Some(slot) = cmd.slot() else {
                    return CommandReply::Unchanged;
                };
                let i = self.index.get(slot).copied();
                let reply = self.on_slot(i, now, out, scope, |s, role, cx| {
                    let reply = slot_command(s, role, cx, cmd, &req.who);
                    if reply == CommandReply::Accepted {
                        cx.incidents.note_operator(&s.name);
                    }
                    reply
                });
                reply.unwrap_or_else(|| CommandReply::NotFound {
                    what: format!("slot {slot}"),
                })
            }
        }
    }
}

fn mode_word(mode: &SlotMode) -> String {
    match mode {
        SlotMode::Auto => "running under drover".into(),
        SlotMode::Paused { by } => format!("paused by {by}: use resume"),
        SlotMode::Stopped { by } => format!("stopped by {by}: use start"),
        SlotMode::Blocked { reason, .. } => format!("blocked ({reason}): unblock it first"),
        SlotMode::TakenOver { by, .. } => format!("taken over by {by}: hand it back first"),
        SlotMode::Retiring => "being removed by a scale-down".into(),
    }
}

/// Starting already: a start/create/preflight in flight or a restart due now.
fn starting_now(s: &Slot, now: Millis) -> bool {
    s.in_flight.as_ref().is_some_and(|f| {
        matches!(
            f.op,
            PendingOp::Preflight | PendingOp::Create { .. } | PendingOp::Start { .. }
        )
    }) || s.rec.restart.is_some_and(|p| p.at <= now)
}

fn set_mode(s: &mut Slot, cx: &mut Cx, mode: SlotMode) {
    if matches!(s.rec.mode, SlotMode::Blocked { .. }) && !matches!(mode, SlotMode::Blocked { .. }) {
        cx.clear(&s.name, AlertKind::Blocked);
    }
    if !matches!(mode, SlotMode::Auto | SlotMode::Paused { .. }) {
        s.rec.restart = None;
        s.restart_requested = false;
        s.probe_kill = None;
    }
    s.rec.mode = mode;
}

fn slot_command(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    cmd: &Command,
    who: &str,
) -> CommandReply {
    use CommandReply::{Accepted, Refused, Unchanged};
    let op = Actor::operator(who);
    let refuse = |m: &SlotMode| Refused { why: mode_word(m) };
    match cmd {
        Command::Pause { .. } => match &s.rec.mode {
            SlotMode::Auto => {
                set_mode(s, cx, SlotMode::Paused { by: op });
                s.restart_requested = false;
                Accepted
            }
            SlotMode::Paused { .. } => Unchanged,
            m => refuse(m),
        },
        Command::Resume { .. } => match &s.rec.mode {
            SlotMode::Paused { .. } => {
                set_mode(s, cx, SlotMode::Auto);
                if !s.is_live() && s.rec.restart.is_none() && !s.rec.completed {
                    s.rec.restart = Some(RestartPlan {
                        at: cx.now,
                        via: RecoveryStep::Restart,
                    });
                }
                Accepted
            }
            SlotMode::Auto => {
                if super::throttle::resume(s, cx) {
                    Accepted
                } else {
                    Unchanged
                }
            }
            m => refuse(m),
        },
        Command::Stop { .. } => match &s.rec.mode {
            SlotMode::Stopped { .. } => Unchanged,
            SlotMode::Retiring => refuse(&s.rec.mode),
            _ => {
                set_mode(s, cx, SlotMode::Stopped { by: op });
                Accepted
            }
        },
        Command::Start { .. } => match &s.rec.mode {
            SlotMode::Auto if s.is_live() || starting_now(s, cx.now) => Unchanged,
            SlotMode::Auto | SlotMode::Stopped { .. } => {
                set_mode(s, cx, SlotMode::Auto);
                fresh_start(s, cx);
                Accepted
            }
            m => refuse(m),
        },
        Command::Restart { .. } => match &s.rec.mode {
            SlotMode::Auto | SlotMode::Paused { .. } | SlotMode::Stopped { .. } => {
                let in_auto = s.rec.mode == SlotMode::Auto;
                if in_auto && (s.restart_requested || (!s.is_live() && starting_now(s, cx.now))) {
                    return Unchanged;
                }
                set_mode(s, cx, SlotMode::Auto);
                fresh_start(s, cx);
                if s.is_live() {
                    s.restart_requested = true;
                }
                Accepted
            }
            m => refuse(m),
        },
        Command::Block { reason, .. } => match &s.rec.mode {
            SlotMode::Blocked { reason: r, .. } if r == reason => Unchanged,
            SlotMode::Retiring | SlotMode::TakenOver { .. } => refuse(&s.rec.mode),
            _ => {
                let reason = if reason.trim().is_empty() {
                    format!("blocked by {who}")
                } else {
                    reason.clone()
                };
                set_mode(s, cx, SlotMode::Auto);
                block(s, role, cx, reason, op);
                Accepted
            }
        },
        Command::Unblock { .. } => match &s.rec.mode {
            SlotMode::Blocked { .. } => {
                set_mode(s, cx, SlotMode::Auto);
                fresh_start(s, cx);
                Accepted
            }
            _ => Unchanged,
        },
        Command::TakeOver { .. } => match &s.rec.mode {
            SlotMode::TakenOver { by, .. } if by == who => Unchanged,
            SlotMode::TakenOver { .. } | SlotMode::Retiring => refuse(&s.rec.mode),
            _ => {
                let since = cx.now;
                set_mode(
                    s,
                    cx,
                    SlotMode::TakenOver {
                        by: who.to_string(),
                        since,
                    },
                );
                Accepted
            }
        },
        Command::HandBack { .. } => match &s.rec.mode {
            SlotMode::TakenOver { .. } if s.n > role.replicas => {
                // Scaled away while taken over: retire it now.
                set_mode(s, cx, SlotMode::Retiring);
                Accepted
            }
            SlotMode::TakenOver { .. } => {
                set_mode(s, cx, SlotMode::Auto);
                fresh_start(s, cx);
                Accepted
            }
            _ => Unchanged,
        },
        Command::Extend { by_ms, .. } => match super::run_limit::extend(s, *by_ms) {
            Ok(_) => Accepted,
            Err(why) => Refused { why },
        },
        _ => Unchanged,
    }
}
