//! Context health read from an agent's output: how full its context window is, and when the
//! harness compacted it. An agent near the end of its window degrades, and a compaction nobody
//! asked for can leave it idle; both are judged by the core from what this module reads.
//!
//! What is read, line by line ([`ContextTracker::feed`]):
//! - Claude Code (`stream-json` and session files): the `usage` of each main-thread assistant
//!   message — input + cache read + cache creation tokens is the context the message was
//!   answered from (sub-agent messages, `isSidechain`, are another context and are skipped);
//!   `compact_boundary` system events with their trigger and pre-compaction tokens
//!   (`compact_metadata.pre_tokens` in stream-json, `compactMetadata.preTokens` in sessions).
//! - Codex (session files and app events): `token_count` events — the last request's input
//!   plus output tokens, out of the `model_context_window` the event states; `compacted`
//!   records, `context_compacted` events and `ContextCompaction` items, which mark one
//!   compaction together (all are counted once, until the next request).
//! - The harness's own line announcing a compaction in a terminal transcript
//!   (`═══ Conversation compacted · ctrl+o for history ═══`): trigger and size unknown.
//!
//! The model's window comes from the transcript when it states one (Codex), else from a
//! [`WindowTable`] by the longest model-name prefix (editable in the config).
//!
//! Invariants: pure (text in, readings out); O(line length) per line plus one JSON parse of
//! lines that look like JSON (at most [`super::MAX_JSON_LINE_BYTES`]); the tracker keeps one
//! model name and two flags between lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Context windows larger than this are not believed (a forged line must not make every
/// percentage look small): the largest window of any model drover knows, with room.
pub const MAX_WINDOW_TOKENS: u64 = 10_000_000;
/// Model names longer than this are cut (agent output is untrusted).
const MAX_MODEL_BYTES: usize = 100;

/// How a compaction was started, as the harness states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactTrigger {
    /// The harness compacted by itself (the context was nearly full).
    Auto,
    /// Someone (or the agent's driver) asked for it (`/compact`).
    Manual,
}

impl CompactTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            CompactTrigger::Auto => "auto",
            CompactTrigger::Manual => "manual",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(CompactTrigger::Auto),
            "manual" => Some(CompactTrigger::Manual),
            _ => None,
        }
    }
}

/// One compaction, as the transcript states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    pub trigger: Option<CompactTrigger>,
    /// The context's size just before, in tokens, when the transcript states it (Claude Code).
    pub pre_tokens: Option<u64>,
    /// The last context reading before the compaction (used tokens, window), when one was seen.
    pub before: Option<ContextUsage>,
}

impl Compaction {
    /// How full the context was when it was compacted, in percent: the stated pre-compaction
    /// size against the window, else the last reading before it.
    pub fn percent(&self) -> Option<u32> {
        let before = self.before.as_ref()?;
        match self.pre_tokens {
            Some(pre) => before.window.map(|w| percent_of(pre, w)),
            None => before.percent(),
        }
    }
}

/// How full an agent's context is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextUsage {
    /// Tokens the last request was answered from.
    pub used: u64,
    /// The model's context window, when the transcript states it or the table knows the model.
    pub window: Option<u64>,
    /// The model the reading concerns, when named.
    pub model: Option<String>,
}

impl ContextUsage {
    pub fn percent(&self) -> Option<u32> {
        self.window.map(|w| percent_of(self.used, w))
    }
}

/// `used` of `window` in whole percent (rounded down, at most 999: a wrong window must not
/// print a wall of digits).
pub fn percent_of(used: u64, window: u64) -> u32 {
    if window == 0 {
        return 0;
    }
    let p = used.saturating_mul(100) / window;
    u32::try_from(p.min(999)).unwrap_or(999)
}

/// What one line said about the context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextEvent {
    Usage(ContextUsage),
    Compaction(Compaction),
}

/// The `[context_windows]` table: model name (or prefix) → context window in tokens;
/// `default` for models it does not name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WindowTable(pub BTreeMap<String, u64>);

impl Default for WindowTable {
    /// The windows of the models agents commonly run with. Claude models answer from 200k
    /// tokens unless a larger window is enabled (configure it then); Codex states its own.
    fn default() -> Self {
        let mut t = BTreeMap::new();
        t.insert("claude-".to_string(), 200_000);
        t.insert("gpt-5".to_string(), 272_000);
        t.insert("gpt-4.1".to_string(), 1_047_576);
        t.insert("gemini-".to_string(), 1_048_576);
        Self(t)
    }
}

impl WindowTable {
    /// The window of `model`: the longest key that is a prefix of it, else `default`.
    pub fn window(&self, model: Option<&str>) -> Option<u64> {
        model
            .and_then(|m| {
                self.0
                    .iter()
                    .filter(|(k, _)| m.starts_with(k.as_str()))
                    .max_by_key(|(k, _)| k.len())
                    .map(|(_, w)| *w)
            })
            .or_else(|| self.0.get("default").copied())
    }
}

