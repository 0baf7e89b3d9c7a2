//! Core timer scenarios on a virtual clock: an adopted fleet's wake-ups (no spin), output
//! activity moving the snapshot at one-second resolution, and the
//! per-run time limit (`run_timeout`): timeout, adoption past the deadline, pause and take-over
//! stopping the clock, `extend`, and repeated timeouts blocking the slot.

use crate::core_support;

use core_support::{Harness, World};
use drover::core::{
    Command, CommandReply, ContainerStatus, Effect, EventKind, ExitReason, Fleet, FleetSpec, Input,
    Millis, ObservedContainer, RoleSpec, SlotState,
};

const SEC: Millis = 1_000;
const MIN: Millis = 60 * SEC;

fn spec(replicas: u32, tune: impl FnOnce(&mut RoleSpec)) -> FleetSpec {
    let mut role = RoleSpec::new("implementer", replicas, "hash-1");
    role.preflight = false;
    tune(&mut role);
    FleetSpec::new("demo", vec![role])
}

/// The listing as the Docker adapter reports it: Docker's container list carries no start
/// time, so `started_at` is unknown for every container.
fn listing_without_start_times(world: &World) -> Vec<ObservedContainer> {
    world
        .listing()
        .into_iter()
        .map(|mut c| {
            c.started_at = None;
            c
        })
        .collect()
}

/// Delivers every wake-up up to `until` the way the supervisor does (a due or past wake-up
/// fires at once) and counts the `handle` calls; stops counting at `cap`.
fn ticks_until(h: &mut Harness, until: Millis, cap: usize) -> usize {
    let mut ticks = 0;
    while let Some(w) = h.fleet.next_wakeup() {
        if w > until || ticks >= cap {
            break;
        }
        h.now = h.now.max(w);
        h.handle_only(Input::Tick);
        ticks += 1;
    }
    h.now = until;
    ticks
}

#[test]
fn an_adopted_quiet_fleet_wakes_a_handful_of_times_per_minute_not_thousands() {
    let spec = spec(10, |_| {});
    let mut world = World::default();
    for n in 1..=10 {
        world.add(
            &format!("implementer-{n}"),
            1,
            "hash-1",
            ContainerStatus::Running,
            "demo",
        );
    }
    let mut h = Harness::with_fleet(Fleet::new(spec, 42), world);
    h.handle_only(Input::DockerUp);
    let listing = listing_without_start_times(&h.world);
    let effects = h.handle_only(Input::ContainersListed {
        containers: listing,
    });
    assert!(
        effects.iter().all(|e| !e.is_docker()),
        "adoption must not touch the containers: {effects:#?}"
    );
    if let Some(w) = h.fleet.next_wakeup() {
        assert!(
            w > h.now,
            "a wake-up already due after adoption: {w} <= {}",
            h.now
        );
    }
    let until = h.now + MIN;
    let ticks = ticks_until(&mut h, until, 10_000);
    assert!(ticks <= 5, "{ticks} wake-ups in one quiet minute");
    // The adopted runs count from when drover first saw them: warmed up after min_uptime.
    let view = h.view("implementer-1");
    assert!(view.started_at.is_some(), "adopted run has a start time");
}

const S1: &str = "implementer-1";

fn limited(replicas: u32) -> FleetSpec {
    spec(replicas, |r| r.run_timeout = Some(30 * MIN))
}

fn stops(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Stop { .. } | Effect::Kill { .. }))
        .count()
}

fn timed_out(h: &Harness) -> bool {
    h.view(S1)
        .last_exit
        .is_some_and(|e| e.reason == Some(ExitReason::Timeout))
}

