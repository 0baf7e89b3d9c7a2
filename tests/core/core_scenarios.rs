//! Scenario tests for the scheduling core: one per failure from the field (DESIGN.md §1) plus
//! adoption, operator commands, scaling, incidents/MTTR, Docker outages and the signals the
//! core turns into alerts. Every scenario runs on a virtual clock against a fake Docker.

use crate::core_support;

use core_support::{Harness, World, docker_effects, last_records};
use drover::core::{
    ActivityKind, Actor, AlertKind, AlertRef, Command, CommandReply, ContainerStatus,
    DetectorAction, Effect, EventKind, Fleet, FleetSpec, Health, IncidentCause, Input,
    LockObservation, ProbeAction, ProbePolicy, RecoveryPolicy, ReleaseReport, RestartMode,
    ResumeState, RoleSpec, Severity, SlotState,
};

const S1: &str = "implementer-1";
const MIN: u64 = 60_000;

fn spec(replicas: u32, tune: impl FnOnce(&mut RoleSpec)) -> FleetSpec {
    let mut role = RoleSpec::new("implementer", replicas, "hash-1");
    tune(&mut role);
    FleetSpec::new("demo", vec![role])
}

fn is_blocked(s: &SlotState) -> bool {
    matches!(s, SlotState::Blocked { .. })
}

fn starts_and_creates(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Start { .. } | Effect::Create { .. } | Effect::Unpause { .. }
            )
        })
        .count()
}

/// Runs the slot through crash cycles: each run lasts `uptime`, then exits with `code` and
/// `lines`; stops when the slot is blocked or after `max` cycles. Returns the death times.
fn crash_cycles(
    h: &mut Harness,
    slot: &str,
    uptime: u64,
    code: i64,
    lines: &[&str],
    max: usize,
) -> Vec<u64> {
    let mut deaths = Vec::new();
    for _ in 0..max {
        if is_blocked(&h.state(slot)) {
            break;
        }
        if h.state(slot) != SlotState::Running {
            let wake = h.fleet.next_wakeup().expect("a restart is scheduled");
            h.advance_to(wake);
            continue;
        }
        h.advance(uptime);
        deaths.push(h.now);
        h.die(slot, code, lines);
    }
    deaths
}

#[test]
fn missing_env_blocks_with_its_reason_and_starts_nothing() {
    let mut h = Harness::new(spec(1, |_| {}));
    let reason = "required env OPENAI_API_KEY is not set";
    h.world.preflight.insert(S1.into(), Err(reason.into()));
    h.boot();
    h.advance(60 * MIN);

    assert_eq!(
        h.state(S1),
        SlotState::Blocked {
            reason: reason.into(),
            by: Actor::Drover
        }
    );
    assert_eq!(h.starts(S1), 0);
    assert!(
        h.world.containers.is_empty(),
        "no container was even created"
    );
    let snap = h.snapshot();
    let alert = snap
        .alerts
        .iter()
        .find(|a| a.key.kind == AlertKind::Blocked)
        .expect("blocked alert");
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.message, reason);
    assert_eq!(snap.open_incidents.len(), 1);
    assert_eq!(snap.open_incidents[0].cause, IncidentCause::PreflightFailed);

    // Unblocking while the variable is still missing: one more preflight, blocked again.
    let (reply, _) = h.command(Command::Unblock { slot: S1.into() });
    assert_eq!(reply, CommandReply::Accepted);
    assert!(is_blocked(&h.state(S1)));
    assert_eq!(h.starts(S1), 0);

    // Once the environment is fixed, unblocking starts the agent and the incident closes.
    h.world.preflight.remove(S1);
    h.command(Command::Unblock { slot: S1.into() });
    assert_eq!(h.state(S1), SlotState::Running);
    assert_eq!(h.starts(S1), 1);
    h.advance(MIN);
    let snap = h.snapshot();
    assert!(snap.open_incidents.is_empty());
    assert!(snap.alerts.iter().all(|a| a.key.kind != AlertKind::Blocked));
    assert_eq!(
        snap.slot(S1).map(|s| s.health.clone()),
        Some(Health::Healthy)
    );
}

#[test]
fn the_same_startup_error_blocks_after_at_most_three_starts() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    let line = "ERROR: Missing environment variable: OPENAI_API_KEY";
    crash_cycles(
        &mut h,
        S1,
        1_000,
        1,
        &["agent v1.2 starting", &format!("\x1b[31m{line}\x1b[0m"), ""],
        20,
    );

    assert_eq!(
        h.state(S1),
        SlotState::Blocked {
            reason: line.into(),
            by: Actor::Drover
        }
    );
    assert!(
        (1..=3).contains(&h.starts(S1)),
        "started {} times",
        h.starts(S1)
    );
    let view = h.view(S1);
    assert!(
        view.crash_looping,
        "three exits within min_uptime show as a crash loop"
    );
    assert_eq!(view.reason.as_deref(), Some(line));
    let kinds: Vec<AlertKind> = h
        .snapshot()
        .alerts
        .iter()
        .map(|a| a.key.kind.clone())
        .collect();
    assert!(
        kinds.contains(&AlertKind::Blocked) && kinds.contains(&AlertKind::CrashLoop),
        "{kinds:?}"
    );

    // Blocked is honoured: an hour later nothing was started.
    let starts = h.starts(S1);
    let effects = h.advance(60 * MIN);
    assert_eq!(starts_and_creates(&effects), 0);
    assert_eq!(h.starts(S1), starts);
}

