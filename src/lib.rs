//! drover: a terminal supervisor for fleets of AI coding-agent containers.
//!
//! The crate is a functional core with an imperative shell: `core` and `signals` are pure
//! (time is an input); adapters (`store`, and later docker/upstream/control/ui) do the I/O.

pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod docker;
pub mod logging;
pub mod secrets;
pub mod store;
pub mod theme;
