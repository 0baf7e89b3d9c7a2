//! Integration tests: the control socket, ctl, status, attach and metrics against real daemons.
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../control_support/mod.rs"]
mod control_support;
#[path = "../upstream_support/mod.rs"]
mod upstream_support;

mod control_attach;
mod control_client;
mod control_config;
mod control_daemon;
mod control_down;
mod control_ledger;
mod control_lock_flood;
mod control_mcp;
mod control_metrics_load;
mod control_otlp;
mod control_peer;
mod control_prometheus;
mod control_protocol;
mod control_readme_fields;
mod control_secrets;
mod control_transport;
