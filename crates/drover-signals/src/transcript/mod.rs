//! Agent transcripts read as turns: what the assistant said, the actions it took (tool calls
//! with their arguments), what came back (tool results, errors) and what the user or harness
//! replied. The loop detectors judge these turns instead of raw lines, so a re-shown file, a
//! banner with changing counters or two look-alike tool results are content, not repetition.
//!
//! Formats, detected by content line by line ([`TranscriptParser`]) or as one JSON document
//! ([`parse_document`]): Claude Code `stream-json` and session files, Codex `exec --json` and
//! session files, Gemini CLI `stream-json`, OpenHands events, OpenAI-style chat messages (one
//! per line); terminal transcripts of Claude Code (`⏺ Tool(…)` / `⎿`), Codex (`• Ran …` / `└`)
//! and Gemini CLI (`✦`, tool boxes); aider chat history; OpenManus step logs; harness iteration banners; and, as documents, mini-swe-agent / OpenHands message lists and
//! SWE-agent `.traj` trajectories, Cline/Roo/Kilo Code task histories. Anything else is plain text: one text turn per line.
//!
//! Invariants: pure (bytes in, turns out); per line O(line length) plus a JSON parse of lines
//! that look like JSON objects (at most [`MAX_JSON_LINE_BYTES`]); the streaming parser keeps a
//! few short strings and two counters between lines.

mod agentlog;
mod cline;
pub mod context;
mod document;
mod edit;
mod jsonl;
mod terminal;

pub use document::parse_document;
pub(crate) use edit::{edit_change, is_edit};

/// JSON lines longer than this are not parsed (their text still counts as plain text).
pub const MAX_JSON_LINE_BYTES: usize = 256 * 1024;
/// Bytes of a turn's content that enter its key; long outputs are judged by their start and
/// length (a file re-shown after an edit differs early or in length).
const KEY_BYTES: usize = 64 * 1024;
/// Seed of turn keys (fixed: keys are compared within one run, never persisted).
const KEY_SEED: u64 = 0x7475_726e_6b65_7973;
/// Evidence: the first line of a turn, cut to this many bytes.
const FIRST_LINE_BYTES: usize = 160;

/// What a turn is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TurnKind {
    /// Assistant text (one line or paragraph of it).
    Text,
    /// A tool call or command, with its arguments.
    Action,
    /// What an action returned.
    Result,
    /// A user or harness message (prompt, format error, retry notice).
    Reply,
    /// A new session or harness iteration begins.
    SessionStart,
    /// One quoted or prompt line, as shown (its reply is also given whole as a `Reply`); only
    /// the chant detector reads these.
    Quote,
}

/// One turn of a transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub kind: TurnKind,
    /// Identity of the content: equal keys mean the same action, result or text (timestamps,
    /// durations and ids ignored; counts kept, so different test counts differ).
    pub key: u64,
    /// The result reports an error (non-zero exit, `is_error`, `Error:` line).
    pub error: bool,
    /// First non-blank line of the content, cut (evidence for operators).
    pub first_line: String,
    /// The tool-use id that pairs an action with its result (Claude `tool_use.id` and
    /// `tool_result.tool_use_id`, Codex `call_id`), hashed; `None` where the format pairs by
    /// order.
    pub call: Option<u64>,
    /// The action edits a file (an edit tool, not a view command).
    pub edit: bool,
    /// What the edit changes, where the action shows it: hashes of the old and the new text.
    pub change: Option<(u64, u64)>,
}

impl Turn {
    pub fn new(kind: TurnKind, content: &str, error: bool) -> Self {
        Self {
            kind,
            // Spacing in a command or its arguments is not a different action (`cd x&& ls`).
            key: if kind == TurnKind::Action {
                content_key_with(content, "")
            } else {
                content_key(content)
            },
            error,
            first_line: first_line(content),
            call: None,
            edit: kind == TurnKind::Action && is_edit(content),
            change: if kind == TurnKind::Action {
                edit_change(content)
            } else {
                None
            },
        }
    }

