//! The `:` command palette: parses a typed line (`pause implementer-2`, `scale implementer 6`,
//! `theme light`, `block implementer-1 reason text`) into a [`PaletteCommand`].
//!
//! Invariants: parsing is pure and total — every input gives a command or a message saying
//! what was expected; a slot argument is only taken as such when it names a known slot.

use crate::core::{AlertRef, Command};

/// Where a view switch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Fleet,
    Locks,
    Progress,
    Alerts,
    Events,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Fleet,
        View::Locks,
        View::Progress,
        View::Alerts,
        View::Events,
    ];

    /// For narrow headers.
    pub fn short_title(self) -> &'static str {
        match self {
            View::Fleet => "Fleet",
            View::Locks => "Locks",
            View::Progress => "Prog",
            View::Alerts => "Alrt",
            View::Events => "Evts",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Fleet => "Fleet",
            View::Locks => "Locks",
            View::Progress => "PROGRESS.md",
            View::Alerts => "Alerts",
            View::Events => "Events",
        }
    }
}

/// A parsed palette line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaletteCommand {
    /// An operator action, with the operator's optional note (`why`) for the audit log.
    Operator {
        intent: Command,
        why: Option<String>,
    },
    Theme(String),
    Filter(String),
    Sort(String),
    View(View),
    Help,
    Quit,
}

/// What the parser needs to know about the fleet.
pub struct PaletteContext<'a> {
    pub selected_slot: Option<&'a str>,
    pub selected_alert: Option<u64>,
    pub is_slot: &'a dyn Fn(&str) -> bool,
}

/// Command words, for completion and the error message.
pub const COMMANDS: &[&str] = &[
    "pause", "resume", "restart", "stop", "start", "block", "unblock", "takeover", "handback",
    "scale", "release", "ack", "extend", "theme", "filter", "sort", "fleet", "locks", "progress",
    "alerts", "events", "help", "quit", "host",
];

pub fn parse(line: &str, ctx: &PaletteContext<'_>) -> Result<PaletteCommand, String> {
    let line = line.trim().trim_start_matches(':').trim();
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let word = word.to_lowercase();
    let slot_intent = |make: fn(String) -> Command| -> Result<PaletteCommand, String> {
        let (slot, why) = slot_and_rest(rest, ctx)?;
        Ok(PaletteCommand::Operator {
            intent: make(slot),
            why,
        })
    };
    match word.as_str() {
        "" => Err(
            "type a command — e.g. pause implementer-2, scale implementer 6, theme light".into(),
        ),
        "pause" => slot_intent(|slot| Command::Pause { slot }),
        "resume" | "unpause" => slot_intent(|slot| Command::Resume { slot }),
        "restart" => slot_intent(|slot| Command::Restart { slot }),
        "stop" => slot_intent(|slot| Command::Stop { slot }),
        "start" => slot_intent(|slot| Command::Start { slot }),
        "unblock" => slot_intent(|slot| Command::Unblock { slot }),
        "takeover" | "take-over" | "take_over" => slot_intent(|slot| Command::TakeOver { slot }),
        "handback" | "hand-back" | "hand_back" => slot_intent(|slot| Command::HandBack { slot }),
        "block" => {
            let (first, after) = split_word(rest);
            let (slot, reason) = if (ctx.is_slot)(first) {
                (first.to_string(), after)
            } else {
                let slot = ctx
                    .selected_slot
                    .ok_or("block: name a slot — block <slot> <reason>")?;
                (slot.to_string(), rest)
            };
            if reason.is_empty() {
                return Err(format!(
                    "block {slot}: give a reason — block {slot} <reason>"
                ));
            }
            Ok(PaletteCommand::Operator {
                intent: Command::Block {
                    slot,
                    reason: reason.to_string(),
                },
                why: None,
            })
        }
        "scale" => {
            let mut args = rest.split_whitespace();
            let (Some(role), Some(n)) = (args.next(), args.next()) else {
                return Err("scale: scale <role> <replicas>, e.g. scale implementer 6".into());
            };
            let replicas = n
                .parse::<u32>()
                .map_err(|_| format!("scale: `{n}` is not a number of replicas"))?;
            let why = args.collect::<Vec<_>>().join(" ");
            Ok(PaletteCommand::Operator {
                intent: Command::Scale {
                    role: role.to_string(),
                    replicas,
                },
                why: non_empty(&why),
            })
        }
        "release" => {
            let (task, why) = split_word(rest);
            if task.is_empty() {
                return Err("release: release <task> [why]".into());
            }
            Ok(PaletteCommand::Operator {
                intent: Command::ReleaseLock {
                    task: task.to_string(),
                },
                why: non_empty(why),
            })
        }
        "extend" => {
            // `extend [slot] <duration> [why]`: the slot defaults to the selected one.
            let (first, after) = split_word(rest);
            let (slot, rest) = if (ctx.is_slot)(first) {
                (first.to_string(), after)
            } else {
                let slot = ctx
                    .selected_slot
                    .ok_or("extend: name a slot — extend <slot> 15m")?;
                (slot.to_string(), rest)
            };
            let (amount, why) = split_word(rest);
            let by = humantime::parse_duration(amount)
                .map_err(|_| format!("extend {slot}: give a duration, e.g. extend {slot} 15m"))?;
            Ok(PaletteCommand::Operator {
                intent: Command::Extend {
                    slot,
                    by_ms: u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
                },
                why: non_empty(why),
            })
        }
        "ack" | "acknowledge" => {
            let (id, why) = split_word(rest);
            let alert = if id.is_empty() {
                ctx.selected_alert
                    .ok_or("ack: name an alert id (see the alerts view) — ack <id>")?
            } else {
                id.parse::<u64>()
                    .map_err(|_| format!("ack: `{id}` is not an alert id"))?
            };
            Ok(PaletteCommand::Operator {
                intent: Command::AckAlert {
                    alert: AlertRef::Id(alert),
                },
                why: non_empty(why),
            })
        }
        "theme" => {
            if rest.is_empty() {
                Err("theme: theme <name> — dark, light, high-contrast, mono".into())
            } else {
                Ok(PaletteCommand::Theme(rest.to_string()))
            }
        }
        "filter" | "f" => Ok(PaletteCommand::Filter(rest.to_string())),
        // The fleet table narrowed to one host's slots (`host:NAME` as a filter term).
        "host" => match rest.split_whitespace().next() {
            Some(h) => Ok(PaletteCommand::Filter(format!("host:{h}"))),
            None => Err("host: host <name> — the slots of one [[hosts]] engine".into()),
        },
        "sort" => Ok(PaletteCommand::Sort(rest.to_lowercase())),
        "fleet" => Ok(PaletteCommand::View(View::Fleet)),
        "locks" => Ok(PaletteCommand::View(View::Locks)),
        "progress" => Ok(PaletteCommand::View(View::Progress)),
        "alerts" => Ok(PaletteCommand::View(View::Alerts)),
        "events" | "audit" => Ok(PaletteCommand::View(View::Events)),
        "help" | "h" => Ok(PaletteCommand::Help),
        "quit" | "q" => Ok(PaletteCommand::Quit),
        other => {
            let best = COMMANDS
                .iter()
                .map(|c| (strsim::levenshtein(other, c), *c))
                .min()
                .filter(|(d, _)| *d <= 2)
                .map(|(_, c)| format!(" — did you mean `{c}`?"))
                .unwrap_or_default();
            Err(format!("unknown command `{other}`{best}"))
        }
    }
}

