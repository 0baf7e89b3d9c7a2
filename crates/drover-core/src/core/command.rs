//! Operator commands: the one vocabulary shared by the TUI, `drover ctl` and the control
//! socket, and how the core applies them.
//!
//! Every command is idempotent — repeating one changes nothing and emits no Docker or alert
//! effect — and every request, repeated or not, is audited as one `command` event naming who
//! asked, why, and the reply (`accepted`, `unchanged`, `not_found`, `refused`), because the
//! audit log records requests, not only changes. Blocked, taken-over, paused and stopped slots
//! are only ever started by an explicit command. The one exception to idempotence is
//! `extend`: each request gives the current run that much more time (and is audited).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::alerts::{AckOutcome, AlertKind, AlertRef};
use super::effect::{Effect, EventKind, FleetEvent, RecoveryStep, RestartPlan, SlotMode};
use super::failure::{block, fresh_start, human};
use super::fleet::{Fleet, Scope};
use super::incidents::Resolution;
use super::model::{Actor, Millis};
use super::policy::RoleSpec;
use super::slot::{Cx, PendingOp, Slot};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Freeze the container (docker pause) and hold the slot.
    Pause {
        slot: String,
    },
    Resume {
        slot: String,
    },
    /// Stop and start again at once; failure counters are forgotten.
    Restart {
        slot: String,
    },
    Stop {
        slot: String,
    },
    Start {
        slot: String,
    },
    Block {
        slot: String,
        reason: String,
    },
    Unblock {
        slot: String,
    },
    /// Suspend supervision so the operator can work in the container.
    TakeOver {
        slot: String,
    },
    HandBack {
        slot: String,
    },
    AckAlert {
        alert: AlertRef,
    },
    Scale {
        role: String,
        replicas: u32,
    },
    CloseIncident {
        slot: String,
    },
    ReleaseLock {
        task: String,
    },
    /// Give the slot's current run more time before its `run_timeout`.
    Extend {
        slot: String,
        by_ms: Millis,
    },
}

impl Command {
    /// The verb as typed in `drover ctl` / the command palette.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Pause { .. } => "pause",
            Command::Resume { .. } => "resume",
            Command::Restart { .. } => "restart",
            Command::Stop { .. } => "stop",
            Command::Start { .. } => "start",
            Command::Block { .. } => "block",
            Command::Unblock { .. } => "unblock",
            Command::TakeOver { .. } => "takeover",
            Command::HandBack { .. } => "handback",
            Command::AckAlert { .. } => "ack",
            Command::Scale { .. } => "scale",
            Command::CloseIncident { .. } => "close-incident",
            Command::ReleaseLock { .. } => "release-lock",
            Command::Extend { .. } => "extend",
        }
    }

    /// The slot a slot command targets.
    pub fn slot(&self) -> Option<&str> {
        match self {
            Command::Pause { slot }
            | Command::Resume { slot }
            | Command::Restart { slot }
            | Command::Stop { slot }
            | Command::Start { slot }
            | Command::Block { slot, .. }
            | Command::Unblock { slot }
            | Command::TakeOver { slot }
            | Command::HandBack { slot }
            | Command::CloseIncident { slot }
            | Command::Extend { slot, .. } => Some(slot),
            _ => None,
        }
    }

    fn target(&self) -> String {
        match self {
            Command::AckAlert {
                alert: AlertRef::Id(id),
            } => format!("alert {id}"),
            Command::AckAlert {
                alert: AlertRef::Key(k),
            } => {
                format!(
                    "alert {} {}",
                    k.slot.as_deref().unwrap_or("fleet"),
                    k.kind.name()
                )
            }
            Command::Scale { role, replicas } => format!("{role} to {replicas}"),
            Command::ReleaseLock { task } => format!("lock {task}"),
            Command::Extend { slot, by_ms } => format!("{slot} by {}", human(*by_ms)),
            other => other.slot().unwrap_or_default().to_string(),
        }
    }
}

/// A command with who asked (the OS user) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRequest {
    pub command: Command,
    pub who: String,
    pub why: Option<String>,
}

impl CommandRequest {
    pub fn new(command: Command, who: impl Into<String>) -> Self {
        Self {
            command,
            who: who.into(),
            why: None,
        }
    }

    pub fn because(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }
}

/// How a command went; `drover ctl` maps these to exit codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum CommandReply {
    Accepted,
    /// Already in the requested state: nothing to do.
    Unchanged,
    /// No such slot, role, alert or lock.
    NotFound {
        what: String,
    },
    Refused {
        why: String,
    },
    /// The command took effect but its record could not be committed to the store (a full
    /// disk): not acknowledged. The store keeps retrying the record in the background.
    NotStored {
        error: String,
    },
}

impl CommandReply {
    fn word(&self) -> &'static str {
        match self {
            CommandReply::Accepted => "accepted",
            CommandReply::Unchanged => "unchanged",
            CommandReply::NotFound { .. } => "not_found",
            CommandReply::Refused { .. } => "refused",
            CommandReply::NotStored { .. } => "not_stored",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CommandOutcome {
    pub reply: CommandReply,
    pub effects: Vec<Effect>,
}

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
