//! The detail pane of the selected slot: a tab bar and one of logs, tests, alerts, incidents
//! or container info. Environment values are never shown — only names. The logs tab is drawn
//! in `logs.rs`, the runs tab in `runs.rs`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::core::{Resolution, ServiceMetrics, Severity, SlotView, Snapshot, Verdict};
use crate::secrets::REDACTED;
use crate::theme::Theme;
use crate::ui::state::{DetailTab, Focus, UiState};
use crate::ui::text::{age, compact_duration, sanitize};

use super::logs::{log_title, logs};
use super::style;

pub fn detail_pane(
    frame: &mut Frame<'_>,
    area: Rect,
    snap: &Snapshot,
    ui: &UiState,
    theme: &Theme,
) {
    let focused = ui.focus == Focus::Detail;
    let Some(s) = ui.fleet.selected.as_deref().and_then(|n| snap.slot(n)) else {
        let block = Block::bordered()
            .title(Span::styled(" Detail ", style::title(theme)))
            .border_style(style::border(theme, focused));
        frame.render_widget(
            Paragraph::new(Span::styled("select a slot", style::muted(theme))).block(block),
            area,
        );
        return;
    };
    let mut title = vec![
        Span::styled(format!(" {} ", s.slot), style::title(theme)),
        style::state_span(theme, s),
        Span::raw(" "),
    ];
    if ui.tab == DetailTab::Logs {
        title.push(log_title(ui, theme));
    }
    let block = Block::bordered()
        .title(Line::from(title))
        .border_style(style::border(theme, focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let tabs_area = Rect { height: 1, ..inner };
    let body = Rect {
        y: inner.y + 1,
        height: inner.height - 1,
        ..inner
    };
    frame.render_widget(tab_bar(ui.tab, theme, usize::from(inner.width)), tabs_area);
    let scrolled = |lines: Vec<Line<'static>>| {
        let max = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .saturating_sub(body.height);
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((ui.detail_scroll.min(max), 0))
    };
    match ui.tab {
        DetailTab::Logs => logs(frame, body, s, ui, theme),
        DetailTab::Tests => frame.render_widget(scrolled(tests(s, ui, theme)), body),
        DetailTab::Alerts => frame.render_widget(scrolled(alerts(s, snap, ui, theme)), body),
        DetailTab::Incidents => frame.render_widget(scrolled(incidents(s, snap, ui, theme)), body),
        DetailTab::Container => frame.render_widget(scrolled(container(s, ui, theme)), body),
        DetailTab::Runs => frame.render_widget(scrolled(super::runs::runs(s, ui, theme)), body),
    }
}

fn tab_bar(current: DetailTab, theme: &Theme, width: usize) -> Line<'static> {
    let mut spans = Vec::new();
    let mut used = 0;
    for t in DetailTab::ALL {
        // Brackets mark the open tab without relying on colour.
        let label = if t == current {
            format!("[{}]", t.title())
        } else {
            format!(" {} ", t.title())
        };
        used += label.width() + 1;
        if used > width {
            break;
        }
        if t == current {
            spans.push(Span::styled(label, style::selection(theme)));
        } else {
            spans.push(Span::styled(label, style::muted(theme)));
        }
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

fn kv(k: &str, v: impl Into<String>, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<13}"), style::muted(theme)),
        Span::styled(v.into(), style::text(theme)),
    ])
}

fn tests(s: &SlotView, ui: &UiState, theme: &Theme) -> Vec<Line<'static>> {
    let Some(t) = &s.last_test else {
        return vec![Line::from(Span::styled(
            "no test run seen in this slot's output yet",
            style::muted(theme),
        ))];
    };
    let sum = &t.summary;
    let v = sum.verdict;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("last run     ", style::muted(theme)),
            Span::styled(
                format!("{} {}", style::verdict_symbol(v), style::verdict_word(v)),
                style::verdict_style(theme, v).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!("  {} ago", age(ui.now_ms, Some(t.at))),
                style::muted(theme),
            ),
        ]),
        kv(
            "counts",
            format!(
                "{} passed · {} failed · {} skipped · {} errors",
                sum.passed, sum.failed, sum.skipped, sum.errors
            ),
            theme,
        ),
    ];
    if !sum.failing.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!("failing ({})", sum.failing.len()),
            style::verdict_style(theme, Verdict::Fail).add_modifier(Modifier::BOLD),
        )));
        for f in &sum.failing {
            // Runners print "name - reason" or "name: reason"; show the reason dimmer.
            let (name, reason) = split_reason(f);
            let mut spans = vec![
                Span::styled("✗ ", style::verdict_style(theme, Verdict::Fail)),
                Span::styled(name.to_string(), style::text(theme)),
            ];
            if let Some(r) = reason {
                spans.push(Span::styled(format!(" — {r}"), style::muted(theme)));
            }
            lines.push(Line::from(spans));
        }
    }
    if !s.test_trend.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("recent runs", style::title(theme))));
        for p in s.test_trend.iter().rev() {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{:>6} ago  ", age(ui.now_ms, Some(p.at))),
                    style::muted(theme),
                ),
                Span::styled(
                    format!(
                        "{} {:<8}",
                        style::verdict_symbol(p.verdict),
                        style::verdict_word(p.verdict)
                    ),
                    style::verdict_style(theme, p.verdict),
                ),
                Span::styled(
                    format!(" {} passed, {} failed", p.passed, p.failed),
                    style::text(theme),
                ),
            ]));
        }
    }
    lines
}

