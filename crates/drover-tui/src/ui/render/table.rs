//! The fleet table: one row per slot (and role headings when grouped), columns chosen by
//! width and priority, the state cell carrying symbol, word and colour.

use std::collections::HashMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::core::{LockView, Severity, SlotView, Snapshot, TrendPoint, Verdict};
use crate::theme::Theme;
use crate::ui::fleet::{
    Column, FleetRow, NameWidths, fit_columns, live, selected_row, visible_rows,
};
use crate::ui::reason::slot_reason;
use crate::ui::state::{Focus, UiState};
use crate::ui::text::{age, fit, sanitize};

use super::style;

pub fn fleet_table(
    frame: &mut Frame<'_>,
    area: Rect,
    snap: &Snapshot,
    ui: &UiState,
    theme: &Theme,
) {
    let rows = visible_rows(snap, &ui.fleet);
    let shown = rows
        .iter()
        .filter(|r| matches!(r, FleetRow::Slot(_)))
        .count();
    let mut title = vec![Span::styled(" Fleet ", style::title(theme))];
    if !ui.fleet.filter.is_empty() {
        title.push(Span::styled(
            format!(
                "/{} ({shown} of {}) ",
                ui.fleet.filter.raw,
                snap.slots.len()
            ),
            style::accent(theme),
        ));
    }
    let arrow = if ui.fleet.descending { "↑" } else { "↓" };
    let sort = format!(" sort: {} {arrow} ", ui.fleet.sort.name());
    let inner_w = area.width.saturating_sub(3);
    let names = NameWidths::of(rows.iter().filter_map(|r| match r {
        FleetRow::Slot(s) => Some(*s),
        FleetRow::Group { .. } => None,
    }));
    let cols = fit_columns(inner_w, ui.fleet.group_by_role, names);
    let mut block = Block::bordered()
        .title(Line::from(title))
        .title_bottom(Line::from(Span::styled(sort.clone(), style::muted(theme))))
        .border_style(style::border(theme, ui.focus == Focus::Table));
    // Too narrow for the REASON column: the selected slot's reason goes on the bottom border.
    if !cols.iter().any(|(c, _)| *c == Column::Reason)
        && let Some(s) = ui
            .fleet
            .selected
            .as_deref()
            .and_then(|sel| snap.slots.iter().find(|s| s.slot == sel))
        && let Some(reason) = slot_reason(s)
    {
        let room = usize::from(area.width).saturating_sub(sort.chars().count() + 6);
        if room >= 12 {
            let text = fit(&format!("{}: {}", s.slot, sanitize(&reason)), room);
            block = block.title_bottom(
                Line::from(Span::styled(format!(" {text} "), reason_style(s, theme)))
                    .right_aligned(),
            );
        }
    }
    let header = Row::new(cols.iter().map(|(c, _)| {
        let mut st = style::muted(theme).add_modifier(Modifier::BOLD);
        if *c == ui.fleet.sort {
            st = style::accent(theme).add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
        }
        Cell::from(c.title()).style(st)
    }));
    let lock_of: HashMap<&str, &LockView> =
        snap.locks.iter().map(|l| (l.task.as_str(), l)).collect();
    let critical: HashMap<&str, bool> = snap
        .alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical && a.acked.is_none())
        .filter_map(|a| a.key.slot.as_deref().map(|s| (s, true)))
        .collect();
    let body: Vec<Row> = rows
        .iter()
        .map(|r| match r {
            FleetRow::Group { role, shown, total } => {
                let cells = cols.iter().map(|(c, w)| match c {
                    Column::Slot => Cell::from(fit(&format!("▾ {role}"), usize::from(*w)))
                        .style(style::title(theme)),
                    Column::State => {
                        Cell::from(format!("{shown}/{total} shown")).style(style::muted(theme))
                    }
                    _ => Cell::from(""),
                });
                Row::new(cells)
            }
            FleetRow::Slot(s) => {
                let cells = cols.iter().map(|(c, w)| {
                    cell(
                        s,
                        *c,
                        usize::from(*w),
                        ui.now_ms,
                        theme,
                        &lock_of,
                        &critical,
                    )
                });
                Row::new(cells)
            }
        })
        .collect();
    let widths: Vec<Constraint> = cols.iter().map(|(_, w)| Constraint::Length(*w)).collect();
    let empty = body.is_empty();
    let table = Table::new(body, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .highlight_symbol("▶")
        .row_highlight_style(style::selection(theme));
    let mut state =
        TableState::default().with_selected(selected_row(&rows, ui.fleet.selected.as_deref()));
    frame.render_stateful_widget(table, area, &mut state);
    if empty && area.height > 3 && area.width > 4 {
        let msg = if snap.slots.is_empty() {
            "no slots yet"
        } else {
            "no slot matches the filter — esc clears it"
        };
        let r = Rect::new(area.x + 2, area.y + 2, area.width - 4, 1);
        frame.render_widget(
            Line::from(Span::styled(
                fit(msg, usize::from(r.width)),
                style::muted(theme),
            )),
            r,
        );
    }
}

