//! The status view: the documented, stable JSON of `drover status --json` (and the control
//! socket's `status` reply), built from a [`Snapshot`].
//!
//! Invariant: these structs are the interface, not the core's types — fields are only ever
//! added, never renamed or removed, so scripts keep working when the core changes. Times are
//! milliseconds since the Unix epoch; durations are seconds.

use serde::{Deserialize, Serialize};

use crate::core::{DockerStatus, Snapshot, UpstreamState, Verdict};

/// JSON bytes of the lock table, and separately of the alert table, in one view. Both tables
/// grow with what agents push (lock files) and do (alerts); cut here (rows in order until the
/// next would pass the budget), with every text cell at most [`VIEW_CELL`] bytes, the view stays
/// inside the frame limit whatever they hold, so `status` and every `ctl` command keep
/// answering. 10 000 locks with ordinary names fit whole.
pub const VIEW_TABLE_BYTES: usize = 3 << 19;
/// Bytes of one agent-controlled text cell (a task, a holder, an alert message).
pub const VIEW_CELL: usize = 512;

/// The leading rows whose JSON fits in [`VIEW_TABLE_BYTES`].
fn within_budget<T: Serialize>(rows: impl Iterator<Item = T>) -> Vec<T> {
    let mut used = 0usize;
    let mut kept = Vec::new();
    for row in rows {
        let n = serde_json::to_vec(&row).map_or(usize::MAX, |v| v.len().saturating_add(1));
        used = used.saturating_add(n);
        if used > VIEW_TABLE_BYTES {
            break;
        }
        kept.push(row);
    }
    kept
}

fn cell(text: &str) -> String {
    cut_at(text, VIEW_CELL).to_string()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub fleet: String,
    /// `up`, `down`, or `unknown` before the first contact.
    pub docker: String,
    pub slots: Vec<SlotStatus>,
    /// The leading locks within [`VIEW_TABLE_BYTES`]; `locks_total` says how many there are.
    pub locks: Vec<LockStatus>,
    /// The leading alerts within [`VIEW_TABLE_BYTES`]; `alerts_total` says how many are active.
    pub alerts: Vec<AlertStatus>,
    /// Locks in the fleet's table; more than `locks.len()` when the view was cut.
    #[serde(default)]
    pub locks_total: u64,
    /// Active alerts; more than `alerts.len()` when the view was cut.
    #[serde(default)]
    pub alerts_total: u64,
    pub mttr: MttrStatus,
    /// The upstream repo: `state` is `unknown` (none configured or not read yet), `ready`,
    /// `empty` (waiting for the first push) or `unreadable`.
    #[serde(default)]
    pub upstream: UpstreamStatus,
    /// Roles whose replicas a `ctl scale` override sets (until the config's replicas change).
    #[serde(default)]
    pub scale_overrides: Vec<crate::core::ScaleOverride>,
    /// The engines of a fleet over several hosts, each with its outage while down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<crate::core::HostView>,
    /// Fleet-wide figures: `spend` (today against the daily cap, and since drover started).
    #[serde(default)]
    pub metrics: StatusMetrics,
    /// Usage limits across the fleet: `throttled` slots (of `slots`), `next_reset`, `groups`.
    #[serde(default)]
    pub limits: crate::core::LimitsView,
}

/// The fleet's figures in `status --json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusMetrics {
    /// Micro-dollars (1 000 000 = $1) and tokens, as the daily budget counts them.
    pub spend: crate::core::SpendView,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamStatus {
    pub state: String,
    /// What the header says, e.g. "upstream empty — waiting for the first push".
    pub message: Option<String>,
    /// Locks released so far and their hold times (seconds).
    pub releases: u64,
    pub hold_p50_s: Option<f64>,
    pub hold_p90_s: Option<f64>,
    /// The shared branch's check (`[upstream.check]`); absent when none is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main: Option<MainStatus>,
}

