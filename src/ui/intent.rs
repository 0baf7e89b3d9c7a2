//! Operator intents: what the operator asked drover to do, before it becomes a core
//! `CommandRequest`. Knows which intents are destructive (and so ask for confirmation) and how
//! to say them in a prompt.

use std::fmt;

use crate::core::{AlertRef, Command, CommandRequest};

/// One operator action on the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    Pause { slot: String },
    Resume { slot: String },
    Restart { slot: String },
    Stop { slot: String },
    Start { slot: String },
    Block { slot: String, reason: String },
    Unblock { slot: String },
    TakeOver { slot: String },
    HandBack { slot: String },
    Scale { role: String, replicas: u32 },
    ReleaseLock { task: String },
    Acknowledge { alert: u64 },
    Extend { slot: String, by_ms: u64 },
}

impl Intent {
    /// Whether the operator must confirm first. `current_replicas` is the role's replica count
    /// now, for telling a scale-down from a scale-up.
    pub fn is_destructive(&self, current_replicas: Option<u32>) -> bool {
        match self {
            Intent::Restart { .. }
            | Intent::Stop { .. }
            | Intent::Block { .. }
            | Intent::ReleaseLock { .. } => true,
            Intent::Scale { replicas, .. } => current_replicas.is_none_or(|c| *replicas < c),
            _ => false,
        }
    }

    /// The slot the intent is about, if any.
    pub fn slot(&self) -> Option<&str> {
        match self {
            Intent::Pause { slot }
            | Intent::Resume { slot }
            | Intent::Restart { slot }
            | Intent::Stop { slot }
            | Intent::Start { slot }
            | Intent::Block { slot, .. }
            | Intent::Unblock { slot }
            | Intent::TakeOver { slot }
            | Intent::HandBack { slot }
            | Intent::Extend { slot, .. } => Some(slot),
            _ => None,
        }
    }
}

impl Intent {
    /// The core command for this intent, asked by `who` (the OS user) for `why`.
    pub fn to_request(&self, who: &str, why: Option<String>) -> CommandRequest {
        let command = match self.clone() {
            Intent::Pause { slot } => Command::Pause { slot },
            Intent::Resume { slot } => Command::Resume { slot },
            Intent::Restart { slot } => Command::Restart { slot },
            Intent::Stop { slot } => Command::Stop { slot },
            Intent::Start { slot } => Command::Start { slot },
            Intent::Block { slot, reason } => Command::Block { slot, reason },
            Intent::Unblock { slot } => Command::Unblock { slot },
            Intent::TakeOver { slot } => Command::TakeOver { slot },
            Intent::HandBack { slot } => Command::HandBack { slot },
            Intent::Scale { role, replicas } => Command::Scale { role, replicas },
            Intent::ReleaseLock { task } => Command::ReleaseLock { task },
            Intent::Acknowledge { alert } => Command::AckAlert {
                alert: AlertRef::Id(alert),
            },
            Intent::Extend { slot, by_ms } => Command::Extend { slot, by_ms },
        };
        CommandRequest {
            command,
            who: who.to_string(),
            why,
        }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Intent::Pause { slot } => write!(f, "pause {slot}"),
            Intent::Resume { slot } => write!(f, "resume {slot}"),
            Intent::Restart { slot } => write!(f, "restart {slot}"),
            Intent::Stop { slot } => write!(f, "stop {slot}"),
            Intent::Start { slot } => write!(f, "start {slot}"),
            Intent::Block { slot, reason } => write!(f, "block {slot} ({reason})"),
            Intent::Unblock { slot } => write!(f, "unblock {slot}"),
            Intent::TakeOver { slot } => write!(f, "take over {slot}"),
            Intent::HandBack { slot } => write!(f, "hand {slot} back"),
            Intent::Scale { role, replicas } => write!(f, "scale {role} to {replicas}"),
            Intent::ReleaseLock { task } => write!(f, "release the lock on {task}"),
            Intent::Acknowledge { alert } => write!(f, "acknowledge alert {alert}"),
            Intent::Extend { slot, by_ms } => write!(
                f,
                "give {slot}'s run {} more",
                crate::core::human_duration(*by_ms)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_intents_need_confirmation() {
        let s = || "implementer-1".to_string();
        assert!(Intent::Restart { slot: s() }.is_destructive(None));
        assert!(Intent::Stop { slot: s() }.is_destructive(None));
        assert!(
            Intent::Block {
                slot: s(),
                reason: "x".into()
            }
            .is_destructive(None)
        );
        assert!(Intent::ReleaseLock { task: "t".into() }.is_destructive(None));
        assert!(!Intent::Pause { slot: s() }.is_destructive(None));
        assert!(!Intent::Start { slot: s() }.is_destructive(None));
        let scale = |n| Intent::Scale {
            role: "implementer".into(),
            replicas: n,
        };
        assert!(scale(2).is_destructive(Some(4)), "scale down");
        assert!(!scale(6).is_destructive(Some(4)), "scale up");
        assert!(!scale(4).is_destructive(Some(4)));
        assert!(scale(4).is_destructive(None), "unknown role size: ask");
    }

    #[test]
    fn intents_map_to_core_commands_with_who_and_why() {
        let r = Intent::Block {
            slot: "a-1".into(),
            reason: "flaky".into(),
        }
        .to_request("ops", Some("see ticket".into()));
        assert_eq!(
            r.command,
            Command::Block {
                slot: "a-1".into(),
                reason: "flaky".into()
            }
        );
        assert_eq!(
            (r.who.as_str(), r.why.as_deref()),
            ("ops", Some("see ticket"))
        );
        let r = Intent::Acknowledge { alert: 9 }.to_request("ops", None);
        assert_eq!(
            r.command,
            Command::AckAlert {
                alert: AlertRef::Id(9)
            }
        );
    }
}