fn split_reason(f: &str) -> (&str, Option<&str>) {
    if let Some((n, r)) = f.split_once(" - ") {
        return (n, Some(r));
    }
    (f, None)
}

fn alerts(s: &SlotView, snap: &Snapshot, ui: &UiState, theme: &Theme) -> Vec<Line<'static>> {
    let mine: Vec<_> = snap
        .alerts
        .iter()
        .filter(|a| a.key.slot.as_deref() == Some(s.slot.as_str()))
        .collect();
    if mine.is_empty() {
        return vec![Line::from(Span::styled(
            "no open alerts",
            style::muted(theme),
        ))];
    }
    let mut lines = Vec::new();
    for a in mine {
        let ack = match &a.acked {
            Some(k) => format!("  acked by {}", k.by),
            None => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} ", style::severity_word(a.severity)),
                style::severity_style(theme, a.severity),
            ),
            Span::styled(
                format!("{} ", super::views::kind_label(&a.key.kind)),
                style::title(theme),
            ),
            Span::styled(a.message.clone(), style::text(theme)),
        ]));
        lines.push(Line::from(Span::styled(
            format!(
                "   first {} ago · last {} ago · ×{}{ack} · id {}",
                age(ui.now_ms, Some(a.first_seen)),
                age(ui.now_ms, Some(a.last_seen)),
                a.count,
                a.id
            ),
            style::muted(theme),
        )));
        for e in &a.evidence {
            lines.push(Line::from(vec![
                Span::styled("   │ ", style::muted(theme)),
                Span::styled(crate::ui::text::sanitize(e), style::text(theme)),
            ]));
        }
        lines.push(Line::from(""));
    }
    lines
}

fn metrics_lines(m: &ServiceMetrics, theme: &Theme) -> Vec<Line<'static>> {
    let dur = |d: Option<u64>| d.map_or("-".to_string(), compact_duration);
    vec![
        kv(
            "MTTR",
            format!("p50 {} · p95 {}", dur(m.mttr_p50), dur(m.mttr_p95)),
            theme,
        ),
        kv("MTBF", dur(m.mtbf), theme),
        kv(
            "recovered",
            m.recovery_rate
                .map_or("-".into(), |r| format!("{:.0}% automatically", r * 100.0)),
            theme,
        ),
        kv(
            "incidents",
            format!("{} open · {} closed", m.incidents_open, m.incidents_closed),
            theme,
        ),
    ]
}

fn incidents(s: &SlotView, snap: &Snapshot, ui: &UiState, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match snap.open_incidents.iter().find(|i| i.slot == s.slot) {
        Some(i) => {
            lines.push(Line::from(vec![
                Span::styled(
                    "● open incident ",
                    style::severity_style(theme, Severity::Warning).add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("for {}", age(ui.now_ms, Some(i.opened_at))),
                    style::text(theme),
                ),
            ]));
            lines.push(kv("cause", cause_word(&i.cause), theme));
            lines.push(kv("detail", crate::ui::text::sanitize(&i.detail), theme));
            lines.push(kv("restarts", i.restarts.to_string(), theme));
            if i.operator_involved {
                lines.push(kv("operator", "involved", theme));
            }
            if let Some(r) = &i.resolution {
                lines.push(kv("resolution", resolution_word(r), theme));
            }
        }
        None => lines.push(Line::from(Span::styled(
            "✓ no open incident",
            Style::default().fg(theme.health.healthy),
        ))),
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("this slot", style::title(theme))));
    lines.extend(metrics_lines(&s.metrics, theme));
    lines.push(kv(
        "restarts",
        format!("{} total · {} in window", s.restarts, s.restarts_in_window),
        theme,
    ));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("fleet", style::title(theme))));
    lines.extend(metrics_lines(&snap.metrics.service, theme));
    lines
}