#[test]
fn a_run_past_its_limit_is_stopped_with_the_grace_period_and_ends_as_timed_out() {
    let mut h = Harness::new(limited(1));
    h.boot();
    let started = h.now;
    assert_eq!(h.state(S1), SlotState::Running);
    let view = h.view(S1).run_limit.expect("a run limit is shown");
    assert_eq!(view.ends_at, Some(started + 30 * MIN));

    let effects = h.advance(30 * MIN - SEC);
    assert_eq!(stops(&effects), 0, "stopped before its limit");
    let effects = h.advance(SEC);
    let grace = effects.iter().find_map(|e| match e {
        Effect::Stop { grace, .. } => Some(*grace),
        _ => None,
    });
    assert_eq!(grace, Some(10 * SEC), "SIGTERM with the role's stop grace");
    let exit = h.view(S1).last_exit.expect("the run ended");
    assert_eq!(exit.reason, Some(ExitReason::Timeout));
    assert_eq!(exit.line.as_deref(), Some("timed out after 30m"));
    assert!(
        h.log
            .iter()
            .any(|(_, e)| matches!(e, Effect::PersistEvent(ev) if ev.kind == EventKind::TimedOut)),
        "a timed_out event is recorded"
    );
    // Started again by the restart policy (after its backoff), not blocked, not a crash loop.
    h.advance(MIN);
    assert_eq!(h.state(S1), SlotState::Running);
    assert!(!h.view(S1).crash_looping);
    assert_eq!(h.starts(S1), 2);
}

#[test]
fn an_adopted_container_already_past_its_deadline_is_stopped_at_once() {
    let mut world = World::default();
    let id = world.add(S1, 1, "hash-1", ContainerStatus::Running, "demo");
    let t0 = Harness::T0;
    world.containers.get_mut(&id).expect("added").started_at = Some(t0 - 40 * MIN);
    let mut h = Harness::with_fleet(Fleet::new(limited(1), 42), world);
    let effects = h.boot();
    assert_eq!(stops(&effects), 1, "{effects:#?}");
    assert!(timed_out(&h));
}

#[test]
fn pause_and_take_over_stop_the_clock() {
    let mut h = Harness::new(limited(1));
    h.boot();
    h.advance(20 * MIN);
    let (reply, _) = h.command(Command::Pause { slot: S1.into() });
    assert_eq!(reply, CommandReply::Accepted);
    let paused = h.advance(60 * MIN);
    assert_eq!(stops(&paused), 0, "a paused run does not age");
    h.command(Command::Resume { slot: S1.into() });
    assert_eq!(stops(&h.advance(10 * MIN - SEC)), 0, "10 minutes were left");
    assert_eq!(stops(&h.advance(SEC)), 1);
    assert!(timed_out(&h));

    // Take-over: the operator's time in the container does not count either.
    let mut h = Harness::new(limited(1));
    h.boot();
    h.advance(25 * MIN);
    h.command(Command::TakeOver { slot: S1.into() });
    assert_eq!(stops(&h.advance(3 * 60 * MIN)), 0);
    assert!(h.view(S1).run_limit.is_some_and(|v| v.ends_at.is_none()));
}

#[test]
fn extend_gives_the_current_run_more_time_and_is_audited() {
    let mut h = Harness::new(limited(1));
    h.boot();
    h.advance(25 * MIN);
    let (reply, effects) = h.command(Command::Extend {
        slot: S1.into(),
        by_ms: 15 * MIN,
    });
    assert_eq!(reply, CommandReply::Accepted);
    assert!(effects.iter().any(
        |e| matches!(e, Effect::PersistEvent(ev) if ev.kind == EventKind::Command && ev.message.contains("extend"))
    ));
    assert_eq!(stops(&h.advance(20 * MIN - SEC)), 0, "45 minutes in all");
    assert_eq!(stops(&h.advance(SEC)), 1);
    assert_eq!(
        h.view(S1).last_exit.and_then(|e| e.line).as_deref(),
        Some("timed out after 45m")
    );

    // Nothing to extend without a limit.
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    let (reply, _) = h.command(Command::Extend {
        slot: S1.into(),
        by_ms: MIN,
    });
    assert!(matches!(reply, CommandReply::Refused { .. }), "{reply:?}");
}

/// `extend 0s` and `extend` by 2^64 s (saturating to "never ends") are refused, and the run
/// keeps its limit.
#[test]
fn extend_refuses_zero_and_absurd_durations() {
    let mut h = Harness::new(limited(1));
    h.boot();
    h.advance(25 * MIN);
    for by_ms in [0, u64::MAX, 8 * 24 * 60 * MIN] {
        let (reply, _) = h.command(Command::Extend {
            slot: S1.into(),
            by_ms,
        });
        assert!(
            matches!(reply, CommandReply::Refused { .. }),
            "{by_ms}: {reply:?}"
        );
    }
    assert_eq!(stops(&h.advance(5 * MIN - SEC)), 0);
    assert_eq!(stops(&h.advance(SEC)), 1, "still 30 minutes in all");
}

