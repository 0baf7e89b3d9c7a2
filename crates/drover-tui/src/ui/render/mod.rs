//! Drawing: `render(frame, snapshot, ui, theme)` is a pure function of its inputs — no I/O, no
//! clock (the time is `ui.now_ms`), no mutation — so every screen can be tested with
//! `TestBackend` and a hand-built snapshot.
//!
//! Invariants: nothing is drawn outside its area; text that does not fit is cut with `…` or
//! dropped by priority, never overlapped.

mod detail;
mod logs;
mod main_checks;
mod overlay;
mod runs;
pub(crate) mod style;
mod table;
mod views;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use crate::core::{DockerStatus, Severity, Snapshot};
use crate::theme::Theme;

use super::layout::{Areas, areas};
use super::markdown::{WrappedRow, wrap_lines};
use super::palette::View;
use super::state::{DetailTab, Focus, Overlay, StatusKind, UiState};
use super::text::{compact_duration, fit};
use crate::keys::Action;

pub use views::PROGRESS_GUTTER;

/// Draws the whole screen.
pub fn render(frame: &mut Frame<'_>, snap: &Snapshot, ui: &UiState, theme: &Theme) {
    let full = frame.area();
    let a: Areas = areas(full, ui);
    header(frame, a.header, snap, ui, theme);
    match ui.view {
        View::Fleet => {
            if let Some(t) = a.table {
                table::fleet_table(frame, t, snap, ui, theme);
            }
            if let Some(d) = a.detail {
                detail::detail_pane(frame, d, snap, ui, theme);
            }
        }
        View::Locks => match &snap.main {
            // With a check of main configured, its recent checks show under the locks.
            Some(main) if a.body.height >= 16 => {
                let rows = u16::try_from(main.checks.len().clamp(1, 10)).unwrap_or(10) + 3;
                let [locks, checks] = ratatui::layout::Layout::vertical([
                    ratatui::layout::Constraint::Fill(1),
                    ratatui::layout::Constraint::Length(rows),
                ])
                .areas(a.body);
                views::locks(frame, locks, snap, ui, theme);
                main_checks::checks(frame, checks, main, theme);
            }
            _ => views::locks(frame, a.body, snap, ui, theme),
        },
        View::Alerts => views::alerts(frame, a.body, snap, ui, theme),
        View::Events => views::events(frame, a.body, ui, theme),
        View::Progress => views::progress(frame, a.body, ui, theme),
    }
    status_bar(frame, a.status, ui, theme);
    overlay::overlay(frame, full, ui, theme);
}

/// PROGRESS.md wrapped for the current terminal width (shared with scrolling).
pub fn progress_rows(ui: &UiState) -> Vec<WrappedRow> {
    let width = ui.size.0.saturating_sub(2 + PROGRESS_GUTTER);
    wrap_lines(&ui.progress.lines, width)
}

/// Adds span groups in order while they fit `width`; a group that does not fit is skipped
/// whole (so no group is ever cut), later smaller ones may still fit.
fn fit_groups(groups: Vec<Vec<Span<'static>>>, width: usize, sep: &Span<'static>) -> Line<'static> {
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for g in groups {
        let w: usize = g.iter().map(|s| s.content.width()).sum();
        let sep_w = if out.is_empty() {
            0
        } else {
            sep.content.width()
        };
        if used + sep_w + w > width {
            continue;
        }
        if !out.is_empty() {
            out.push(sep.clone());
        }
        used += sep_w + w;
        out.extend(g);
    }
    Line::from(out)
}

