//! Agent framework logs written through a `date time | LEVEL | module:function:line - message`
//! logger, as OpenManus (and its forks) print their step loop: `✨ X's thoughts: …` is what
//! the model said, `🛠️ X selected N tools to use` closes a turn (with N = 0, a turn without
//! any action), `🔧 Activating tool: 'name'` and `🎯 Tool 'name' completed its mission! Result:
//! …` are an action and its result, and `… Added prompt: …` is the harness talking back (its
//! stuck-state nudge). Every other message of such a log (step counters, token usage) is
//! bookkeeping and makes no turn, so a counter that moves never hides a repeated thought.
//!
//! Invariants: pure, no state; one scan of the line's prefix.

/// What one log line of an agent framework says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LogLine<'a> {
    Text(&'a str),
    /// The model's turn ended without an action.
    NoAction,
    Action(&'a str),
    Result(&'a str),
    Reply(&'a str),
    Bookkeeping,
}

/// The agent-log meaning of `s`, or `None` when `s` is not a framework log line.
pub(super) fn agent_log_line(s: &str) -> Option<LogLine<'_>> {
    let msg = logger_message(s)?;
    let msg = msg.trim();
    if let Some(i) = msg.find("'s thoughts:")
        && msg.starts_with('✨')
    {
        let text = msg.get(i + "'s thoughts:".len()..).unwrap_or("").trim();
        return Some(LogLine::Text(text));
    }
    if msg.starts_with('🛠') && msg.ends_with(" tools to use") {
        let n = msg
            .trim_end_matches(" tools to use")
            .rsplit(' ')
            .next()
            .unwrap_or("");
        return Some(if n == "0" {
            LogLine::NoAction
        } else {
            LogLine::Bookkeeping
        });
    }
    if let Some(tool) = msg.strip_prefix("🔧 Activating tool:") {
        return Some(LogLine::Action(tool.trim()));
    }
    if msg.starts_with("🎯 Tool ")
        && let Some(i) = msg.find("Result:")
    {
        return Some(LogLine::Result(
            msg.get(i + "Result:".len()..).unwrap_or("").trim(),
        ));
    }
    if let Some(i) = msg.find("Added prompt:") {
        return Some(LogLine::Reply(
            msg.get(i + "Added prompt:".len()..).unwrap_or("").trim(),
        ));
    }
    Some(LogLine::Bookkeeping)
}

/// The message of a `YYYY-MM-DD HH:MM:SS[.mmm] | LEVEL | where - message` line.
fn logger_message(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let dated = (0..4).all(digit)
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.get(10) == Some(&b' ')
        && digit(11)
        && b.get(13) == Some(&b':');
    if !dated {
        return None;
    }
    let mut parts = s.splitn(3, " | ");
    let _time = parts.next()?;
    let level = parts.next()?.trim();
    if level.is_empty() || !level.bytes().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let (_, msg) = parts.next()?.split_once(" - ")?;
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "2025-03-11 21:37:37.015 | INFO     | app.agent.toolcall:think:53 - ";

    #[test]
    fn the_step_loop_messages() {
        let line = |m: &str| format!("{P}{m}");
        assert_eq!(
            agent_log_line(&line("✨ Manus's thoughts: I'm ready.")),
            Some(LogLine::Text("I'm ready."))
        );
        assert_eq!(
            agent_log_line(&line("🛠️ Manus selected 0 tools to use")),
            Some(LogLine::NoAction)
        );
        assert_eq!(
            agent_log_line(&line("🛠️ Manus selected 1 tools to use")),
            Some(LogLine::Bookkeeping)
        );
        assert_eq!(
            agent_log_line(&line("🔧 Activating tool: 'python_execute'...")),
            Some(LogLine::Action("'python_execute'..."))
        );
        assert_eq!(
            agent_log_line(&line(
                "🎯 Tool 'python_execute' completed its mission! Result: 42"
            )),
            Some(LogLine::Result("42"))
        );
        assert_eq!(
            agent_log_line(&line("Executing step 4/20")),
            Some(LogLine::Bookkeeping)
        );
        assert_eq!(agent_log_line("2025-03-11 plain words"), None);
        assert_eq!(agent_log_line("✨ Manus's thoughts: no prefix"), None);
    }
}
