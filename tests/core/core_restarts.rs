//! State that stays true across restarts of drover and config reloads, on a virtual clock:
//! a block by drover lasts until its cause changes (and is re-evaluated then, with an event
//! saying why), an operator's block stays until lifted, and what was raised is not raised again.

use crate::core_support;

use core_support::{Harness, last_records};
use drover::core::{
    Actor, Alert, AlertKind, Command, CommandReply, Effect, EventKind, Fleet, FleetSpec, Input,
    LockObservation, ResumeState, RoleSpec, ScaleOverride, SlotState,
};

const S1: &str = "implementer-1";
const MIN: u64 = 60_000;

fn spec(tune: impl FnOnce(&mut RoleSpec)) -> FleetSpec {
    let mut role = RoleSpec::new("implementer", 1, "hash-1");
    role.environment = "env-1".into();
    tune(&mut role);
    FleetSpec::new("demo", vec![role])
}

/// The alerts still active at the end of `log`, as the store holds them.
fn active_alerts(log: &[(u64, Effect)]) -> Vec<Alert> {
    let mut active: Vec<Alert> = Vec::new();
    for (_, e) in log {
        match e {
            Effect::RaiseAlert(a) | Effect::UpdateAlert(a) => {
                active.retain(|k| k.key != a.key);
                active.push(a.clone());
            }
            Effect::ClearAlert(a) => active.retain(|k| k.key != a.key),
            _ => {}
        }
    }
    active
}

/// drover stops and a new one starts with `spec`, reading back what the old one stored.
fn restart(h: Harness, spec: FleetSpec) -> Harness {
    let resume = ResumeState {
        slots: last_records(&h.log),
        active_alerts: active_alerts(&h.log),
        ..ResumeState::default()
    };
    let now = h.now + MIN;
    let mut next = Harness::with_fleet(Fleet::restore(spec, 7, resume), h.world);
    // One log across restarts: it stands for the store.
    next.log = h.log;
    next.now = now;
    next.boot();
    next
}

fn events(effects: &[Effect], kind: EventKind) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::PersistEvent(ev) if ev.kind == kind => Some(ev.message.clone()),
            _ => None,
        })
        .collect()
}

fn blocked_by(h: &Harness) -> Option<(String, Actor)> {
    match h.state(S1) {
        SlotState::Blocked { reason, by } => Some((reason, by)),
        _ => None,
    }
}

#[test]
fn a_preflight_block_is_checked_again_after_a_restart_with_the_variable_set() {
    let mut h = Harness::new(spec(|_| {}));
    let missing = "required environment variable NC_API_KEY missing";
    h.world.preflight.insert(S1.into(), Err(missing.into()));
    h.boot();
    assert_eq!(blocked_by(&h).map(|b| b.0), Some(missing.into()));

    // Restarted with nothing changed: still blocked, for the same reason.
    let h = restart(h, spec(|_| {}));
    assert_eq!(blocked_by(&h).map(|b| b.0), Some(missing.into()));
    assert_eq!(h.starts(S1), 0);

    // The variable is set now (the role's environment fingerprint moved): re-evaluated.
    let mut world_fixed = h;
    world_fixed.world.preflight.remove(S1);
    let h = restart(world_fixed, spec(|r| r.environment = "env-2".into()));
    assert_eq!(h.state(S1), SlotState::Running, "unblocked by itself");
    assert_eq!(h.starts(S1), 1);
    let said = events(
        &h.log.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        EventKind::Recovered,
    );
    assert!(
        said.iter().any(|m| m.contains("unblocked because")
            && m.contains("environment")
            && m.contains("NC_API_KEY")),
        "{said:?}"
    );
    assert!(
        h.snapshot()
            .alerts
            .iter()
            .all(|a| a.key.kind != AlertKind::Blocked),
        "the Blocked alert is cleared"
    );
}