fn header(frame: &mut Frame<'_>, area: Rect, snap: &Snapshot, ui: &UiState, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let sep = Span::styled(" │ ", style::muted(theme));
    let bg = Style::default().bg(theme.base.header_bg);

    // Line 1: identity, Docker, views, mode.
    let docker = match &snap.docker {
        DockerStatus::Up if snap.docker_synced => {
            Span::styled("● docker up", Style::default().fg(theme.state.running))
        }
        DockerStatus::Up => Span::styled(
            "◔ docker syncing",
            Style::default().fg(theme.state.starting),
        ),
        DockerStatus::Unknown => Span::styled("? docker unknown", style::muted(theme)),
        DockerStatus::Down { error, since } => Span::styled(
            format!(
                "✗ docker DOWN {} — {}",
                compact_duration(ui.now_ms.saturating_sub(*since)),
                fit(error, 40)
            ),
            style::severity_style(theme, Severity::Critical),
        ),
    };
    let tabs = |short: bool| -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (i, v) in View::ALL.iter().enumerate() {
            let name = if short { v.short_title() } else { v.title() };
            if *v == ui.view {
                spans.push(Span::styled(
                    format!("[{} {name}]", i + 1),
                    style::selection(theme),
                ));
            } else {
                spans.push(Span::styled(
                    format!(" {} {name} ", i + 1),
                    style::muted(theme),
                ));
            }
        }
        spans
    };
    let mut head = vec![
        vec![
            Span::styled(" drover", style::title(theme)),
            Span::styled(format!(" · {}", snap.fleet), style::text(theme)),
        ],
        vec![docker],
    ];
    // A fleet over several hosts: each host's counts (running / blocked / down).
    for h in &snap.hosts {
        let on = || {
            snap.slots
                .iter()
                .filter(|s| s.host.as_deref() == Some(&h.name))
        };
        let count = |label: &str| on().filter(|s| s.state.label() == label).count();
        head.push(vec![match &h.down {
            None => Span::styled(
                format!(
                    "● {} {} run · {} blocked",
                    h.name,
                    count("running"),
                    count("blocked")
                ),
                Style::default().fg(theme.state.running),
            ),
            Some(o) => Span::styled(
                format!(
                    "✗ {} DOWN {} · {} slots",
                    h.name,
                    compact_duration(ui.now_ms.saturating_sub(o.since)),
                    on().count()
                ),
                style::severity_style(theme, Severity::Critical),
            ),
        }]);
    }
    if let Some(msg) = snap.upstream.headline() {
        head.push(vec![Span::styled(
            format!("◌ {msg}"),
            style::severity_style(theme, Severity::Warning),
        )]);
    }
    if let Some(main) = &snap.main {
        head.push(main_checks::header_group(main, theme));
    }
    for o in &snap.scale_overrides {
        // A `ctl scale` override: the config's replicas are not what runs.
        head.push(vec![Span::styled(
            format!(
                "⇅ {} ×{} (scaled; config {})",
                o.role, o.replicas, o.configured
            ),
            style::severity_style(theme, Severity::Warning),
        )]);
    }
    if ui.read_only {
        head.push(vec![Span::styled(
            "READ-ONLY",
            style::severity_style(theme, Severity::Warning).add_modifier(Modifier::REVERSED),
        )]);
    }
    if ui.in_flight > 0 {
        head.push(vec![Span::styled(
            format!("⟳ {} sent", ui.in_flight),
            style::accent(theme),
        )]);
    }
    let line1 = [tabs(false), tabs(true)]
        .into_iter()
        .map(|t| {
            let mut g = head.clone();
            g.push(t);
            g
        })
        .find(|g| groups_width(g, sep.content.width()) <= width)
        .map_or_else(
            || fit_groups(head.clone(), width, &sep),
            |g| fit_groups(g, width, &sep),
        );

    // Line 2: counts by state, alerts, MTTR, recovery — in words when they fit, else compact.
    let line2 = [false, true]
        .into_iter()
        .map(|compact| summary_groups(snap, theme, compact))
        .find(|g| groups_width(g, 2) <= width)
        .unwrap_or_else(|| summary_groups(snap, theme, true));
    let line2 = fit_groups(line2, width, &Span::styled("  ", style::muted(theme)));
    frame.render_widget(Paragraph::new(vec![line1, line2]).style(bg), area);
}

