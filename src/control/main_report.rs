//! Red main in `drover report`: how long the shared branch was red on each UTC day of the
//! window, and the commits that broke it (first red commit, author, failing tests), counted by
//! the slot whose run landed them — read from the store's red periods (`main_red`).
//!
//! Invariant: [`compute`] is pure (periods and the window in, figures out); only [`load`]
//! reads. A period still open counts up to `now`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::MainView;
use crate::store::{RedPeriod, Store, StoreError};

const DAY_MS: i64 = 86_400_000;

/// Red time on one UTC day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedDay {
    /// `2026-02-01`.
    pub day: String,
    pub red_s: f64,
}

/// One time main broke.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Break {
    pub since_ms: i64,
    /// `None` while main is still red.
    pub until_ms: Option<i64>,
    /// The first red commit (or the red tip when bisection could not name one).
    pub commit: String,
    pub author: Option<String>,
    pub summary: Option<String>,
    /// The slot whose run landed it (`None`: no slot of this fleet).
    pub slot: Option<String>,
    pub failing: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MainReport {
    /// Days of the window with red time, oldest first.
    pub red_days: Vec<RedDay>,
    pub red_s: f64,
    pub breaks: Vec<Break>,
    /// Breaks per slot that landed them (`unknown` when no slot was named).
    pub by_slot: BTreeMap<String, u32>,
}

pub async fn load(store: &Store, from: i64) -> Result<Vec<RedPeriod>, StoreError> {
    store.main_red_since(from).await
}

/// The figures over `from..now`.
pub fn compute(periods: &[RedPeriod], from: i64, now: i64) -> MainReport {
    let mut days: BTreeMap<i64, i64> = BTreeMap::new();
    let mut r = MainReport::default();
    for p in periods {
        let (start, end) = (p.since_ms.max(from), p.until_ms.unwrap_or(now).min(now));
        let mut t = start;
        while t < end {
            let day = t.div_euclid(DAY_MS);
            let day_end = (day + 1) * DAY_MS;
            *days.entry(day).or_default() += end.min(day_end) - t;
            t = day_end;
        }
        if p.since_ms < from {
            continue;
        }
        let view: Option<MainView> = serde_json::from_value(p.record.clone()).ok();
        let culprit = view.as_ref().and_then(|v| v.culprit.as_ref());
        r.breaks.push(Break {
            since_ms: p.since_ms,
            until_ms: p.until_ms,
            commit: p.commit.clone(),
            author: culprit.map(|c| c.commit.author.clone()),
            summary: culprit.map(|c| c.commit.summary.clone()),
            slot: p.slot.clone(),
            failing: culprit
                .map(|c| c.failing.clone())
                .or_else(|| view.map(|v| v.failing))
                .unwrap_or_default(),
        });
        *r.by_slot
            .entry(p.slot.clone().unwrap_or_else(|| "unknown".into()))
            .or_default() += 1;
    }
    r.red_days = days
        .into_iter()
        .map(|(day, ms)| RedDay {
            day: super::report::fmt_time_s(day * 86_400)
                .get(..10)
                .unwrap_or_default()
                .to_string(),
            red_s: ms as f64 / 1000.0,
        })
        .collect();
    r.red_s = r.red_days.iter().map(|d| d.red_s).sum();
    r
}

fn dur(s: f64) -> String {
    let s = s.max(0.0) as i64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn to_text(r: &MainReport) -> String {
    let mut out = format!("Main red for {} in the window", dur(r.red_s));
    if r.breaks.is_empty() {
        out.push_str("; it never broke.\n");
        return out;
    }
    out.push_str(&format!(", broken {} times\n", r.breaks.len()));
    for d in &r.red_days {
        out.push_str(&format!("  {}  red {}\n", d.day, dur(d.red_s)));
    }
    out.push_str("Commits that broke main:\n");
    for b in &r.breaks {
        let lasted = b.until_ms.map_or("still red".to_string(), |u| {
            format!("red {}", dur((u - b.since_ms) as f64 / 1000.0))
        });
        out.push_str(&format!(
            "  {}  {}  {}  {}{}{}\n",
            super::report::fmt_time_s(b.since_ms.div_euclid(1000)),
            b.commit.get(..10).unwrap_or(&b.commit),
            b.slot.as_deref().unwrap_or("unknown"),
            lasted,
            b.author
                .as_ref()
                .map(|a| format!("  by {a}"))
                .unwrap_or_default(),
            if b.failing.is_empty() {
                String::new()
            } else {
                format!("  failing: {}", b.failing.join(", "))
            }
        ));
    }
    out.push_str("By slot:");
    for (slot, n) in &r.by_slot {
        out.push_str(&format!("  {slot} {n}"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(since: i64, until: Option<i64>, slot: Option<&str>) -> RedPeriod {
        RedPeriod {
            since_ms: since,
            until_ms: until,
            commit: "abcdef0123456789".into(),
            slot: slot.map(str::to_string),
            record: serde_json::json!({}),
        }
    }

    #[test]
    fn red_time_is_split_at_utc_midnight_and_counts_open_periods_to_now() {
        let day = 20_000 * DAY_MS;
        let periods = [
            // 23:00 → 01:00 the next day.
            period(day - 3_600_000, Some(day + 3_600_000), Some("worker-1")),
            // Still open: 10 minutes up to now.
            period(day + 7_200_000, None, None),
        ];
        let r = compute(&periods, day - DAY_MS, day + 7_800_000);
        assert_eq!(r.red_days.len(), 2);
        assert_eq!(r.red_days[0].red_s, 3600.0);
        assert_eq!(r.red_days[1].red_s, 3600.0 + 600.0);
        assert_eq!(r.by_slot.get("worker-1"), Some(&1));
        assert_eq!(r.by_slot.get("unknown"), Some(&1));
        let text = to_text(&r);
        assert!(text.contains("broken 2 times"), "{text}");
        assert!(text.contains("still red"), "{text}");
    }

    #[test]
    fn a_period_before_the_window_counts_only_its_time_inside() {
        let day = 20_000 * DAY_MS;
        let r = compute(
            &[period(day - 600_000, Some(day + 600_000), None)],
            day,
            day + DAY_MS,
        );
        assert_eq!(r.red_s, 600.0);
        assert!(r.breaks.is_empty(), "it broke before the window");
    }
}