/// Delays between each death and the restart that followed it.
fn schedule(seed: u64, jitter: f64) -> Vec<u64> {
    let spec = spec(1, |r| {
        r.restart.jitter = jitter;
        r.crash_loop.identical_failures_to_block = 0;
        r.recovery = RecoveryPolicy {
            restarts: 100,
            recreates: 0,
        };
        r.restart.max_restarts = 1_000;
        r.preflight = false;
    });
    let mut h = Harness::with_fleet(Fleet::new(spec, seed), World::default());
    h.boot();
    let mut delays = Vec::new();
    for _ in 0..10 {
        h.advance(500);
        let died = h.now;
        h.die(
            S1,
            1,
            &["Traceback (most recent call last):", "RuntimeError: boom"],
        );
        match h.state(S1) {
            SlotState::Running => delays.push(0),
            SlotState::Backoff { until } => {
                assert_eq!(
                    h.fleet.next_wakeup(),
                    Some(until),
                    "the wake-up is the backoff deadline"
                );
                h.advance_to(until);
                assert_eq!(
                    h.state(S1),
                    SlotState::Running,
                    "restarted exactly at the deadline"
                );
                delays.push(until - died);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    delays
}

#[test]
fn crash_loop_backoff_follows_the_configured_schedule() {
    assert_eq!(
        schedule(1, 0.0),
        [
            0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
        ]
    );
    let a = schedule(7, 0.1);
    assert_eq!(
        a,
        schedule(7, 0.1),
        "the same seed replays the same schedule"
    );
    assert_ne!(a, schedule(8, 0.1), "another seed jitters differently");
    let base = [
        0u64, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ];
    for (d, b) in a.iter().zip(base) {
        let (lo, hi) = (b * 9 / 10, b * 11 / 10);
        assert!((lo..=hi).contains(d), "{d} outside ±10% of {b}");
    }
}

#[test]
fn recovery_escalates_from_restart_to_recreate_to_blocked() {
    let mut h = Harness::new(spec(1, |r| {
        r.recovery = RecoveryPolicy {
            restarts: 2,
            recreates: 1,
        };
        r.crash_loop.identical_failures_to_block = 0;
        r.restart.jitter = 0.0;
        r.preflight = false;
    }));
    h.boot();
    let first = h.view(S1).container_id.expect("container");
    let mut steps = Vec::new();
    for attempt in 0..4 {
        h.advance(30_000);
        let mut effects = h.die(S1, 2, &[&format!("worker {attempt} crashed")]);
        if let Some(w) = h.fleet.next_wakeup() {
            effects.extend(h.advance_to(w));
        }
        let step = if effects.iter().any(|e| matches!(e, Effect::Create { .. })) {
            assert!(
                effects
                    .iter()
                    .any(|e| matches!(e, Effect::Remove { id, .. } if *id == first)),
                "the old generation is removed before the new one is created"
            );
            "recreate"
        } else if effects
            .iter()
            .any(|e| matches!(e, Effect::Start { id, .. } if *id == first))
        {
            "restart"
        } else if is_blocked(&h.state(S1)) {
            "blocked"
        } else {
            "other"
        };
        steps.push(step);
    }
    assert_eq!(steps, ["restart", "restart", "recreate", "blocked"]);
    let view = h.view(S1);
    assert_eq!(view.generation, 2);
    assert!(
        view.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("recovery exhausted")),
        "{:?}",
        view.reason
    );
    assert_eq!(
        h.world.containers.len(),
        1,
        "never two containers for the slot"
    );
}

#[test]
fn a_restarted_drover_adopts_everything_and_an_unchanged_world_costs_nothing() {
    let spec = spec(3, |r| r.preflight = false);
    let mut h = Harness::new(spec.clone());
    h.boot();
    h.advance(MIN);
    h.command(Command::Block {
        slot: "implementer-3".into(),
        reason: "flaky tests".into(),
    });
    let records = last_records(&h.log);
    let world = h.world.clone();
    let containers_before = world.containers.clone();

    // The open runs as the store holds them (else adopting opens new ledger records).
    let mut runs: Vec<drover::core::RunRecord> = Vec::new();
    for (_, e) in &h.log {
        if let Effect::PersistRun(r) = e {
            runs.retain(|k| (&k.slot, k.started_at) != (&r.slot, r.started_at));
            runs.push(r.clone());
        }
    }
    let resume = ResumeState {
        slots: records,
        runs,
        ..Default::default()
    };
    let mut h2 = Harness::with_fleet(Fleet::restore(spec.clone(), 42, resume.clone()), world);
    h2.now = h.now + 5_000;
    let effects = h2.handle_only(Input::DockerUp);
    assert_eq!(docker_effects(&effects), [&Effect::ListContainers]);
    let listing = h2.world.listing();
    let effects = h2.handle_only(Input::ContainersListed {
        containers: listing.clone(),
    });
    assert!(
        effects.is_empty(),
        "adoption of an unchanged world: {effects:#?}"
    );
    let effects = h2.handle_only(Input::ContainersListed {
        containers: listing,
    });
    assert!(effects.is_empty(), "second reconcile: {effects:#?}");
    assert!(h2.advance(MIN).iter().all(|e| !e.is_docker()));
    assert_eq!(
        h2.world.containers, containers_before,
        "nothing created, removed or duplicated"
    );
    assert_eq!(h2.state("implementer-1"), SlotState::Running);
    assert_eq!(
        h2.state("implementer-3"),
        SlotState::Blocked {
            reason: "flaky tests".into(),
            by: Actor::operator("alice")
        }
    );

    // A container that died while drover was away is restarted; nothing else is touched.
    let mut world = h.world.clone();
    world.exit("implementer-2", 137);
    let mut h3 = Harness::with_fleet(Fleet::restore(spec, 42, resume), world);
    h3.now = h.now + 5_000;
    let effects = h3.boot();
    let docker: Vec<_> = docker_effects(&effects)
        .into_iter()
        .filter(|e| **e != Effect::ListContainers)
        .collect();
    assert_eq!(docker.len(), 1, "{docker:#?}");
    assert!(matches!(docker[0], Effect::Start { slot, .. } if slot == "implementer-2"));
    assert_eq!(h3.world.containers.len(), 3);
}

#[test]
fn a_fresh_drover_adopts_running_containers_and_removes_duplicates_and_orphans() {
    let spec = spec(2, |r| r.preflight = false);
    let mut world = World::default();
    let keep1 = world.add(
        "implementer-1",
        3,
        "hash-1",
        ContainerStatus::Running,
        "demo",
    );
    let stale = world.add(
        "implementer-2",
        1,
        "hash-1",
        ContainerStatus::Exited { code: 0 },
        "demo",
    );
    let keep2 = world.add(
        "implementer-2",
        2,
        "hash-1",
        ContainerStatus::Running,
        "demo",
    );
    let orphan = world.add(
        "implementer-9",
        1,
        "hash-1",
        ContainerStatus::Running,
        "demo",
    );
    let mut h = Harness::with_fleet(Fleet::new(spec, 1), world);
    let effects = h.boot();
    let removed: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Remove { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.contains(&stale.as_str()) && removed.contains(&orphan.as_str()));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Create { .. } | Effect::Start { .. }))
    );
    assert_eq!(
        h.view("implementer-1").container_id.as_deref(),
        Some(keep1.as_str())
    );
    assert_eq!(
        h.view("implementer-2").container_id.as_deref(),
        Some(keep2.as_str())
    );
    assert_eq!(h.view("implementer-1").generation, 3);
    let effects = h.feed(Input::ContainersListed {
        containers: h.world.listing(),
    });
    assert!(effects.is_empty(), "{effects:#?}");
}