pub use super::view_main::{MainCulprit, MainStatus};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotStatus {
    pub slot: String,
    pub role: String,
    /// `running`, `paused`, `blocked`, `backoff`, `stopped`, `taken-over`, … (as the TUI shows).
    pub state: String,
    /// `healthy`, `unknown`, `unready` or `stalled`.
    pub health: String,
    pub reason: Option<String>,
    pub restarts: u64,
    pub generation: u64,
    /// The container id, when one exists.
    pub container: Option<String>,
    /// The task the slot holds a lock on.
    pub task: Option<String>,
    pub last_test: Option<TestStatus>,
    /// Active alerts concerning this slot.
    pub alerts: u32,
    /// How the last container run ended, or null before the first end.
    #[serde(default)]
    pub last_exit: Option<ExitStatus>,
    /// The current run's time limit (`[roles.limits] run_timeout`), or null without one.
    #[serde(default)]
    pub run_limit: Option<RunLimitStatus>,
    /// The current run's totals from the run ledger, or null while no container runs.
    #[serde(default)]
    pub run: Option<RunStatus>,
    /// While throttled by a usage limit: when the slot starts again (ms since the epoch).
    #[serde(default)]
    pub throttled_until: Option<u64>,
    /// Usage as the agent printed it: this run's tokens by kind and cost, the cost since drover
    /// started, and the tokens spent on the task the slot holds.
    #[serde(default)]
    pub usage: crate::core::UsageView,
    /// How full the agent's context is (`used` tokens, `window`, `percent`), once it said.
    #[serde(default)]
    pub context: Option<crate::core::ContextView>,
    /// Context compactions in the current run.
    #[serde(default)]
    pub compactions: u32,
    /// The host the slot runs on, in a fleet over several (`[[hosts]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Since when (ms since the epoch) its host is unreachable: `state` is then the last known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_down_since: Option<u64>,
}

