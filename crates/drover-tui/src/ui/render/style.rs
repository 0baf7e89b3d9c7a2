//! Styles for meanings: one place maps states, health, severities and verdicts to theme
//! colours, and the words/symbols that go with them.

use ratatui::style::{Modifier, Style};
use ratatui::text::Span;

use crate::core::{Health, Severity, SlotState, SlotView, Verdict};
use crate::theme::Theme;
use crate::ui::fleet::{health_symbol, state_symbol};

pub fn state_style(theme: &Theme, state: &SlotState) -> Style {
    let c = &theme.state;
    let fg = match state {
        SlotState::Pending => c.pending,
        SlotState::Preflight | SlotState::Creating | SlotState::Starting => c.starting,
        SlotState::Running => c.running,
        SlotState::Paused { .. } => c.paused,
        SlotState::Stopping | SlotState::Removing | SlotState::Retiring => c.stopped,
        SlotState::Exited { .. } => c.exited,
        SlotState::Backoff { .. } => c.backoff,
        SlotState::Throttled { .. } => c.throttled,
        SlotState::Blocked { .. } => c.blocked,
        SlotState::TakenOver { .. } => c.taken_over,
        SlotState::Stopped { .. } => c.stopped,
    };
    let s = Style::default().fg(fg);
    if matches!(state, SlotState::Blocked { .. }) {
        s.add_modifier(Modifier::BOLD)
    } else {
        s
    }
}

/// The state cell: symbol and word; a crash-looping slot says so.
pub fn state_span(theme: &Theme, s: &SlotView) -> Span<'static> {
    let word = if s.crash_looping && !s.state.holds_automation() {
        "crashloop"
    } else if s.idle_spinning && s.state == SlotState::Running {
        "idle-spin"
    } else {
        s.state.label()
    };
    let mut style = state_style(theme, &s.state);
    if s.crash_looping {
        style = style.add_modifier(Modifier::BOLD);
    }
    Span::styled(format!("{} {word}", state_symbol(&s.state)), style)
}

pub fn health_style(theme: &Theme, h: &Health) -> Style {
    match h {
        Health::Unknown => Style::default().fg(theme.base.muted),
        Health::Healthy => Style::default().fg(theme.health.healthy),
        Health::Unready { .. } => Style::default().fg(theme.health.unready),
        Health::Stalled { .. } => Style::default()
            .fg(theme.health.stalled)
            .add_modifier(Modifier::BOLD),
    }
}

pub fn health_span(theme: &Theme, h: &Health) -> Span<'static> {
    let text = match h {
        Health::Unknown => "· -".to_string(),
        other => format!("{} {}", health_symbol(other), other.label()),
    };
    Span::styled(text, health_style(theme, h))
}

pub fn severity_style(theme: &Theme, s: Severity) -> Style {
    match s {
        Severity::Info => Style::default().fg(theme.severity.info),
        Severity::Warning => Style::default().fg(theme.severity.warning),
        Severity::Critical => Style::default()
            .fg(theme.severity.critical)
            .add_modifier(Modifier::BOLD),
    }
}

pub fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "i info",
        Severity::Warning => "▲ warn",
        Severity::Critical => "‼ crit",
    }
}

pub fn verdict_style(theme: &Theme, v: Verdict) -> Style {
    Style::default().fg(match v {
        Verdict::Pass => theme.verdict.pass,
        Verdict::Fail => theme.verdict.fail,
        Verdict::Error => theme.verdict.error,
        Verdict::NoTests => theme.verdict.no_tests,
    })
}

pub fn verdict_symbol(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✓",
        Verdict::Fail => "✗",
        Verdict::Error => "‼",
        Verdict::NoTests => "∅",
    }
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::NoTests => "no tests",
    }
}

pub fn muted(theme: &Theme) -> Style {
    Style::default().fg(theme.base.muted)
}

pub fn text(theme: &Theme) -> Style {
    Style::default().fg(theme.base.text)
}

pub fn accent(theme: &Theme) -> Style {
    Style::default().fg(theme.base.accent)
}

pub fn title(theme: &Theme) -> Style {
    Style::default()
        .fg(theme.base.title)
        .add_modifier(Modifier::BOLD)
}

/// The selected row: theme colours, and reverse video in the colourless theme.
pub fn selection(theme: &Theme) -> Style {
    if theme.mono {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    } else {
        Style::default()
            .fg(theme.base.selection_fg)
            .bg(theme.base.selection_bg)
            .add_modifier(Modifier::BOLD)
    }
}

pub fn matched(theme: &Theme) -> Style {
    if theme.mono {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
            .fg(theme.base.match_fg)
            .bg(theme.base.match_bg)
    }
}

pub fn border(theme: &Theme, focused: bool) -> Style {
    if focused {
        Style::default().fg(theme.base.border_focused)
    } else {
        Style::default().fg(theme.base.border)
    }
}
