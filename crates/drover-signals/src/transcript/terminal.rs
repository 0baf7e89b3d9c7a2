//! Terminal and Markdown transcripts, line by line: Claude Code (`⏺`/`●` + `Tool(args)`, results
//! after `⎿` with indented continuation), Codex (`• Ran cmd` with `│` continuation, results
//! after `└`), Gemini CLI (`✦` text, `│ ✔ Tool …` boxes closed by `╰`), aider chat history
//! (`#### ` prompts, `> ` harness lines, SEARCH/REPLACE edit blocks as actions) and harness
//! iteration banners (`=== Iteration 3 ===`, `Iteration 2 of 5`, `# aider chat started`,
//! `Ralph Session Started: …`, `Session 12 started`). Other lines are assistant text.
//!
//! State kept between lines: one action or result being assembled (its text grows only up to
//! [`MAX_TURN_BYTES`]) and which continuation style applies.

use super::agentlog::{LogLine, agent_log_line};
use super::jsonl::looks_failed;
use super::{Format, Turn, TurnKind};

/// Text kept per assembled turn.
const MAX_TURN_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Text,
    /// Indented lines continue the current result (Claude `⎿`, Codex `└`).
    IndentedResult,
    /// `│` lines continue the current Codex command.
    CodexCommand,
    /// `│` lines are the body of a Gemini tool box.
    GeminiBox,
    /// Inside an aider SEARCH/REPLACE block.
    AiderEdit,
    /// Quoted (`> `) or prompt (`#### `) lines continue the current reply.
    Reply,
}

#[derive(Debug, Default)]
pub(super) struct TerminalState {
    mode: Mode,
    kind: Option<TurnKind>,
    buf: String,
    error: bool,
}

const BULLETS: [char; 2] = ['⏺', '●'];

impl TerminalState {
    /// Emits the turn being assembled, if any.
    pub(super) fn flush(&mut self, out: &mut Vec<Turn>) {
        if let Some(kind) = self.kind.take() {
            out.push(Turn::new(kind, &self.buf, self.error));
        }
        self.buf.clear();
        self.error = false;
        self.mode = Mode::Text;
    }

    fn start(&mut self, kind: TurnKind, text: &str, mode: Mode, out: &mut Vec<Turn>) {
        self.flush(out);
        self.kind = Some(kind);
        self.mode = mode;
        self.push(text);
    }

    fn push(&mut self, text: &str) {
        if self.buf.len() + text.len() < MAX_TURN_BYTES {
            if !self.buf.is_empty() {
                self.buf.push('\n');
            }
            self.buf.push_str(text);
        }
    }

