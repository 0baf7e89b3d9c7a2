//! The tools `drover mcp` offers: their names, descriptions and JSON input schemas, and how
//! a call's arguments become an operator command.
//!
//! Invariants: each tool is named after the command it runs (`pause`, `fleet_status`, …) and
//! takes the slot as `slot`; action tools exist only for the commands an `--allow` list may
//! name ([`ACTIONS`]), and a server lists only the ones it was allowed.

use std::collections::BTreeSet;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::core::Command;

/// Commands an `--allow` list may enable, in the order they are listed.
pub const ACTIONS: &[&str] = &["pause", "resume", "restart", "block", "unblock", "extend"];

/// One argument of a tool.
struct Param {
    name: &'static str,
    kind: &'static str,
    required: bool,
    description: &'static str,
}

const SLOT: Param = Param {
    name: "slot",
    kind: "string",
    required: true,
    description: "The slot, e.g. `worker-1`.",
};

/// One tool: what it is called, what it does, what it takes, and whether it acts.
struct Spec {
    name: &'static str,
    description: &'static str,
    params: &'static [Param],
    action: bool,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "fleet_status",
        description: "The fleet as `drover status --json` shows it: every slot's state, health, uptime, restarts, last test run and usage, plus active alerts and locks.",
        params: &[],
        action: false,
    },
    Spec {
        name: "slot_detail",
        description: "Everything the supervisor knows about one slot (its entry in the full snapshot).",
        params: &[SLOT],
        action: false,
    },
    Spec {
        name: "recent_events",
        description: "The newest events of the audit and event log, oldest first (optionally of one slot).",
        params: &[
            Param {
                name: "slot",
                kind: "string",
                required: false,
                description: "Only this slot's events.",
            },
            Param {
                name: "limit",
                kind: "integer",
                required: false,
                description: "How many events (default 50, at most 500).",
            },
        ],
        action: false,
    },
    Spec {
        name: "log_tail",
        description: "The last lines a slot's agent printed (masked for known secrets).",
        params: &[
            SLOT,
            Param {
                name: "lines",
                kind: "integer",
                required: false,
                description: "How many lines (default 100, at most 1000).",
            },
        ],
        action: false,
    },
    Spec {
        name: "locks",
        description: "The task locks held in the upstream repo, with their holder and whether they are stale.",
        params: &[],
        action: false,
    },
    Spec {
        name: "progress",
        description: "The upstream repo's PROGRESS.md as drover last read it, with the commit it came from.",
        params: &[],
        action: false,
    },
    Spec {
        name: "report",
        description: "The reliability report and run ledger (MTTR, restarts, alerts, tests, runs, tokens and cost) over a window, as `drover report --json`.",
        params: &[Param {
            name: "since",
            kind: "string",
            required: false,
            description: "The window back from now, e.g. `24h` (default) or `7d`.",
        }],
        action: false,
    },
    Spec {
        name: "pause",
        description: "Freeze a slot's container (docker pause). Already paused: unchanged.",
        params: &[SLOT],
        action: true,
    },
    Spec {
        name: "resume",
        description: "Unfreeze a paused slot.",
        params: &[SLOT],
        action: true,
    },
    Spec {
        name: "restart",
        description: "Stop a slot's container and start it again now; failure counters are forgotten.",
        params: &[SLOT],
        action: true,
    },
    Spec {
        name: "block",
        description: "Hold a slot stopped until unblocked, with the reason shown wherever the slot is.",
        params: &[
            SLOT,
            Param {
                name: "reason",
                kind: "string",
                required: true,
                description: "Why the slot is held.",
            },
        ],
        action: true,
    },
    Spec {
        name: "unblock",
        description: "Let a blocked slot start again.",
        params: &[SLOT],
        action: true,
    },
    Spec {
        name: "extend",
        description: "Give a slot's current run more time before its role's run_timeout.",
        params: &[
            SLOT,
            Param {
                name: "duration",
                kind: "string",
                required: true,
                description: "How much more time, e.g. `15m`.",
            },
        ],
        action: true,
    },
];

/// Whether `name` is one of the action tools.
pub fn is_action(name: &str) -> bool {
    SPECS.iter().any(|s| s.action && s.name == name)
}

