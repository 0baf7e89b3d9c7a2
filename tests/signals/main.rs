//! Integration tests: log signals on real output: test-run parsers, loop detectors, usage limits, scan.
//! One binary per group keeps link time down; the support modules are shared with the
//! other groups through `#[path]`.

mod quota_notices;
mod scan_cli;
mod signals_detector;
mod signals_fixtures;
mod signals_loops;
mod signals_loops_corpus;
mod signals_loops_turns;
mod signals_props;
