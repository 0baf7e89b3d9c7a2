//! Context health of each slot's agent, judged from what its output says (read by the
//! adapters, see `drover_signals::transcript::context`): how full its context window is, and
//! the compactions of the current run. Three detectors act on it with the actions every loop
//! detector has (alert, pause, block, restart — a restart being a fresh session):
//! - `context_high`: the context is at or above `warn_at` percent of the model's window;
//! - `compaction_loop`: `max` compactions within `window` (the task is too big for a context);
//! - `idle_after_compaction`: no output for `after` once a compaction happened (an agent left
//!   waiting after a compaction nobody asked for).
//!
//! Invariants: the track belongs to the current run (reset when a run starts); it is bounded
//! ([`HISTORY_LEN`] readings, [`MAX_COMPACTIONS`] compaction times); the idle deadline is
//! offered by [`deadline`] exactly when [`on_timer`] can fire it, so a wake-up never spins;
//! each firing acts once (when its alert is new).

use serde_json::json;

use super::effect::EventKind;
use super::loops::{Firing, fire};
use super::model::Millis;
use super::model::alert::{AlertKind, Severity};
use super::model::context::{
    CompactionView, ContextTrack, ContextView, HISTORY_LEN, MAX_COMPACTIONS,
};
use super::model::human;
use super::policy::RoleSpec;
use super::slot::{Cx, Slot};
use drover_signals::transcript::context::{CompactTrigger, percent_of};

pub(crate) const CONTEXT_HIGH: &str = "context_high";
pub(crate) const COMPACTION_LOOP: &str = "compaction_loop";
pub(crate) const IDLE_AFTER_COMPACTION: &str = "idle_after_compaction";

/// The start of the slot's live run, if any.
fn live_run(s: &Slot) -> Option<Millis> {
    s.container
        .as_ref()
        .filter(|c| c.status.is_live())
        .and_then(|c| c.started_at)
}

/// Makes the track the current run's: a run that began since starts a fresh context, and the
/// old run's context alerts end (a restart is a fresh session).
pub(crate) fn sync_run(s: &mut Slot, cx: &mut Cx) {
    let run = live_run(s);
    if run.is_none() || s.context.run == run {
        return;
    }
    let had = s.context.run.is_some();
    s.context = ContextTrack {
        run,
        ..ContextTrack::default()
    };
    if had {
        for d in [CONTEXT_HIGH, COMPACTION_LOOP, IDLE_AFTER_COMPACTION] {
            clear(s, cx, d);
        }
    }
}

fn clear(s: &Slot, cx: &mut Cx, detector: &str) {
    cx.clear(
        &s.name,
        AlertKind::Loop {
            detector: detector.to_string(),
        },
    );
}

/// A context reading: `used` tokens of `window`. A reading is also output (the agent made a
/// request), so it ends the wait after a compaction.
pub(crate) fn on_reading(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    used: u64,
    window: Option<u64>,
) {
    sync_run(s, cx);
    let percent = window.map(|w| percent_of(used, w));
    s.context.current = Some(ContextView {
        used,
        window,
        percent,
    });
    if let Some(p) = percent {
        if s.context.history.len() == HISTORY_LEN {
            s.context.history.pop_front();
        }
        s.context.history.push_back(p);
    }
    on_output(s, cx);
    let rule = role.loops.context.high;
    match percent {
        Some(p) if rule.rule.enabled && p >= rule.warn_at => {
            let msg = format!(
                "context {p}% full ({used} of {} tokens; warn at {}%)",
                window.unwrap_or_default(),
                rule.warn_at
            );
            let firing = Firing {
                detector: CONTEXT_HIGH,
                action: rule.rule.action,
                severity: Severity::Warning,
                message: &msg,
                evidence: &[],
            };
            fire(s, role, cx, firing);
        }
        _ => clear(s, cx, CONTEXT_HIGH),
    }
}