fn cell(
    s: &SlotView,
    col: Column,
    width: usize,
    now: u64,
    theme: &Theme,
    lock_of: &HashMap<&str, &LockView>,
    critical: &HashMap<&str, bool>,
) -> Cell<'static> {
    let muted = style::muted(theme);
    let text = style::text(theme);
    match col {
        Column::Slot => Cell::from(fit(&s.slot, width)).style(text),
        Column::Role => Cell::from(fit(&s.role, width)).style(muted),
        Column::Host => Cell::from(fit(s.host.as_deref().unwrap_or("-"), width)).style(muted),
        // The last known state is not shown as if current while its host is unreachable.
        Column::State => match s.host_down_since {
            Some(since) => Cell::from(fit(&format!("host down {}", age(now, Some(since))), width))
                .style(style::severity_style(theme, Severity::Critical)),
            None => Cell::from(style::state_span(theme, s)),
        },
        Column::Health => Cell::from(style::health_span(theme, &s.health)),
        Column::Uptime => {
            let up = if live(&s.state) {
                age(now, s.started_at)
            } else {
                "-".into()
            };
            Cell::from(up).style(text)
        }
        Column::Restarts => {
            let st = if s.restarts_in_window > 0 {
                style::severity_style(theme, Severity::Warning)
            } else {
                muted
            };
            Cell::from(s.restarts.to_string()).style(st)
        }
        Column::LastExit => match &s.last_exit {
            None => Cell::from("-").style(muted),
            Some(e) => {
                let code = if e.reason == Some(crate::core::ExitReason::Timeout) {
                    "timeout".to_string()
                } else if e.oom_killed {
                    "oom".to_string()
                } else {
                    e.code.map_or("?".into(), |c| c.to_string())
                };
                let st = if e.is_clean() {
                    muted
                } else {
                    Style::default().fg(theme.state.exited)
                };
                Cell::from(fit(&format!("{code} · {}", age(now, Some(e.at))), width)).style(st)
            }
        },
        Column::Task => match &s.task {
            None => Cell::from("-").style(muted),
            Some(t) => {
                let lock = lock_of.get(t.task.as_str());
                let overdue = lock.is_some_and(|l| l.overdue);
                let a = age(now, Some(t.claimed_at));
                let mark = if overdue { "!" } else { "" };
                let room = width.saturating_sub(a.len() + 1 + mark.len());
                let st = if overdue {
                    style::severity_style(theme, Severity::Warning)
                } else {
                    text
                };
                Cell::from(Line::from(vec![
                    Span::styled(fit(&t.task, room), st),
                    Span::styled(format!(" {a}{mark}"), if overdue { st } else { muted }),
                ]))
            }
        },
        Column::Tests => tests_cell(s, width, theme),
        Column::Alerts => {
            if s.open_alerts == 0 {
                Cell::from("")
            } else {
                let sev = if critical.contains_key(s.slot.as_str()) {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                Cell::from(format!("▲{}", s.open_alerts)).style(style::severity_style(theme, sev))
            }
        }
        Column::Context => {
            let (text, sev) = crate::ui::context_view::ctx_cell(s);
            let st = sev.map_or(muted, |v| style::severity_style(theme, v));
            Cell::from(fit(&text, width)).style(st)
        }
        Column::Activity => Cell::from(age(now, s.last_activity)).style(muted),
        Column::Reason => match slot_reason(s) {
            None => Cell::from(""),
            Some(r) => Cell::from(fit(&sanitize(&r), width)).style(reason_style(s, theme)),
        },
    }
}

/// A blocked slot's reason is a warning; any other reason is context.
fn reason_style(s: &SlotView, theme: &Theme) -> Style {
    if matches!(s.state, crate::core::SlotState::Blocked { .. }) {
        style::severity_style(theme, Severity::Warning)
    } else {
        style::muted(theme)
    }
}

fn tests_cell(s: &SlotView, width: usize, theme: &Theme) -> Cell<'static> {
    let Some(t) = &s.last_test else {
        return Cell::from("-").style(style::muted(theme));
    };
    let sum = &t.summary;
    let v = sum.verdict;
    let counts = match v {
        Verdict::Pass => format!("{} {}", style::verdict_symbol(v), sum.passed),
        Verdict::Fail => format!(
            "{} {}/{}",
            style::verdict_symbol(v),
            sum.failed,
            sum.passed + sum.failed
        ),
        Verdict::Error => format!("{} error", style::verdict_symbol(v)),
        Verdict::NoTests => format!("{} none", style::verdict_symbol(v)),
    };
    let mut spans = vec![Span::styled(counts.clone(), style::verdict_style(theme, v))];
    let room = width.saturating_sub(counts.chars().count() + 1);
    if room >= 3 && !s.test_trend.is_empty() {
        spans.push(Span::raw(" "));
        spans.extend(sparkline(&s.test_trend, room, theme));
    }
    Cell::from(Line::from(spans))
}

/// One character per recent run: height by passed count, colour and shape by verdict (a
/// failing run is drawn as `×` so it reads without colour).
pub fn sparkline(trend: &[TrendPoint], width: usize, theme: &Theme) -> Vec<Span<'static>> {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let pts = &trend[trend.len().saturating_sub(width)..];
    let max = pts.iter().map(|p| p.passed).max().unwrap_or(0);
    let min = pts.iter().map(|p| p.passed).min().unwrap_or(0);
    pts.iter()
        .map(|p| {
            let ch = match p.verdict {
                Verdict::Fail | Verdict::Error => '×',
                _ if max == min => BARS[4],
                _ => {
                    let i = (p.passed - min) * 7 / (max - min);
                    BARS[usize::try_from(i).unwrap_or(7).min(7)]
                }
            };
            Span::styled(ch.to_string(), style::verdict_style(theme, p.verdict))
        })
        .collect()
}
