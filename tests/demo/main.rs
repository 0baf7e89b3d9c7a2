//! Integration tests: the demo fleet, its story and a newcomer's path on real Docker.
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

#[path = "../common/mod.rs"]
mod common;

mod demo_agent;
mod demo_fleet;
mod demo_newcomer;
mod demo_restarts;
mod demo_story;
