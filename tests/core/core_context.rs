//! Context health in the core on a virtual clock against the fake Docker: `context_high` at
//! `warn_at`, `compaction_loop` after N compactions in the window, `idle_after_compaction`
//! when the agent stays silent after a compaction (and not when it goes on), their actions
//! really happening, compactions in the events and the run ledger, the snapshot's context
//! fields — and the fleet's limits summary with `resume --group`.

use crate::core_support;

use core_support::Harness;
use drover::core::{
    ActivityKind, AlertKind, Command, CommandReply, DetectorAction, Effect, EventKind, FleetSpec,
    Input, RoleSpec, SlotState,
};
use drover::signals::transcript::context::CompactTrigger;

const S1: &str = "implementer-1";
const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

fn booted(tune: impl FnOnce(&mut RoleSpec)) -> Harness {
    let mut role = RoleSpec::new("implementer", 1, "hash-1");
    role.preflight = false;
    role.stall_after = 24 * HOUR;
    tune(&mut role);
    let mut h = Harness::new(FleetSpec::new("demo", vec![role]));
    h.boot();
    assert_eq!(h.state(S1), SlotState::Running);
    h
}

fn active(h: &Harness, detector: &str) -> bool {
    h.snapshot()
        .alerts
        .iter()
        .any(|a| matches!(&a.key.kind, AlertKind::Loop { detector: d } if d == detector))
}

fn reading(h: &mut Harness, used: u64) -> Vec<Effect> {
    h.feed(Input::ContextObserved {
        slot: S1.into(),
        used,
        window: Some(200_000),
    })
}

fn compaction(h: &mut Harness) -> Vec<Effect> {
    h.feed(Input::CompactionObserved {
        slot: S1.into(),
        trigger: Some(CompactTrigger::Auto),
        pre_tokens: Some(170_251),
        percent: Some(85),
    })
}

fn output(h: &mut Harness) {
    h.feed(Input::Activity {
        slot: S1.into(),
        kind: ActivityKind::Log,
    });
}

#[test]
fn context_high_fires_at_warn_at_and_ends_when_the_context_shrinks() {
    let mut h = booted(|_| {});
    reading(&mut h, 160_000);
    assert!(!active(&h, "context_high"), "80% is below 85%");
    let v = h.view(S1);
    let ctx = v.context.expect("context shown");
    assert_eq!(
        (ctx.used, ctx.window, ctx.percent),
        (160_000, Some(200_000), Some(80))
    );
    h.advance(MIN);
    reading(&mut h, 171_000);
    assert!(active(&h, "context_high"), "85% fires");
    compaction(&mut h);
    assert!(!active(&h, "context_high"), "a compaction ends it");
    assert!(
        h.view(S1).context.is_none(),
        "no reading since the compaction"
    );
    h.advance(MIN);
    reading(&mut h, 40_000);
    assert!(!active(&h, "context_high"));
    assert_eq!(h.view(S1).context_history, vec![80, 85, 20]);
}

#[test]
fn a_reading_without_a_window_shows_tokens_and_never_fires() {
    let mut h = booted(|r| r.loops.context.high.warn_at = 1);
    h.feed(Input::ContextObserved {
        slot: S1.into(),
        used: 190_000,
        window: None,
    });
    let ctx = h.view(S1).context.unwrap();
    assert_eq!((ctx.used, ctx.percent), (190_000, None));
    assert!(!active(&h, "context_high"));
}

#[test]
fn compactions_are_events_in_the_ledger_and_in_the_snapshot() {
    let mut h = booted(|_| {});
    h.advance(10 * MIN);
    let effects = compaction(&mut h);
    let events: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::PersistEvent(ev) if ev.kind == EventKind::Compaction => Some(ev),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1);
    assert!(
        events[0]
            .message
            .contains("context compacted (auto) at 170251 tokens (85%) (#1 this run)"),
        "{}",
        events[0].message
    );
    let stored = effects.iter().find_map(|e| match e {
        Effect::PersistRun(r) if r.compactions == 1 => Some(r.clone()),
        _ => None,
    });
    let run = stored.expect("the run record is persisted with its compaction");
    assert_eq!(run.last_compaction.unwrap().pre_tokens, Some(170_251));
    let v = h.view(S1);
    assert_eq!(v.compactions, 1);
    assert_eq!(v.last_compaction.unwrap().percent, Some(85));
    assert_eq!(v.run.unwrap().compactions, 1);
}

#[test]
fn silence_after_a_compaction_fires_idle_after_compaction_and_its_restart() {
    let mut h = booted(|r| {
        r.loops.context.idle_after_compaction.after = 5 * MIN;
        r.loops.context.idle_after_compaction.rule.action = DetectorAction::Restart;
    });
    let first = h.view(S1).started_at;
    h.advance(MIN);
    compaction(&mut h);
    h.advance(4 * MIN);
    assert!(!active(&h, "idle_after_compaction"), "not yet");
    h.advance(2 * MIN);
    // Fired at 5 minutes, and its restart gave the slot a fresh session.
    assert_eq!(h.state(S1), SlotState::Running);
    assert_ne!(h.view(S1).started_at, first, "restarted");
    assert_eq!(h.view(S1).compactions, 0, "a new run has a new context");
    assert!(
        h.log.iter().any(|(_, e)| matches!(e, Effect::PersistEvent(ev)
            if ev.kind == EventKind::Detector
                && ev.message.contains("no output for 5m after a context compaction (action: restart)"))),
        "the firing is audited"
    );
    assert!(
        !active(&h, "idle_after_compaction"),
        "the new run's alert ended"
    );
}