    /// Parses one cleaned line; returns the format it shows, if any.
    pub(super) fn feed(&mut self, text: &str, out: &mut Vec<Turn>) -> Option<Format> {
        let s = text.trim_start();
        let indented = text.len() > s.len();
        // Continuations first.
        match self.mode {
            Mode::IndentedResult
                if indented
                    && self.kind.is_some()
                    && !s.is_empty()
                    && !s.starts_with(BULLETS)
                    && !s.starts_with(['⎿', '└']) =>
            {
                if s.starts_with("Error") {
                    self.error = true;
                }
                self.push(s);
                return None;
            }
            Mode::CodexCommand if s.starts_with('│') => {
                self.push(s.trim_start_matches('│').trim());
                return Some(Format::CodexTerminal);
            }
            Mode::GeminiBox if s.starts_with('│') => {
                let body = s.trim_start_matches('│').trim_end_matches('│').trim();
                if self.kind == Some(TurnKind::Action) {
                    // The first body line after the tool's header starts its output.
                    let action = std::mem::take(&mut self.buf);
                    out.push(Turn::new(TurnKind::Action, &action, false));
                    self.kind = Some(TurnKind::Result);
                }
                if !body.is_empty() {
                    self.push(body);
                }
                return Some(Format::GeminiTerminal);
            }
            Mode::GeminiBox if s.starts_with('╰') => {
                if self.kind == Some(TurnKind::Action) {
                    let action = std::mem::take(&mut self.buf);
                    out.push(Turn::new(TurnKind::Action, &action, false));
                    self.kind = Some(TurnKind::Result);
                }
                self.flush(out);
                return Some(Format::GeminiTerminal);
            }
            Mode::Reply if reply_line(s).is_some() => {
                let rest = reply_line(s).unwrap_or_default();
                self.push(rest);
                Turn::push_text_line(TurnKind::Quote, rest, out);
                return None;
            }
            Mode::AiderEdit => {
                if s.starts_with(">>>>>>> REPLACE") {
                    self.flush(out);
                } else {
                    self.push(text);
                }
                return Some(Format::Aider);
            }
            _ => {}
        }
        if s.is_empty() || s.starts_with(['╭', '╰']) || is_rule(s) {
            // Box borders and horizontal rules carry nothing.
            return None;
        }
        if let Some(line) = agent_log_line(s) {
            self.flush(out);
            match line {
                LogLine::Text(t) => Turn::push_text_line(TurnKind::Text, t, out),
                // An empty reply: the turn ended without an action, and the harness said
                // nothing a repeated reply could be judged by.
                LogLine::NoAction => out.push(Turn::new(TurnKind::Reply, "", false)),
                LogLine::Action(a) => out.push(Turn::new(TurnKind::Action, a, false)),
                LogLine::Result(r) => out.push(Turn::new(TurnKind::Result, r, looks_failed(r))),
                LogLine::Reply(r) => out.push(Turn::new(TurnKind::Reply, r, false)),
                LogLine::Bookkeeping => {}
            }
            return Some(Format::OpenManusLog);
        }
        if let Some(format) = banner(s) {
            self.flush(out);
            out.push(Turn::session());
            return Some(format);
        }
        if let Some(rest) = s.strip_prefix(BULLETS) {
            let rest = rest.trim();
            if is_call(rest) {
                self.start(TurnKind::Action, rest, Mode::Text, out);
                self.flush(out);
                self.mode = Mode::IndentedResult;
            } else {
                self.flush(out);
                Turn::push_text_line(TurnKind::Text, rest, out);
            }
            return Some(Format::ClaudeTerminal);
        }
        // `└ ` is Codex's result marker; `└──` is a directory tree.
        let result_marker = s.strip_prefix('⎿').or_else(|| {
            s.strip_prefix('└')
                .filter(|r| r.is_empty() || r.starts_with(' '))
        });
        if let Some(rest) = result_marker {
            let rest = rest.trim();
            let format = if s.starts_with('⎿') {
                Format::ClaudeTerminal
            } else {
                Format::CodexTerminal
            };
            self.start(TurnKind::Result, rest, Mode::IndentedResult, out);
            self.error = rest.starts_with("Error") || looks_failed(rest);
            return Some(format);
        }
        if let Some(rest) = s.strip_prefix('•') {
            let rest = rest.trim();
            const VERBS: [&str; 8] = [
                "Ran ", "Edited ", "Added ", "Deleted ", "Explored", "Read ", "Search ", "Updated ",
            ];
            if VERBS.iter().any(|v| rest.starts_with(v)) {
                self.start(TurnKind::Action, rest, Mode::CodexCommand, out);
            } else {
                self.flush(out);
                Turn::push_text_line(TurnKind::Text, rest, out);
            }
            return Some(Format::CodexTerminal);
        }
        if let Some(rest) = s.strip_prefix('✦') {
            self.flush(out);
            Turn::push_text_line(TurnKind::Text, rest.trim(), out);
            return Some(Format::GeminiTerminal);
        }
        if let Some(rest) = s.strip_prefix('│') {
            let body = rest.trim_start();
            // Gemini CLI's status glyphs: ✔ done, x/✖ error, - cancelled (the call was shown
            // and not run), ? awaiting confirmation. The ASCII ones head a box only when a
            // tool name follows (`- Shell …`), so a list item inside a box body is not a call.
            let call = body
                .strip_prefix(['✔', '✓', '✖', '✗'])
                .or_else(|| body.strip_prefix("x "))
                .or_else(|| {
                    ["- ", "? "].iter().find_map(|g| {
                        body.strip_prefix(g).filter(|c| {
                            c.trim_start()
                                .starts_with(|ch: char| ch.is_ascii_uppercase())
                        })
                    })
                });
            if let Some(call) = call {
                // A cancelled or unconfirmed call did not do its work: it counts as a failure,
                // so proposing it again and again is the same action with the same error.
                let failed = !body.starts_with(['✔', '✓']);
                let call = call.trim().trim_end_matches('│').trim();
                self.start(TurnKind::Action, call, Mode::GeminiBox, out);
                self.error = failed;
                return Some(Format::GeminiTerminal);
            }
        }
        if s.starts_with("<<<<<<< SEARCH") {
            self.start(TurnKind::Action, "edit", Mode::AiderEdit, out);
            return Some(Format::Aider);
        }
        if let Some(rest) = reply_line(s) {
            self.start(TurnKind::Reply, rest, Mode::Reply, out);
            Turn::push_text_line(TurnKind::Quote, rest, out);
            return s.starts_with("####").then_some(Format::Aider);
        }
        self.text_line(s, out)
    }

