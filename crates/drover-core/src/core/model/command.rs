//! What an operator command is, as every face sends it (`CommandRequest`: the command, who
//! and why) and as the core answers it; the rules that carry commands out are `command`.

use serde::{Deserialize, Serialize};

use super::super::effect::Effect;
use super::Millis;
use super::alert::AlertRef;
use super::human;

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
    /// End the usage-limit throttle of every slot of a quota group at once.
    ResumeGroup {
        group: String,
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
            Command::ResumeGroup { .. } => "resume-group",
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

    pub(crate) fn target(&self) -> String {
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
            Command::ResumeGroup { group } => format!("quota group {group}"),
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
    pub(crate) fn word(&self) -> &'static str {
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
