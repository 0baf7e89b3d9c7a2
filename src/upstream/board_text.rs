//! The board and its flow as plain text, for `drover report --upstream` and the PROGRESS.md
//! view's "no PROGRESS.md" line. All item text was sanitised when the board was read.

use std::fmt::Write as _;

use super::board::{Board, BoardColumn};
use super::board_flow::Flow;

/// Items shown per column in the text form.
const TEXT_ITEMS: usize = 10;

/// `1 h 05 m`, `3 m 20 s`, `2 d 04 h`.
pub fn span(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} m {:02} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {:02} m", s / 3600, s % 3600 / 60),
        _ => format!("{} d {:02} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn column(out: &mut String, name: &str, c: &BoardColumn, detail: impl Fn(usize) -> String) {
    let _ = writeln!(out, "  {name}: {}", c.count);
    for (i, item) in c.items.iter().take(TEXT_ITEMS).enumerate() {
        let _ = writeln!(out, "    - {}{}", item.title, detail(i));
    }
    if c.count > TEXT_ITEMS.min(c.items.len()) as u64 {
        let shown = TEXT_ITEMS.min(c.items.len());
        let _ = writeln!(out, "    … {} more", c.count - shown as u64);
    }
}

/// The board's three columns (first items of each) and what was done recently.
pub fn board_to_text(b: &Board) -> String {
    let mut out = String::new();
    if !b.has_progress_file && !b.tip.is_empty() {
        let _ = writeln!(out, "{}", b.no_progress_note());
    }
    if b.source == "none" {
        let _ = writeln!(out, "board: none (no task folders, no TODO checklist)");
        return out;
    }
    let _ = writeln!(out, "board ({}: {})", b.source, b.location);
    column(&mut out, "backlog", &b.backlog, |_| String::new());
    column(&mut out, "in progress", &b.in_progress, |i| {
        let it = &b.in_progress.items[i];
        match (&it.holder, it.age_s) {
            (Some(h), Some(a)) => format!(" ({h}, {})", span(a)),
            (Some(h), None) => format!(" ({h})"),
            _ => String::new(),
        }
    });
    column(&mut out, "done", &b.done, |_| String::new());
    if b.source == "folders" {
        let week: u64 = b.done_last_week.iter().map(|d| d.completed).sum();
        let _ = writeln!(out, "  done today: {}; last 7 days: {week}", b.done_today);
    }
    out
}

/// Completed per day, claim-to-completion percentiles and tasks sent back to the backlog.
pub fn flow_to_text(f: &Flow) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "flow: {} tasks completed", f.completed);
    let pct = |v: Option<i64>| v.map_or("—".to_owned(), span);
    let _ = writeln!(
        out,
        "  claim to completion: p50 {}, p90 {} (over {} claimed completions)",
        pct(f.claim_to_done_p50_s),
        pct(f.claim_to_done_p90_s),
        f.claimed_completions
    );
    let _ = writeln!(out, "  back to backlog: {}", f.back_to_backlog);
    let _ = writeln!(out, "  completed per day:");
    for d in &f.completed_per_day {
        let _ = writeln!(out, "    {} {:>5}", d.day, d.completed);
    }
    out
}
