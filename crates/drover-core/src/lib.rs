//! drover-core: the pure heart of drover — the scheduling core (`core`) over the signals read
//! from agent output (the `drover-signals` crate), secret recognition (`secrets`), the one
//! sanitiser for untrusted text (`untrusted`) and the line diff of a text's versions
//! (`line_changes`).
//!
//! Invariant, kept by this crate's dependency list: no I/O, no clock, no async. Nothing here
//! depends on tokio, bollard, sqlx, git2, ratatui, crossterm, notify or hyper; time is an input
//! (`Millis`), and every effect on the world is returned as data (`core::Effect`) for the
//! runtime to perform. That is what makes every scenario replayable on a virtual clock.

pub mod core;
pub mod line_changes;
pub mod secrets;
pub mod untrusted;