/// What the current run has spent and delivered so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    pub started_at: u64,
    pub generation: u64,
    /// Tokens by kind, counted once per message.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_read_tokens: u64,
    /// Usage of unknown kind (`tokens=N` lines).
    pub other_tokens: u64,
    /// Cost by the `[pricing]` table, in micro-dollars.
    pub cost_micros: u64,
    /// Commits landed upstream and attributed to the slot during this run.
    pub commits: u64,
    /// Tasks whose lock the run took, and released (completed).
    pub locks_taken: u64,
    pub locks_released: u64,
    /// Passing tests at the run's last test run minus at its first; null without tests.
    pub passing_delta: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExitStatus {
    pub at: u64,
    /// Null when the container vanished or never started.
    pub code: Option<i64>,
    pub oom_killed: bool,
    /// Seconds from start to exit.
    pub uptime_s: f64,
    /// The line that explains the exit (secrets masked).
    pub line: Option<String>,
    /// `"timeout"` when drover stopped the run at its time limit; null otherwise.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunLimitStatus {
    /// The limit this run has, extensions included.
    pub allowed_s: f64,
    /// When drover will stop the run; null while its clock is stopped (paused, taken over).
    pub ends_at: Option<u64>,
    pub left_s: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestStatus {
    pub at: u64,
    /// `pass`, `fail`, `error` or `no_tests`.
    pub verdict: String,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockStatus {
    pub task: String,
    pub holder: Option<String>,
    pub claimed_at: u64,
    /// Lock files held for this task (a task is claimed by one lock file).
    pub claims: u64,
    pub stale: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertStatus {
    pub id: u64,
    /// `<slot>/<kind>` (`fleet/<kind>` for fleet-wide alerts): what `drover ctl ack` takes.
    pub key: String,
    /// The slot it concerns; `null` for fleet-wide alerts.
    pub slot: Option<String>,
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub since: u64,
    pub acked: bool,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MttrStatus {
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    /// Incidents closed so far (open ones are in `open`).
    pub incidents: u32,
    pub open: u32,
}

/// The key an alert goes by in `status` and `drover ctl ack`: `<slot>/<kind>`, or
/// `fleet/<kind>` for a fleet-wide alert.
pub fn alert_key(slot: Option<&str>, kind: &str) -> String {
    format!("{}/{kind}", slot.unwrap_or("fleet"))
}

pub fn verdict_label(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::NoTests => "no_tests",
    }
}

fn enum_word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".into(),
    }
}

fn secs(ms: Option<u64>) -> Option<f64> {
    ms.map(|m| m as f64 / 1000.0)
}

impl StatusView {
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let docker = match s.docker {
            DockerStatus::Up => "up",
            DockerStatus::Down { .. } => "down",
            DockerStatus::Unknown => "unknown",
        };
        let slots = s
            .slots
            .iter()
            .map(|v| SlotStatus {
                slot: v.slot.clone(),
                role: v.role.clone(),
                state: v.state.label().to_string(),
                health: v.health.label().to_string(),
                reason: v.reason.clone(),
                restarts: v.restarts,
                generation: v.generation,
                container: v.container_id.clone(),
                task: v.task.as_ref().map(|t| t.task.clone()),
                last_test: v.last_test.as_ref().map(|t| TestStatus {
                    at: t.at,
                    verdict: verdict_label(&t.summary.verdict).to_string(),
                    passed: t.summary.passed,
                    failed: t.summary.failed,
                    skipped: t.summary.skipped,
                    errors: t.summary.errors,
                }),
                alerts: v.open_alerts,
                last_exit: v.last_exit.as_ref().map(|e| ExitStatus {
                    at: e.at,
                    code: e.code,
                    oom_killed: e.oom_killed,
                    uptime_s: e.uptime as f64 / 1e3,
                    line: e.line.clone(),
                    reason: e.reason.map(|r| match r {
                        crate::core::ExitReason::Timeout => "timeout".to_string(),
                    }),
                }),
                run_limit: v.run_limit.as_ref().map(|l| RunLimitStatus {
                    allowed_s: l.allowed_ms as f64 / 1e3,
                    ends_at: l.ends_at,
                    left_s: l.left_ms as f64 / 1e3,
                }),
                run: v.run.as_ref().map(|r| RunStatus {
                    started_at: r.started_at,
                    generation: r.generation,
                    input_tokens: r.tokens.input,
                    output_tokens: r.tokens.output,
                    cache_write_tokens: r.tokens.cache_write,
                    cache_read_tokens: r.tokens.cache_read,
                    other_tokens: r.tokens.other,
                    cost_micros: r.cost_micros,
                    commits: r.commit_count,
                    locks_taken: r.locks_taken.len() as u64,
                    locks_released: r.locks_released.len() as u64,
                    passing_delta: r.passing_delta(),
                }),
                throttled_until: v.throttled_until,
                host: v.host.clone(),
                host_down_since: v.host_down_since,
                usage: crate::core::UsageView {
                    task: v.usage.task.as_deref().map(cell),
                    ..v.usage.clone()
                },
                context: v.context.clone(),
                compactions: v.compactions,
            })
            .collect();
        let locks = within_budget(s.locks.iter().map(|l| LockStatus {
            task: cell(&l.task),
            holder: l.holder.as_deref().map(cell),
            claimed_at: l.claimed_at,
            claims: l.claims,
            stale: l.stale,
        }));
        let alerts = within_budget(s.alerts.iter().map(|a| AlertStatus {
            id: a.id,
            key: alert_key(a.key.slot.as_deref(), a.key.kind.name()),
            slot: a.key.slot.clone(),
            kind: a.key.kind.name().to_string(),
            severity: enum_word(&a.severity),
            since: a.first_seen,
            acked: a.acked.is_some(),
            message: cell(&a.message),
        }));
        let service = &s.metrics.service;
        let upstream = UpstreamStatus {
            state: match &s.upstream.state {
                UpstreamState::Unknown => "unknown",
                UpstreamState::Ready => "ready",
                UpstreamState::Empty => "empty",
                UpstreamState::Unreadable { .. } => "unreadable",
            }
            .to_string(),
            message: s.upstream.headline(),
            releases: s.upstream.releases,
            hold_p50_s: secs(s.upstream.hold_p50),
            hold_p90_s: secs(s.upstream.hold_p90),
            main: s.main.as_ref().map(MainStatus::from_view),
        };
        Self {
            upstream,
            scale_overrides: s.scale_overrides.clone(),
            limits: s.limits.clone(),
            hosts: s.hosts.clone(),
            metrics: StatusMetrics {
                spend: s.metrics.spend.clone(),
            },
            fleet: s.fleet.clone(),
            docker: docker.to_string(),
            slots,
            locks,
            alerts,
            locks_total: s.locks.len() as u64,
            alerts_total: s.alerts.len() as u64,
            mttr: MttrStatus {
                p50_s: secs(service.mttr_p50),
                p95_s: secs(service.mttr_p95),
                incidents: service.incidents_closed,
                open: service.incidents_open,
            },
        }
    }

    /// The fleet as an aligned text table (what `drover status` prints).
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            // Closed incidents are what the MTTR is measured over; open ones are not in it yet.
            "fleet {}  docker {}  slots {}  alerts {}  mttr p50 {} (incidents: {} closed, {} open)",
            self.fleet,
            self.docker,
            self.slots.len(),
            self.alerts_total.max(self.alerts.len() as u64),
            self.mttr
                .p50_s
                .map_or("-".to_string(), |s| format!("{s:.0}s")),
            self.mttr.incidents,
            self.mttr.open,
        );
        if let Some(m) = &self.upstream.message {
            let _ = writeln!(out, "{m}");
        }
        for o in &self.scale_overrides {
            let _ = writeln!(
                out,
                "{}: {} replicas by ctl scale (override; the config says {})",
                o.role, o.replicas, o.configured
            );
        }
        let rows: Vec<[String; 7]> = self
            .slots
            .iter()
            .map(|s| {
                [
                    s.slot.clone(),
                    s.role.clone(),
                    s.state.clone(),
                    s.health.clone(),
                    s.restarts.to_string(),
                    s.task.clone().unwrap_or_else(|| "-".into()),
                    s.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let header = [
            "SLOT", "ROLE", "STATE", "HEALTH", "RESTARTS", "TASK", "REASON",
        ];
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut line = |cells: [&str; 7]| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i == 6 {
                    l.push_str(c);
                } else {
                    let _ = write!(l, "{c:<w$}  ", w = widths[i]);
                }
            }
            let _ = writeln!(out, "{}", l.trim_end());
        };
        line(header);
        for r in &rows {
            line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]]);
        }
        for a in &self.alerts {
            let _ = writeln!(
                out,
                "alert {} {} {} {}{}: {}",
                a.id,
                a.severity,
                a.slot.as_deref().unwrap_or("fleet"),
                a.kind,
                if a.acked { " (acked)" } else { "" },
                a.message
            );
        }
        if self.alerts_total > self.alerts.len() as u64 {
            let _ = writeln!(
                out,
                "… {} more alerts not shown",
                self.alerts_total - self.alerts.len() as u64
            );
        }
        for l in &self.locks {
            let _ = writeln!(
                out,
                "lock {} held by {}{}",
                l.task,
                l.holder.as_deref().unwrap_or("?"),
                if l.stale { " (stale)" } else { "" }
            );
        }
        if self.locks_total > self.locks.len() as u64 {
            let _ = writeln!(
                out,
                "… {} more locks not shown (the view holds {VIEW_TABLE_BYTES} bytes of them)",
                self.locks_total - self.locks.len() as u64
            );
        }
        out
    }
}