fn cause_word(c: &crate::core::IncidentCause) -> String {
    use crate::core::IncidentCause::*;
    match c {
        Died {
            exit_code,
            oom_killed,
        } => {
            let code = exit_code.map_or("?".into(), |c| c.to_string());
            if *oom_killed {
                format!("died (exit {code}, out of memory)")
            } else {
                format!("died (exit {code})")
            }
        }
        Disappeared => "container disappeared".into(),
        CreateFailed => "create failed".into(),
        StartFailed => "start failed".into(),
        PreflightFailed => "preflight failed".into(),
        Blocked => "blocked".into(),
        Unready => "probe failing".into(),
        Stalled => "stalled".into(),
        TimedOut { after } => format!("timed out after {}", crate::core::human_duration(*after)),
    }
}

fn resolution_word(r: &Resolution) -> String {
    match r {
        Resolution::AutoRecovered => "recovered automatically".into(),
        Resolution::OperatorRecovered => "recovered by an operator".into(),
        Resolution::ClosedByOperator { by } => format!("closed by {by}"),
        Resolution::SlotRemoved => "slot removed".into(),
    }
}

fn container(s: &SlotView, ui: &UiState, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![
        kv(
            "container",
            s.container_id
                .as_deref()
                .map_or("none".to_string(), |id| id.chars().take(12).collect()),
            theme,
        ),
        kv("generation", s.generation.to_string(), theme),
        kv(
            "starts",
            format!("{} ({} restarts)", s.starts, s.restarts),
            theme,
        ),
    ];
    if let Some(r) = &s.reason {
        lines.push(kv("reason", crate::ui::text::sanitize(r), theme));
    }
    let u = &s.usage;
    if u.session_tokens > 0 || u.task_tokens > 0 {
        let task = u.task.as_deref().map_or("no task".to_string(), sanitize);
        lines.push(kv(
            "tokens",
            format!(
                "{} this session · {} on {task} in {} rounds",
                u.session_tokens, u.task_tokens, u.task_rounds
            ),
            theme,
        ));
    }
    for (k, v) in crate::ui::context_view::detail_lines(s, ui.now_ms) {
        lines.push(kv(k, v, theme));
    }
    if let Some(l) = &s.run_limit {
        let left = compact_duration(l.left_ms);
        // Near the end (last tenth, or under five minutes) the way to give it more is shown.
        let near = l.left_ms <= (l.allowed_ms / 10).max(5 * 60_000);
        let text = match l.ends_at {
            Some(_) if near => format!(
                "{left} left of {} — `:extend 15m` gives it more",
                compact_duration(l.allowed_ms)
            ),
            Some(_) => format!("{left} left of {}", compact_duration(l.allowed_ms)),
            None => format!(
                "{left} left of {} (clock stopped)",
                compact_duration(l.allowed_ms)
            ),
        };
        lines.push(kv("run limit", text, theme));
    }
    if let Some(e) = &s.last_exit {
        let code = e.code.map_or("?".into(), |c| c.to_string());
        let oom = if e.reason == Some(crate::core::ExitReason::Timeout) {
            ", timed out"
        } else if e.oom_killed {
            ", out of memory"
        } else {
            ""
        };
        lines.push(kv(
            "last exit",
            format!(
                "code {code}{oom} · {} ago · ran {}",
                age(ui.now_ms, Some(e.at)),
                compact_duration(e.uptime)
            ),
            theme,
        ));
        if let Some(l) = &e.line {
            lines.push(kv("  last line", crate::ui::text::sanitize(l), theme));
        }
    }
    match ui.roles.get(&s.role) {
        None => lines.push(kv("role", s.role.clone(), theme)),
        Some(r) => {
            lines.push(kv("role", s.role.clone(), theme));
            lines.push(kv("image", r.image.clone(), theme));
            if let Some(c) = &r.command {
                lines.push(kv("command", c.clone(), theme));
            }
            lines.push(kv(
                "limits",
                format!("memory {} · cpus {} · pids {}", r.memory, r.cpus, r.pids),
                theme,
            ));
            if !r.hardening.is_empty() {
                lines.push(kv("hardening", r.hardening.clone(), theme));
            }
            for (i, m) in r.mounts.iter().enumerate() {
                lines.push(kv(if i == 0 { "mounts" } else { "" }, m.clone(), theme));
            }
            if r.env_names.is_empty() {
                lines.push(kv("env", "(none)", theme));
            }
            for (i, n) in r.env_names.iter().enumerate() {
                // Values are never in the UI; say so rather than look empty. A required
                // variable the preflight found unset is shown as missing, not as a value.
                let value = if crate::ui::reason::missing_env(s, &r.required_env, n) {
                    Span::styled(
                        " missing (required, not set in drover's environment)",
                        style::severity_style(theme, crate::core::Severity::Warning),
                    )
                } else {
                    Span::styled(format!("={REDACTED}"), style::muted(theme))
                };
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{:<13}", if i == 0 { "env" } else { "" }),
                        style::muted(theme),
                    ),
                    Span::styled(n.clone(), style::text(theme)),
                    value,
                ]));
            }
        }
    }
    lines
}