#[test]
fn operator_commands_are_idempotent_and_audited() {
    let mut h = Harness::new(spec(1, |r| r.preflight = false));
    h.boot();
    let slot = || S1.to_string();
    let commands = [
        Command::Pause { slot: slot() },
        Command::Resume { slot: slot() },
        Command::Stop { slot: slot() },
        Command::Start { slot: slot() },
        Command::Block {
            slot: slot(),
            reason: "investigating".into(),
        },
        Command::Unblock { slot: slot() },
        Command::TakeOver { slot: slot() },
        Command::HandBack { slot: slot() },
    ];
    for cmd in commands {
        let (first, effects) = h.command(cmd.clone());
        assert_eq!(first, CommandReply::Accepted, "{cmd:?}");
        let audits: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::PersistEvent(ev) if ev.kind == EventKind::Command => Some(ev),
                _ => None,
            })
            .collect();
        assert_eq!(audits.len(), 1, "{cmd:?} audited once");
        assert_eq!(audits[0].who.as_deref(), Some("alice"));
        assert!(
            audits[0].message.contains("testing"),
            "{}",
            audits[0].message
        );
        let (again, effects) = h.command(cmd.clone());
        assert_eq!(again, CommandReply::Unchanged, "{cmd:?} repeated");
        assert_eq!(
            effects.len(),
            1,
            "{cmd:?} repeated emits only its audit: {effects:#?}"
        );
        assert!(
            matches!(&effects[0], Effect::PersistEvent(ev) if ev.kind == EventKind::Command
            && ev.detail["reply"]["reply"] == "unchanged")
        );
    }
    assert_eq!(h.state(S1), SlotState::Running);

    // A restart still in progress is not restarted twice.
    let outcome = h.fleet.command(
        h.now,
        drover::core::CommandRequest::new(Command::Restart { slot: slot() }, "bob"),
    );
    assert_eq!(outcome.reply, CommandReply::Accepted);
    assert_eq!(
        docker_effects(&outcome.effects).len(),
        1,
        "{:?}",
        outcome.effects
    );
    let again = h.fleet.command(
        h.now,
        drover::core::CommandRequest::new(Command::Restart { slot: slot() }, "bob"),
    );
    assert_eq!(again.reply, CommandReply::Unchanged);
    assert!(docker_effects(&again.effects).is_empty());

    let (reply, _) = h.command(Command::Pause {
        slot: "nope-1".into(),
    });
    assert_eq!(
        reply,
        CommandReply::NotFound {
            what: "slot nope-1".into()
        }
    );
    let (reply, _) = h.command(Command::Scale {
        role: "nope".into(),
        replicas: 2,
    });
    assert!(matches!(reply, CommandReply::NotFound { .. }));
}