#[test]
fn a_reload_that_still_fails_preflight_blocks_with_the_reason_of_now() {
    let mut h = Harness::new(spec(|_| {}));
    h.world
        .preflight
        .insert(S1.into(), Err("required env NC_API_KEY missing".into()));
    h.boot();
    h.world
        .preflight
        .insert(S1.into(), Err("image agent:v2 not found".into()));
    h.feed(Input::SpecChanged {
        spec: spec(|r| r.spec_hash = "hash-2".into()),
    });
    assert_eq!(
        blocked_by(&h),
        Some(("image agent:v2 not found".into(), Actor::Drover)),
        "the reason is recomputed, never stale"
    );
}

#[test]
fn a_crash_loop_block_lifts_on_a_reload_that_changes_the_role_but_an_operator_block_stays() {
    let mut role_spec = spec(|r| r.preflight = false);
    let mut h = Harness::new(role_spec.clone());
    h.boot();
    for _ in 0..10 {
        if blocked_by(&h).is_some() {
            break;
        }
        if h.state(S1) != SlotState::Running {
            let wake = h.fleet.next_wakeup().expect("a restart is scheduled");
            h.advance_to(wake);
            continue;
        }
        h.advance(1_000);
        h.die(S1, 2, &["FATAL: unknown flag --fast"]);
    }
    assert_eq!(blocked_by(&h).map(|b| b.1), Some(Actor::Drover));

    // A reload of the same config changes nothing.
    h.feed(Input::SpecChanged {
        spec: role_spec.clone(),
    });
    assert!(blocked_by(&h).is_some(), "same cause, still blocked");

    // The command is fixed: the spec hash moves and the slot runs again.
    role_spec.roles[0].spec_hash = "hash-2".into();
    let effects = h.feed(Input::SpecChanged {
        spec: role_spec.clone(),
    });
    assert_eq!(h.state(S1), SlotState::Running);
    let said = events(&effects, EventKind::Recovered);
    assert!(
        said.iter()
            .any(|m| m.contains("configuration changed") && m.contains("unknown flag")),
        "{said:?}"
    );

    // An operator's block survives reloads and restarts whatever changed.
    let (reply, _) = h.command(Command::Block {
        slot: S1.into(),
        reason: "investigating".into(),
    });
    assert_eq!(reply, CommandReply::Accepted);
    role_spec.roles[0].spec_hash = "hash-3".into();
    h.feed(Input::SpecChanged {
        spec: role_spec.clone(),
    });
    role_spec.roles[0].environment = "env-9".into();
    let h = restart(h, role_spec);
    assert!(
        matches!(blocked_by(&h), Some((_, Actor::Operator(_)))),
        "{:?}",
        h.state(S1)
    );
}

/// The last stored override per role (what the `scale_overrides` table holds).
fn stored_overrides(log: &[(u64, Effect)]) -> Vec<ScaleOverride> {
    let mut stored: Vec<ScaleOverride> = Vec::new();
    for (_, e) in log {
        if let Effect::PersistScale(o) = e {
            stored.retain(|k| k.role != o.role);
            if o.replicas != o.configured {
                stored.push(o.clone());
            }
        }
    }
    stored
}

fn slots(h: &Harness) -> usize {
    h.snapshot().slots.len()
}

