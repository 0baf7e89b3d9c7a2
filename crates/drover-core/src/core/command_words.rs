//! How a [`Command`] is put to the operator: whether it must be confirmed first, and the words
//! of the prompt and of the reply line ("pause implementer-2", "scale implementer to 3").

use std::fmt;

use super::model::alert::AlertRef;
use super::model::command::Command;
use super::model::human;

impl Command {
    /// Whether the operator must confirm first: it stops work, loses a claim or scales down.
    /// `current_replicas` is the role's replica count now, for telling a scale-down from a
    /// scale-up (unknown: ask).
    pub fn is_destructive(&self, current_replicas: Option<u32>) -> bool {
        match self {
            Command::Restart { .. }
            | Command::Stop { .. }
            | Command::Block { .. }
            | Command::ReleaseLock { .. } => true,
            Command::Scale { replicas, .. } => current_replicas.is_none_or(|c| *replicas < c),
            _ => false,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Pause { slot } => write!(f, "pause {slot}"),
            Command::Resume { slot } => write!(f, "resume {slot}"),
            Command::Restart { slot } => write!(f, "restart {slot}"),
            Command::Stop { slot } => write!(f, "stop {slot}"),
            Command::Start { slot } => write!(f, "start {slot}"),
            Command::Block { slot, reason } => write!(f, "block {slot} ({reason})"),
            Command::Unblock { slot } => write!(f, "unblock {slot}"),
            Command::TakeOver { slot } => write!(f, "take over {slot}"),
            Command::HandBack { slot } => write!(f, "hand {slot} back"),
            Command::Scale { role, replicas } => write!(f, "scale {role} to {replicas}"),
            Command::ReleaseLock { task } => write!(f, "release the lock on {task}"),
            Command::AckAlert {
                alert: AlertRef::Id(id),
            } => write!(f, "acknowledge alert {id}"),
            Command::AckAlert {
                alert: AlertRef::Key(k),
            } => write!(
                f,
                "acknowledge the {} alert of {}",
                k.kind.name(),
                k.slot.as_deref().unwrap_or("the fleet")
            ),
            Command::CloseIncident { slot } => write!(f, "close {slot}'s incident"),
            Command::Extend { slot, by_ms } => {
                write!(f, "give {slot}'s run {} more", human(*by_ms))
            }
            Command::ResumeGroup { group } => {
                write!(f, "end the usage-limit wait of quota group {group}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_commands_need_confirmation() {
        let s = || "implementer-1".to_string();
        assert!(Command::Restart { slot: s() }.is_destructive(None));
        assert!(Command::Stop { slot: s() }.is_destructive(None));
        let block = Command::Block {
            slot: s(),
            reason: "x".into(),
        };
        assert!(block.is_destructive(None));
        assert!(Command::ReleaseLock { task: "t".into() }.is_destructive(None));
        assert!(!Command::Pause { slot: s() }.is_destructive(None));
        assert!(!Command::Start { slot: s() }.is_destructive(None));
        let scale = |n| Command::Scale {
            role: "implementer".into(),
            replicas: n,
        };
        assert!(scale(2).is_destructive(Some(4)), "scale down");
        assert!(!scale(6).is_destructive(Some(4)), "scale up");
        assert!(!scale(4).is_destructive(Some(4)));
        assert!(scale(4).is_destructive(None), "unknown role size: ask");
    }

    #[test]
    fn prompts_say_what_will_happen() {
        assert_eq!(
            Command::HandBack { slot: "a-1".into() }.to_string(),
            "hand a-1 back"
        );
        assert_eq!(
            Command::AckAlert {
                alert: AlertRef::Id(9)
            }
            .to_string(),
            "acknowledge alert 9"
        );
        assert_eq!(
            Command::Extend {
                slot: "a-1".into(),
                by_ms: 30 * 60_000
            }
            .to_string(),
            "give a-1's run 30m more"
        );
    }
}
