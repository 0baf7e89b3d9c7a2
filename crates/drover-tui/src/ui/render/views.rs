//! The full-screen views: locks, alerts (with the selected alert's evidence), events/audit
//! and PROGRESS.md.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::core::{AlertKind, LockView, Severity, Snapshot};
use crate::theme::Theme;
use crate::ui::rows::{alerts_sorted, locks_sorted};
use crate::ui::state::UiState;
use crate::ui::text::{age, clock, date_time, fit, sanitize};

use super::{progress_rows, style};

/// Columns left of PROGRESS.md text for the change mark.
pub const PROGRESS_GUTTER: u16 = 2;

fn block<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .title(Span::styled(title, style::title(theme)))
        .border_style(style::border(theme, true))
}

fn empty(frame: &mut Frame<'_>, area: Rect, title: String, msg: &str, theme: &Theme) {
    frame.render_widget(
        Paragraph::new(Span::styled(msg.to_string(), style::muted(theme)))
            .block(block(title, theme)),
        area,
    );
}

pub fn locks(frame: &mut Frame<'_>, area: Rect, snap: &Snapshot, ui: &UiState, theme: &Theme) {
    let locks = locks_sorted(snap);
    let stale = locks.iter().filter(|l| l.stale).count();
    // The fleet's own hold times explain when a lock turns overdue (adaptive threshold).
    let title = match snap.upstream.hold_line() {
        Some(hold) => format!(" Locks ({}, {stale} stale) · {hold} ", locks.len()),
        None => format!(" Locks ({}, {stale} stale) ", locks.len()),
    };
    if locks.is_empty() {
        let why = snap
            .upstream
            .headline()
            .unwrap_or_else(|| "no task is locked at the upstream tip".into());
        empty(frame, area, title, &why, theme);
        return;
    }
    let header = Row::new(
        ["TASK", "HOLDER", "HOLDER STATE", "AGE", "CLAIMS", "MARKS"]
            .map(|h| Cell::from(h).style(style::muted(theme).add_modifier(Modifier::BOLD))),
    );
    let rows: Vec<Row> = locks
        .iter()
        .map(|l| {
            let holder = match (&l.holder, l.holder_is_slot) {
                (None, _) => "unknown".to_string(),
                (Some(h), true) => h.clone(),
                (Some(h), false) => format!("{h} (not a slot)"),
            };
            let holder_state = l.holder.as_deref().and_then(|h| snap.slot(h)).map_or_else(
                || {
                    let gone = if l.holder_is_slot { "gone" } else { "-" };
                    Span::styled(gone, style::muted(theme))
                },
                |s| style::state_span(theme, s),
            );
            let mut marks: Vec<Span> = Vec::new();
            if l.stale {
                marks.push(Span::styled(
                    "⚠ STALE ",
                    style::severity_style(theme, Severity::Critical),
                ));
            }
            if l.overdue {
                marks.push(Span::styled(
                    "▲ overdue ",
                    style::severity_style(theme, Severity::Warning),
                ));
            }
            if l.release_requested {
                marks.push(Span::styled("⟳ releasing", style::accent(theme)));
            }
            Row::new(vec![
                Cell::from(sanitize(&l.task)),
                Cell::from(sanitize(&holder)),
                Cell::from(holder_state),
                Cell::from(age(ui.now_ms, Some(l.claimed_at))),
                Cell::from(claims_cell(snap, l, theme)),
                Cell::from(Line::from(marks)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(16),
        Constraint::Length(13),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(19),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block(title, theme))
        .highlight_symbol("▶")
        .row_highlight_style(style::selection(theme));
    let mut state = TableState::default().with_selected(Some(ui.locks_selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The claim counter, highlighted while the task has a re-claim alert.
fn claims_cell<'a>(snap: &Snapshot, l: &LockView, theme: &Theme) -> Span<'a> {
    let looping = snap
        .alerts
        .iter()
        .any(|a| matches!(&a.key.kind, AlertKind::Reclaim { task } if *task == l.task));
    let text = format!("{}", l.claims);
    if looping {
        Span::styled(
            format!("{text} ↻"),
            style::severity_style(theme, Severity::Warning),
        )
    } else {
        Span::raw(text)
    }
}

pub fn alerts(frame: &mut Frame<'_>, area: Rect, snap: &Snapshot, ui: &UiState, theme: &Theme) {
    let list = alerts_sorted(snap);
    let unacked = list.iter().filter(|a| a.acked.is_none()).count();
    let title = format!(" Alerts ({}, {unacked} not acknowledged) ", list.len());
    if list.is_empty() {
        empty(frame, area, title, "✓ no open alerts", theme);
        return;
    }
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Fill(1)]).areas(area);
    // Ages and counts only where the message keeps a useful width.
    let wide = area.width >= 110;
    let mut heads = vec!["SEV", "SLOT", "KIND", "MESSAGE"];
    if wide {
        heads.extend(["FIRST", "LAST", "×"]);
    }
    heads.push("ACK");
    let header = Row::new(
        heads
            .into_iter()
            .map(|h| Cell::from(h).style(style::muted(theme).add_modifier(Modifier::BOLD))),
    );
    let rows: Vec<Row> = list
        .iter()
        .map(|a| {
            let ack = a
                .acked
                .as_ref()
                .map_or(Span::styled("new", style::accent(theme)), |k| {
                    Span::styled(format!("✓ {}", k.by), style::muted(theme))
                });
            let sev_style = if a.acked.is_some() {
                style::muted(theme)
            } else {
                style::severity_style(theme, a.severity)
            };
            let mut cells = vec![
                Cell::from(style::severity_word(a.severity)).style(sev_style),
                Cell::from(a.key.slot.clone().unwrap_or_else(|| "fleet".into())),
                Cell::from(fit(&kind_label(&a.key.kind), 13)),
                Cell::from(sanitize(&a.message)),
            ];
            if wide {
                cells.extend([
                    Cell::from(age(ui.now_ms, Some(a.first_seen))),
                    Cell::from(age(ui.now_ms, Some(a.last_seen))),
                    Cell::from(a.count.to_string()),
                ]);
            }
            cells.push(Cell::from(ack));
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(7),
        Constraint::Length(15),
        Constraint::Length(13),
        Constraint::Fill(1),
    ];
    if wide {
        widths.extend([
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(4),
        ]);
    }
    widths.push(Constraint::Length(8));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block(title, theme))
        .highlight_symbol("▶")
        .row_highlight_style(style::selection(theme));
    let mut state = TableState::default().with_selected(Some(ui.alerts_selected));
    frame.render_stateful_widget(table, top, &mut state);

    let Some(a) = list.get(ui.alerts_selected) else {
        return;
    };
    let mut lines = vec![
        Line::from(Span::styled(sanitize(&a.message), style::text(theme))),
        Line::from(Span::styled(
            format!(
                "id {} · first {} ago · last {} ago · seen {}",
                a.id,
                age(ui.now_ms, Some(a.first_seen)),
                age(ui.now_ms, Some(a.last_seen)),
                times(a.count)
            ),
            style::muted(theme),
        )),
    ];
    if a.evidence.is_empty() {
        lines.push(Line::from(Span::styled(
            "no evidence recorded",
            style::muted(theme),
        )));
    }
    for e in &a.evidence {
        lines.push(Line::from(vec![
            Span::styled("│ ", style::muted(theme)),
            Span::styled(sanitize(e), style::text(theme)),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(" Evidence ".into(), theme)),
        bottom,
    );
}

/// The human line of a stored event: its payload's `message`, else the payload itself.
fn event_message(payload: &str) -> String {
    let msg = serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    sanitize(&msg.unwrap_or_else(|| payload.to_string()))
}

pub fn events(frame: &mut Frame<'_>, area: Rect, ui: &UiState, theme: &Theme) {
    let ev = &ui.events;
    let visible = ev.visible();
    let mut title = format!(" Events ({}) ", visible.len());
    if !ev.filter.is_empty() {
        title = format!(
            " Events /{} ({} of {}) ",
            ev.filter.raw,
            visible.len(),
            ev.rows.len()
        );
    }
    if let Some(e) = &ev.error {
        empty(
            frame,
            area,
            title,
            &format!("cannot read events: {e}"),
            theme,
        );
        return;
    }
    if visible.is_empty() {
        let msg = if !ev.loaded {
            "loading…"
        } else if ev.rows.is_empty() {
            "no events recorded yet"
        } else {
            "no event matches the filter — esc clears it"
        };
        empty(frame, area, title, msg, theme);
        return;
    }
    // Narrow screens show the time of day only, to leave the message some room.
    let full_date = area.width >= 120;
    let time_head = if full_date { "TIME (UTC)" } else { "UTC" };
    let header = Row::new(
        [time_head, "SLOT", "KIND", "WHO", "WHAT"]
            .map(|h| Cell::from(h).style(style::muted(theme).add_modifier(Modifier::BOLD))),
    );
    // Only the rows that can be on screen are decoded.
    let height = usize::from(area.height.saturating_sub(3)).max(1);
    let first = ui.events.selected.saturating_sub(height.saturating_sub(1));
    let rows: Vec<Row> = visible
        .iter()
        .skip(first)
        .take(height)
        .map(|e| {
            let ts = u64::try_from(e.ts_ms).unwrap_or(0);
            Row::new(vec![
                Cell::from(if full_date { date_time(ts) } else { clock(ts) })
                    .style(style::muted(theme)),
                Cell::from(fit(&e.slot.clone().unwrap_or_else(|| "-".into()), 15)),
                // Cut with an ellipsis, so a long kind never reads as a different word.
                Cell::from(fit(&e.kind, 14)).style(style::accent(theme)),
                Cell::from(fit(&e.who.clone().unwrap_or_else(|| "drover".into()), 8)),
                Cell::from(event_message(&e.payload)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(if full_date { 19 } else { 8 }),
        Constraint::Length(15),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block(title, theme))
        .highlight_symbol("▶")
        .row_highlight_style(style::selection(theme));
    let mut state = TableState::default().with_selected(Some(ui.events.selected - first));
    frame.render_stateful_widget(table, area, &mut state);
}

pub fn progress(frame: &mut Frame<'_>, area: Rect, ui: &UiState, theme: &Theme) {
    let doc = &ui.progress.doc;
    let changed = ui.progress.lines.iter().filter(|l| l.changed).count();
    let mut title = " PROGRESS.md ".to_string();
    if let Some(c) = &doc.commit {
        title.push_str(&format!("@ {} ", fit(c, 12)));
    }
    if let Some(t) = doc.changed_at_ms {
        let t = u64::try_from(t).unwrap_or(0);
        title.push_str(&format!("· changed {} ago ", age(ui.now_ms, Some(t))));
    }
    if doc.truncated {
        title.push_str("· truncated ");
    }
    if changed > 0 {
        title.push_str(&format!("· {changed} new lines marked + "));
    }
    if doc.text.is_none() {
        empty(frame, area, title, "no PROGRESS.md found yet", theme);
        return;
    }
    let rows = progress_rows(ui);
    let height = usize::from(area.height.saturating_sub(2));
    let scroll = ui.progress.scroll.min(rows.len().saturating_sub(height));
    let mark = style::severity_style(theme, Severity::Warning).add_modifier(Modifier::BOLD);
    let lines: Vec<Line> = rows
        .into_iter()
        .skip(scroll)
        .take(height)
        .map(|r| {
            let is_changed = ui.progress.lines.get(r.source).is_some_and(|l| l.changed);
            let gutter = if is_changed {
                Span::styled("+ ", mark)
            } else {
                Span::raw("  ")
            };
            let mut spans = vec![gutter];
            spans.extend(r.line.spans);
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block(title, theme)), area);
}

/// An alert kind as the operator reads it: a loop detector's alert is named after what it
/// watches when that is not a loop (the token budget), else "loop".
pub fn kind_label(kind: &crate::core::AlertKind) -> String {
    match kind {
        crate::core::AlertKind::Loop { detector } if detector == "budget" => "budget".into(),
        other => other.name().to_string(),
    }
}

/// "1 time", "3 times".
pub fn times(n: impl Into<u64>) -> String {
    let n = n.into();
    if n == 1 {
        "1 time".into()
    } else {
        format!("{n} times")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::AlertKind;

    #[test]
    fn the_budget_alert_is_named_budget_not_loop() {
        let budget = AlertKind::Loop {
            detector: "budget".into(),
        };
        assert_eq!(kind_label(&budget), "budget");
        let repeat = AlertKind::Loop {
            detector: "output_repetition".into(),
        };
        assert_eq!(kind_label(&repeat), "loop");
        assert_eq!(kind_label(&AlertKind::CrashLoop), "crash_loop");
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(times(1u32), "1 time");
        assert_eq!(times(0u32), "0 times");
        assert_eq!(times(3u32), "3 times");
    }
}
