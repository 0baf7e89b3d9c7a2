//! Integration tests: the upstream adapter against real git repositories.
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../upstream_support/mod.rs"]
mod upstream_support;

mod upstream_board;
mod upstream_bounds;
mod upstream_fleet;
mod upstream_headless;
mod upstream_locks;
mod upstream_red_main;
mod upstream_release;
mod upstream_report;
mod upstream_tui;
mod upstream_watch;
mod upstream_young;