fn groups_width(groups: &[Vec<Span<'static>>], sep: usize) -> usize {
    let w: usize = groups
        .iter()
        .map(|g| g.iter().map(|s| s.content.width()).sum::<usize>())
        .sum();
    w + sep * groups.len().saturating_sub(1)
}

/// The header's second line as groups, most important first.
fn summary_groups(snap: &Snapshot, theme: &Theme, compact: bool) -> Vec<Vec<Span<'static>>> {
    let m = &snap.metrics;
    let mut groups: Vec<Vec<Span<'static>>> = Vec::new();
    let open: Vec<_> = snap
        .alerts
        .iter()
        .filter(|a| a.cleared_at.is_none())
        .collect();
    let unacked = open.iter().filter(|a| a.acked.is_none()).count();
    let critical = open
        .iter()
        .filter(|a| a.severity == Severity::Critical && a.acked.is_none())
        .count();
    let alert_style = if critical > 0 {
        style::severity_style(theme, Severity::Critical)
    } else if unacked > 0 {
        style::severity_style(theme, Severity::Warning)
    } else {
        style::muted(theme)
    };
    let mut alert_text = format!("▲ {} alerts", open.len());
    if critical > 0 {
        alert_text.push_str(&format!(" ({critical} crit)"));
    } else if unacked < open.len() {
        alert_text.push_str(&format!(" ({unacked} new)"));
    }
    groups.push(vec![
        Span::styled(format!(" {} slots", m.slots), style::text(theme)),
        Span::raw(" "),
        Span::styled(alert_text, alert_style),
    ]);
    if let Some(text) = crate::ui::context_view::limits_text(&snap.limits, snap.at, compact) {
        groups.push(vec![Span::styled(
            format!("⏸ {text}"),
            style::severity_style(theme, Severity::Warning),
        )]);
    }
    let mut states: Vec<(&String, &u32)> = m.by_state.iter().filter(|(_, n)| **n > 0).collect();
    states.sort_by_key(|(label, _)| state_order(label));
    let mut state_group = Vec::new();
    for (label, n) in states {
        let st = sample_state(label);
        let sym = super::fleet::state_symbol(&st);
        let text = if compact {
            format!("{sym}{n}")
        } else {
            format!("{sym} {n} {label}")
        };
        if !state_group.is_empty() {
            state_group.push(Span::raw(if compact { " " } else { "  " }));
        }
        state_group.push(Span::styled(text, style::state_style(theme, &st)));
    }
    if !state_group.is_empty() {
        groups.push(state_group);
    }
    let svc = &m.service;
    let dur = |d: Option<u64>| d.map_or("-".to_string(), compact_duration);
    groups.push(vec![Span::styled(
        format!("MTTR p50 {} p95 {}", dur(svc.mttr_p50), dur(svc.mttr_p95)),
        style::text(theme),
    )]);
    if let Some(r) = svc.recovery_rate {
        let text = if compact {
            format!("auto {:.0}%", r * 100.0)
        } else {
            format!("auto-recovered {:.0}%", r * 100.0)
        };
        groups.push(vec![Span::styled(text, style::text(theme))]);
    }
    if !compact {
        groups.push(vec![Span::styled(
            format!("{} restarts", m.restarts),
            style::muted(theme),
        )]);
    }
    groups
}

/// Header order of state counts: attention first.
fn state_order(label: &str) -> u8 {
    match label {
        "blocked" => 0,
        "exited" => 1,
        "backoff" => 2,
        "taken-over" => 3,
        "paused" => 4,
        "running" => 5,
        _ => 6,
    }
}

/// A state value for a label, to borrow its symbol and colour.
fn sample_state(label: &str) -> crate::core::SlotState {
    use crate::core::{Actor, SlotState};
    match label {
        "preflight" => SlotState::Preflight,
        "creating" => SlotState::Creating,
        "starting" => SlotState::Starting,
        "running" => SlotState::Running,
        "paused" => SlotState::Paused { by: Actor::Drover },
        "stopping" => SlotState::Stopping,
        "removing" => SlotState::Removing,
        "exited" => SlotState::Exited { code: None },
        "backoff" => SlotState::Backoff { until: 0 },
        "throttled" => SlotState::Throttled { until: 0 },
        "blocked" => SlotState::Blocked {
            reason: String::new(),
            by: Actor::Drover,
        },
        "taken-over" => SlotState::TakenOver {
            by: String::new(),
            since: 0,
        },
        "stopped" => SlotState::Stopped { by: Actor::Drover },
        "retiring" => SlotState::Retiring,
        _ => SlotState::Pending,
    }
}