#[test]
fn ctl_scale_survives_reloads_and_restarts_until_the_configs_replicas_change() {
    let base = spec(|r| r.preflight = false);
    let mut h = Harness::new(base.clone());
    h.boot();
    let (reply, _) = h.command(Command::Scale {
        role: "implementer".into(),
        replicas: 3,
    });
    assert_eq!(reply, CommandReply::Accepted);
    assert_eq!(slots(&h), 3);
    let shown = h.snapshot().scale_overrides;
    assert_eq!(
        shown,
        vec![ScaleOverride {
            role: "implementer".into(),
            replicas: 3,
            configured: 1
        }]
    );

    // A reload of a config that still says 1 (another key changed) keeps the override.
    let mut reloaded = base.clone();
    reloaded.roles[0].stall_after = 20 * MIN;
    h.feed(Input::SpecChanged { spec: reloaded });
    assert_eq!(slots(&h), 3, "the reload did not undo ctl scale");

    // A restart of drover reads it back from the store.
    let resume = ResumeState {
        slots: last_records(&h.log),
        scale_overrides: stored_overrides(&h.log),
        ..ResumeState::default()
    };
    let now = h.now + MIN;
    let log = std::mem::take(&mut h.log);
    let mut h = Harness::with_fleet(Fleet::restore(base.clone(), 7, resume), h.world);
    h.log = log;
    h.now = now;
    h.boot();
    assert_eq!(slots(&h), 3, "the restart did not undo ctl scale");
    assert_eq!(h.snapshot().scale_overrides.len(), 1);

    // The config's replicas change: the config wins and the override ends, in words.
    let mut two = base;
    two.roles[0].replicas = 2;
    let effects = h.feed(Input::SpecChanged { spec: two });
    h.advance(MIN);
    assert_eq!(slots(&h), 2);
    assert!(h.snapshot().scale_overrides.is_empty());
    assert!(
        stored_overrides(&h.log).is_empty(),
        "deleted from the store"
    );
    let said = events(&effects, EventKind::Scaled);
    assert!(
        said.iter().any(|m| m.contains("override of 3 ends")),
        "{said:?}"
    );
}

fn alert_effects(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::RaiseAlert(a) => Some(format!("raise {:?}", a.key)),
            Effect::ClearAlert(a) => Some(format!("clear {:?}", a.key)),
            _ => None,
        })
        .collect()
}

#[test]
fn alerts_keep_their_identity_across_a_restart_of_drover() {
    let base = spec(|r| r.preflight = false);
    let mut h = Harness::new(base.clone());
    h.boot();
    let lock = |at: u64| Input::LocksObserved {
        locks: vec![LockObservation {
            task: "parser".into(),
            holder: Some(S1.into()),
            claimed_at: at,
            claim_commit: Some("c1".into()),
        }],
    };
    let claimed = h.now;
    h.feed(lock(claimed));
    h.advance(45 * MIN);
    let before: Vec<Alert> = h.snapshot().alerts;
    assert!(
        before
            .iter()
            .any(|a| matches!(a.key.kind, AlertKind::TaskOverdue { .. })),
        "{before:?}"
    );

    // A new drover: before the upstream is read the lock table is unknown, not empty.
    let resume = ResumeState {
        slots: last_records(&h.log),
        active_alerts: active_alerts(&h.log),
        ..ResumeState::default()
    };
    let now = h.now + MIN;
    let mut h = Harness::with_fleet(Fleet::restore(base, 7, resume), h.world);
    h.now = now;
    let mut effects = h.boot();
    effects.extend(h.feed(lock(claimed)));
    effects.extend(h.advance(MIN));
    let overdue: Vec<String> = alert_effects(&effects)
        .into_iter()
        .filter(|e| e.contains("TaskOverdue"))
        .collect();
    assert!(overdue.is_empty(), "raised or cleared again: {overdue:?}");
    let after = h.snapshot().alerts;
    let id = |alerts: &[Alert]| {
        alerts
            .iter()
            .find(|a| matches!(a.key.kind, AlertKind::TaskOverdue { .. }))
            .map(|a| a.id)
    };
    assert_eq!(id(&after), id(&before), "the same alert, not a new one");
}

#[test]
fn the_last_test_run_is_shown_from_the_store_after_a_restart() {
    use drover::core::{TestSummary, Verdict};
    let base = spec(|r| r.preflight = false);
    let summary = TestSummary {
        passed: 41,
        failed: 1,
        skipped: 0,
        errors: 0,
        verdict: Verdict::Fail,
        failing: vec!["parser::nested".into()],
    };
    let resume = ResumeState {
        last_tests: vec![(S1.into(), Harness::T0 - MIN, summary.clone())],
        ..ResumeState::default()
    };
    let mut h = Harness::with_fleet(Fleet::restore(base, 7, resume), Default::default());
    // Before Docker answers: the first frame already has it.
    let view = h.view(S1);
    let last = view.last_test.expect("restored");
    assert_eq!((last.at, last.summary), (Harness::T0 - MIN, summary));
    h.boot();
    assert!(h.view(S1).last_test.is_some());
}
