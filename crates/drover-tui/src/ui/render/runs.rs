//! The detail pane's runs tab: the slot's current run and its latest finished ones from the
//! run ledger — when, how long, how it ended, what it spent and what it delivered — and the
//! commits each landed with their time, which is where `drover report --commit` opens the
//! run's log.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::style;
use crate::core::{RunRecord, SlotView, dollars};
use crate::theme::Theme;
use crate::ui::state::UiState;
use crate::ui::text::{clock, compact_duration, sanitize};

pub(super) fn runs(s: &SlotView, ui: &UiState, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if s.run.is_none() && s.runs.is_empty() {
        lines.push(Line::from(Span::styled(
            "no run recorded for this slot yet",
            style::muted(theme),
        )));
        return lines;
    }
    for r in s.run.iter().chain(s.runs.iter()) {
        run(&mut lines, r, ui.now_ms, theme);
    }
    lines
}

fn run(lines: &mut Vec<Line<'static>>, r: &RunRecord, now: u64, theme: &Theme) {
    let end = r
        .end
        .as_ref()
        .map_or_else(|| "running".to_string(), |e| e.describe());
    lines.push(Line::from(vec![
        Span::styled(
            format!("gen {} · {} ", r.generation, clock(r.started_at)),
            style::title(theme),
        ),
        Span::styled(
            format!("{} · {end}", compact_duration(r.duration(now))),
            if r.end.is_none() {
                style::accent(theme)
            } else {
                style::text(theme)
            },
        ),
    ]));
    let tests = match (r.last_test, r.passing_delta()) {
        (Some(t), Some(d)) => format!(" · tests {} passed ({d:+})", t.passed),
        _ => String::new(),
    };
    lines.push(Line::from(Span::styled(
        format!(
            "  {} · {} tokens in/out {}/{} · {} commits · {} tasks done{tests}",
            dollars(r.cost_micros),
            r.tokens.total(),
            r.tokens.input,
            r.tokens.output,
            r.commit_count,
            r.locks_released.len()
        ),
        style::text(theme),
    )));
    for c in r.commits.iter().rev() {
        lines.push(Line::from(vec![
            Span::styled(format!("  {} ", clock(c.at)), style::muted(theme)),
            Span::styled(
                c.commit.get(..10).unwrap_or(&c.commit).to_string(),
                style::accent(theme).add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" {}", sanitize(&c.summary)), style::text(theme)),
        ]));
    }
    lines.push(Line::from(""));
}
