//! The shared branch's check on screen: the header's `main ✓ <sha>` / `main ✗ <sha> since 14:02
//! (worker-3)` group, and the list of recent checks (commit, verdict, counts, duration, who
//! landed it) shown under the locks when `[upstream.check]` is configured.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table};

use crate::core::{CheckOutcome, MainState, MainView, Severity};
use crate::theme::Theme;
use crate::ui::text::{clock, compact_duration, fit, sanitize};

use super::style;

/// The header group, e.g. `main ✗ 1a2b3c4d since 14:02 (worker-3) · held`.
pub fn header_group(main: &MainView, theme: &Theme) -> Vec<Span<'static>> {
    let sha = main
        .short_commit()
        .map(sanitize)
        .unwrap_or_else(|| "-".into());
    let (text, style) = match main.state {
        MainState::Green => (
            format!("main ✓ {sha}"),
            Style::default().fg(theme.state.running),
        ),
        MainState::Unknown => (format!("main ? {sha}"), style::muted(theme)),
        MainState::Red => {
            let mut t = format!("main ✗ {sha}");
            if let Some(since) = main.since {
                t.push_str(&format!(" since {}", clock(since).get(..5).unwrap_or("")));
            }
            if let Some(slot) = main
                .culprit
                .as_ref()
                .and_then(|c| c.landed_by.as_ref())
                .map(|l| sanitize(&l.slot))
            {
                t.push_str(&format!(" ({slot})"));
            }
            if main.bisecting {
                t.push_str(" · bisecting");
            }
            if main.hold {
                t.push_str(" · new runs held");
            }
            (t, style::severity_style(theme, Severity::Critical))
        }
    };
    let mut group = vec![Span::styled(text, style)];
    if let Some(e) = &main.check_error {
        group.push(Span::styled(
            format!(" (check failed: {})", fit(&sanitize(e), 30)),
            style::severity_style(theme, Severity::Warning),
        ));
    }
    group
}

/// Rows of recent checks, newest first.
pub fn checks(frame: &mut Frame<'_>, area: Rect, main: &MainView, theme: &Theme) {
    let title = format!(" Checks of main ({}) ", main.checks.len());
    let header = Row::new(
        [
            "COMMIT",
            "VERDICT",
            "PASS",
            "FAIL",
            "TOOK",
            "LANDED BY",
            "AUTHOR · SUMMARY",
        ]
        .map(|h| Cell::from(h).style(style::muted(theme).add_modifier(Modifier::BOLD))),
    );
    let rows: Vec<Row> = main
        .checks
        .iter()
        .map(|c| {
            let (verdict_style, pass, fail) = match &c.outcome {
                CheckOutcome::Ran { state, summary, .. } => (
                    match state {
                        MainState::Green => Style::default().fg(theme.state.running),
                        MainState::Red => style::severity_style(theme, Severity::Critical),
                        MainState::Unknown => style::muted(theme),
                    },
                    summary.passed.to_string(),
                    summary.failed.saturating_add(summary.errors).to_string(),
                ),
                CheckOutcome::Failed { .. } => (
                    style::severity_style(theme, Severity::Warning),
                    "-".into(),
                    "-".into(),
                ),
            };
            let verdict = if c.bisect {
                format!("{} (bisect)", c.verdict())
            } else {
                c.verdict().to_string()
            };
            let what = match &c.outcome {
                CheckOutcome::Failed { error } => sanitize(error),
                CheckOutcome::Ran { .. } => {
                    format!("{} · {}", sanitize(&c.author), sanitize(&c.summary))
                }
            };
            Row::new(vec![
                Cell::from(sanitize(c.commit.get(..8).unwrap_or(&c.commit))),
                Cell::from(Span::styled(verdict, verdict_style)),
                Cell::from(pass),
                Cell::from(fail),
                Cell::from(compact_duration(c.duration_ms)),
                Cell::from(
                    c.landed_by
                        .as_ref()
                        .map_or_else(|| "-".to_string(), |l| sanitize(&l.slot)),
                ),
                Cell::from(what),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(17),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(14),
        Constraint::Fill(1),
    ];
    let block = Block::bordered()
        .title(Span::styled(title, style::title(theme)))
        .border_style(style::border(theme, false));
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