#[test]
fn held_slots_are_never_started_automatically() {
    let holds = [
        Command::Pause { slot: S1.into() },
        Command::Stop { slot: S1.into() },
        Command::Block {
            slot: S1.into(),
            reason: "hold".into(),
        },
        Command::TakeOver { slot: S1.into() },
    ];
    for hold in holds {
        let mut h = Harness::new(spec(1, |r| r.preflight = false));
        h.boot();
        let (reply, _) = h.command(hold.clone());
        assert_eq!(reply, CommandReply::Accepted);
        let starts = h.starts(S1);
        // Whatever the container does now, drover does not bring it back.
        if h.world.live(S1) > 0 {
            let id = h.view(S1).container_id.unwrap_or_default();
            if let Some(c) = h.world.containers.get_mut(&id) {
                c.status = ContainerStatus::Exited { code: 1 };
            }
            h.feed(Input::ContainerDied {
                slot: S1.into(),
                id,
                exit_code: 1,
                oom_killed: false,
                last_lines: vec![],
            });
        }
        let effects = h.advance(120 * MIN);
        assert_eq!(starts_and_creates(&effects), 0, "{hold:?}: {effects:#?}");
        assert_eq!(h.starts(S1), starts, "{hold:?}");
        assert!(
            h.state(S1).holds_automation(),
            "{hold:?}: {:?}",
            h.state(S1)
        );
    }
}

#[test]
fn scaling_adds_and_retires_slots_and_removes_their_containers() {
    let mut h = Harness::new(spec(2, |r| r.preflight = false));
    h.boot();
    let (reply, _) = h.command(Command::Scale {
        role: "implementer".into(),
        replicas: 4,
    });
    assert_eq!(reply, CommandReply::Accepted);
    let names: Vec<String> = h.snapshot().slots.iter().map(|s| s.slot.clone()).collect();
    assert_eq!(
        names,
        [
            "implementer-1",
            "implementer-2",
            "implementer-3",
            "implementer-4"
        ]
    );
    assert!((1..=4).all(|n| h.world.live(&format!("implementer-{n}")) == 1));

    let (reply, effects) = h.command(Command::Scale {
        role: "implementer".into(),
        replicas: 1,
    });
    assert_eq!(reply, CommandReply::Accepted);
    let forgotten: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::ForgetSlot { slot } => Some(slot.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        forgotten,
        ["implementer-2", "implementer-3", "implementer-4"]
    );
    assert_eq!(h.snapshot().slots.len(), 1);
    assert_eq!(
        h.world.containers.len(),
        1,
        "retired slots' containers were removed"
    );
    let (again, _) = h.command(Command::Scale {
        role: "implementer".into(),
        replicas: 1,
    });
    assert_eq!(again, CommandReply::Unchanged);
    assert!(
        h.feed(Input::ContainersListed {
            containers: h.world.listing()
        })
        .is_empty()
    );

    // A taken-over slot is not scaled away under the operator's feet.
    h.command(Command::Scale {
        role: "implementer".into(),
        replicas: 2,
    });
    h.command(Command::TakeOver {
        slot: "implementer-2".into(),
    });
    let (reply, _) = h.command(Command::Scale {
        role: "implementer".into(),
        replicas: 1,
    });
    assert!(matches!(reply, CommandReply::Refused { .. }));
}