/// Reads context usage and compactions from one log stream.
#[derive(Debug, Default)]
pub struct ContextTracker {
    windows: WindowTable,
    /// The last model named by the stream.
    model: Option<String>,
    /// The last reading (the "before" of the next compaction).
    last: Option<ContextUsage>,
    /// A Codex compaction was marked and no request has been made since: its other markers
    /// are the same compaction.
    compacting: bool,
}

impl ContextTracker {
    pub fn new(windows: WindowTable) -> Self {
        Self {
            windows,
            ..Self::default()
        }
    }

    /// The last context reading of the stream.
    pub fn last(&self) -> Option<&ContextUsage> {
        self.last.as_ref()
    }

    /// What `text` (one line, ANSI stripped) says about the context, if anything.
    pub fn feed(&mut self, text: &str) -> Option<ContextEvent> {
        let t = text.trim();
        if t.starts_with('{') && t.ends_with('}') {
            if t.len() > super::MAX_JSON_LINE_BYTES
                || !(t.contains("usage") || t.contains("compact") || t.contains("\"model\""))
            {
                return None;
            }
            let v: Value = serde_json::from_str(t).ok()?;
            return self.event(&v);
        }
        if is_compaction_banner(t) {
            return Some(self.compaction(None, None));
        }
        None
    }