    fn text_line(&mut self, s: &str, out: &mut Vec<Turn>) -> Option<Format> {
        self.flush(out);
        Turn::push_text_line(TurnKind::Text, s, out);
        Some(Format::PlainText)
    }
}

/// The text of a prompt or quoted line (aider `#### `, Markdown `> `, Claude `❯ `).
fn reply_line(s: &str) -> Option<&str> {
    if s == "####" || s == ">" {
        return Some("");
    }
    let rest = s
        .strip_prefix("#### ")
        .or_else(|| s.strip_prefix("> "))
        .or_else(|| s.strip_prefix("❯ "))?;
    Some(rest.trim())
}

/// A horizontal rule (`═══…`, `---`, `___`): decoration around banners and sections.
fn is_rule(s: &str) -> bool {
    s.chars().count() >= 3
        && s.chars()
            .all(|c| matches!(c, '═' | '─' | '━' | '=' | '-' | '_' | '~'))
}

/// `Name(…` — a tool call as terminal transcripts print it.
fn is_call(rest: &str) -> bool {
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
        .unwrap_or(rest.len());
    name_len > 0 && rest.get(name_len..).is_some_and(|r| r.starts_with('('))
}

/// A harness banner that starts a new session or iteration.
fn banner(s: &str) -> Option<Format> {
    if s.starts_with("# aider chat started") {
        return Some(Format::Aider);
    }
    // A harness log line's own prefix (`[2026-04-03 09:41:26] [LOOP] === Starting Loop #12 ===`)
    // is not part of the banner: at most two bracketed groups, then the banner as written.
    let mut s = s;
    for _ in 0..2 {
        match s.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((tag, rest))
                if tag.len() <= 32 && rest.trim_start().starts_with(['=', '#', '[']) =>
            {
                s = rest.trim_start();
            }
            _ => break,
        }
    }
    let core = s.trim_start_matches(['=', '#', '-', '*', '[', ' ']);
    if session_started(core) {
        return Some(Format::PlainText);
    }
    if core.len() == s.len() && !s.starts_with("Iteration ") {
        // Only decorated banners (or a bare "Iteration N of M") count: prose may say "loop 2".
        return None;
    }
    let lower: String = core
        .chars()
        .take(24)
        .collect::<String>()
        .to_ascii_lowercase();
    let lower = lower.strip_prefix("starting ").unwrap_or(&lower);
    // The counter may follow one word naming what is iterated or who iterates (`--- task
    // iteration 12 ---`, `Ralph Iteration 3 of 10`).
    let after_word = lower
        .split_once(' ')
        // An end banner (`=== Completed Loop #11 ===`) closes a session; the next one opens it.
        .filter(|(w, _)| {
            w.chars().all(char::is_alphabetic)
                && !matches!(*w, "completed" | "end" | "ended" | "finished" | "done")
        })
        .map_or("", |(_, r)| r);
    let rest = [lower, after_word].iter().find_map(|l| {
        ["iteration ", "loop "]
            .iter()
            .find_map(|p| l.strip_prefix(p))
    })?;
    rest.trim_start_matches('#')
        .starts_with(|c: char| c.is_ascii_digit())
        .then_some(Format::PlainText)
}

