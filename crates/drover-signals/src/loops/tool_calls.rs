//! Identical tool calls in a row: the agent asks for the same action again and again, whatever
//! it prints in between. Recognised forms: stream-JSON `tool_use` items (name + input; the
//! per-call id is ignored), transcript lines like `⏺ Bash(cargo test)` / `● Read(src/x.rs)` (or
//! a Claude Code tool's `Bash(…)` without its bullet),
//! and lines starting (after an optional `[tag]`) with `Tool:`, `Tool call:`, `Calling tool` or
//! `[tool]`. Calls are compared by [`content_key`]: a clock time, a duration or a generated id
//! inside a call does not make it new, but a different number does (another file, another
//! ticket). A different call ends the streak (and clears a firing).

use super::{LoopChange, LoopFinding, OutputDetector, OutputLimits, evidence_line};
use crate::normalize::normalize_into;
use crate::transcript::content_key;

/// JSON lines longer than this are not parsed for tool calls (the cleaner caps lines anyway).
const MAX_JSON_BYTES: usize = 64 * 1024;
const TEXT_PREFIXES: [&str; 4] = ["tool:", "tool call:", "calling tool", "tool_use:"];
const BULLETS: [char; 4] = ['⏺', '●', '•', '∙'];

/// The normalised identity of the tool call on this cleaned line, if it is one.
pub fn tool_call_key(text: &str) -> Option<String> {
    let raw = tool_call_text(text)?;
    let mut key = String::with_capacity(raw.len());
    normalize_into(&raw, &mut key);
    Some(key)
}

/// The tool call on this cleaned line as written (JSON calls as `name(input)`), if it is one.
fn tool_call_text(text: &str) -> Option<String> {
    let t = text.trim_start();
    let raw = if t.starts_with('{') {
        json_tool_calls(t)?
    } else if let Some(rest) = t.strip_prefix(BULLETS).or_else(|| bare_call(t)) {
        let rest = rest.trim_start();
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(rest.len());
        if name_len == 0 || !rest.get(name_len..)?.starts_with('(') {
            return None;
        }
        rest.to_string()
    } else {
        // A wrapper's tag (`[agent] tool call: …`) is not part of the call.
        let (tag, t) = match t.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((tag, rest)) if tag.len() <= 32 => (tag, rest.trim_start()),
            _ => ("", t),
        };
        let head: String = t.chars().take(16).collect::<String>().to_ascii_lowercase();
        if !tag.eq_ignore_ascii_case("tool") && !TEXT_PREFIXES.iter().any(|p| head.starts_with(p)) {
            return None;
        }
        t.to_string()
    };
    Some(raw)
}

/// Claude Code's tool names: a call shown without its bullet (a copy that lost the `⏺`, a
/// redraw) is still `Name(arguments` at the start of the line.
const CLAUDE_TOOLS: [&str; 10] = [
    "Bash(",
    "Read(",
    "Edit(",
    "MultiEdit(",
    "Write(",
    "Grep(",
    "Glob(",
    "WebFetch(",
    "Task(",
    "NotebookEdit(",
];

/// The line as a call when it starts with one of [`CLAUDE_TOOLS`].
fn bare_call(t: &str) -> Option<&str> {
    CLAUDE_TOOLS.iter().any(|n| t.starts_with(n)).then_some(t)
}

fn json_tool_calls(line: &str) -> Option<String> {
    if line.len() > MAX_JSON_BYTES || !line.contains("tool_use") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let mut calls = Vec::new();
    collect_tool_uses(&value, &mut calls, 0);
    (!calls.is_empty()).then(|| calls.join(" ; "))
}

fn collect_tool_uses(v: &serde_json::Value, out: &mut Vec<String>, depth: u32) {
    if depth > 8 {
        return;
    }
    match v {
        serde_json::Value::Object(map) => {
            if map.get("type").and_then(|t| t.as_str()) == Some("tool_use") {
                let name = map.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                let input = map.get("input").map(|i| i.to_string()).unwrap_or_default();
                out.push(format!("{name}({input})"));
                return;
            }
            for child in map.values() {
                collect_tool_uses(child, out, depth + 1);
            }
        }
        serde_json::Value::Array(items) => {
            for child in items {
                collect_tool_uses(child, out, depth + 1);
            }
        }
        _ => {}
    }
}

#[derive(Debug)]
pub(super) struct ToolCallStreak {
    repeats: u32,
    last: Option<u64>,
    /// The result of the latest call of the streak, when the transcript shows results.
    last_result: Option<u64>,
    count: u32,
    since: u64,
    sample: String,
    firing: bool,
}

impl ToolCallStreak {
    pub(super) fn new(limits: &OutputLimits) -> Self {
        Self {
            repeats: limits.tool_call_repeats.max(2),
            last: None,
            last_result: None,
            count: 0,
            since: 0,
            sample: String::new(),
            firing: false,
        }
    }

    /// A call of the streak returned `key`: a result different from the previous call's is
    /// progress (a test that now passes, a file that changed), so the streak starts again.
    pub(super) fn result(&mut self, key: u64, stamp: u64, out: &mut Vec<LoopFinding>) {
        if self.last_result.is_some_and(|r| r != key) {
            self.count = 0;
            self.since = stamp;
            if self.firing {
                self.firing = false;
                out.push(LoopFinding {
                    detector: OutputDetector::ToolCallRepetition,
                    at: stamp,
                    change: LoopChange::Cleared,
                });
            }
        }
        self.last_result = Some(key);
    }

    pub(super) fn feed(&mut self, text: &str, stamp: u64, out: &mut Vec<LoopFinding>) {
        let Some(call) = tool_call_text(text) else {
            return;
        };
        // Numbers stay (`Edit(src/cmd_3.rs)` then `Edit(src/cmd_4.rs)` is progress); clock
        // times, durations and generated ids do not.
        let hash = content_key(&call);
        if self.last == Some(hash) {
            self.count = self.count.saturating_add(1);
        } else {
            if self.firing {
                self.firing = false;
                out.push(LoopFinding {
                    detector: OutputDetector::ToolCallRepetition,
                    at: stamp,
                    change: LoopChange::Cleared,
                });
            }
            self.last = Some(hash);
            self.last_result = None;
            self.count = 1;
            self.since = stamp;
            self.sample = evidence_line(text.trim());
        }
        if self.count >= self.repeats {
            let first = !self.firing;
            self.firing = true;
            out.push(LoopFinding {
                detector: OutputDetector::ToolCallRepetition,
                at: stamp,
                change: LoopChange::Holding {
                    first,
                    since: self.since,
                    evidence: vec![
                        format!("the same tool call {} times in a row", self.count),
                        self.sample.clone(),
                    ],
                },
            });
        }
    }
}