#[test]
fn incidents_give_mttr_mtbf_and_recovery_rate() {
    let mut h = Harness::new(spec(1, |r| {
        r.preflight = false;
        r.restart.jitter = 0.0;
        r.restart.reset_after = 30_000;
    }));
    h.boot();
    h.advance(MIN);
    assert_eq!(h.view(S1).health, Health::Healthy);

    // A: one crash, restarted at once, healthy after min_uptime (10 s): repaired in 10 s.
    h.die(S1, 1, &["panic: nil map"]);
    assert_eq!(h.snapshot().open_incidents.len(), 1);
    h.advance(10_000);
    let a_closed = h.now;
    assert!(h.snapshot().open_incidents.is_empty());

    // B: 50 s later, two crashes in a row (the second after 2 s, then 1 s backoff):
    // healthy 13 s after the first.
    h.advance(50_000);
    let b_opened = h.now;
    h.die(S1, 1, &["panic: nil map"]);
    h.advance(2_000);
    h.die(S1, 1, &["panic: nil map"]);
    h.advance(11_000);
    assert!(h.snapshot().open_incidents.is_empty());
    let b_closed = h.now;
    assert_eq!(b_closed - b_opened, 13_000);

    // C: a stall (15 min without output) that an operator closes 20 s later.
    let run_started = b_opened + 3_000;
    h.advance_to(run_started + 15 * MIN);
    assert!(matches!(h.view(S1).health, Health::Stalled { .. }));
    let c_opened = h.now;
    assert_eq!(h.snapshot().open_incidents[0].cause, IncidentCause::Stalled);
    h.advance(20_000);
    let (reply, _) = h.command(Command::CloseIncident { slot: S1.into() });
    assert_eq!(reply, CommandReply::Accepted);
    h.feed(Input::Activity {
        slot: S1.into(),
        kind: ActivityKind::Log,
    });
    assert_eq!(h.view(S1).health, Health::Healthy);

    let m = h.snapshot().metrics.service;
    assert_eq!(m.incidents_closed, 3);
    assert_eq!(m.incidents_open, 0);
    assert_eq!(m.mttr_p50, Some(13_000));
    assert_eq!(m.mttr_p95, Some(20_000));
    assert_eq!(m.recovery_rate, Some(2.0 / 3.0));
    assert_eq!(
        m.mtbf,
        Some(((b_opened - a_closed) + (c_opened - b_closed)) / 2)
    );
    let slot_metrics = h.view(S1).metrics;
    assert_eq!(slot_metrics.mttr_p50, Some(13_000));
    assert_eq!(h.fleet.incident_history().len(), 3);
}

#[test]
fn nothing_touches_docker_while_it_is_down_and_a_listing_resyncs() {
    let mut h = Harness::new(spec(2, |r| r.preflight = false));
    h.boot();
    let effects = h.handle_only(Input::DockerDown {
        error: "connection refused".into(),
    });
    assert!(docker_effects(&effects).is_empty());
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::RaiseAlert(a) if a.key.kind == AlertKind::DockerDown))
    );
    assert!(
        h.handle_only(Input::DockerDown {
            error: "connection refused".into()
        })
        .is_empty()
    );

    // Meanwhile a container dies (the event is lost) and an operator asks for a restart.
    h.world.exit("implementer-1", 1);
    let (reply, effects) = h.command(Command::Restart {
        slot: "implementer-2".into(),
    });
    assert_eq!(reply, CommandReply::Accepted);
    assert!(docker_effects(&effects).is_empty());
    let effects = h.advance(30 * MIN);
    assert!(docker_effects(&effects).is_empty(), "{effects:#?}");

    let effects = h.handle_only(Input::DockerUp);
    assert_eq!(docker_effects(&effects), [&Effect::ListContainers]);
    let effects = h.feed(Input::ContainersListed {
        containers: h.world.listing(),
    });
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::ClearAlert(a) if a.key.kind == AlertKind::DockerDown))
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Start { slot, .. } if slot == "implementer-1"))
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Stop { slot, .. } if slot == "implementer-2"))
    );
    assert_eq!(h.state("implementer-1"), SlotState::Running);
    assert_eq!(h.state("implementer-2"), SlotState::Running);
    assert_eq!(h.starts("implementer-2"), 2);
}

#[test]
fn clean_exits_restart_at_once_and_show_idle_spinning_not_a_crash_loop() {
    let mut h = Harness::new(spec(1, |r| r.preflight = false));
    h.boot();
    for _ in 0..5 {
        h.advance(2_000);
        if h.state(S1) != SlotState::Running {
            let w = h.fleet.next_wakeup().unwrap_or(h.now);
            h.advance_to(w);
        }
        h.die(S1, 0, &["session finished"]);
    }
    let v = h.view(S1);
    assert!(v.idle_spinning);
    assert!(!v.crash_looping);
    assert!(!is_blocked(&v.state));
    assert!(
        h.snapshot().open_incidents.is_empty(),
        "clean exits are not incidents"
    );
    // The first clean exits restarted at once; while spinning, restarts wait idle_backoff.
    assert!(
        matches!(v.state, SlotState::Backoff { until } if until == h.now + 5_000),
        "{:?}",
        v.state
    );
    h.advance(5_000);
    h.advance(20_000);
    assert!(
        !h.view(S1).idle_spinning,
        "a run past min_uptime ends the spin"
    );

    let mut h = Harness::new(spec(1, |r| {
        r.preflight = false;
        r.restart.mode = RestartMode::OnFailure;
    }));
    h.boot();
    h.advance(MIN);
    h.die(S1, 0, &[]);
    h.advance(60 * MIN);
    assert_eq!(h.state(S1), SlotState::Exited { code: Some(0) });
    assert_eq!(h.starts(S1), 1);
}