/// Whether `name` is a tool at all.
pub fn exists(name: &str) -> bool {
    SPECS.iter().any(|s| s.name == name)
}

fn schema(spec: &Spec) -> JsonObject {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for p in spec.params {
        properties.insert(
            p.name.to_string(),
            json!({"type": p.kind, "description": p.description}),
        );
        if p.required {
            required.push(Value::from(p.name));
        }
    }
    let mut o = serde_json::Map::new();
    o.insert("type".into(), "object".into());
    o.insert("properties".into(), Value::Object(properties));
    o.insert("required".into(), Value::Array(required));
    o.insert("additionalProperties".into(), false.into());
    o
}

/// The tools a server with `allowed` actions lists: every read tool, and those actions.
pub fn listed(allowed: &BTreeSet<String>) -> Vec<Tool> {
    SPECS
        .iter()
        .filter(|s| !s.action || allowed.contains(s.name))
        .map(|s| {
            let annotations = ToolAnnotations::new()
                .read_only(!s.action)
                .idempotent(s.name != "restart" && s.name != "extend");
            Tool::new(s.name, s.description, Arc::new(schema(s))).with_annotations(annotations)
        })
        .collect()
}

/// Why arguments were not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgError {
    #[error("`{0}` is required")]
    Missing(&'static str),
    #[error("`{0}` must be {1}")]
    Type(&'static str, &'static str),
    #[error("`duration`: {0}")]
    Duration(String),
}

/// The string argument `name`, if given.
pub fn string(args: &JsonObject, name: &'static str) -> Result<Option<String>, ArgError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ArgError::Type(name, "a string")),
    }
}

/// The non-negative integer argument `name`, if given.
pub fn integer(args: &JsonObject, name: &'static str) -> Result<Option<u64>, ArgError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or(ArgError::Type(name, "a non-negative integer")),
    }
}

fn required(args: &JsonObject, name: &'static str) -> Result<String, ArgError> {
    string(args, name)?.ok_or(ArgError::Missing(name))
}

/// The command an action tool runs, and the `why` recorded with it.
pub fn command(name: &str, args: &JsonObject) -> Result<(Command, Option<String>), ArgError> {
    let slot = required(args, "slot")?;
    let why = string(args, "reason")?;
    let command = match name {
        "pause" => Command::Pause { slot },
        "resume" => Command::Resume { slot },
        "restart" => Command::Restart { slot },
        "unblock" => Command::Unblock { slot },
        "block" => Command::Block {
            slot,
            reason: required(args, "reason")?,
        },
        "extend" => {
            let text = required(args, "duration")?;
            let by = humantime::parse_duration(&text)
                .map_err(|e| ArgError::Duration(format!("{text:?}: {e}")))?;
            Command::Extend {
                slot,
                by_ms: u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
            }
        }
        _ => return Err(ArgError::Missing("a known action")),
    };
    Ok((command, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn only_allowed_actions_are_listed() {
        let allowed: BTreeSet<String> = ["pause".to_string()].into();
        let names: Vec<String> = listed(&allowed)
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert!(names.contains(&"pause".to_string()), "{names:?}");
        assert!(names.contains(&"fleet_status".to_string()), "{names:?}");
        assert!(!names.contains(&"restart".to_string()), "{names:?}");
        assert!(ACTIONS.iter().all(|a| is_action(a)));
    }

    #[test]
    fn arguments_become_the_commands_ctl_sends() {
        let (c, why) = command(
            "block",
            &args(json!({"slot": "w-1", "reason": "flaky disk"})),
        )
        .unwrap();
        assert_eq!(
            c,
            Command::Block {
                slot: "w-1".into(),
                reason: "flaky disk".into()
            }
        );
        assert_eq!(why.as_deref(), Some("flaky disk"));
        let (c, _) = command("extend", &args(json!({"slot": "w-1", "duration": "15m"}))).unwrap();
        assert_eq!(
            c,
            Command::Extend {
                slot: "w-1".into(),
                by_ms: 900_000
            }
        );
        assert_eq!(
            command("block", &args(json!({"slot": "w-1"}))).unwrap_err(),
            ArgError::Missing("reason")
        );
        assert_eq!(
            command("pause", &args(json!({"slot": 3}))).unwrap_err(),
            ArgError::Type("slot", "a string")
        );
    }
}
