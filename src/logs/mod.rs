//! Agent output on its way to disk and back: `follow` streams a container's logs through the
//! runtime port into `files` (rotating per-generation log files) and the in-memory `ring`;
//! `logfile` reads those files backwards for the log view and `drover report`.
//!
//! Invariants: every byte is written to the slot's log file before anything else sees it; the
//! engine is reached only through `drover_runtime::Runtime`, never an adapter.

pub mod files;
pub mod follow;
pub mod logfile;
pub mod ring;
