//! drover: a terminal supervisor for fleets of AI coding-agent containers.
//!
//! The crate is a functional core with an imperative shell: `core` and `signals` are pure
//! (time is an input); adapters (`docker`, `upstream`, `store`, `control`) do the I/O.

pub mod bench;
pub mod cli;
pub mod config;
pub mod control;
pub mod core;
pub mod demo;
pub mod docker;
pub mod logging;
pub mod secrets;
pub mod signals;
pub mod store;
pub mod supervisor;
pub mod theme;
pub mod ui;
pub mod upstream;