/// A restarted drover continues the run's clock from the slot's record: the 15 minutes given
/// by an audited `extend` and the 20 minutes the run spent paused still count, so the run ends
/// 65 minutes after it started (30 + 15 + 20), not 30 minutes after drover saw it again.
#[test]
fn extend_and_paused_time_survive_a_restart_of_drover() {
    use crate::core_support::last_records;
    use drover::core::ResumeState;
    let mut h = Harness::new(limited(1));
    h.boot();
    let started = h.now;
    h.advance(10 * MIN);
    h.command(Command::Pause { slot: S1.into() });
    h.advance(20 * MIN);
    h.command(Command::Resume { slot: S1.into() });
    h.advance(5 * MIN);
    let (reply, _) = h.command(Command::Extend {
        slot: S1.into(),
        by_ms: 15 * MIN,
    });
    assert_eq!(reply, CommandReply::Accepted);
    // drover stops; the container keeps running; a new drover reads the store back.
    let resume = ResumeState {
        slots: last_records(&h.log),
        ..ResumeState::default()
    };
    let now = h.now + MIN;
    let world = h.world.clone();
    let mut h = Harness::with_fleet(Fleet::restore(limited(1), 7, resume), world);
    h.now = now;
    h.handle_only(Input::DockerUp);
    let listing = listing_without_start_times(&h.world);
    h.handle_only(Input::ContainersListed {
        containers: listing,
    });
    let limit = h.view(S1).run_limit.expect("a run limit");
    assert_eq!(limit.allowed_ms, 45 * MIN, "the extension is kept");
    assert_eq!(limit.ends_at, Some(started + 65 * MIN));
    assert_eq!(stops(&h.advance_to(started + 65 * MIN - SEC)), 0);
    let e = h.advance(SEC);
    assert_eq!(stops(&e), 1, "{e:#?}");
}

#[test]
fn three_timeouts_in_a_row_block_the_slot_with_the_count() {
    let mut h = Harness::new(spec(1, |r| r.run_timeout = Some(8 * SEC)));
    h.boot();
    for _ in 0..120 {
        if matches!(h.state(S1), SlotState::Blocked { .. }) {
            break;
        }
        h.advance(SEC);
    }
    match h.state(S1) {
        SlotState::Blocked { reason, .. } => {
            assert_eq!(reason, "timed out 3 times in a row (8s)")
        }
        other => panic!("not blocked: {other:?}"),
    }
    assert_eq!(h.starts(S1), 3);
    assert!(
        !h.view(S1).crash_looping,
        "short timeouts are not early exits"
    );
}

#[test]
fn an_adopted_run_is_not_stalled_for_silence_drover_did_not_watch() {
    let mut world = World::default();
    let id = world.add(S1, 1, "hash-1", ContainerStatus::Running, "demo");
    world.containers.get_mut(&id).expect("added").started_at = Some(Harness::T0 - 3 * 60 * MIN);
    let mut h = Harness::with_fleet(Fleet::new(spec(1, |_| {}), 42), world);
    h.boot();
    assert_eq!(h.state(S1), SlotState::Running);
    assert!(
        !matches!(h.view(S1).health, drover::core::Health::Stalled { .. }),
        "stalled at adoption"
    );
    // Silence from adoption on does count: stalled after stall_after (15 min by default).
    h.advance(15 * MIN);
    assert!(matches!(
        h.view(S1).health,
        drover::core::Health::Stalled { .. }
    ));
}

#[test]
fn output_lines_move_the_snapshot_once_a_second_and_never_its_state_version() {
    let mut h = Harness::new(spec(1, |_| {}));
    h.boot();
    let before = h.snapshot();
    let line = || Input::Activity {
        slot: S1.into(),
        kind: drover::core::ActivityKind::Log,
    };
    h.now = (h.now / SEC + 1) * SEC; // the start of a second
    for _ in 0..100 {
        h.handle_only(line());
        h.now += 5; // 100 lines in half a second
    }
    let after = h.snapshot();
    assert_eq!(
        after.version,
        before.version + 1,
        "one change for the second"
    );
    assert_eq!(after.state_version, before.state_version);
    h.now += SEC;
    h.handle_only(line());
    assert_eq!(h.snapshot().version, before.version + 2);
}
