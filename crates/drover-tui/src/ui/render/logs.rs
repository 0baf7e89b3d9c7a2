//! The detail pane's logs tab: the selected slot's log lines drawn from the bottom up, with
//! search matches highlighted, and the state shown in the pane's title (follow, wrap, search,
//! older lines). Lines are only drawn when the log view holds the selected slot's log.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::style;
use crate::core::{Severity, SlotView};
use crate::theme::Theme;
use crate::ui::layout::page_rows;
use crate::ui::logpages::LogLine;
use crate::ui::logview::OlderLines;
use crate::ui::markdown::cut_at_width;
use crate::ui::state::UiState;
use crate::ui::text::{clock, find_matches, fit};

pub(super) fn log_title(ui: &UiState, theme: &Theme) -> Span<'static> {
    let mut parts = Vec::new();
    parts.push(if ui.logs.follow {
        "● follow".to_string()
    } else {
        "‖ paused".to_string()
    });
    if ui.logs.wrap {
        parts.push("wrap".into());
    }
    if let Some(s) = &ui.logs.search {
        let pos = s.current.map_or(0, |c| c + 1);
        parts.push(format!("/{} {pos}/{}", fit(&s.query, 20), s.matches.len()));
    }
    let top_shown = ui.logs.top_shown(page_rows(ui));
    match &ui.logs.older {
        OlderLines::Loading => parts.push("loading older lines…".into()),
        OlderLines::AtStart if top_shown => parts.push("start of log".into()),
        OlderLines::Unavailable if top_shown && !ui.logs.follow => {
            parts.push("no log files here".into());
        }
        OlderLines::Failed(why) if top_shown => {
            parts.push(fit(&format!("older lines: {why}"), 40));
        }
        _ => {}
    }
    if ui.logs.detached {
        parts.push("newest not held (G)".into());
    }
    Span::styled(format!("[{}] ", parts.join(" · ")), style::muted(theme))
}

/// Log rows from the bottom up: without wrap one row per line (cut), with wrap as many rows
/// as the line needs.
pub(super) fn logs(frame: &mut Frame<'_>, area: Rect, s: &SlotView, ui: &UiState, theme: &Theme) {
    let lines = ui.logs.lines();
    let height = usize::from(area.height);
    // Lines of another slot must never appear under this slot's name.
    if ui.logs.slot() != ui.fleet.selected.as_deref() {
        frame.render_widget(
            Paragraph::new(Span::styled("loading…", style::muted(theme))),
            area,
        );
        return;
    }
    if lines.is_empty() {
        // A slot that never started has no output to wait for: say why instead.
        let why = match crate::ui::reason::slot_reason(s) {
            Some(r) if s.starts == 0 => Span::styled(
                crate::ui::text::sanitize(&r),
                style::severity_style(theme, crate::core::Severity::Warning),
            ),
            _ => Span::styled("no output yet", style::muted(theme)),
        };
        frame.render_widget(Paragraph::new(why).wrap(Wrap { trim: false }), area);
        return;
    }
    let Some(bottom) = ui.logs.bottom_index() else {
        return;
    };
    let width = usize::from(area.width);
    let gutter = 9; // "HH:MM:SS "
    let text_w = width.saturating_sub(gutter).max(1);
    let query = ui.logs.search.as_ref().map(|s| s.query.as_str());
    let current = ui.logs.current_match_seq();
    let mut rows: Vec<Line<'static>> = Vec::with_capacity(height);
    for i in (0..=bottom).rev() {
        if rows.len() >= height {
            break;
        }
        let Some(l) = lines.get(i) else { continue };
        let mut line_rows = log_line_rows(
            l,
            text_w,
            ui.logs.wrap,
            query,
            current == Some(l.seq),
            theme,
        );
        line_rows.reverse();
        for r in line_rows {
            if rows.len() < height {
                rows.push(r);
            }
        }
    }
    rows.reverse();
    frame.render_widget(Paragraph::new(rows), area);
}

fn log_line_rows(
    l: &LogLine,
    width: usize,
    wrap: bool,
    query: Option<&str>,
    is_current: bool,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let ts_style = if l.stderr {
        style::severity_style(theme, Severity::Warning)
    } else {
        style::muted(theme)
    };
    let mark = if is_current { "▶" } else { " " };
    let gutter = Span::styled(format!("{}{mark}", clock(l.ts_ms)), ts_style);
    let mut pieces: Vec<(usize, &str)> = Vec::new();
    let mut start = 0;
    let text = l.text.as_str();
    loop {
        let rest = &text[start..];
        let cut = cut_at_width(rest, width);
        pieces.push((start, &rest[..cut]));
        start += cut;
        if !wrap || start >= text.len() {
            break;
        }
    }
    let matches = query.map(|q| find_matches(text, q)).unwrap_or_default();
    let base = style::text(theme);
    let hit = if is_current {
        style::matched(theme).add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    } else {
        style::matched(theme)
    };
    pieces
        .into_iter()
        .enumerate()
        .map(|(n, (offset, piece))| {
            let lead = if n == 0 {
                gutter.clone()
            } else {
                Span::raw(" ".repeat(9))
            };
            let mut spans = vec![lead];
            spans.extend(highlight(piece, offset, &matches, base, hit));
            Line::from(spans)
        })
        .collect()
}

/// Splits `piece` (starting at byte `offset` of its line) into plain and matched spans.
/// Slicing is safe: match bounds come from `find_matches` on the same line and piece bounds
/// from `cut_at_width`, so all are char boundaries, and they are clamped to the piece.
fn highlight(
    piece: &str,
    offset: usize,
    matches: &[(usize, usize)],
    base: Style,
    hit: Style,
) -> Vec<Span<'static>> {
    let end = offset + piece.len();
    let mut out = Vec::new();
    let mut pos = offset;
    for (ms, me) in matches {
        let (s, e) = ((*ms).max(offset), (*me).min(end));
        if s >= e {
            continue;
        }
        if s > pos {
            out.push(Span::styled(
                piece[pos - offset..s - offset].to_string(),
                base,
            ));
        }
        out.push(Span::styled(piece[s - offset..e - offset].to_string(), hit));
        pos = e;
    }
    if pos < end {
        out.push(Span::styled(piece[pos - offset..].to_string(), base));
    }
    out
}