/// `Session started`, `Ralph Session Started: <date>`, `**Session 12 started** (model …)` — how
/// harnesses that relaunch an agent mark each new run (decorated or not). Only at the start of a
/// line, after at most one word naming the harness, and only when the phrase ends there, so
/// prose that mentions a session (`the session started late`) does not count.
fn session_started(core: &str) -> bool {
    let lower: String = core
        .chars()
        .take(40)
        .collect::<String>()
        .to_ascii_lowercase();
    let after_name = lower.split_once(' ').map_or("", |(_, r)| r);
    [lower.as_str(), after_name].iter().any(|l| {
        let Some(rest) = l.strip_prefix("session ") else {
            return false;
        };
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
        // The phrase ends there (`: <date>`, `**`, ` (model …)`), as a banner's does.
        rest.strip_prefix("started").is_some_and(|r| {
            r.is_empty() || r.starts_with([':', '*', '!', '=', '-']) || r.starts_with(" (")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(lines: &[&str]) -> Vec<(TurnKind, String)> {
        let mut st = TerminalState::default();
        let mut out = Vec::new();
        for l in lines {
            st.feed(l, &mut out);
        }
        st.flush(&mut out);
        out.into_iter().map(|t| (t.kind, t.first_line)).collect()
    }

    #[test]
    fn claude_terminal_calls_and_results() {
        let got = turns(&[
            "● Bash(echo \"Hello from bash!\")",
            "  ⎿  Hello from bash!",
            "● Yes, I can run shell commands.",
        ]);
        assert_eq!(
            got,
            vec![
                (TurnKind::Action, "Bash(echo \"Hello from bash!\")".into()),
                (TurnKind::Result, "Hello from bash!".into()),
                (TurnKind::Text, "Yes, I can run shell commands.".into()),
            ]
        );
    }

    #[test]
    fn gemini_cancelled_calls_are_actions_that_failed_list_items_are_not() {
        let mut state = TerminalState::default();
        let mut out = Vec::new();
        for l in [
            " ╭──────────────────╮",
            " │ -  Shell rm -rf /w/.e… │",
            " ╰──────────────────╯",
            " │ - a list item in text │",
        ] {
            state.feed(l, &mut out);
        }
        state.flush(&mut out);
        assert_eq!(out[0].kind, TurnKind::Action);
        assert_eq!(out[0].first_line, "Shell rm -rf /w/.e…");
        assert_eq!(out[1].kind, TurnKind::Result);
        assert!(out[1].error, "a cancelled call did not do its work");
        assert!(out.iter().skip(2).all(|t| t.kind != TurnKind::Action));
    }

    #[test]
    fn codex_commands_continue_over_bars() {
        let got = turns(&[
            "• Ran cd /w && git status",
            "  │ --short",
            "  └ (no output)",
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, TurnKind::Action);
        assert_eq!(got[1], (TurnKind::Result, "(no output)".into()));
    }

    #[test]
    fn banners_start_sessions() {
        assert!(banner("=== Iteration 3 ===").is_some());
        assert!(banner("Iteration 2 of 5 (claude) - Wed Apr  8").is_some());
        assert!(banner("# aider chat started at 2025-12-03 14:43:45").is_some());
        assert!(banner("I will loop 3 times").is_none());
        assert!(banner("Ralph Session Started: Tue Feb 10 22:09:11 +04 2026").is_some());
        assert!(banner("**Session 12 started** (model: opus-4.5-thinking)").is_some());
        assert!(banner("**Session 12 ended** - Agent finished naturally").is_none());
        assert!(banner("The session started late, so I waited.").is_none());
        assert!(banner("[2026-04-03 09:41:26] [LOOP] === Starting Loop #12 ===").is_some());
        assert!(banner("--- task iteration 12 ---").is_some());
        assert!(banner("Ralph Iteration 3 of 10").is_none());
        assert!(banner("=== Ralph Iteration 3 of 10 ===").is_some());
        assert!(banner("[2026-04-03 09:41:26] [INFO] Loop #12 - calling init").is_none());
        assert!(banner("[2026-04-03 09:41:26] [LOOP] === Completed Loop #11 ===").is_none());
    }
}
