//! Cline, Roo Code and Kilo Code task histories (`api_conversation_history.json`): one JSON
//! array of `{role, content: [parts]}` messages. The assistant calls tools as XML in its text
//! (`<replace_in_file><path>…</path><diff>…</diff></replace_in_file>`, Roo/Kilo
//! `<apply_diff>`), or as native `tool_use` parts; the extension answers in the next user
//! message, `[replace_in_file for 'src/app.ts'] Result:` followed by the outcome (an `<error>`
//! or "failed" when the edit did not apply), or as `tool_result` parts. Its own nudges (`[ERROR]
//! You did not use a tool in your previous response!`) are replies; the `<environment_details>`
//! it appends to every message are context, not turns.
//!
//! Invariants: pure; the document is read once; a message yields at most one action per tool
//! tag it holds.

use serde_json::Value;

use super::jsonl::{looks_failed, push_text};
use super::{Turn, TurnKind};

/// Tool tags of Cline, Roo Code and Kilo Code.
const TOOLS: [&str; 19] = [
    "read_file",
    "write_to_file",
    "replace_in_file",
    "apply_diff",
    "insert_content",
    "search_and_replace",
    "execute_command",
    "search_files",
    "list_files",
    "list_code_definition_names",
    "browser_action",
    "use_mcp_tool",
    "access_mcp_resource",
    "ask_followup_question",
    "attempt_completion",
    "new_task",
    "plan_mode_respond",
    "codebase_search",
    "fetch_instructions",
];

/// Turns of a task history, or `None` when `v` is not one.
pub(super) fn task_turns(v: &Value) -> Option<Vec<Turn>> {
    let messages = v.as_array()?;
    let looks_like = messages.iter().take(4).any(|m| {
        m.get("role").is_some()
            && m.get("content").is_some_and(Value::is_array)
            && m.get("ts").is_some()
    });
    if !looks_like {
        return None;
    }
    let mut out = Vec::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let Some(parts) = m.get("content").and_then(Value::as_array) else {
            continue;
        };
        for p in parts {
            match p.get("type").and_then(Value::as_str).unwrap_or("") {
                "text" => {
                    let text = p.get("text").and_then(Value::as_str).unwrap_or("");
                    if role == "assistant" {
                        assistant_text(text, &mut out);
                    } else {
                        user_text(text, &mut out);
                    }
                }
                "tool_use" => {
                    let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
                    let input = p.get("input").map(Value::to_string).unwrap_or_default();
                    out.push(
                        Turn::new(TurnKind::Action, &format!("{name}({input})"), false)
                            .with_call(p.get("id").and_then(Value::as_str)),
                    );
                }
                "tool_result" => {
                    let text = super::jsonl::content_text(p.get("content"));
                    let error =
                        p.get("is_error").and_then(Value::as_bool) == Some(true) || failed(&text);
                    out.push(
                        Turn::new(TurnKind::Result, &text, error)
                            .with_call(p.get("tool_use_id").and_then(Value::as_str)),
                    );
                }
                _ => {}
            }
        }
    }
    Some(out)
}

/// The assistant's words, then each XML tool call it made, as `name(body)`.
fn assistant_text(text: &str, out: &mut Vec<Turn>) {
    let mut rest = text;
    loop {
        let next = TOOLS
            .iter()
            .filter_map(|t| rest.find(&format!("<{t}>")).map(|i| (i, *t)))
            .min_by_key(|(i, _)| *i);
        let Some((at, tool)) = next else {
            push_text("assistant", rest, out);
            return;
        };
        push_text("assistant", rest.get(..at).unwrap_or_default(), out);
        let open = format!("<{tool}>");
        let close = format!("</{tool}>");
        let body_start = at + open.len();
        let after = rest.get(body_start..).unwrap_or_default();
        let (body, tail) = match after.find(&close) {
            Some(end) => (
                after.get(..end).unwrap_or_default(),
                after.get(end + close.len()..).unwrap_or_default(),
            ),
            None => (after, ""),
        };
        out.push(Turn::new(
            TurnKind::Action,
            &format!("{tool}({})", body.trim()),
            false,
        ));
        rest = tail;
    }
}

/// What the extension said back: a tool's result, or a reply (the task, a nudge).
fn user_text(text: &str, out: &mut Vec<Turn>) {
    let t = text.trim_start();
    if t.starts_with("<environment_details>") {
        return;
    }
    if t.starts_with('[')
        && let Some(end) = t.find("] Result:")
    {
        let result = t.get(end + "] Result:".len()..).unwrap_or_default().trim();
        out.push(Turn::new(TurnKind::Result, result, failed(result)));
        return;
    }
    push_text("user", text, out);
}

/// The result reports a failure (the extension's own wordings, then the generic checks).
fn failed(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(400)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<error>")
        || head.contains("the tool execution failed")
        || head.contains("unable to apply diff")
        || head.contains("diff edit failed")
        || head.contains("edit unsuccessful")
        || looks_failed(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_tool_calls_and_bracketed_results_become_actions_and_results() {
        let v: Value = serde_json::json!([
            {"role": "user", "ts": 1, "content": [{"type": "text", "text": "<task>fix it</task>"}]},
            {"role": "assistant", "ts": 2, "content": [{"type": "text", "text":
                "I will edit the file.\n<replace_in_file>\n<path>src/a.ts</path>\n<diff>\n<<<<<<< SEARCH\nconst a = 1;\n=======\nconst a = 2;\n>>>>>>> REPLACE\n</diff>\n</replace_in_file>"}]},
            {"role": "user", "ts": 3, "content": [
                {"type": "text", "text": "[replace_in_file for 'src/a.ts'] Result:\nThe tool execution failed with the following error:\n<error>No match found</error>"},
                {"type": "text", "text": "<environment_details>\n# Current Time\n</environment_details>"}
            ]}
        ]);
        let turns = task_turns(&v).unwrap_or_default();
        let kinds: Vec<TurnKind> = turns.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                TurnKind::Reply,
                TurnKind::Text,
                TurnKind::Action,
                TurnKind::Result
            ]
        );
        assert!(turns.get(2).is_some_and(|t| t.edit && t.change.is_some()));
        assert!(turns.get(3).is_some_and(|t| t.error));
    }
}
