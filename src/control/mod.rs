//! The control plane: a versioned protocol over an owner-only Unix socket, so `drover ctl`,
//! `drover status`, `drover events` and `drover attach` reach a running daemon with the same
//! commands and snapshots the in-process TUI uses; plus the loopback Prometheus endpoint and
//! the store-only report.

pub mod board;
pub mod client;
pub mod cost;
mod fit;
pub mod main_report;
pub mod metrics;
pub mod protocol;
pub mod report;
pub mod server;
pub mod transport;
pub mod view;
mod view_main;