fn split_word(s: &str) -> (&str, &str) {
    match s.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (s, ""),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

/// The slot named first in `rest` (else the selected one) and the remaining text as `why`.
fn slot_and_rest(rest: &str, ctx: &PaletteContext<'_>) -> Result<(String, Option<String>), String> {
    let (first, after) = split_word(rest);
    if first.is_empty() {
        return ctx
            .selected_slot
            .map(|s| (s.to_string(), None))
            .ok_or_else(|| "name a slot, e.g. pause implementer-2".to_string());
    }
    if (ctx.is_slot)(first) {
        Ok((first.to_string(), non_empty(after)))
    } else {
        Err(format!("no slot named `{first}`"))
    }
}

/// Completes the last word of `line`: a command word first, then slot names (given).
pub fn complete(line: &str, slots: &[&str]) -> Option<String> {
    let trimmed = line.trim_start_matches(':');
    let (head, last) = match trimmed.rsplit_once(' ') {
        Some((h, l)) => (Some(h), l),
        None => (None, trimmed),
    };
    let candidates: Vec<&str> = match head {
        None => COMMANDS.to_vec(),
        Some(_) => slots.to_vec(),
    };
    let hits: Vec<&str> = candidates
        .into_iter()
        .filter(|c| c.starts_with(last))
        .collect();
    let common = common_prefix(&hits)?;
    if common.len() <= last.len() && hits.len() != 1 {
        return None;
    }
    let suffix = if hits.len() == 1 { " " } else { "" };
    Some(match head {
        Some(h) => format!("{h} {common}{suffix}"),
        None => format!("{common}{suffix}"),
    })
}

fn common_prefix<'a>(words: &[&'a str]) -> Option<&'a str> {
    let first = *words.first()?;
    let mut end = first.len();
    for w in &words[1..] {
        end = end.min(
            first
                .char_indices()
                .zip(w.chars())
                .find(|((_, a), b)| a != b)
                .map_or(end.min(w.len()), |((i, _), _)| i),
        );
    }
    first.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_parse(line: &str) -> Result<PaletteCommand, String> {
        let is_slot = |s: &str| ["implementer-1", "implementer-2", "reviewer-1"].contains(&s);
        let ctx = PaletteContext {
            selected_slot: Some("implementer-1"),
            selected_alert: Some(77),
            is_slot: &is_slot,
        };
        parse(line, &ctx)
    }

    fn op(intent: Command, why: Option<&str>) -> PaletteCommand {
        PaletteCommand::Operator {
            intent,
            why: why.map(str::to_string),
        }
    }

    #[test]
    fn slot_commands_take_a_slot_or_the_selection() {
        assert_eq!(
            ctx_parse(":pause implementer-2"),
            Ok(op(
                Command::Pause {
                    slot: "implementer-2".into()
                },
                None
            ))
        );
        assert_eq!(
            ctx_parse("restart"),
            Ok(op(
                Command::Restart {
                    slot: "implementer-1".into()
                },
                None
            ))
        );
        assert_eq!(
            ctx_parse("stop reviewer-1 burning tokens"),
            Ok(op(
                Command::Stop {
                    slot: "reviewer-1".into()
                },
                Some("burning tokens")
            ))
        );
        assert_eq!(
            ctx_parse("pause implementer-9"),
            Err("no slot named `implementer-9`".into())
        );
        assert_eq!(
            ctx_parse("take-over implementer-2"),
            Ok(op(
                Command::TakeOver {
                    slot: "implementer-2".into()
                },
                None
            ))
        );
    }

    #[test]
    fn block_needs_a_reason_and_may_omit_the_slot() {
        assert_eq!(
            ctx_parse(":block implementer-1 reason text"),
            Ok(op(
                Command::Block {
                    slot: "implementer-1".into(),
                    reason: "reason text".into()
                },
                None
            ))
        );
        assert_eq!(
            ctx_parse("block flaky network"),
            Ok(op(
                Command::Block {
                    slot: "implementer-1".into(),
                    reason: "flaky network".into()
                },
                None
            ))
        );
        assert!(
            ctx_parse("block implementer-2")
                .unwrap_err()
                .contains("give a reason")
        );
    }

    #[test]
    fn scale_theme_ack_release_and_views() {
        assert_eq!(
            ctx_parse(":scale implementer 6"),
            Ok(op(
                Command::Scale {
                    role: "implementer".into(),
                    replicas: 6
                },
                None
            ))
        );
        assert!(
            ctx_parse("scale implementer six")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(ctx_parse("scale").is_err());
        assert_eq!(
            ctx_parse(":theme light"),
            Ok(PaletteCommand::Theme("light".into()))
        );
        assert_eq!(
            ctx_parse("ack"),
            Ok(op(
                Command::AckAlert {
                    alert: AlertRef::Id(77)
                },
                None
            ))
        );
        assert_eq!(
            ctx_parse("ack 12 seen"),
            Ok(op(
                Command::AckAlert {
                    alert: AlertRef::Id(12)
                },
                Some("seen")
            ))
        );
        assert_eq!(
            ctx_parse("release parser stale since friday"),
            Ok(op(
                Command::ReleaseLock {
                    task: "parser".into()
                },
                Some("stale since friday")
            ))
        );
        assert_eq!(ctx_parse("locks"), Ok(PaletteCommand::View(View::Locks)));
        assert_eq!(ctx_parse("q"), Ok(PaletteCommand::Quit));
        assert_eq!(
            ctx_parse("filter state:blocked"),
            Ok(PaletteCommand::Filter("state:blocked".into()))
        );
        assert_eq!(
            ctx_parse(":host gpu-1"),
            Ok(PaletteCommand::Filter("host:gpu-1".into()))
        );
    }

    #[test]
    fn unknown_commands_suggest_the_nearest() {
        assert_eq!(
            ctx_parse("puase x"),
            Err("unknown command `puase` — did you mean `pause`?".into())
        );
        assert!(ctx_parse("").is_err());
    }

    #[test]
    fn extend_takes_a_duration_for_the_named_or_selected_slot() {
        assert_eq!(
            ctx_parse("extend implementer-2 15m need the build"),
            Ok(op(
                Command::Extend {
                    slot: "implementer-2".into(),
                    by_ms: 15 * 60_000
                },
                Some("need the build")
            ))
        );
        assert_eq!(
            ctx_parse("extend 1h"),
            Ok(op(
                Command::Extend {
                    slot: "implementer-1".into(),
                    by_ms: 3_600_000
                },
                None
            ))
        );
        assert!(ctx_parse("extend implementer-2 soon").is_err());
    }

    #[test]
    fn completion_of_commands_and_slots() {
        let slots = ["implementer-1", "implementer-2", "reviewer-1"];
        assert_eq!(complete("pa", &slots).as_deref(), Some("pause "));
        assert_eq!(
            complete("re", &slots),
            None,
            "ambiguous: resume, restart, release"
        );
        assert_eq!(
            complete("res", &slots),
            None,
            "resume / restart share only `res`"
        );
        assert_eq!(
            complete("pause im", &slots).as_deref(),
            Some("pause implementer-")
        );
        assert_eq!(
            complete("pause rev", &slots).as_deref(),
            Some("pause reviewer-1 ")
        );
        assert_eq!(complete("pause zz", &slots), None);
    }
}