    fn event(&mut self, v: &Value) -> Option<ContextEvent> {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "system" => match v.get("subtype").and_then(Value::as_str) {
                Some("init") => {
                    self.note_model(s(v, "model").as_deref());
                    None
                }
                Some("compact_boundary") => {
                    let meta = v
                        .get("compact_metadata")
                        .or_else(|| v.get("compactMetadata"));
                    let trigger = meta
                        .and_then(|m| m.get("trigger"))
                        .and_then(Value::as_str)
                        .and_then(CompactTrigger::parse);
                    let pre = meta.and_then(|m| {
                        m.get("pre_tokens")
                            .or_else(|| m.get("preTokens"))
                            .and_then(Value::as_u64)
                    });
                    Some(self.compaction(trigger, pre))
                }
                _ => None,
            },
            "assistant" => {
                if v.get("isSidechain").and_then(Value::as_bool) == Some(true)
                    || v.get("parent_tool_use_id").is_some_and(|p| !p.is_null())
                {
                    return None;
                }
                let msg = v.get("message")?;
                self.note_model(msg.get("model").and_then(Value::as_str));
                let u = msg.get("usage")?;
                let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                let used = n("input_tokens")
                    .saturating_add(n("cache_read_input_tokens"))
                    .saturating_add(n("cache_creation_input_tokens"));
                if used == 0 {
                    return None;
                }
                let window = self.windows.window(self.model.as_deref());
                Some(self.reading(used, window))
            }
            "turn_context" => {
                self.note_model(v.get("payload").and_then(|p| p.get("model")?.as_str()));
                None
            }
            "compacted" => self.codex_marker(),
            "event_msg" => {
                let p = v.get("payload")?;
                match p.get("type").and_then(Value::as_str).unwrap_or("") {
                    "token_count" => self.codex_tokens(p.get("info")?),
                    "context_compacted" => self.codex_marker(),
                    "item_completed"
                        if p.get("item").and_then(|i| i.get("type")?.as_str())
                            == Some("ContextCompaction") =>
                    {
                        self.codex_marker()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A Codex `token_count`: the last request's prompt and answer are what the next request
    /// starts from. An event with no request in it (input 0: repeated after a compaction)
    /// says nothing about the context.
    fn codex_tokens(&mut self, info: &Value) -> Option<ContextEvent> {
        let last = info.get("last_token_usage")?;
        let n = |k: &str| last.get(k).and_then(Value::as_u64).unwrap_or(0);
        let input = n("input_tokens");
        if input == 0 {
            return None;
        }
        self.compacting = false;
        let window = info
            .get("model_context_window")
            .and_then(Value::as_u64)
            .filter(|w| *w > 0 && *w <= MAX_WINDOW_TOKENS)
            .or_else(|| self.windows.window(self.model.as_deref()));
        Some(self.reading(input.saturating_add(n("output_tokens")), window))
    }

    fn codex_marker(&mut self) -> Option<ContextEvent> {
        if self.compacting {
            return None;
        }
        self.compacting = true;
        Some(self.compaction(None, None))
    }

    fn reading(&mut self, used: u64, window: Option<u64>) -> ContextEvent {
        let usage = ContextUsage {
            used,
            window: window.filter(|w| *w > 0 && *w <= MAX_WINDOW_TOKENS),
            model: self.model.clone(),
        };
        self.last = Some(usage.clone());
        ContextEvent::Usage(usage)
    }

    fn compaction(
        &mut self,
        trigger: Option<CompactTrigger>,
        pre_tokens: Option<u64>,
    ) -> ContextEvent {
        // After a compaction the previous reading no longer describes the context.
        let before = self.last.take().or_else(|| {
            let window = self.windows.window(self.model.as_deref())?;
            Some(ContextUsage {
                used: pre_tokens?,
                window: Some(window),
                model: self.model.clone(),
            })
        });
        ContextEvent::Compaction(Compaction {
            trigger,
            pre_tokens,
            before,
        })
    }

    fn note_model(&mut self, model: Option<&str>) {
        if let Some(m) = model.filter(|m| !m.is_empty()) {
            let mut end = m.len().min(MAX_MODEL_BYTES);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            if self.model.as_deref() != m.get(..end) {
                self.model = m.get(..end).map(str::to_string);
            }
        }
    }
}

/// Claude Code's terminal rule announcing a compaction: `═══ Conversation compacted · ctrl+o
/// for history ═══` (`ctrl+r` in older versions). Only the harness's own framing counts — an
/// agent quoting the words mid-sentence is not a compaction.
fn is_compaction_banner(line: &str) -> bool {
    let inner = line.trim_matches(|c: char| c == '═' || c.is_whitespace());
    inner.len() < line.len()
        && inner.starts_with("Conversation compacted")
        && inner.contains("for history")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_stream_json_compaction_and_usage() {
        let mut t = ContextTracker::new(WindowTable::default());
        let a = r#"{"type":"assistant","message":{"model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":10,"cache_read_input_tokens":150000,"cache_creation_input_tokens":20000,"output_tokens":50}},"session_id":"s"}"#;
        let Some(ContextEvent::Usage(u)) = t.feed(a) else {
            panic!("no reading")
        };
        assert_eq!(
            (u.used, u.window, u.percent()),
            (170_010, Some(200_000), Some(85))
        );
        let c = r#"{"type":"system","subtype":"compact_boundary","session_id":"s","compact_metadata":{"trigger":"manual","pre_tokens":171000}}"#;
        let Some(ContextEvent::Compaction(c)) = t.feed(c) else {
            panic!("no compaction")
        };
        assert_eq!(c.trigger, Some(CompactTrigger::Manual));
        assert_eq!(c.pre_tokens, Some(171_000));
        assert_eq!(c.percent(), Some(85));
        assert_eq!(
            t.last(),
            None,
            "the reading before a compaction is stale after it"
        );
    }

    #[test]
    fn sidechain_messages_are_another_context() {
        let mut t = ContextTracker::default();
        let a = r#"{"type":"assistant","isSidechain":true,"message":{"model":"claude-x","usage":{"input_tokens":5,"cache_read_input_tokens":9}}}"#;
        assert_eq!(t.feed(a), None);
    }

    #[test]
    fn codex_markers_of_one_compaction_count_once() {
        let mut t = ContextTracker::default();
        let tc = |input: u64| {
            format!(
                r#"{{"type":"event_msg","payload":{{"type":"token_count","info":{{"last_token_usage":{{"input_tokens":{input},"output_tokens":10}},"model_context_window":1000}}}}}}"#
            )
        };
        assert!(matches!(t.feed(&tc(800)), Some(ContextEvent::Usage(_))));
        assert!(matches!(
            t.feed(r#"{"type":"compacted","payload":{"message":""}}"#),
            Some(ContextEvent::Compaction(_))
        ));
        assert_eq!(
            t.feed(r#"{"type":"event_msg","payload":{"type":"context_compacted"}}"#),
            None
        );
        assert_eq!(t.feed(&tc(0)), None);
        assert!(matches!(t.feed(&tc(100)), Some(ContextEvent::Usage(_))));
        assert!(matches!(
            t.feed(r#"{"type":"event_msg","payload":{"type":"context_compacted"}}"#),
            Some(ContextEvent::Compaction(_))
        ));
    }

    #[test]
    fn only_the_harness_banner_announces_a_compaction() {
        assert!(is_compaction_banner(
            "══════ Conversation compacted · ctrl+o for history ══════"
        ));
        assert!(!is_compaction_banner(
            "Conversation compacted · ctrl+o for history"
        ));
        assert!(!is_compaction_banner(
            "I saw 'Conversation compacted' in the log"
        ));
    }

    #[test]
    fn windows_by_longest_prefix_and_default() {
        let mut w = WindowTable::default();
        assert_eq!(w.window(Some("claude-opus-4-6")), Some(200_000));
        assert_eq!(w.window(Some("llama")), None);
        w.0.insert("claude-sonnet-4-5".into(), 1_000_000);
        w.0.insert("default".into(), 128_000);
        assert_eq!(
            w.window(Some("claude-sonnet-4-5-20250929")),
            Some(1_000_000)
        );
        assert_eq!(w.window(Some("llama")), Some(128_000));
    }
}
