//! Core timer scenarios on a virtual clock: an adopted fleet's wake-ups (no spin) and the
//! per-run time limit (`run_timeout`): timeout, adoption past the deadline, pause and take-over
//! stopping the clock, `extend`, and repeated timeouts blocking the slot.

mod core_support;

use core_support::{Harness, World};
use drover::core::{
    ContainerStatus, Fleet, FleetSpec, Input, Millis, ObservedContainer, RoleSpec,
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
        assert!(w > h.now, "a wake-up already due after adoption: {w} <= {}", h.now);
    }
    let until = h.now + MIN;
    let ticks = ticks_until(&mut h, until, 10_000);
    assert!(ticks <= 5, "{ticks} wake-ups in one quiet minute");
    // The adopted runs count from when drover first saw them: warmed up after min_uptime.
    let view = h.view("implementer-1");
    assert!(view.started_at.is_some(), "adopted run has a start time");
}
