//! The reliability report (`drover report`): MTTR p50/p95, MTBF, recovery rate, restarts,
//! alerts and test pass rate per slot and for the fleet, over a time window, read from the
//! store alone — it works on a read-only database with no daemon running (post-mortems).
//!
//! Invariant: [`compute`] is pure (rows and the window in, figures out); only [`load`] reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::Incident;
use crate::store::{Store, StoreError};
use crate::upstream::report::UpstreamReport;
use std::time::UNIX_EPOCH;

/// The rows a report is computed from.
#[derive(Clone, Debug, Default)]
pub struct ReportInput {
    pub incidents: Vec<Incident>,
    /// (slot, ts_ms) of every scheduled restart.
    pub restarts: Vec<(String, i64)>,
    /// (slot or "fleet", first_ms) of every raised alert.
    pub alerts: Vec<(String, i64)>,
    /// (slot, ts_ms, verdict) of every test run.
    pub tests: Vec<(String, i64, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub incidents: u32,
    pub closed: u32,
    pub mttr_p50_s: Option<f64>,
    pub mttr_p95_s: Option<f64>,
    pub mtbf_s: Option<f64>,
    /// Auto-recovered / closed (slots scaled away excluded).
    pub recovery_rate: Option<f64>,
    pub restarts: u32,
    pub alerts: u32,
    pub test_runs: u32,
    /// Passing runs / runs that ran tests.
    pub test_pass_rate: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub from_ms: i64,
    pub to_ms: i64,
    pub fleet: Figures,
    pub slots: BTreeMap<String, Figures>,
}

/// Nearest-rank percentile of sorted `v`.
fn percentile(v: &[u64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1] as f64 / 1000.0)
}

fn figures(incidents: &[&Incident], from: i64, to: i64) -> Figures {
    let in_window = |t: u64| {
        let t = i64::try_from(t).unwrap_or(i64::MAX);
        t >= from && t <= to
    };
    let mut f = Figures::default();
    let mut repairs = Vec::new();
    let mut auto = 0;
    let mut counted = 0;
    for i in incidents {
        if in_window(i.opened_at) {
            f.incidents += 1;
        }
        let Some(closed) = i.closed_at.filter(|c| in_window(*c)) else {
            continue;
        };
        if matches!(i.resolution, Some(crate::core::Resolution::SlotRemoved)) {
            continue;
        }
        f.closed += 1;
        counted += 1;
        repairs.push(closed.saturating_sub(i.opened_at));
        if matches!(i.resolution, Some(crate::core::Resolution::AutoRecovered)) {
            auto += 1;
        }
    }
    repairs.sort_unstable();
    f.mttr_p50_s = percentile(&repairs, 0.50);
    f.mttr_p95_s = percentile(&repairs, 0.95);
    f.recovery_rate = (counted > 0).then(|| f64::from(auto) / f64::from(counted));
    f
}

/// Mean healthy stretch between one incident's close and the next incident of the same slot.
fn mtbf(
    by_slot: &BTreeMap<String, Vec<&Incident>>,
    from: i64,
) -> (Option<f64>, BTreeMap<String, Option<f64>>) {
    let mut all = Vec::new();
    let mut per = BTreeMap::new();
    for (slot, list) in by_slot {
        let mut list = list.clone();
        list.sort_by_key(|i| i.opened_at);
        let gaps: Vec<u64> = list
            .windows(2)
            .filter_map(|w| {
                let closed = w[0].closed_at?;
                (i64::try_from(w[1].opened_at).unwrap_or(i64::MAX) >= from)
                    .then(|| w[1].opened_at.saturating_sub(closed))
            })
            .collect();
        let mean = (!gaps.is_empty())
            .then(|| gaps.iter().sum::<u64>() as f64 / gaps.len() as f64 / 1000.0);
        per.insert(slot.clone(), mean);
        all.extend(gaps);
    }
    let fleet =
        (!all.is_empty()).then(|| all.iter().sum::<u64>() as f64 / all.len() as f64 / 1000.0);
    (fleet, per)
}

