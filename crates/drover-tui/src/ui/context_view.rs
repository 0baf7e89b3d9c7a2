//! How the TUI shows context health and the fleet's usage limits: the CTX cell (percentage
//! coloured by threshold, and the run's compactions), the detail pane's context lines (the
//! last compaction and a sparkline of the run's readings), and the header's limits summary
//! ("6/16 limited · next reset 17:00 (in 42m)").
//!
//! Plain text and severities only: the table and panes style them with the theme.

use crate::core::{LimitsView, Severity, SlotView};
use crate::ui::text::{clock, compact_duration};

/// CTX turns amber from this percent of the window …
pub const CTX_WARN: u32 = 70;
/// … and red from this one (the default `[loops.context] warn_at`).
pub const CTX_HIGH: u32 = 85;

/// The CTX cell: `85%`, with `×2` after it once the run was compacted; `-` before any
/// reading, the token count when the window is unknown. The severity colours it.
pub fn ctx_cell(s: &SlotView) -> (String, Option<Severity>) {
    let compacted = if s.compactions > 0 {
        format!(" ×{}", s.compactions)
    } else {
        String::new()
    };
    match &s.context {
        None if s.compactions > 0 => (format!("-{compacted}"), None),
        None => ("-".to_string(), None),
        Some(c) => match c.percent {
            Some(p) => {
                let sev = if p >= CTX_HIGH {
                    Some(Severity::Critical)
                } else if p >= CTX_WARN {
                    Some(Severity::Warning)
                } else {
                    None
                };
                (format!("{p}%{compacted}"), sev)
            }
            None => (format!("{}{compacted}", tokens(c.used)), None),
        },
    }
}

/// `170k`, `1.2M`.
fn tokens(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{}k", n / 1_000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// Percentages as block characters (0 % = ▁, 100 % and over = █), the newest `width` ones.
pub fn sparkline(history: &[u32], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let skip = history.len().saturating_sub(width);
    history
        .iter()
        .skip(skip)
        .map(|p| {
            let i = (*p).min(100) as usize * (BARS.len() - 1) / 100;
            BARS.get(i).copied().unwrap_or('█')
        })
        .collect()
}

/// The detail pane's context lines (key, value), empty before the agent said anything.
pub fn detail_lines(s: &SlotView, now: u64) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(c) = &s.context {
        let size = match (c.percent, c.window) {
            (Some(p), Some(w)) => format!("{p}% ({} of {})", tokens(c.used), tokens(w)),
            _ => format!("{} tokens (window unknown)", tokens(c.used)),
        };
        let spark = sparkline(&s.context_history, 30);
        out.push((
            "context",
            if spark.is_empty() {
                size
            } else {
                format!("{size}  {spark}")
            },
        ));
    }
    if let Some(l) = &s.last_compaction {
        let mut what = format!(
            "{} ago ({}",
            compact_duration(now.saturating_sub(l.at)),
            l.trigger.map_or("trigger unknown", |t| t.as_str())
        );
        if let Some(n) = l.pre_tokens {
            what.push_str(&format!(", {} before", tokens(n)));
        }
        if let Some(p) = l.percent {
            what.push_str(&format!(", {p}% full"));
        }
        what.push_str(&format!(") · {} this run", s.compactions));
        out.push(("compacted", what));
    }
    out
}

/// The header's limits summary, when any slot waits out a usage limit.
pub fn limits_text(l: &LimitsView, now: u64, compact: bool) -> Option<String> {
    if l.throttled == 0 {
        return None;
    }
    let mut s = format!("{}/{} limited", l.throttled, l.slots);
    if let Some(r) = l.next_reset {
        let hhmm = clock(r).get(..5).unwrap_or_default().to_string();
        if compact {
            s.push_str(&format!(" · {hhmm}"));
        } else {
            s.push_str(&format!(
                " · next reset {hhmm} (in {})",
                compact_duration(r.saturating_sub(now))
            ));
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ContextView, SlotState};
    use crate::ui::sample;

    #[test]
    fn the_ctx_cell_shows_percent_compactions_and_colour() {
        let mut s = sample::slot("w-1", SlotState::Running);
        assert_eq!(ctx_cell(&s), ("-".to_string(), None));
        s.context = Some(ContextView {
            used: 172_000,
            window: Some(200_000),
            percent: Some(86),
        });
        s.compactions = 2;
        assert_eq!(
            ctx_cell(&s),
            ("86% ×2".to_string(), Some(Severity::Critical))
        );
        s.context = Some(ContextView {
            used: 150_000,
            window: Some(200_000),
            percent: Some(75),
        });
        assert_eq!(ctx_cell(&s).1, Some(Severity::Warning));
        s.context = Some(ContextView {
            used: 150_000,
            window: None,
            percent: None,
        });
        assert_eq!(ctx_cell(&s), ("150k ×2".to_string(), None));
    }

    #[test]
    fn the_palette_sorts_by_ctx() {
        assert_eq!(
            crate::ui::fleet::Column::parse("ctx"),
            Some(crate::ui::fleet::Column::Context)
        );
    }

    #[test]
    fn sparkline_scales_and_keeps_the_newest() {
        assert_eq!(sparkline(&[0, 50, 100, 200], 10), "▁▄██");
        assert_eq!(sparkline(&[0, 50, 100], 2), "▄█");
    }

    #[test]
    fn the_limits_summary_names_the_next_reset_and_how_long() {
        let l = LimitsView {
            throttled: 6,
            slots: 16,
            next_reset: Some(17 * 3_600_000),
            groups: Vec::new(),
        };
        assert_eq!(
            limits_text(&l, 17 * 3_600_000 - 42 * 60_000, false).as_deref(),
            Some("6/16 limited · next reset 17:00 (in 42m)")
        );
        assert_eq!(
            limits_text(&LimitsView::default(), 0, false),
            None,
            "nothing limited: nothing said"
        );
    }
}
