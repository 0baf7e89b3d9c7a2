//! `node --test` with its TAP reporter (the default when output is not a terminal) and its spec
//! reporter (`✔ name (1.2ms)`, the default on a terminal).
//!
//! Node's closing counts (`# tests` / `ℹ tests`, `pass`, `fail`, `cancelled`, `skipped`, `todo`)
//! are authoritative: `skipped` and `todo` count as skipped, `cancelled` as errors. Failures
//! list leaf tests only (a parent that failed because a subtest failed, or a suite, is not
//! listed), with names qualified by their parents (`suite > test`). A test file whose process
//! exited or could not load (node reports it as a failing test named by the file's path) makes
//! the run cut off, or not started when node printed a load error such as `SyntaxError`.

mod spec;
mod tap;
mod tap_line;
#[cfg(test)]
mod tap_tests;

pub(crate) use spec::NodeSpecParser;
pub(crate) use tap::NodeTapParser;

use crate::run::{Counts, RunBuilder};
use crate::text::decimal_ms;

pub(super) const MAX_REASON_LINES: u8 = 6;
pub(super) const MAX_DEPTH: usize = 16;

/// Node's final counts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NodeSummary {
    pub pass: u64,
    pub fail: u64,
    cancelled: u64,
    skipped: u64,
    todo: u64,
    pub seen: bool,
}

impl NodeSummary {
    /// `tests 9`, `pass 3`, …; returns true for the closing `duration_ms` line.
    pub fn absorb(&mut self, key: &str, value: &str, b: &mut RunBuilder) -> Option<bool> {
        let n = || value.trim().parse::<u64>().ok();
        match key {
            "tests" | "suites" => {
                n()?;
            }
            "pass" => self.pass = n()?,
            "fail" => self.fail = n()?,
            "cancelled" => self.cancelled = n()?,
            "skipped" => self.skipped = n()?,
            "todo" => self.todo = n()?,
            "duration_ms" => {
                b.duration_ms = decimal_ms(value);
                self.seen = true;
                return Some(true);
            }
            _ => return None,
        }
        self.seen = true;
        Some(false)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            passed: self.pass,
            failed: self.fail,
            skipped: self.skipped.saturating_add(self.todo),
            errors: self.cancelled,
        }
    }
}

/// A failing test named by a test file's path: node's report for a file whose process failed.
pub(super) fn is_file_test(name: &str) -> bool {
    (name.starts_with('/') || name.contains(":\\"))
        && [".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// `SyntaxError: Unexpected token ';'` at column 0: what node printed when a file failed to
/// load.
pub(super) fn load_error(line: &str) -> Option<&str> {
    let (head, _) = line.split_once(": ")?;
    let ok = head.ends_with("Error")
        && head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && head.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
    ok.then_some(line)
}

pub(super) fn qualified(stack: &[String], depth: usize, name: &str) -> String {
    let mut q = String::new();
    for parent in stack.iter().take(depth) {
        q.push_str(parent);
        q.push_str(" > ");
    }
    q.push_str(name);
    q
}
