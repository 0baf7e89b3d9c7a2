//! Whole-document transcripts (one JSON value for a run): mini-swe-agent `.traj.json`
//! (`messages`), OpenHands LLM completion logs (`messages` + `response`), SWE-agent `.traj`
//! (`trajectory` steps), Cline/Roo/Kilo task histories (see `cline`) and any `{"messages": [...]}`
//! chat. A harness message that follows an
//! action is that action's result; otherwise it is a reply (a prompt, a format error).

use serde_json::Value;

use super::jsonl::{chat_message, content_text, looks_failed, push_text};
use super::{Format, Turn, TurnKind};

/// Turns of a JSON document, or `None` when `input` is not one of the known documents.
pub fn parse_document(input: &[u8]) -> Option<(Format, Vec<Turn>)> {
    let v: Value = serde_json::from_slice(input).ok()?;
    if let Some(turns) = super::cline::task_turns(&v) {
        return Some((Format::ClineTask, turns));
    }
    let mut out = Vec::new();
    if let Some(steps) = v.get("trajectory").and_then(Value::as_array) {
        for step in steps {
            let s = |k: &str| step.get(k).and_then(Value::as_str).unwrap_or("");
            push_text("assistant", s("thought"), &mut out);
            if !s("action").trim().is_empty() {
                out.push(Turn::new(TurnKind::Action, s("action").trim(), false));
                let obs = s("observation");
                out.push(Turn::new(TurnKind::Result, obs, looks_failed(obs)));
            }
        }
        return Some((Format::SweAgent, out));
    }
    let messages = v.get("messages").and_then(Value::as_array)?;
    let mini = v
        .get("trajectory_format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("mini-swe-agent"))
        || v.get("info").and_then(|i| i.get("mini_version")).is_some();
    let mut pending_action = false;
    for m in messages {
        pending_action = message_turns(m, pending_action, &mut out);
    }
    if let Some(reply) = v
        .get("response")
        .and_then(|r| r.get("choices"))
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(|c| c.get("message"))
    {
        message_turns(reply, pending_action, &mut out);
    }
    let format = if mini {
        Format::MiniSweAgent
    } else if v.get("response").is_some() {
        Format::OpenHandsJson
    } else {
        Format::ChatJson
    };
    Some((format, out))
}

/// Turns of one message; returns whether an action now waits for its result.
fn message_turns(m: &Value, pending_action: bool, out: &mut Vec<Turn>) -> bool {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    match role {
        "assistant" => {
            let before = out.len();
            chat_message(m, out);
            let has_calls = out
                .get(before..)
                .unwrap_or_default()
                .iter()
                .any(|t| t.kind == TurnKind::Action);
            if has_calls {
                return true;
            }
            // Text-based harnesses: the action is the fenced command in the message.
            let text = content_text(m.get("content"));
            if let Some(cmd) = fenced_command(&text) {
                out.push(Turn::new(TurnKind::Action, &format!("bash({cmd})"), false));
                return true;
            }
            false
        }
        "tool" | "function" => {
            chat_message(m, out);
            false
        }
        "user" if pending_action => {
            let text = content_text(m.get("content"));
            let error = looks_failed(&text) || returncode_failed(&text);
            out.push(Turn::new(TurnKind::Result, &text, error));
            false
        }
        "system" | "exit" => pending_action,
        _ => {
            push_text("user", &content_text(m.get("content")), out);
            false
        }
    }
}

/// The body of the single ```bash (or ```mswea_bash_command) block of a message, if exactly one.
fn fenced_command(text: &str) -> Option<&str> {
    let mut found = None;
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = rest.get(start + 3..)?;
        let lang_end = after.find('\n')?;
        let lang = after.get(..lang_end)?.trim();
        let body_start = lang_end + 1;
        let body_len = after.get(body_start..)?.find("```")?;
        let body = after.get(body_start..body_start + body_len)?;
        if matches!(lang, "bash" | "sh" | "shell" | "mswea_bash_command") {
            if found.is_some() {
                return None;
            }
            found = Some(body.trim());
        }
        rest = after.get(body_start + body_len + 3..)?;
    }
    found
}

fn returncode_failed(text: &str) -> bool {
    text.find("<returncode>").is_some_and(|i| {
        let rest = text.get(i + "<returncode>".len()..).unwrap_or("");
        !rest.starts_with("0<")
    })
}
