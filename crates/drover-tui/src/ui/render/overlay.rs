//! Modal layers: the help overlay (generated from the keymap table), the confirmation box and
//! the take-over "where" choice. Text input lives in the status bar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::core::Severity;
use crate::keys::{Keymap, Mode};
use crate::theme::Theme;
use crate::ui::state::{Overlay, UiState};

use super::style;

pub fn overlay(frame: &mut Frame<'_>, full: Rect, ui: &UiState, theme: &Theme) {
    match &ui.overlay {
        Overlay::Help { scroll } => help(frame, full, ui, *scroll, theme),
        Overlay::Confirm { prompt, .. } => {
            let lines = vec![
                Line::from(Span::styled(prompt.clone(), style::text(theme))),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y", style::accent(theme).add_modifier(Modifier::BOLD)),
                    Span::styled(" confirm   ", style::muted(theme)),
                    Span::styled(
                        "any other key",
                        style::accent(theme).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(" cancel", style::muted(theme)),
                ]),
            ];
            popup(
                frame,
                full,
                " Confirm ",
                lines,
                60,
                theme,
                Severity::Warning,
            );
        }
        Overlay::ShellWhere { slot, .. } => {
            let lines = vec![
                Line::from(Span::styled(
                    format!("{slot} is taken over. Open a shell in its container:"),
                    style::text(theme),
                )),
                Line::from(""),
                Line::from(vec![
                    Span::styled("w", style::accent(theme).add_modifier(Modifier::BOLD)),
                    Span::styled(
                        " in a new tmux window (this screen stays live)",
                        style::text(theme),
                    ),
                ]),
                Line::from(vec![
                    Span::styled("enter", style::accent(theme).add_modifier(Modifier::BOLD)),
                    Span::styled(
                        " here (the dashboard pauses until you exit)",
                        style::text(theme),
                    ),
                ]),
                Line::from(vec![
                    Span::styled("esc", style::accent(theme).add_modifier(Modifier::BOLD)),
                    Span::styled(
                        " no shell now (the slot stays taken over)",
                        style::muted(theme),
                    ),
                ]),
            ];
            popup(frame, full, " Take over ", lines, 64, theme, Severity::Info);
        }
        _ => {}
    }
}

fn popup(
    frame: &mut Frame<'_>,
    full: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    want_width: u16,
    theme: &Theme,
    sev: Severity,
) {
    let w = want_width
        .min(full.width.saturating_sub(2))
        .max(10.min(full.width));
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let needed: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let h = (u16::try_from(needed).unwrap_or(u16::MAX).saturating_add(2)).min(full.height);
    let area = Rect::new(
        full.x + (full.width - w) / 2,
        full.y + (full.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(Span::styled(title.to_string(), style::title(theme)))
        .border_style(style::severity_style(theme, sev));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

/// The help text: every mode of the keymap with keys, action names and descriptions, then
/// the fixed keys of text input and confirmations.
pub fn help_lines(keymap: &Keymap, read_only: bool, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if read_only {
        lines.push(Line::from(Span::styled(
            "READ-ONLY: actions that change the fleet are disabled.",
            style::severity_style(theme, Severity::Warning),
        )));
        lines.push(Line::from(""));
    }
    let rows = keymap.help_rows();
    let mut last: Option<Mode> = None;
    for (mode, keys, action, desc) in rows {
        if last != Some(mode) {
            if last.is_some() {
                lines.push(Line::from(""));
            }
            lines.push(Line::from(Span::styled(mode.title(), style::title(theme))));
            last = Some(mode);
        }
        let disabled = read_only && action.is_operator();
        let key_style = if disabled {
            style::muted(theme).add_modifier(Modifier::CROSSED_OUT)
        } else {
            style::accent(theme).add_modifier(Modifier::BOLD)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {keys:<16}"), key_style),
            Span::styled(format!("{:<14}", action.name()), style::muted(theme)),
            Span::styled(desc.to_string(), style::text(theme)),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "Typing (filter, search, :)",
        style::title(theme),
    )));
    for (k, d) in [
        ("enter", "apply / run"),
        ("esc", "cancel"),
        ("tab", "complete a command or slot name (:)"),
        ("ctrl-u / ctrl-w", "clear the line / delete a word"),
        ("y", "confirm a question; any other key cancels"),
    ] {
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {k:<16}"),
                style::accent(theme).add_modifier(Modifier::BOLD),
            ),
            Span::styled(d.to_string(), style::text(theme)),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "Keys are set in the config under [ui.keys], by action name: pause = \"P\"",
        style::muted(theme),
    )));
    lines
}

fn help(frame: &mut Frame<'_>, full: Rect, ui: &UiState, scroll: u16, theme: &Theme) {
    let w = full.width.saturating_sub(4).min(100);
    let h = full.height.saturating_sub(2);
    if w < 10 || h < 3 {
        return;
    }
    let area = Rect::new(
        full.x + (full.width - w) / 2,
        full.y + (full.height - h) / 2,
        w,
        h,
    );
    let lines = help_lines(&ui.keymap, ui.read_only, theme);
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let max = u16::try_from(rows)
        .unwrap_or(u16::MAX)
        .saturating_sub(h.saturating_sub(2));
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(Span::styled(
            " Help — esc closes, j/k scroll ",
            style::title(theme),
        ))
        .border_style(style::border(theme, true));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block)
            .scroll((scroll.min(max), 0)),
        area,
    );
}
