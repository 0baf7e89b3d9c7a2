//! drover: a terminal supervisor for fleets of AI coding-agent containers.
//!
//! The crate is a functional core with an imperative shell. The core (`core`, `secrets`,
//! `untrusted`) lives in the `drover-core` crate and the readers of agent output (`signals`) in
//! `drover-signals`; their dependency lists keep them pure (no I/O, no clock, no async), and
//! they are re-exported here under the same paths. The container engines live in
//! `drover-runtime` and the terminal face in `drover-tui` (its `keys` and `theme` re-exported
//! here, its `ui` through the `ui` module that wires it to the supervisor); the adapters here
//! (`logs`, `upstream`, `store`, `control`) do the rest of the I/O; see ARCHITECTURE.md.

#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod cli;
pub mod config;
pub mod control;
pub use drover_core::core;
pub mod demo;
pub use drover_tui::keys;
pub mod logging;
pub mod logs;
pub mod mcp;
pub mod peer;
pub use drover_core::secrets;
pub use drover_core::untrusted;
pub use drover_signals as signals;
pub mod store;
pub mod supervisor;
pub use drover_tui::theme;
pub mod telemetry;
pub mod ui;
pub mod upstream;