/// The report over `[from, to]` (milliseconds since the epoch).
pub fn compute(input: &ReportInput, from: i64, to: i64) -> Report {
    let mut by_slot: BTreeMap<String, Vec<&Incident>> = BTreeMap::new();
    for i in &input.incidents {
        by_slot.entry(i.slot.clone()).or_default().push(i);
    }
    let all: Vec<&Incident> = input.incidents.iter().collect();
    let mut fleet = figures(&all, from, to);
    let (fleet_mtbf, slot_mtbf) = mtbf(&by_slot, from);
    fleet.mtbf_s = fleet_mtbf;
    let mut slots: BTreeMap<String, Figures> = by_slot
        .iter()
        .map(|(s, list)| {
            let mut f = figures(list, from, to);
            f.mtbf_s = slot_mtbf.get(s).copied().flatten();
            (s.clone(), f)
        })
        .collect();
    let within = |t: i64| t >= from && t <= to;
    for (slot, t) in &input.restarts {
        if within(*t) {
            fleet.restarts += 1;
            slots.entry(slot.clone()).or_default().restarts += 1;
        }
    }
    for (slot, t) in &input.alerts {
        if within(*t) {
            fleet.alerts += 1;
            slots.entry(slot.clone()).or_default().alerts += 1;
        }
    }
    let mut passes: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for (slot, t, verdict) in &input.tests {
        if !within(*t) {
            continue;
        }
        fleet.test_runs += 1;
        slots.entry(slot.clone()).or_default().test_runs += 1;
        if verdict == "no_tests" {
            continue;
        }
        let e = passes.entry(slot.clone()).or_default();
        e.1 += 1;
        if verdict == "pass" {
            e.0 += 1;
        }
    }
    let (mut p, mut n) = (0, 0);
    for (slot, (pass, ran)) in passes {
        p += pass;
        n += ran;
        if ran > 0 {
            slots.entry(slot).or_default().test_pass_rate = Some(f64::from(pass) / f64::from(ran));
        }
    }
    fleet.test_pass_rate = (n > 0).then(|| f64::from(p) / f64::from(n));
    Report {
        from_ms: from,
        to_ms: to,
        fleet,
        slots,
    }
}

/// Reads what a report over `[from, ...)` needs (incidents of any age, for MTBF gaps).
pub async fn load(store: &Store, from: i64) -> Result<ReportInput, StoreError> {
    let pool = store.pool();
    let records: Vec<(String,)> = sqlx::query_as(
        "SELECT record FROM incidents WHERE closed_ms IS NULL OR closed_ms >= ? OR opened_ms >= ? ORDER BY opened_ms",
    )
    .bind(from)
    .bind(from)
    .fetch_all(pool)
    .await?;
    let mut incidents = Vec::new();
    for (r,) in records {
        match serde_json::from_str::<Incident>(&r) {
            Ok(i) => incidents.push(i),
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable incident record"),
        }
    }
    // One earlier incident per slot gives the first gap inside the window its start.
    let earlier: Vec<(String,)> = sqlx::query_as(
        "SELECT record FROM incidents i WHERE closed_ms < ? AND opened_ms = \
         (SELECT MAX(opened_ms) FROM incidents j WHERE j.slot = i.slot AND j.closed_ms < ?)",
    )
    .bind(from)
    .bind(from)
    .fetch_all(pool)
    .await?;
    for (r,) in earlier {
        if let Ok(i) = serde_json::from_str::<Incident>(&r) {
            incidents.push(i);
        }
    }
    let restarts: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT slot, ts_ms FROM events WHERE kind = 'restart_scheduled' AND ts_ms >= ?",
    )
    .bind(from)
    .fetch_all(pool)
    .await?;
    let alerts: Vec<(Option<String>, i64)> =
        sqlx::query_as("SELECT slot, first_ms FROM alerts WHERE first_ms >= ?")
            .bind(from)
            .fetch_all(pool)
            .await?;
    let tests: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT slot, ts_ms, verdict FROM test_runs WHERE ts_ms >= ?")
            .bind(from)
            .fetch_all(pool)
            .await?;
    let named = |v: Vec<(Option<String>, i64)>| {
        v.into_iter()
            .map(|(s, t)| (s.unwrap_or_else(|| "fleet".into()), t))
            .collect()
    };
    Ok(ReportInput {
        incidents,
        restarts: named(restarts),
        alerts: named(alerts),
        tests,
    })
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}{unit}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.0}%", x * 100.0))
}