/// The harness compacted the agent's context.
pub(crate) fn on_compaction(
    s: &mut Slot,
    role: &RoleSpec,
    cx: &mut Cx,
    trigger: Option<CompactTrigger>,
    pre_tokens: Option<u64>,
    percent: Option<u32>,
) {
    sync_run(s, cx);
    let now = cx.now;
    let view = CompactionView {
        at: now,
        trigger,
        pre_tokens,
        percent,
    };
    let t = &mut s.context;
    t.count = t.count.saturating_add(1);
    if t.times.len() == MAX_COMPACTIONS {
        t.times.pop_front();
    }
    t.times.push_back(now);
    t.last = Some(view.clone());
    t.current = None;
    t.awaiting_output = Some(now);
    t.idle_fired = false;
    let count = t.count;
    clear(s, cx, CONTEXT_HIGH);
    clear(s, cx, IDLE_AFTER_COMPACTION);
    let how = trigger.map_or("", CompactTrigger::as_str);
    let size = match (pre_tokens, percent) {
        (Some(n), Some(p)) => format!(" at {n} tokens ({p}%)"),
        (Some(n), None) => format!(" at {n} tokens"),
        (None, Some(p)) => format!(" at {p}%"),
        (None, None) => String::new(),
    };
    cx.event(
        &s.name,
        EventKind::Compaction,
        None,
        format!(
            "{}: context compacted{}{size} (#{count} this run)",
            s.name,
            if how.is_empty() {
                String::new()
            } else {
                format!(" ({how})")
            }
        ),
        json!({ "trigger": trigger, "pre_tokens": pre_tokens, "percent": percent, "count": count }),
    );
    let rule = role.loops.context.compaction_loop;
    if !rule.rule.enabled || rule.max == 0 {
        return;
    }
    let within = s
        .context
        .times
        .iter()
        .filter(|t| now.saturating_sub(**t) < rule.window)
        .count();
    if within >= rule.max as usize {
        let msg = format!(
            "{within} context compactions within {} in one run: the task may be too big for one context",
            human(rule.window)
        );
        let firing = Firing {
            detector: COMPACTION_LOOP,
            action: rule.rule.action,
            severity: Severity::Warning,
            message: &msg,
            evidence: &[],
        };
        fire(s, role, cx, firing);
    }
}

/// The agent printed something (or made a request): a compaction it was silent after is over.
pub(crate) fn on_output(s: &mut Slot, cx: &mut Cx) {
    let Some(at) = s.context.awaiting_output else {
        return;
    };
    if cx.now < at {
        return;
    }
    s.context.awaiting_output = None;
    if std::mem::take(&mut s.context.idle_fired) {
        clear(s, cx, IDLE_AFTER_COMPACTION);
    }
}

/// When `idle_after_compaction` fires, if it is armed.
pub(crate) fn deadline(s: &Slot, role: &RoleSpec) -> Option<Millis> {
    let rule = role.loops.context.idle_after_compaction;
    if !rule.rule.enabled || s.context.idle_fired || !s.is_running() || s.context.run != live_run(s)
    {
        return None;
    }
    s.context
        .awaiting_output
        .map(|t| t.saturating_add(rule.after.max(1)))
}

/// Fires `idle_after_compaction` once its deadline passed.
pub(crate) fn on_timer(s: &mut Slot, role: &RoleSpec, cx: &mut Cx) {
    let Some(due) = deadline(s, role) else {
        return;
    };
    if due > cx.now {
        return;
    }
    s.context.idle_fired = true;
    let since = s.context.awaiting_output.unwrap_or(cx.now);
    let msg = format!(
        "no output for {} after a context compaction",
        human(cx.now.saturating_sub(since))
    );
    let firing = Firing {
        detector: IDLE_AFTER_COMPACTION,
        action: role.loops.context.idle_after_compaction.rule.action,
        severity: Severity::Warning,
        message: &msg,
        evidence: &[],
    };
    fire(s, role, cx, firing);
}