#[test]
fn a_failing_probe_makes_the_slot_unready_and_restarts_it_by_policy() {
    let mut h = Harness::new(spec(1, |r| {
        r.preflight = false;
        r.probe = Some(ProbePolicy {
            period: 30_000,
            failure_threshold: 3,
            action: ProbeAction::Restart,
        });
    }));
    h.boot();
    h.advance(10_000);
    assert_eq!(h.view(S1).health, Health::Unknown, "no probe answer yet");
    h.advance(25_000);
    assert_eq!(h.view(S1).health, Health::Healthy);
    let first = h.view(S1).container_id;

    h.world.probe_ok.insert(S1.into(), false);
    let effects = h.advance(90_000);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::RaiseAlert(a) if a.key.kind == AlertKind::ProbeFailing))
    );
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Stop { .. })),
        "restart policy stops it"
    );
    assert_eq!(h.starts(S1), 2);
    assert_eq!(
        h.view(S1).container_id,
        first,
        "restart reuses the container"
    );
    assert_eq!(h.snapshot().open_incidents[0].cause, IncidentCause::Unready);

    h.world.probe_ok.insert(S1.into(), true);
    h.advance(60_000);
    assert_eq!(h.view(S1).health, Health::Healthy);
    assert!(h.snapshot().open_incidents.is_empty());
    assert!(h.snapshot().alerts.is_empty());
}

#[test]
fn a_silent_agent_stalls_and_activity_ends_the_stall() {
    let mut h = Harness::new(spec(1, |r| r.preflight = false));
    h.boot();
    h.advance(5 * MIN);
    h.feed(Input::Activity {
        slot: S1.into(),
        kind: ActivityKind::Commit,
    });
    let active_at = h.now;
    h.advance(14 * MIN);
    assert_eq!(h.view(S1).health, Health::Healthy);
    let effects = h.advance(MIN);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::RaiseAlert(a) if a.key.kind == AlertKind::Stall))
    );
    assert_eq!(h.view(S1).health, Health::Stalled { since: active_at });
    assert!(
        h.advance(30 * MIN)
            .iter()
            .all(|e| !matches!(e, Effect::RaiseAlert(_))),
        "no alert spam"
    );
    let effects = h.feed(Input::Activity {
        slot: S1.into(),
        kind: ActivityKind::Log,
    });
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::ClearAlert(a) if a.key.kind == AlertKind::Stall))
    );
    assert_eq!(h.view(S1).health, Health::Healthy);
}

#[test]
fn overdue_and_stale_locks_raise_one_alert_each_and_clear_with_the_lock() {
    let mut h = Harness::new(spec(2, |r| r.preflight = false));
    h.boot();
    let lock = |task: &str, holder: &str, at: u64| LockObservation {
        task: task.into(),
        holder: Some(holder.into()),
        claimed_at: at,
        claim_commit: None,
    };
    let locks = vec![
        lock("parser", S1, h.now),
        lock("lexer", "someone-else", h.now - 31 * MIN),
    ];
    let effects = h.feed(Input::LocksObserved {
        locks: locks.clone(),
    });
    let raised: Vec<AlertKind> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::RaiseAlert(a) => Some(a.key.kind.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        raised,
        [AlertKind::TaskOverdue {
            task: "lexer".into()
        }]
    );
    assert_eq!(h.view(S1).task.map(|t| t.task), Some("parser".to_string()));
    assert!(
        h.feed(Input::LocksObserved {
            locks: locks.clone()
        })
        .is_empty(),
        "same table, nothing new"
    );

    h.advance(30 * MIN);
    assert!(h.snapshot().alerts.iter().any(|a| a.key.kind
        == AlertKind::TaskOverdue {
            task: "parser".into()
        }));
    h.command(Command::Block {
        slot: S1.into(),
        reason: "broken".into(),
    });
    let stale = h
        .snapshot()
        .locks
        .into_iter()
        .find(|l| l.task == "parser")
        .map(|l| l.stale);
    assert_eq!(stale, Some(true));
    assert!(h.snapshot().alerts.iter().any(|a| a.key.kind
        == AlertKind::StaleLock {
            task: "parser".into()
        }));

    let (reply, effects) = h.command(Command::ReleaseLock {
        task: "parser".into(),
    });
    assert_eq!(reply, CommandReply::Accepted);
    assert!(effects.iter().any(
        |e| matches!(e, Effect::ReleaseLock { task, who, .. } if task == "parser" && who == "alice")
    ));
    assert_eq!(
        h.command(Command::ReleaseLock {
            task: "parser".into()
        })
        .0,
        CommandReply::Unchanged
    );
    // The release was refused (the task was claimed again): audited, and it may be asked again.
    let effects = h.feed(Input::ReleaseFinished {
        task: "parser".into(),
        claim: None,
        outcome: ReleaseReport::Refused {
            reason: "the task was claimed again".into(),
        },
    });
    assert!(effects.iter().any(|e| matches!(e, Effect::PersistEvent(ev)
        if ev.kind == EventKind::LockRelease && ev.message.contains("not released: the task was claimed again"))));
    assert!(!h.snapshot().locks.iter().any(|l| l.release_requested));
    assert_eq!(
        h.command(Command::ReleaseLock {
            task: "parser".into()
        })
        .0,
        CommandReply::Accepted
    );

    h.feed(Input::LocksObserved { locks: vec![] });
    assert!(h.snapshot().alerts.iter().all(|a| !matches!(
        a.key.kind,
        AlertKind::TaskOverdue { .. } | AlertKind::StaleLock { .. }
    )));
    assert_eq!(
        h.command(Command::ReleaseLock {
            task: "parser".into()
        })
        .0,
        CommandReply::NotFound {
            what: "lock parser".into()
        }
    );
}