/// The report as a table: one row per slot, then the fleet.
pub fn to_text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7} {:>6} {:>10}",
        "SLOT",
        "INCIDENTS",
        "MTTR P50",
        "MTTR P95",
        "MTBF",
        "RECOVERY",
        "RESTARTS",
        "ALERTS",
        "TESTS",
        "PASS RATE"
    );
    let row = |out: &mut String, name: &str, f: &Figures| {
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7} {:>6} {:>10}",
            name,
            f.incidents,
            opt(f.mttr_p50_s, "s"),
            opt(f.mttr_p95_s, "s"),
            opt(f.mtbf_s, "s"),
            pct(f.recovery_rate),
            f.restarts,
            f.alerts,
            f.test_runs,
            pct(f.test_pass_rate)
        );
    };
    for (slot, f) in &r.slots {
        row(&mut out, slot, f);
    }
    row(&mut out, "FLEET", &r.fleet);
    out
}

/// `2026-02-01 12:00 UTC` for seconds since the epoch.
pub fn fmt_time_s(s: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(s).unwrap_or(0));
    let full = humantime::format_rfc3339_seconds(t).to_string();
    // `2026-02-01T12:00:00Z` → `2026-02-01 12:00 UTC`
    match (full.get(..10), full.get(11..16)) {
        (Some(d), Some(hm)) => format!("{d} {hm} UTC"),
        _ => full,
    }
}

/// `1h 05m`, `20m 10s`, `45s` for a hold time in seconds.
fn dur_s(s: Option<i64>) -> String {
    let Some(s) = s else { return "-".into() };
    let s = s.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The upstream retrospective as text: totals, hold times, re-claimed tasks, locks still
/// held, claims over time (a bar chart) and claims per author and per holder.
pub fn upstream_to_text(r: &UpstreamReport) -> String {
    use std::fmt::Write as _;
    let l = &r.locks;
    let mut out = String::new();
    let span = match (r.first_commit_s, r.last_commit_s) {
        (Some(a), Some(b)) => format!("{} → {}", fmt_time_s(a), fmt_time_s(b)),
        _ => "no commits yet".into(),
    };
    let branch = r.branch.strip_prefix("refs/heads/").unwrap_or(&r.branch);
    let _ = writeln!(
        out,
        "upstream {} · branch {branch} · {} first-parent commits · {span}",
        r.repo, r.commits
    );
    if let Some(s) = r.since_s {
        let _ = writeln!(out, "counting from {}", fmt_time_s(s));
    }
    let _ = writeln!(
        out,
        "locks ({}/): {} claims of {} tasks · {} re-claimed (at most {} claims) · {} releases · {} never released",
        r.locks_dir,
        l.claims,
        l.tasks,
        l.reclaimed_tasks,
        l.max_claims,
        l.releases,
        l.never_released
    );
    let _ = writeln!(
        out,
        "hold time: p50 {} · p90 {} · p99 {} · longest {}{}",
        dur_s(l.hold_p50_s),
        dur_s(l.hold_p90_s),
        dur_s(l.hold_p99_s),
        dur_s(l.hold_max_s),
        l.longest
            .as_ref()
            .map(|x| format!(" ({}, {})", x.task, x.holder))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "most locks held at once: {}{}",
        l.max_concurrent,
        l.max_concurrent_at_s
            .map(|t| format!(" (first at {})", fmt_time_s(t)))
            .unwrap_or_default()
    );
    if !l.top_reclaimed.is_empty() {
        let _ = writeln!(out, "\nre-claimed tasks (top {}):", l.top_reclaimed.len());
        for c in &l.top_reclaimed {
            let _ = writeln!(out, "  {:>4}×  {}", c.count, c.name);
        }
    }
    if !l.held_at_tip.is_empty() {
        let _ = writeln!(out, "\nnever released (held at the tip):");
        for h in l.held_at_tip.iter().take(20) {
            let _ = writeln!(
                out,
                "  {}  {:<30} {:<16} {}",
                fmt_time_s(h.claimed_at_s),
                h.task,
                h.holder,
                h.summary
            );
        }
        if l.held_at_tip.len() > 20 {
            let _ = writeln!(out, "  … and {} more", l.held_at_tip.len() - 20);
        }
    }
    if !l.claims_over_time.is_empty() {
        let most = l
            .claims_over_time
            .iter()
            .map(|b| b.claims)
            .max()
            .unwrap_or(1)
            .max(1);
        let _ = writeln!(
            out,
            "\nclaims per {}:",
            dur_s(Some(l.bucket_s))
                .replace(" 00m", "")
                .replace(" 00h", "")
        );
        for b in &l.claims_over_time {
            let bar = usize::try_from(b.claims * 40 / most).unwrap_or(40);
            let bar = if b.claims > 0 { bar.max(1) } else { 0 };
            let _ = writeln!(
                out,
                "  {}  {:>5} {}",
                fmt_time_s(b.start_s),
                b.claims,
                "█".repeat(bar)
            );
        }
    }
    for (title, list) in [
        ("claims per commit author", &l.by_author),
        ("claims per holder named in the lock file", &l.by_holder),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}:");
        for c in list.iter().take(20) {
            let _ = writeln!(out, "  {:>6}  {}", c.count, c.name);
        }
        if list.len() > 20 {
            let _ = writeln!(out, "  … and {} more", list.len() - 20);
        }
    }
    out
}