    /// The same turn, tied to the tool call `id` (parallel calls get their results out of
    /// order; the id says which result belongs to which action).
    pub(crate) fn with_call(mut self, id: Option<&str>) -> Self {
        self.call = id.filter(|i| !i.is_empty()).map(|i| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = foldhash::quality::FixedState::with_seed(KEY_SEED).build_hasher();
            h.write(i.as_bytes());
            h.finish()
        });
        self
    }

    /// Text (or quoted) turns of one line: the line itself, or — when it is longer than an
    /// evidence line — one turn per sentence. A model that chants inside one paragraph (the
    /// same sentence dozens of times without a line break) is then seen sentence by sentence,
    /// and each sentence is shown whole; a short line is judged as written.
    pub(crate) fn push_text_line(kind: TurnKind, line: &str, out: &mut Vec<Turn>) {
        if line.len() <= FIRST_LINE_BYTES {
            out.push(Turn::new(kind, line, false));
            return;
        }
        let mut start = 0;
        let bytes = line.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            // `. ` `! ` `? ` end a sentence; `1.5 ` or `e.g.x` do not (no space after).
            if matches!(b, b'.' | b'!' | b'?') && bytes.get(i + 1) == Some(&b' ') {
                if let Some(sentence) = line.get(start..=i).map(str::trim)
                    && !sentence.is_empty()
                {
                    out.push(Turn::new(kind, sentence, false));
                }
                start = i + 1;
            }
        }
        if let Some(rest) = line.get(start..).map(str::trim)
            && !rest.is_empty()
        {
            out.push(Turn::new(kind, rest, false));
        }
    }

    fn session() -> Self {
        Self {
            kind: TurnKind::SessionStart,
            key: 0,
            error: false,
            first_line: String::new(),
            call: None,
            edit: false,
            change: None,
        }
    }
}

/// The transcript format recognised (for reports and per-format statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    ClaudeJson,
    CodexJson,
    GeminiJson,
    OpenHandsJson,
    ChatJson,
    ClaudeTerminal,
    CodexTerminal,
    GeminiTerminal,
    Aider,
    OpenManusLog,
    MiniSweAgent,
    SweAgent,
    ClineTask,
    PlainText,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ClaudeJson => "claude-json",
            Format::CodexJson => "codex-json",
            Format::GeminiJson => "gemini-json",
            Format::OpenHandsJson => "openhands-json",
            Format::ChatJson => "chat-json",
            Format::ClaudeTerminal => "claude-terminal",
            Format::CodexTerminal => "codex-terminal",
            Format::GeminiTerminal => "gemini-terminal",
            Format::Aider => "aider",
            Format::OpenManusLog => "openmanus-log",
            Format::MiniSweAgent => "mini-swe-agent",
            Format::SweAgent => "swe-agent",
            Format::ClineTask => "cline-task",
            Format::PlainText => "plain-text",
        }
    }
}

/// Streaming parser: feed cleaned lines (and, for JSON, the raw line), get turns.
#[derive(Debug, Default)]
pub struct TranscriptParser {
    terminal: terminal::TerminalState,
    /// A pretty-printed JSON object being read (from a line `{` to a line `}`), or an array
    /// (from a line `[` to a line `]`: the content blocks of one message, as session exports
    /// print them).
    object: Option<Vec<u8>>,
    /// The most specific format seen so far (plain text until something structured shows).
    format: Option<Format>,
}