/// Actions worth a hint in each context, most useful first.
fn hint_actions(ui: &UiState) -> &'static [Action] {
    use Action::*;
    match (ui.view, ui.focus, ui.tab) {
        (View::Fleet, Focus::Table, _) => &[
            Down,
            OpenDetail,
            Filter,
            Pause,
            Restart,
            TakeOver,
            SortNext,
            GroupByRole,
            NextTab,
            Palette,
            Help,
            Quit,
        ],
        (View::Fleet, Focus::Detail, DetailTab::Logs) => &[
            Search,
            NextMatch,
            ToggleFollow,
            Bottom,
            ToggleWrap,
            NextTab,
            Back,
            Help,
        ],
        (View::Fleet, Focus::Detail, _) => &[NextTab, Down, Back, Pause, Help],
        (View::Locks, ..) => &[Down, ReleaseLock, Back, Help],
        (View::Alerts, ..) => &[Down, Acknowledge, Back, Help],
        (View::Events, ..) => &[Down, Filter, Back, Help],
        (View::Progress, ..) => &[NextChange, PrevChange, Down, Back, Help],
    }
}

fn status_bar(frame: &mut Frame<'_>, area: Rect, ui: &UiState, theme: &Theme) {
    let width = usize::from(area.width);
    let line = match &ui.overlay {
        Overlay::Input { kind, text, .. } => {
            let prompt = kind.prompt();
            // Show the end of long input so the cursor stays visible.
            let room = width.saturating_sub(prompt.width() + 1);
            let shown = tail_fit(text, room);
            Line::from(vec![
                Span::styled(prompt, style::accent(theme).add_modifier(Modifier::BOLD)),
                Span::styled(shown, style::text(theme)),
                Span::styled("█", style::accent(theme)),
            ])
        }
        Overlay::Confirm { prompt, .. } => Line::from(Span::styled(
            fit(prompt, width),
            style::severity_style(theme, Severity::Warning).add_modifier(Modifier::BOLD),
        )),
        _ => match &ui.status {
            Some(s) => {
                let st = match s.kind {
                    StatusKind::Info => style::accent(theme),
                    StatusKind::Error => style::severity_style(theme, Severity::Critical),
                };
                Line::from(Span::styled(fit(&s.text, width), st))
            }
            None => hints(ui, theme, width),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn hints(ui: &UiState, theme: &Theme, width: usize) -> Line<'static> {
    let chain = ui.chain();
    let mut groups: Vec<Vec<Span<'static>>> = Vec::new();
    if ui.read_only {
        groups.push(vec![Span::styled(
            "read-only: actions disabled",
            style::severity_style(theme, Severity::Warning),
        )]);
    }
    // `? help` and `q quit` are always shown: the others give way to them on a narrow screen.
    let mut pinned: Vec<Vec<Span<'static>>> = Vec::new();
    for a in hint_actions(ui)
        .iter()
        .chain([Action::Help, Action::Quit].iter())
    {
        if ui.read_only && a.is_operator() {
            continue;
        }
        let is_pinned = matches!(a, Action::Help | Action::Quit);
        if let Some(k) = ui.keymap.key_label(chain, *a) {
            let g = vec![
                Span::styled(k, style::accent(theme).add_modifier(Modifier::BOLD)),
                Span::styled(format!(" {}", hint_word(*a)), style::muted(theme)),
            ];
            if is_pinned {
                if !pinned.contains(&g) {
                    pinned.push(g);
                }
            } else {
                groups.push(g);
            }
        }
    }
    let sep = Span::raw("  ");
    let pinned_w: usize = pinned
        .iter()
        .map(|g| g.iter().map(|s| s.content.width()).sum::<usize>() + sep.content.width())
        .sum();
    let mut line = fit_groups(groups, width.saturating_sub(pinned_w), &sep);
    for g in pinned {
        if !line.spans.is_empty() {
            line.spans.push(sep.clone());
        }
        line.spans.extend(g);
    }
    line
}

/// Short words for the status-bar hints (the help overlay has the full descriptions).
fn hint_word(a: Action) -> &'static str {
    match a {
        Action::Down => "move",
        Action::Bottom => "newest",
        Action::OpenDetail => "detail",
        Action::NextTab => "tabs",
        Action::SortNext => "sort",
        Action::GroupByRole => "group",
        Action::TakeOver => "take over",
        Action::ToggleFollow => "follow",
        Action::ToggleWrap => "wrap",
        Action::NextMatch => "next",
        Action::ReleaseLock => "release",
        Action::Acknowledge => "ack",
        Action::NextChange => "next change",
        Action::PrevChange => "prev change",
        other => other.name(),
    }
}

/// The end of `s` within `width` columns, with `…` in front when cut.
fn tail_fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out: Vec<char> = Vec::new();
    let mut w = 1;
    for c in s.chars().rev() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > width {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out.into_iter().rev().collect()
}
