//! `drover ctl`: one operator command to the running daemon, by slot or by role (every slot of
//! the role), answered with the core's reply and a documented exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::remote::{self, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, RemoteFailure};
use crate::control::client::Connection;
use crate::control::protocol::{Reply, Request};
use crate::control::view::{AlertStatus, StatusView};
use crate::core::{AlertRef, Command, CommandReply, CommandRequest};

const EXIT_CODES: &str = "Exit codes: 0 done (or already so), 1 other error, 2 usage, \
3 daemon not running, 4 no such slot/role/task/alert, 5 refused by drover.";

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct CtlArgs {
    #[command(subcommand)]
    pub command: CtlCommand,
    /// Why (recorded in the audit log; required for `block`).
    #[arg(long, global = true)]
    pub reason: Option<String>,
    /// Print the replies as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Control socket to use instead of the configured fleet's.
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The running fleet to talk to, by name (see `drover ls`), whatever config is around.
    #[arg(long, global = true, value_name = "NAME")]
    pub fleet: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Freeze a slot's container (docker pause).
    Pause {
        target: String,
    },
    /// Resume a paused slot, or end a usage-limit wait now: of one slot (or role), or of a
    /// whole quota group with `--group`.
    Resume {
        #[arg(required_unless_present = "group", conflicts_with = "group")]
        target: Option<String>,
        /// Every slot of this quota group (`quota_group`, else the role's name) that waits
        /// out a usage limit starts again now.
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
    },
    /// Stop and start again now; failure counters are forgotten.
    Restart {
        target: String,
    },
    Stop {
        target: String,
    },
    Start {
        target: String,
    },
    /// Hold a slot stopped until unblocked (needs --reason).
    Block {
        target: String,
    },
    /// Lift blocks: of the slots named, and of every blocked slot of `--role`.
    Unblock {
        #[arg(value_name = "SLOT")]
        targets: Vec<String>,
        /// Every blocked slot of this role.
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
    },
    /// Suspend supervision of a slot so you can work in its container.
    Takeover {
        target: String,
    },
    Handback {
        target: String,
    },
    /// Remove a task's lock file upstream.
    ReleaseLock {
        task: String,
    },
    /// Acknowledge an alert: its id, or `<slot>/<kind>` (`fleet/<kind>` for fleet-wide ones).
    Ack {
        alert: String,
    },
    /// Set a role's replica count.
    Scale {
        role: String,
        replicas: u32,
    },
    /// Close a slot's open incident by hand.
    CloseIncident {
        target: String,
    },
    /// Give a slot's current run more time before its role's `run_timeout` (e.g. `15m`).
    Extend {
        target: String,
        #[arg(value_parser = humantime::parse_duration)]
        by: std::time::Duration,
    },
}

/// Builds a slot command for one slot.
type MakeCommand = fn(String) -> Command;

/// One command sent, and what came back.
struct Outcome {
    target: String,
    reply: CommandReply,
}

fn exit_for(reply: &CommandReply) -> u8 {
    match reply {
        CommandReply::Accepted | CommandReply::Unchanged => EXIT_OK,
        CommandReply::NotFound { .. } => EXIT_NOT_FOUND,
        CommandReply::Refused { .. } => EXIT_REFUSED,
        CommandReply::NotStored { .. } => EXIT_FAILURE,
    }
}

pub async fn ctl(args: CtlArgs, config: Option<&Path>) -> ExitCode {
    let json = args.json;
    match run(args, config).await {
        Ok((outcomes, code)) => {
            if json {
                let results: Vec<_> = outcomes
                    .iter()
                    .map(|o| json!({"target": o.target, "reply": o.reply}))
                    .collect();
                println!(
                    "{}",
                    json!({"ok": code == EXIT_OK, "code": code, "results": results})
                );
            } else {
                for o in &outcomes {
                    let text = match &o.reply {
                        CommandReply::Accepted => "accepted".to_string(),
                        CommandReply::Unchanged => "unchanged (already so)".to_string(),
                        CommandReply::NotFound { what } => format!("not found: {what}"),
                        CommandReply::Refused { why } => format!("refused: {why}"),
                        CommandReply::NotStored { error } => {
                            format!("NOT STORED (in effect, not yet recorded): {error}")
                        }
                    };
                    println!("{}: {text}", o.target);
                }
            }
            ExitCode::from(code)
        }
        Err(e) => {
            if json {
                let code = match &e {
                    RemoteFailure::NotRunning(_) => remote::EXIT_NOT_RUNNING,
                    RemoteFailure::Usage(_) => remote::EXIT_USAGE,
                    RemoteFailure::Other(_) => EXIT_FAILURE,
                };
                println!(
                    "{}",
                    json!({"ok": false, "code": code, "error": format!("{e:#}")})
                );
            } else {
                eprintln!("drover ctl: {e:#}");
            }
            e.code()
        }
    }
}

async fn status(conn: &Connection) -> Result<StatusView, RemoteFailure> {
    match conn.call(Request::Status).await? {
        Reply::Status(s) => Ok(*s),
        other => Err(anyhow::anyhow!("unexpected reply {other:?}").into()),
    }
}

