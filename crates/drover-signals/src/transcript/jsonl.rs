//! One JSON event line → turns: Claude Code (`stream-json` and session files), Codex
//! (`exec --json` events and session `response_item`s), Gemini CLI `stream-json`, OpenHands
//! events and OpenAI-style chat messages. Unknown objects give no turn (usage lines, hooks,
//! snapshots are bookkeeping, not conversation).

use serde_json::Value;

use super::{Format, Turn, TurnKind};

/// Turns of one event; `None` when the object is no known transcript event.
pub(super) fn event_turns(v: &Value, out: &mut Vec<Turn>) -> Option<Format> {
    if let Some(items) = v.as_array() {
        return array_turns(items, out);
    }
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        // Claude Code
        "assistant" | "user" if v.get("message").is_some() => {
            let message = v.get("message")?;
            let role = message.get("role").and_then(Value::as_str).unwrap_or(ty);
            claude_content(role, message.get("content")?, out);
            Some(Format::ClaudeJson)
        }
        "system" if v.get("subtype").and_then(Value::as_str) == Some("init") => {
            out.push(Turn::session());
            Some(Format::ClaudeJson)
        }
        // Codex exec --json
        "thread.started" => {
            out.push(Turn::session());
            Some(Format::CodexJson)
        }
        "item.completed" => {
            codex_item(v.get("item")?, out);
            Some(Format::CodexJson)
        }
        // Codex session files
        "session_meta" => {
            out.push(Turn::session());
            Some(Format::CodexJson)
        }
        "response_item" => {
            codex_response_item(v.get("payload")?, out);
            Some(Format::CodexJson)
        }
        // Gemini CLI stream-json
        "init" if v.get("session_id").is_some() => {
            out.push(Turn::session());
            Some(Format::GeminiJson)
        }
        // An Anthropic API message (what harnesses print of Claude Code's stream).
        "message" if v.get("role").is_some() && v.get("content").is_some_and(Value::is_array) => {
            let role = v.get("role").and_then(Value::as_str).unwrap_or("");
            claude_content(role, v.get("content")?, out);
            Some(Format::ClaudeJson)
        }
        "message" if v.get("role").is_some() && v.get("content").is_some_and(Value::is_string) => {
            let text = v.get("content").and_then(Value::as_str).unwrap_or("");
            let role = v.get("role").and_then(Value::as_str).unwrap_or("");
            push_text(role, text, out);
            Some(Format::GeminiJson)
        }
        "tool_use" if v.get("tool_name").is_some() => {
            let name = v.get("tool_name").and_then(Value::as_str).unwrap_or("?");
            let params = v
                .get("parameters")
                .map(Value::to_string)
                .unwrap_or_default();
            out.push(Turn::new(
                TurnKind::Action,
                &format!("{name}({params})"),
                false,
            ));
            Some(Format::GeminiJson)
        }
        "tool_result" if v.get("tool_id").is_some() => {
            let error = v.get("status").and_then(Value::as_str) == Some("error");
            let text = v
                .get("output")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    v.get("error")
                        .and_then(|e| e.get("message"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            out.push(Turn::new(TurnKind::Result, &text, error));
            Some(Format::GeminiJson)
        }
        _ => other_event(v, out),
    }
}

/// A pretty-printed JSON array: the content blocks of one Claude message (`text`, `tool_use`,
/// `tool_result`), as session exports print each message under its heading, or a list of
/// events. A message holding tool results is the user's side (results, the person's words);
/// any other is the assistant's. Tool uses and results keep their ids, so a poll and its
/// answer pair up however the export orders them.
fn array_turns(items: &[Value], out: &mut Vec<Turn>) -> Option<Format> {
    const BLOCKS: [&str; 5] = ["text", "tool_use", "tool_result", "thinking", "image"];
    let block_type = |i: &Value| {
        i.get("type")
            .and_then(Value::as_str)
            .filter(|t| BLOCKS.contains(t))
            .map(str::to_string)
    };
    if !items.is_empty() && items.iter().all(|i| block_type(i).is_some()) {
        let user = items
            .iter()
            .any(|i| block_type(i).as_deref() == Some("tool_result"));
        let content = Value::Array(items.to_vec());
        claude_content(if user { "user" } else { "assistant" }, &content, out);
        return Some(Format::ClaudeJson);
    }
    let mut format = None;
    for item in items.iter().filter(|i| i.is_object()) {
        format = event_turns(item, out).or(format);
    }
    format
}

/// OpenHands events (`action` / `observation`) and chat messages (`role`).
fn other_event(v: &Value, out: &mut Vec<Turn>) -> Option<Format> {
    if let Some(action) = v.get("action").and_then(Value::as_str) {
        let args = v.get("args");
        match action {
            "message" => {
                let text = args
                    .and_then(|a| a.get("content"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let source = v.get("source").and_then(Value::as_str).unwrap_or("agent");
                push_text(
                    if source == "user" {
                        "user"
                    } else {
                        "assistant"
                    },
                    text,
                    out,
                );
            }
            "system" | "recall" | "change_agent_state" => {}
            _ => {
                let body = args.map(Value::to_string).unwrap_or_default();
                out.push(Turn::new(
                    TurnKind::Action,
                    &format!("{action}({body})"),
                    false,
                ));
            }
        }
        return Some(Format::OpenHandsJson);
    }
    if let Some(obs) = v.get("observation").and_then(Value::as_str) {
        if matches!(obs, "agent_state_changed" | "recall" | "null") {
            return Some(Format::OpenHandsJson);
        }
        let content = v.get("content").and_then(Value::as_str).unwrap_or("");
        let exit = v
            .get("extras")
            .and_then(|e| e.get("metadata"))
            .and_then(|m| m.get("exit_code"))
            .and_then(Value::as_i64);
        let error = obs == "error" || exit.is_some_and(|c| c != 0);
        out.push(Turn::new(TurnKind::Result, content, error));
        return Some(Format::OpenHandsJson);
    }
    if v.get("role").is_some() {
        chat_message(v, out);
        return Some(Format::ChatJson);
    }
    None
}

/// An OpenAI-style chat message: `role`, `content` (string or parts), `tool_calls`.
pub(super) fn chat_message(m: &Value, out: &mut Vec<Turn>) {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    let text = content_text(m.get("content"));
    match role {
        "system" => {}
        "tool" | "function" => out.push(Turn::new(TurnKind::Result, &text, looks_failed(&text))),
        "assistant" => {
            push_text("assistant", &text, out);
            if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    let f = call.get("function").unwrap_or(call);
                    let name = f.get("name").and_then(Value::as_str).unwrap_or("?");
                    let args = match f.get("arguments") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    out.push(Turn::new(
                        TurnKind::Action,
                        &format!("{name}({args})"),
                        false,
                    ));
                }
            }
        }
        _ => push_text("user", &text, out),
    }
}

fn claude_content(role: &str, content: &Value, out: &mut Vec<Turn>) {
    let Some(items) = content.as_array() else {
        push_text(role, content.as_str().unwrap_or(""), out);
        return;
    };
    for item in items {
        match item.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => push_text(
                role,
                item.get("text").and_then(Value::as_str).unwrap_or(""),
                out,
            ),
            "tool_use" => {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("?");
                let input = item.get("input").map(Value::to_string).unwrap_or_default();
                out.push(
                    Turn::new(TurnKind::Action, &format!("{name}({input})"), false)
                        .with_call(item.get("id").and_then(Value::as_str)),
                );
            }
            "tool_result" => {
                let text = content_text(item.get("content"));
                let error = item
                    .get("is_error")
                    .is_some_and(|e| e.as_bool() == Some(true) || e.as_str() == Some("True"));
                out.push(
                    Turn::new(TurnKind::Result, &text, error)
                        .with_call(item.get("tool_use_id").and_then(Value::as_str)),
                );
            }
            _ => {}
        }
    }
}

