//! Unit tests of node's TAP reader and the dialects it tells apart.

use super::tap::NodeTapParser;
use super::tap_line::{Outcome, tap_result};
use crate::parsers::{Interrupt, LineCtx, RunParser};
use crate::run::Runner;

#[test]
fn tap_lines() {
    assert_eq!(
        tap_result("    not ok 2 - inner bad"),
        Some((4, Outcome::Fail, "inner bad"))
    );
    assert_eq!(
        tap_result("ok 3 - skipped # SKIP"),
        Some((0, Outcome::Skip, "skipped"))
    );
    assert_eq!(tap_result("ok then"), None);
}

/// The shape of mocha's TAP 12 output as its reporter (lib/reporters/tap.js) prints it:
/// plan first, `ok N full title`, `# SKIP -` for pending tests, the failure's message and
/// stack indented by two spaces, then `# tests` (passes + failures), `# pass`, `# fail`.
#[test]
fn mocha_tap12_runs_are_counted_without_their_suites() {
    let text = "1..4\nok 1 cart totals adds\nnot ok 2 cart totals rounds\n  expected 3 to equal 2\n  AssertionError: expected 3 to equal 2\n      at Context.<anonymous> (test/cart.spec.js:12:18)\nok 3 cart totals later # SKIP -\nok 4 cart empty\n# tests 3\n# pass 2\n# fail 1\n";
    let runs: Vec<_> = crate::scan_bytes(text.as_bytes())
        .into_iter()
        .filter_map(|f| match f {
            crate::Finding::TestRun { run, .. } => Some(run),
            crate::Finding::Loop { .. } | crate::Finding::Compaction { .. } => None,
        })
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let r = &runs[0];
    assert_eq!(r.runner, Runner::Mocha);
    assert_eq!((r.passed, r.failed, r.skipped, r.errors), (2, 1, 1, 0));
    assert_eq!(r.verdict, crate::Verdict::Fail);
    assert_eq!(r.failures[0].name, "cart totals rounds");
    assert_eq!(
        r.failures[0].reason.as_deref(),
        Some("expected 3 to equal 2")
    );
    assert_eq!(
        r.failures[0].location.as_deref(),
        Some("test/cart.spec.js:12:18")
    );
    // A lone plan line in other output is not a run.
    assert!(crate::scan_bytes(b"1..3\nbuilding docs\n").is_empty());
}

#[test]
fn node_taps_nested_subtests_count_their_leaves() {
    let log = "TAP version 13\n# Subtest: q.test.js\n    # Subtest: queue\n        ok 1 - one item\n        not ok 2 - first out\n          ---\n          diff: |\n            --- expected\n            +++ actual\n            -4\n            +3\n          ...\n        1..2\n    not ok 1 - queue # time=3ms\n    ok 2 - todo # TODO\n    1..2\nnot ok 1 - q.test.js # time=9ms\n1..1\n# failed 1 test\n";
    let mut p = NodeTapParser::default();
    let mut out = Vec::new();
    for (i, l) in log.lines().enumerate() {
        let ctx = LineCtx {
            line_no: i as u64 + 1,
            foreign_run_active: false,
        };
        p.feed(l, &ctx, &mut out);
    }
    p.interrupt(Interrupt::EndOfStream, &mut out);
    let r = &out[0].run;
    assert_eq!(r.runner, Runner::Tap);
    assert_eq!((r.passed, r.failed, r.skipped), (1, 1, 1));
    assert_eq!(r.failures[0].name, "queue > first out");
    assert!(r.failures[0].reason.as_deref().unwrap_or("").contains("+3"));
}
