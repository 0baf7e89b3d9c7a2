//! Integration tests that need no daemon: the scheduling core on a virtual clock, and the
//! whole supervisor against the in-memory engine (`supervisor_fake_runtime`).
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../core_support/mod.rs"]
mod core_support;

mod core_bounds;
mod core_context;
mod core_ledger;
mod core_loops;
mod core_main;
mod core_restarts;
mod core_scenarios;
mod core_simulation;
mod core_throttle;
mod core_timers;
mod supervisor_fake_runtime;
mod supervisor_hosts;