fn codex_item(item: &Value, out: &mut Vec<Turn>) {
    let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
    match s("type") {
        "agent_message" => push_text("assistant", s("text"), out),
        "command_execution" => {
            out.push(Turn::new(
                TurnKind::Action,
                &format!("shell({})", s("command")),
                false,
            ));
            let exit = item.get("exit_code").and_then(Value::as_i64);
            out.push(Turn::new(
                TurnKind::Result,
                s("aggregated_output"),
                exit.is_some_and(|c| c != 0),
            ));
        }
        "file_change" => {
            let changes = item
                .get("changes")
                .map(Value::to_string)
                .unwrap_or_default();
            out.push(Turn::new(
                TurnKind::Action,
                &format!("patch({changes})"),
                false,
            ));
            out.push(Turn::new(
                TurnKind::Result,
                s("status"),
                s("status") == "failed",
            ));
        }
        "mcp_tool_call" => {
            let args = item
                .get("arguments")
                .map(Value::to_string)
                .unwrap_or_default();
            out.push(Turn::new(
                TurnKind::Action,
                &format!("{}.{}({args})", s("server"), s("tool")),
                false,
            ));
            let result = item
                .get("result")
                .or_else(|| item.get("error"))
                .map(Value::to_string)
                .unwrap_or_default();
            out.push(Turn::new(
                TurnKind::Result,
                &result,
                item.get("error").is_some(),
            ));
        }
        "error" => out.push(Turn::new(TurnKind::Reply, s("message"), true)),
        _ => {}
    }
}