#[test]
fn output_after_a_compaction_keeps_idle_after_compaction_quiet() {
    let mut h = booted(|r| r.loops.context.idle_after_compaction.after = 5 * MIN);
    h.advance(MIN);
    compaction(&mut h);
    h.advance(2 * MIN);
    output(&mut h);
    h.advance(HOUR);
    assert!(!active(&h, "idle_after_compaction"));
    // Silence later without a new compaction is the stall detector's business, not this one.
    assert_eq!(h.fleet.next_wakeup().map(|w| w > h.now), Some(true));
}

#[test]
fn output_ends_an_idle_after_compaction_alert() {
    let mut h = booted(|r| r.loops.context.idle_after_compaction.after = 5 * MIN);
    compaction(&mut h);
    h.advance(6 * MIN);
    assert!(active(&h, "idle_after_compaction"));
    output(&mut h);
    assert!(!active(&h, "idle_after_compaction"));
}

#[test]
fn compaction_after_compaction_is_a_loop_and_pauses_when_told() {
    let mut h = booted(|r| {
        r.loops.context.compaction_loop.max = 3;
        r.loops.context.compaction_loop.window = HOUR;
        r.loops.context.compaction_loop.rule.action = DetectorAction::Pause;
    });
    for _ in 0..2 {
        h.advance(10 * MIN);
        compaction(&mut h);
        output(&mut h);
    }
    assert!(!active(&h, "compaction_loop"));
    h.advance(10 * MIN);
    compaction(&mut h);
    assert!(active(&h, "compaction_loop"));
    assert!(matches!(h.state(S1), SlotState::Paused { .. }));
    assert_eq!(h.view(S1).compactions, 3);
}

#[test]
fn compactions_spread_wider_than_the_window_are_no_loop() {
    let mut h = booted(|r| r.loops.context.idle_after_compaction.rule.enabled = false);
    for _ in 0..5 {
        h.advance(40 * MIN);
        compaction(&mut h);
    }
    assert!(!active(&h, "compaction_loop"), "3 within 1h never happened");
    assert_eq!(h.view(S1).compactions, 5);
}

#[test]
fn disabled_context_detectors_neither_alert_nor_arm_a_timer() {
    let mut h = booted(|r| {
        r.loops.context.high.rule.enabled = false;
        r.loops.context.idle_after_compaction.rule.enabled = false;
        r.loops.context.compaction_loop.rule.enabled = false;
    });
    reading(&mut h, 199_000);
    for _ in 0..4 {
        compaction(&mut h);
    }
    h.advance(2 * HOUR);
    for d in ["context_high", "compaction_loop", "idle_after_compaction"] {
        assert!(!active(&h, d), "{d}");
    }
}

fn notice(reset: u64) -> String {
    format!("Claude AI usage limit reached|{}", reset / 1000)
}

#[test]
fn limits_say_how_many_slots_wait_the_next_reset_and_which_groups() {
    let mut a = RoleSpec::new("planner", 1, "h");
    a.throttle.group = Some("acct-1".into());
    a.throttle.jitter = 0;
    let mut b = RoleSpec::new("implementer", 2, "h");
    b.throttle.group = Some("acct-1".into());
    b.throttle.jitter = 0;
    let c = RoleSpec::new("reviewer", 1, "h");
    let mut h = Harness::new(FleetSpec::new("demo", vec![a, b, c]));
    h.boot();
    assert_eq!(h.snapshot().limits.throttled, 0);
    h.advance(MIN);
    let reset = h.now + HOUR;
    h.die("planner-1", 1, &[&notice(reset)]);
    let l = h.snapshot().limits;
    assert_eq!(
        (l.throttled, l.slots),
        (3, 4),
        "the planner and its two peers"
    );
    assert_eq!(l.next_reset, Some(reset));
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group, "acct-1");
    assert_eq!((l.groups[0].throttled, l.groups[0].slots), (3, 3));
    let (reply, _) = h.command(Command::ResumeGroup {
        group: "acct-1".into(),
    });
    assert_eq!(reply, CommandReply::Accepted);
    assert_eq!(h.state("planner-1"), SlotState::Running);
    assert_eq!(h.snapshot().limits.throttled, 0);
    let (again, _) = h.command(Command::ResumeGroup {
        group: "acct-1".into(),
    });
    assert_eq!(again, CommandReply::Unchanged);
    let (none, _) = h.command(Command::ResumeGroup {
        group: "nope".into(),
    });
    assert!(matches!(none, CommandReply::NotFound { .. }));
}