#[test]
fn a_detector_alerts_once_acts_once_and_can_be_acknowledged() {
    let mut h = Harness::new(spec(1, |r| r.preflight = false));
    h.boot();
    let fire = Input::DetectorFired {
        slot: S1.into(),
        detector: "output_repetition".into(),
        evidence: vec!["same line".into()],
        action: DetectorAction::Pause,
        since: None,
    };
    let effects = h.feed(fire.clone());
    assert!(effects.iter().any(|e| matches!(e, Effect::Pause { .. })));
    assert_eq!(h.state(S1), SlotState::Paused { by: Actor::Drover });
    let effects = h.feed(fire);
    assert!(
        effects
            .iter()
            .all(|e| !matches!(e, Effect::RaiseAlert(_) | Effect::Pause { .. }))
    );
    let key = h.snapshot().alerts[0].key.clone();
    assert_eq!(h.snapshot().alerts[0].count, 2);
    assert_eq!(
        h.command(Command::AckAlert {
            alert: AlertRef::Key(key.clone())
        })
        .0,
        CommandReply::Accepted
    );
    assert_eq!(
        h.command(Command::AckAlert {
            alert: AlertRef::Key(key)
        })
        .0,
        CommandReply::Unchanged
    );
    assert!(
        h.snapshot().alerts[0].acked.is_some(),
        "acknowledged alerts stay visible"
    );
    h.feed(Input::DetectorCleared {
        slot: S1.into(),
        detector: "output_repetition".into(),
    });
    assert!(h.snapshot().alerts.is_empty());
}

#[test]
fn a_new_spec_hash_replaces_containers_and_then_settles() {
    let spec1 = spec(2, |r| r.preflight = false);
    let mut h = Harness::new(spec1.clone());
    h.boot();
    let mut spec2 = spec1;
    spec2.roles[0].spec_hash = "hash-2".into();
    h.feed(Input::SpecChanged { spec: spec2 });
    for n in 1..=2 {
        let slot = format!("implementer-{n}");
        assert_eq!(h.state(&slot), SlotState::Running);
        assert_eq!(h.view(&slot).generation, 2);
        let cs = h.world.of_slot(&slot);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].1.spec_hash, "hash-2");
    }
    assert!(
        h.feed(Input::ContainersListed {
            containers: h.world.listing()
        })
        .is_empty()
    );
}

#[test]
fn commands_and_snapshots_have_a_stable_json_shape() {
    let cmd: Command =
        serde_json::from_str(r#"{"command":"pause","slot":"implementer-2"}"#).expect("parse");
    assert_eq!(
        cmd,
        Command::Pause {
            slot: "implementer-2".into()
        }
    );
    let scale = serde_json::to_value(Command::Scale {
        role: "r".into(),
        replicas: 3,
    })
    .expect("json");
    assert_eq!(
        scale,
        serde_json::json!({"command":"scale","role":"r","replicas":3})
    );

    let mut h = Harness::new(spec(2, |_| {}));
    h.boot();
    h.world
        .preflight
        .insert(S1.into(), Err("image missing".into()));
    h.die("implementer-2", 3, &["error: boom"]);
    let snap = h.snapshot();
    let text = serde_json::to_string(&snap).expect("serialise");
    let back: drover::core::Snapshot = serde_json::from_str(&text).expect("deserialise");
    assert_eq!(back, snap);
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["slots"][0]["state"]["state"], "running");
    assert_eq!(v["docker"]["docker"], "up");
}