/// The longest prefix of `text` of at most `max` bytes ending on a character boundary.
pub fn cut_at(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ExitInfo, ExitReason, RunLimitView, SlotState};
    use crate::ui::sample;

    #[test]
    fn a_timed_out_run_and_the_run_limit_are_in_the_documented_json() {
        let mut slot = sample::slot("worker-1", SlotState::Running);
        slot.last_exit = Some(ExitInfo {
            code: Some(143),
            oom_killed: false,
            at: 1_000,
            uptime: 1_800_000,
            line: Some("timed out after 30m".into()),
            reason: Some(ExitReason::Timeout),
        });
        slot.run_limit = Some(RunLimitView {
            allowed_ms: 1_800_000,
            ends_at: Some(2_000_000),
            left_ms: 60_000,
        });
        let json =
            serde_json::to_value(StatusView::from_snapshot(&sample::snapshot(vec![slot]))).unwrap();
        let s = &json["slots"][0];
        assert_eq!(s["last_exit"]["reason"], "timeout");
        assert_eq!(s["last_exit"]["uptime_s"], 1800.0);
        assert_eq!(s["run_limit"]["left_s"], 60.0);
        assert_eq!(s["run_limit"]["ends_at"], 2_000_000);
        assert!(s["run"].is_null(), "no run ledger record: null");
    }

    #[test]
    fn throttled_until_usage_and_spend_are_in_the_documented_json() {
        let mut slot = sample::slot("worker-1", SlotState::Running);
        slot.throttled_until = Some(1_700_000_000_000);
        slot.usage.run_cost_micros = 12_345;
        slot.usage.cost_micros = 67_890;
        slot.usage.run_tokens.output = 42;
        let mut snap = sample::snapshot(vec![slot]);
        snap.metrics.spend.today_micros = 500_000;
        let json = serde_json::to_value(StatusView::from_snapshot(&snap)).unwrap();
        let s = &json["slots"][0];
        assert_eq!(s["throttled_until"], 1_700_000_000_000u64);
        assert_eq!(s["usage"]["run_cost_micros"], 12_345);
        assert_eq!(s["usage"]["cost_micros"], 67_890);
        assert_eq!(s["usage"]["run_tokens"]["output"], 42);
        assert_eq!(json["metrics"]["spend"]["today_micros"], 500_000);
    }

    #[test]
    fn the_current_runs_totals_are_in_the_documented_json() {
        let mut slot = sample::slot("worker-1", SlotState::Running);
        slot.run = Some(crate::core::RunRecord {
            started_at: 5_000,
            generation: 2,
            cost_micros: 71_182,
            commit_count: 3,
            locks_released: vec!["parser".into()],
            tokens: crate::signals::usage::Tokens {
                input: 11,
                output: 235,
                cache_write: 489,
                cache_read: 29_482,
                other: 0,
            },
            ..Default::default()
        });
        let json =
            serde_json::to_value(StatusView::from_snapshot(&sample::snapshot(vec![slot]))).unwrap();
        let r = &json["slots"][0]["run"];
        assert_eq!(r["started_at"], 5_000);
        assert_eq!(r["cost_micros"], 71_182);
        assert_eq!(r["cache_read_tokens"], 29_482);
        assert_eq!(r["commits"], 3);
        assert_eq!(r["locks_released"], 1);
        assert!(r["passing_delta"].is_null());
    }

    /// 10 000 pushed lock files with quote-heavy 200-character names (each quote doubles in
    /// JSON): the status reply must still fit one frame, saying how much it left out.
    #[test]
    fn ten_thousand_quote_heavy_lock_names_still_fit_one_status_frame() {
        use crate::control::protocol::{Reply, ReplyFrame, ServerFrame};
        use crate::control::transport::encode_frame;
        let mut snap = sample::snapshot(vec![sample::slot("worker-1", SlotState::Running)]);
        snap.locks = (0..10_000)
            .map(|i| crate::core::LockView {
                task: format!("{i:05}{}", "\"".repeat(195)),
                holder: Some("\"".repeat(64)),
                claimed_at: 0,
                holder_is_slot: false,
                overdue: true,
                stale: false,
                release_requested: false,
                claims: 1,
                claim_commit: Some("a".repeat(40)),
            })
            .collect();
        let view = StatusView::from_snapshot(&snap);
        let frame = ServerFrame::Reply(ReplyFrame {
            id: 1,
            body: Reply::Status(Box::new(view.clone())),
        });
        let bytes = encode_frame(&frame).expect("the status reply fits the frame limit");
        assert!(bytes.len() < crate::control::transport::MAX_FRAME);
        let shown = view.locks.len();
        assert!(shown > 100 && shown < 10_000, "{shown}");
        assert_eq!(view.locks_total, 10_000);
        let notice = format!("{} more locks not shown", 10_000 - shown);
        assert!(view.to_text().contains(&notice));
    }
}