/// The fleet report with the cost ledger over `from..now`, as `drover report --json` prints it
/// (without the upstream figures), from the store at `db` opened read-only: what a face that
/// has no daemon connection for it (`drover mcp`) shows.
pub async fn json_from_store(
    db: &std::path::Path,
    from: i64,
    now: i64,
) -> Result<serde_json::Value, StoreError> {
    let store = Store::open_read_only(db).await?;
    let input = load(&store, from).await;
    let costs = super::cost::load(&store, from).await.unwrap_or_default();
    store.close().await;
    let mut v = serde_json::to_value(compute(&input?, from, now)).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "cost".into(),
            serde_json::to_value(super::cost::compute(&costs)).unwrap_or_default(),
        );
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{IncidentCause, Resolution};

    fn inc(slot: &str, opened: u64, closed: Option<u64>, res: Option<Resolution>) -> Incident {
        Incident {
            id: opened,
            slot: slot.into(),
            role: "w".into(),
            opened_at: opened,
            cause: IncidentCause::Disappeared,
            detail: String::new(),
            closed_at: closed,
            resolution: res,
            restarts: 0,
            operator_involved: false,
        }
    }

    #[test]
    fn figures_follow_the_definitions() {
        let input = ReportInput {
            incidents: vec![
                inc("a", 1_000, Some(3_000), Some(Resolution::AutoRecovered)),
                inc(
                    "a",
                    13_000,
                    Some(23_000),
                    Some(Resolution::OperatorRecovered),
                ),
                inc("b", 5_000, None, None),
                inc("b", 6_000, Some(7_000), Some(Resolution::SlotRemoved)),
            ],
            restarts: vec![("a".into(), 2_000), ("a".into(), 100)],
            alerts: vec![("fleet".into(), 9_000)],
            tests: vec![
                ("a".into(), 4_000, "pass".into()),
                ("a".into(), 5_000, "fail".into()),
                ("b".into(), 5_000, "no_tests".into()),
            ],
        };
        let r = compute(&input, 500, 30_000);
        assert_eq!(r.fleet.incidents, 4);
        assert_eq!(r.fleet.closed, 2, "scale-downs are not repairs");
        assert_eq!(r.fleet.mttr_p50_s, Some(2.0));
        assert_eq!(r.fleet.mttr_p95_s, Some(10.0));
        assert_eq!(r.slots["a"].mtbf_s, Some(10.0));
        assert_eq!(r.fleet.recovery_rate, Some(0.5));
        assert_eq!(
            r.fleet.restarts, 1,
            "the restart before the window is left out"
        );
        assert_eq!(r.fleet.alerts, 1);
        assert_eq!(r.fleet.test_runs, 3);
        assert_eq!(r.fleet.test_pass_rate, Some(0.5));
        assert!(to_text(&r).contains("FLEET"));
    }
}