impl TranscriptParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The format recognised so far.
    pub fn format(&self) -> Format {
        self.format.unwrap_or(Format::PlainText)
    }

    /// Parses one line. `raw` is the line as received (JSON is parsed from it, uncut up to
    /// [`MAX_JSON_LINE_BYTES`]); `text` is its cleaned visible text. Returns whether the line
    /// is (part of) a JSON event: its structure is judged as turns, not as lines.
    pub fn feed(&mut self, raw: &[u8], text: &str, out: &mut Vec<Turn>) -> bool {
        let trimmed = trim_ascii(raw);
        if self
            .object
            .as_ref()
            .is_some_and(|buf| buf.len() + raw.len() >= MAX_JSON_LINE_BYTES)
        {
            // No closing line within the bound: it was no pretty-printed document (a lone
            // `[` in a log); the lines from here on are read as what they are.
            self.object = None;
        }
        if let Some(buf) = self.object.as_mut() {
            buf.extend_from_slice(raw);
            buf.push(b'\n');
            let closes = match buf.first() {
                Some(b'[') => raw.first() == Some(&b']') && trimmed == b"]",
                _ => raw.first() == Some(&b'}') && trimmed == b"}",
            };
            if closes {
                let buf = self.object.take().unwrap_or_default();
                if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&buf) {
                    self.event(&value, out);
                }
            }
            return true;
        }
        if raw.first().is_some_and(|b| matches!(b, b'{' | b'[')) && matches!(trimmed, b"{" | b"[") {
            self.terminal.flush(out);
            let mut buf = trimmed.to_vec();
            buf.push(b'\n');
            self.object = Some(buf);
            return true;
        }
        if trimmed.first() == Some(&b'{')
            && trimmed.last() == Some(&b'}')
            && trimmed.len() <= MAX_JSON_LINE_BYTES
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(trimmed)
        {
            self.terminal.flush(out);
            return self.event(&value, out);
        }
        if let Some(format) = self.terminal.feed(text, out) {
            self.note(format);
        }
        false
    }

    fn event(&mut self, value: &serde_json::Value, out: &mut Vec<Turn>) -> bool {
        match jsonl::event_turns(value, out) {
            Some(format) => {
                self.note(format);
                true
            }
            None => false,
        }
    }

    /// The input ended: turns still being assembled.
    pub fn finish(&mut self, out: &mut Vec<Turn>) {
        self.terminal.flush(out);
    }

    fn note(&mut self, format: Format) {
        if format != Format::PlainText {
            self.format = Some(format);
        } else if self.format.is_none() {
            self.format = Some(Format::PlainText);
        }
    }
}

/// The format of a whole input: a JSON document's, else what its lines show.
pub fn detect_format(input: &[u8]) -> Format {
    if let Some((format, _)) = parse_document(input) {
        return format;
    }
    let mut parser = TranscriptParser::new();
    let mut cleaner = crate::ansi::LineCleaner::new();
    let mut scratch = Vec::new();
    for line in input.split(|b| *b == b'\n') {
        parser.feed(line, cleaner.clean(line), &mut scratch);
        scratch.clear();
    }
    parser.format()
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    b.get(start..end).unwrap_or_default()
}

/// Identity of a turn's content. Whitespace runs collapse; tokens that change between two
/// runs of the same thing without meaning progress (clock times, dates, durations, hex and
/// UUID ids, temporary paths) are dropped. Numbers otherwise stay: "5 passed" and "6 passed"
/// are different results.
pub fn content_key(content: &str) -> u64 {
    content_key_with(content, " ")
}

fn content_key_with(content: &str, separator: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut end = content.len().min(KEY_BYTES);
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    let head = content.get(..end).unwrap_or_default();
    let mut h = foldhash::quality::FixedState::with_seed(KEY_SEED).build_hasher();
    if separator.is_empty() {
        // Tokens glued together: hashed as one string, so where the spaces were does not matter.
        let mut glued = String::new();
        for token in head.split_whitespace() {
            kept_parts(token, |part| glued.push_str(part));
        }
        h.write(glued.as_bytes());
    } else {
        // Hashed token by token (no copy of the content): the kept tokens, separated.
        let mut first = true;
        for token in head.split_whitespace() {
            if volatile(token) {
                continue;
            }
            if !first {
                h.write(separator.as_bytes());
            }
            first = false;
            kept_parts(token, |part| h.write(part.as_bytes()));
        }
    }
    // The length of what was cut keeps two long outputs with the same start apart.
    h.write_usize(content.len() / 64);
    h.finish()
}

/// Markup that glues a value to its neighbours (`<timestamp>2025-…</timestamp>`,
/// `"at":"12:00:01"`, `(took 1.2s)`): a volatile value inside is dropped on its own.
const MARKUP: [char; 12] = ['<', '>', '"', '\'', '=', ',', ';', '(', ')', '[', ']', '|'];