fn codex_response_item(p: &Value, out: &mut Vec<Turn>) {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
    match s("type") {
        "message" => {
            let text = content_text(p.get("content"));
            push_text(s("role"), &text, out);
        }
        "function_call" | "custom_tool_call" | "local_shell_call" => {
            let args = match p.get("arguments").or_else(|| p.get("input")) {
                Some(Value::String(a)) => a.clone(),
                Some(other) => other.to_string(),
                None => p.get("action").map(Value::to_string).unwrap_or_default(),
            };
            out.push(
                Turn::new(TurnKind::Action, &format!("{}({args})", s("name")), false)
                    .with_call(p.get("call_id").and_then(Value::as_str)),
            );
        }
        "function_call_output" | "custom_tool_call_output" => {
            let text = match p.get("output") {
                Some(Value::String(o)) => o.clone(),
                Some(other) => other
                    .get("content")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| other.to_string()),
                None => String::new(),
            };
            out.push(
                Turn::new(TurnKind::Result, &text, looks_failed(&text))
                    .with_call(p.get("call_id").and_then(Value::as_str)),
            );
        }
        _ => {}
    }
}

/// Assistant text becomes text turns (one per non-blank line, so chants inside one message
/// are seen); anything else a person or harness wrote is one reply.
pub(super) fn push_text(role: &str, text: &str, out: &mut Vec<Turn>) {
    if role == "assistant" || role == "model" {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            Turn::push_text_line(TurnKind::Text, line, out);
        }
    } else if !text.trim().is_empty() {
        out.push(Turn::new(TurnKind::Reply, text, false));
    }
}

/// Text of a `content` field: a string, or the `text` of its parts.
pub(super) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut s = String::new();
            for p in parts {
                let t = p
                    .get("text")
                    .and_then(Value::as_str)
                    .or_else(|| p.as_str())
                    .unwrap_or("");
                if !t.is_empty() {
                    if !s.is_empty() {
                        s.push('\n');
                    }
                    s.push_str(t);
                }
            }
            s
        }
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A tool output that reports failure in its own words.
pub(super) fn looks_failed(text: &str) -> bool {
    let head = super::first_line(text).to_ascii_lowercase();
    head.starts_with("error")
        || head.contains("exit code 1")
        || head.starts_with("traceback")
        || head.contains("command not found")
        || text.contains("<returncode>1</returncode>")
        || text.contains("<returncode>2</returncode>")
}
