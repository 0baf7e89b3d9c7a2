//! Integration tests of drover-signals on real output: test-run parsers against the runner
//! corpus, loop detectors against the transcript corpus, and properties over both. One binary
//! keeps link time down; fixtures live in `tests/fixtures/` with their sources beside them.

// Test support code may unwrap: a panic is a failed test with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod signals_context;
mod signals_detector;
mod signals_fixtures;
mod signals_loops;
mod signals_loops_corpus;
mod signals_loops_edits;
mod signals_loops_idle;
mod signals_loops_reconfirm;
mod signals_loops_turns;
mod signals_props;