/// The slots `target` names: the slot itself, else every slot of the role of that name.
fn expand(target: &str, status: &StatusView) -> Vec<String> {
    if status.slots.iter().any(|s| s.slot == target) {
        return vec![target.to_string()];
    }
    let of_role: Vec<String> = status
        .slots
        .iter()
        .filter(|s| s.role == target)
        .map(|s| s.slot.clone())
        .collect();
    if of_role.is_empty() {
        // Let the core answer `not_found` (and audit the attempt).
        vec![target.to_string()]
    } else {
        of_role
    }
}

fn alert_ref(spec: &str, status: &StatusView) -> Result<AlertRef, CommandReply> {
    resolve_alert(spec, &status.alerts)
}

/// The alert `spec` names: an id, or the `<slot>/<kind>` key `status` shows (`fleet/<kind>`
/// for fleet-wide ones). A key that fits several alerts (one `loop` alert per detector, one
/// `stale_lock` per task) is refused with the matches listed, so an ack never lands on an
/// alert the operator did not mean.
fn resolve_alert(spec: &str, alerts: &[AlertStatus]) -> Result<AlertRef, CommandReply> {
    if let Ok(id) = spec.parse::<u64>() {
        return Ok(AlertRef::Id(id));
    }
    let Some((slot, kind)) = spec.split_once('/') else {
        return Err(CommandReply::NotFound {
            what: format!("`{spec}` is neither an alert id nor <slot>/<kind>"),
        });
    };
    let slot = (slot != "fleet").then_some(slot);
    let matches: Vec<&AlertStatus> = alerts
        .iter()
        .filter(|a| a.slot.as_deref() == slot && a.kind == kind)
        .collect();
    match matches.as_slice() {
        [] => Err(CommandReply::NotFound {
            what: format!("no active alert {spec}"),
        }),
        [one] => Ok(AlertRef::Id(one.id)),
        many => Err(CommandReply::Refused {
            why: format!(
                "{spec} matches {} alerts; none was acknowledged. Acknowledge one by its id: {}",
                many.len(),
                many.iter()
                    .map(|a| format!("{} ({})", a.id, a.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }),
    }
}

async fn run(args: CtlArgs, config: Option<&Path>) -> Result<(Vec<Outcome>, u8), RemoteFailure> {
    let path = remote::socket(config, args.socket.as_deref())?;
    let (conn, _pushes) = remote::connect(&path, "ctl").await?;
    let who = crate::ui::os_user();
    let why = args.reason.clone();
    let slot_cmd: Option<(String, MakeCommand)> = match &args.command {
        CtlCommand::Pause { target } => Some((target.clone(), |slot| Command::Pause { slot })),
        CtlCommand::Resume {
            target: Some(target),
            ..
        } => Some((target.clone(), |slot| Command::Resume { slot })),
        CtlCommand::Restart { target } => Some((target.clone(), |slot| Command::Restart { slot })),
        CtlCommand::Stop { target } => Some((target.clone(), |slot| Command::Stop { slot })),
        CtlCommand::Start { target } => Some((target.clone(), |slot| Command::Start { slot })),
        CtlCommand::Takeover { target } => {
            Some((target.clone(), |slot| Command::TakeOver { slot }))
        }
        CtlCommand::Handback { target } => {
            Some((target.clone(), |slot| Command::HandBack { slot }))
        }
        CtlCommand::CloseIncident { target } => {
            Some((target.clone(), |slot| Command::CloseIncident { slot }))
        }
        _ => None,
    };
    let mut requests: Vec<(String, Command)> = Vec::new();
    if let Some((target, make)) = slot_cmd {
        let st = status(&conn).await?;
        requests.extend(
            expand(&target, &st)
                .into_iter()
                .map(|s| (s.clone(), make(s))),
        );
    } else {
        match args.command {
            CtlCommand::Block { target } => {
                let Some(reason) = why.clone() else {
                    return Err(RemoteFailure::Usage(
                        "block needs --reason \"...\" (it is shown wherever the slot is)".into(),
                    ));
                };
                let st = status(&conn).await?;
                for slot in expand(&target, &st) {
                    requests.push((
                        slot.clone(),
                        Command::Block {
                            slot,
                            reason: reason.clone(),
                        },
                    ));
                }
            }
            CtlCommand::Unblock { targets, role } => {
                if targets.is_empty() && role.is_none() {
                    return Err(RemoteFailure::Usage(
                        "unblock needs slots or --role ROLE".into(),
                    ));
                }
                let st = status(&conn).await?;
                let mut slots: Vec<String> = Vec::new();
                for t in &targets {
                    slots.extend(expand(t, &st));
                }
                if let Some(role) = &role {
                    let blocked = st
                        .slots
                        .iter()
                        .filter(|s| &s.role == role && s.state == "blocked")
                        .map(|s| s.slot.clone())
                        .collect::<Vec<_>>();
                    if blocked.is_empty() && !st.slots.iter().any(|s| &s.role == role) {
                        slots.push(role.clone());
                    }
                    slots.extend(blocked);
                }
                slots.dedup();
                for slot in slots {
                    requests.push((slot.clone(), Command::Unblock { slot }));
                }
            }
            CtlCommand::ReleaseLock { task } => {
                requests.push((task.clone(), Command::ReleaseLock { task }))
            }
            CtlCommand::Resume {
                group: Some(group), ..
            } => requests.push((group.clone(), Command::ResumeGroup { group })),
            CtlCommand::Extend { target, by } => {
                let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
                let st = status(&conn).await?;
                for slot in expand(&target, &st) {
                    requests.push((slot.clone(), Command::Extend { slot, by_ms }));
                }
            }
            CtlCommand::Scale { role, replicas } => {
                requests.push((role.clone(), Command::Scale { role, replicas }))
            }
            CtlCommand::Ack { alert } => {
                let st = status(&conn).await?;
                match alert_ref(&alert, &st) {
                    Ok(r) => requests.push((alert.clone(), Command::AckAlert { alert: r })),
                    Err(reply) => {
                        let code = exit_for(&reply);
                        return Ok((
                            vec![Outcome {
                                target: alert,
                                reply,
                            }],
                            code,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let mut outcomes = Vec::new();
    let mut code = EXIT_OK;
    for (target, command) in requests {
        let req = CommandRequest {
            command,
            who: who.clone(),
            why: why.clone(),
        };
        let reply = match conn.call(Request::Command(req)).await? {
            Reply::Command(r) => r,
            other => return Err(anyhow::anyhow!("unexpected reply {other:?}").into()),
        };
        code = code.max(exit_for(&reply));
        outcomes.push(Outcome { target, reply });
    }
    Ok((outcomes, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn ctl(args: &[&str]) -> CtlArgs {
        let cli = crate::cli::Cli::try_parse_from(args).unwrap();
        match cli.command {
            Some(crate::cli::Command::Ctl(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unblock_takes_several_slots_and_a_role_and_any_client_takes_a_fleet() {
        let a = ctl(&[
            "drover", "ctl", "unblock", "worker-1", "worker-3", "--role", "crasher", "--fleet",
            "demo",
        ]);
        match a.command {
            CtlCommand::Unblock { targets, role } => {
                assert_eq!(targets, ["worker-1", "worker-3"]);
                assert_eq!(role.as_deref(), Some("crasher"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a.fleet.as_deref(), Some("demo"));
        match ctl(&["drover", "ctl", "resume", "--group", "team"]).command {
            CtlCommand::Resume { target, group } => {
                assert_eq!((target, group.as_deref()), (None, Some("team")));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            crate::cli::Cli::try_parse_from(["drover", "ctl", "resume"]).is_err(),
            "resume needs a slot or --group"
        );
        let cli = crate::cli::Cli::try_parse_from(["drover", "ls"]).unwrap();
        assert!(matches!(cli.command, Some(crate::cli::Command::Ls)));
        for sub in ["status", "events", "attach"] {
            assert!(
                crate::cli::Cli::try_parse_from(["drover", sub, "--fleet", "demo"]).is_ok(),
                "{sub} --fleet"
            );
        }
    }

    fn alert(id: u64, slot: Option<&str>, kind: &str, message: &str) -> AlertStatus {
        AlertStatus {
            id,
            key: crate::control::view::alert_key(slot, kind),
            slot: slot.map(str::to_string),
            kind: kind.into(),
            severity: "warning".into(),
            since: 0,
            acked: false,
            message: message.into(),
        }
    }

    #[test]
    fn an_ambiguous_alert_key_lists_its_matches_and_acknowledges_none() {
        let alerts = [
            alert(11, Some("looper-1"), "loop", "output repeats"),
            alert(12, Some("looper-1"), "loop", "same tool call"),
            alert(13, Some("looper-1"), "stall", "silent"),
            alert(14, None, "docker_down", "no engine"),
        ];
        match resolve_alert("looper-1/loop", &alerts) {
            Err(CommandReply::Refused { why }) => {
                assert!(why.contains("matches 2 alerts"), "{why}");
                assert!(why.contains("11 (output repeats)"), "{why}");
                assert!(why.contains("12 (same tool call)"), "{why}");
                assert!(why.contains("none was acknowledged"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve_alert("looper-1/stall", &alerts),
            Ok(AlertRef::Id(13))
        );
        assert_eq!(
            resolve_alert("fleet/docker_down", &alerts),
            Ok(AlertRef::Id(14))
        );
        assert_eq!(resolve_alert("12", &alerts), Ok(AlertRef::Id(12)));
        assert!(matches!(
            resolve_alert("looper-1/budget", &alerts),
            Err(CommandReply::NotFound { .. })
        ));
        // The key status shows is the key ack takes.
        for a in &alerts {
            if a.kind != "loop" {
                assert_eq!(resolve_alert(&a.key, &alerts), Ok(AlertRef::Id(a.id)));
            }
        }
    }
}