#[test]
fn hostile_input_is_bounded_and_never_panics() {
    let mut h = Harness::new(spec(1, |r| r.preflight = false));
    h.boot();
    let huge = "E".repeat(10 << 20);
    let flood: Vec<String> = (0..100_000)
        .map(|i| format!("line {i}"))
        .chain([huge.clone()])
        .collect();
    let id = h.world.exit(S1, 1).expect("running");
    let effects = h.feed(Input::ContainerDied {
        slot: S1.into(),
        id,
        exit_code: 1,
        oom_killed: false,
        last_lines: flood,
    });
    let biggest = effects
        .iter()
        .map(|e| serde_json::to_string(e).map(|s| s.len()).unwrap_or(0))
        .max()
        .unwrap_or(0);
    assert!(biggest < 8_192, "an effect of {biggest} bytes");
    h.world
        .start_error
        .insert(S1.into(), format!("OPENAI_API_KEY=sk-secret {huge}"));
    h.advance(10 * MIN);
    let text = serde_json::to_string(&h.snapshot()).expect("json");
    assert!(text.len() < 64 * 1024, "snapshot of {} bytes", text.len());
    let log =
        serde_json::to_string(&h.log.iter().map(|(_, e)| e).collect::<Vec<_>>()).expect("json");
    assert!(
        !log.contains("sk-secret"),
        "a secret value reached an effect"
    );

    // Inputs for slots and containers that do not exist change nothing.
    for input in [
        Input::ContainerStarted {
            slot: "ghost-1".into(),
            id: "x".into(),
        },
        Input::ContainerDied {
            slot: "ghost-1".into(),
            id: "x".into(),
            exit_code: 1,
            oom_killed: true,
            last_lines: vec![],
        },
        Input::ProbeResult {
            slot: S1.into(),
            id: "not-the-container".into(),
            ok: false,
            detail: huge.clone(),
        },
        Input::ContainerRemoved {
            slot: S1.into(),
            id: "not-the-container".into(),
        },
        Input::OpFailed {
            slot: S1.into(),
            id: "nope".into(),
            op: drover::core::DockerOp::Stop,
            error: huge.clone(),
        },
        Input::PreflightResult {
            slot: S1.into(),
            result: Err(huge.clone()),
        },
        Input::Activity {
            slot: "ghost-2".into(),
            kind: ActivityKind::Log,
        },
    ] {
        let effects = h.handle_only(input.clone());
        assert!(
            docker_effects(&effects)
                .iter()
                .all(|e| !matches!(e, Effect::Start { .. } | Effect::Create { .. })),
            "{input:?}"
        );
    }
    let (reply, effects) = h.command(Command::Block {
        slot: S1.into(),
        reason: huge.clone(),
    });
    assert_eq!(reply, CommandReply::Accepted);
    assert!(
        effects
            .iter()
            .all(|e| serde_json::to_string(e).map(|s| s.len()).unwrap_or(0) < 8_192)
    );
}

#[test]
fn stop_then_start_before_the_stop_finished_is_not_a_failure() {
    let mut h = Harness::new(spec(1, |r| r.preflight = false));
    h.boot();
    h.advance(MIN);
    let stop = h.handle_only(Input::Operator {
        request: drover::core::CommandRequest::new(Command::Stop { slot: S1.into() }, "alice"),
    });
    let Some(Effect::Stop { id, .. }) = stop
        .iter()
        .find(|e| matches!(e, Effect::Stop { .. }))
        .cloned()
    else {
        panic!("no stop: {stop:?}");
    };
    let (reply, _) = h.command(Command::Start { slot: S1.into() });
    assert_eq!(reply, CommandReply::Accepted);
    h.world.exit(S1, 143);
    h.feed(Input::ContainerDied {
        slot: S1.into(),
        id,
        exit_code: 143,
        oom_killed: false,
        last_lines: vec![],
    });
    assert_eq!(h.state(S1), SlotState::Running);
    assert!(
        h.snapshot().open_incidents.is_empty(),
        "an operator's stop is not an incident"
    );
    assert_eq!(h.view(S1).backoff_step, 0);
}

#[test]
fn a_death_shows_at_once_and_is_decided_only_when_its_last_lines_arrive() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    assert_eq!(h.state(S1), SlotState::Running);
    h.advance(MIN);
    let before = h.snapshot().state_version;
    let id = h.world.exit(S1, 1).expect("running");

    // The exit alone: visible in the next snapshot, but no decision and no Docker call yet.
    let effects = h.feed(Input::ContainerExited {
        slot: S1.into(),
        id: id.clone(),
        exit_code: 1,
    });
    assert!(effects.is_empty(), "decided before the lines: {effects:?}");
    let snap = h.snapshot();
    assert!(snap.state_version > before, "the exit is not shown");
    assert_eq!(h.state(S1), SlotState::Exited { code: Some(1) });
    // Time passes and a listing reports the container exited: still no decision without the
    // lines that are on their way (no restart, no incident, no event).
    let effects = h.advance(2_000);
    assert_eq!(starts_and_creates(&effects), 0, "{effects:?}");
    let effects = h.feed(Input::ContainersListed {
        containers: h.world.listing(),
    });
    assert_eq!(starts_and_creates(&effects), 0, "{effects:?}");
    assert!(h.view(S1).last_exit.is_none(), "decided without the lines");

    // The lines arrive: the failure is decided with its explaining line, dated at the exit.
    let effects = h.feed(Input::ContainerDied {
        slot: S1.into(),
        id,
        exit_code: 1,
        oom_killed: false,
        last_lines: vec!["fatal: could not read from remote repository".into()],
    });
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::PersistEvent(ev) if ev.kind == EventKind::Died)),
        "{effects:?}"
    );
    let exit = h.view(S1).last_exit.expect("decided");
    assert_eq!(
        exit.line.as_deref(),
        Some("fatal: could not read from remote repository")
    );
    assert_eq!(
        exit.uptime, MIN,
        "uptime ends at the reported exit, not at the lines"
    );
    let starts = h.starts(S1);
    h.advance(10 * MIN);
    assert_eq!(
        h.state(S1),
        SlotState::Running,
        "restarted after its backoff"
    );
    assert!(h.starts(S1) > starts.min(1), "no restart");
}
