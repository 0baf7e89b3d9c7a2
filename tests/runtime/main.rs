//! Integration tests: the supervisor, store and Docker adapter against the real Docker Engine,
//! and the runtime port's conformance suite over both engines (the fake and Docker).
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../control_support/mod.rs"]
mod control_support;

mod conformance;
mod docker_adapter;
mod docker_adoption;
mod docker_disconnect;
mod docker_hosts;
mod docker_log_resume;
mod docker_logs;
mod store_crash;
mod store_full_disk;
mod store_private;
mod supervisor_chaos;
mod supervisor_context;
mod supervisor_fleet;
mod supervisor_loops;
mod supervisor_probe;
mod supervisor_quota;
mod supervisor_tests_stats;
mod supervisor_uptime;
