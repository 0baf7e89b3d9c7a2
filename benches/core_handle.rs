//! Throughput of the scheduling core with 200 slots: inputs handled per second for the inputs
//! that dominate a live fleet, plus the cost of a full reconcile and of a snapshot.
//! Prints figures; asserts nothing. Run: `cargo bench --bench core_handle`.

#[path = "../tests/core_support/mod.rs"]
mod core_support;

use std::hint::black_box;
use std::time::Instant;

use core_support::Harness;
use drover::core::{ActivityKind, FleetSpec, Input, RoleSpec};

const SLOTS: u32 = 200;

fn fleet() -> Harness {
    let roles = (0..4)
        .map(|i| {
            let mut r = RoleSpec::new(format!("role{i}"), SLOTS / 4, "hash");
            r.preflight = false;
            r
        })
        .collect();
    let mut h = Harness::new(FleetSpec::new("bench", roles));
    h.boot();
    h.advance(60_000);
    h
}

fn report(what: &str, n: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{what:<44} {:>12.0} /s  ({:.2} µs each, {n} runs)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn main() {
    let mut h = fleet();
    let names: Vec<String> = h.fleet.slot_names().map(str::to_string).collect();
    println!("core_handle: {} slots", names.len());

    let n = 400_000u64;
    let started = Instant::now();
    for i in 0..n {
        let slot = names[(i as usize) % names.len()].clone();
        h.now += 1;
        black_box(h.fleet.handle(
            h.now,
            Input::Activity {
                slot,
                kind: ActivityKind::Log,
            },
        ));
    }
    report("Activity (log line seen)", n, started);

    let n = 200_000u64;
    let started = Instant::now();
    for _ in 0..n {
        h.now += 1;
        black_box(h.fleet.handle(h.now, Input::Tick));
    }
    report("Tick with nothing due", n, started);

    // Crash + immediate restart, answered by the fake Docker (several inputs per cycle).
    let n = 20_000u64;
    let started = Instant::now();
    let mut inputs = 0u64;
    for i in 0..n {
        let slot = &names[(i as usize * 7) % names.len()];
        h.now += 20_000;
        let before = h.log.len();
        if let Some(id) = h.world.exit(slot, 1) {
            h.feed(Input::ContainerDied {
                slot: slot.clone(),
                id,
                exit_code: 1,
                oom_killed: false,
                last_lines: vec![
                    "Traceback (most recent call last):".into(),
                    format!("RuntimeError: {i}"),
                ],
            });
        }
        h.advance(0);
        inputs += 1 + (h.log.len() - before).min(2) as u64;
        h.log.clear();
    }
    report(
        "death → restart cycle (inputs incl. answers)",
        inputs,
        started,
    );

    let listing = h.world.listing();
    let n = 2_000u64;
    let started = Instant::now();
    for _ in 0..n {
        black_box(h.fleet.handle(
            h.now,
            Input::ContainersListed {
                containers: listing.clone(),
            },
        ));
    }
    report("full listing of 200 containers (unchanged)", n, started);

    let n = 5_000u64;
    let started = Instant::now();
    for _ in 0..n {
        black_box(h.fleet.snapshot(h.now));
    }
    report("snapshot of 200 slots", n, started);
}