/// Calls `f` with what a token keeps: nothing when it is volatile as a whole, else its parts
/// between [`MARKUP`] characters that are not volatile, with the markup itself.
fn kept_parts(token: &str, mut f: impl FnMut(&str)) {
    if volatile(token) {
        return;
    }
    if !token.contains(MARKUP) {
        f(token);
        return;
    }
    let mut start = 0;
    for (i, c) in token.char_indices() {
        if MARKUP.contains(&c) {
            if let Some(part) = token.get(start..i)
                && !volatile(part)
            {
                f(part);
            }
            f(token.get(i..i + c.len_utf8()).unwrap_or_default());
            start = i + c.len_utf8();
        }
    }
    if let Some(part) = token.get(start..)
        && !volatile(part)
    {
        f(part);
    }
}

/// A token that varies between repetitions of the same output.
fn volatile(token: &str) -> bool {
    let t = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if t.is_empty() {
        return false;
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    if digits == 0 {
        return token.contains("/tmp/") || token.contains("/var/folders/");
    }
    let b = t.as_bytes();
    // 12:00:01, 2026-01-05T10:00:00Z, 10:00
    if t.contains(':') && b.first().is_some_and(u8::is_ascii_digit) {
        return true;
    }
    // 2026-01-05 (a date); 1.5s, 120ms, 0.01s (durations)
    if b.len() == 10 && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') {
        return true;
    }
    let unit = t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    if !unit.is_empty() && unit.len() <= 3 && matches!(unit, "s" | "ms" | "us" | "µs" | "m" | "h")
    {
        return true;
    }
    // hex ids and UUIDs: 7+ hex characters mixing digits and letters
    let hexish = t.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-');
    let letters = t.bytes().filter(u8::is_ascii_alphabetic).count();
    if hexish && letters > 0 && t.len() >= 7 {
        return true;
    }
    // generated ids: long runs mixing letters and digits (toolu_01AbC…, msg_…, chatcmpl-…)
    t.len() >= 16 && letters >= 4 && digits >= 2 && !t.contains('/') && !t.contains('.')
}

/// First non-blank line, trimmed and cut to [`FIRST_LINE_BYTES`].
pub fn first_line(content: &str) -> String {
    let line = content
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut end = line.len().min(FIRST_LINE_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.get(..end).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_clock_and_ids_but_keep_counts() {
        assert_eq!(
            content_key("12:00:01 ran 5 tests in 0.12s (req 3f9a2c1d)"),
            content_key("12:07:44 ran 5 tests in 1.50s (req 77b0e9aa)")
        );
        assert_ne!(content_key("5 passed"), content_key("6 passed"));
    }

    #[test]
    fn times_inside_markup_are_dropped_and_the_markup_kept() {
        assert_eq!(
            content_key(
                "<status>running</status>\n<timestamp>2025-12-01T04:48:27.908Z</timestamp>"
            ),
            content_key(
                "<status>running</status>\n<timestamp>2025-12-01T04:49:05.830Z</timestamp>"
            )
        );
        assert_ne!(
            content_key("<status>running</status>"),
            content_key("<status>completed</status>")
        );
        assert_eq!(
            content_key(r#"{"at":"12:00:01","done":3}"#),
            content_key(r#"{"at":"12:07:44","done":3}"#)
        );
        assert_ne!(content_key(r#"{"done":3}"#), content_key(r#"{"done":4}"#));
    }

    #[test]
    fn long_lines_become_sentences_short_ones_stay_whole() {
        let mut out = Vec::new();
        Turn::push_text_line(TurnKind::Text, "Done. Next.", &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        let long = "I will update the plan to reflect the new step. ".repeat(5);
        Turn::push_text_line(TurnKind::Text, long.trim_end(), &mut out);
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|t| t.key == out[0].key));
        assert_eq!(
            out[0].first_line,
            "I will update the plan to reflect the new step."
        );
    }

    #[test]
    fn first_line_skips_blank_lines() {
        assert_eq!(first_line("\n\n  Error: boom\nmore"), "Error: boom");
    }
}
