//! Unit tests of the cargo test parser.

use super::*;

#[test]
fn result_lines() {
    let r = parse_result(
        "test result: FAILED. 2 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.08s",
    )
    .unwrap();
    assert_eq!(
        (r.counts.passed, r.counts.failed, r.counts.skipped),
        (2, 3, 1)
    );
    assert_eq!((r.ran, r.duration_ms), (6, Some(80)));
    assert!(parse_result("test result: whatever").is_none());
}

#[test]
fn compile_failures_only_for_test_targets() {
    assert_eq!(
        compile_failure("error: could not compile `ledger` (lib test) due to 1 previous error"),
        Some("ledger (lib test)".to_owned())
    );
    assert!(
        compile_failure(
            "error: could not compile `ledger` (test \"api\") due to 2 previous errors"
        )
        .is_some()
    );
    assert!(
        compile_failure("error: could not compile `ledger` (lib) due to 1 previous error")
            .is_none()
    );
    assert!(
        compile_failure("error: could not compile `ledger` (bin \"x\") due to 1 previous error")
            .is_none()
    );
}

#[test]
fn a_paste_that_starts_at_its_first_result_keeps_its_failures() {
    let log = "test a ... ok\ntest b ... FAILED\n\nfailures:\n\n---- b stdout ----\nthread 'b' panicked at tests/t.rs:3:5:\nboom\n\nfailures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";
    let runs: Vec<_> = crate::scan_bytes(log.as_bytes())
        .into_iter()
        .filter_map(|f| match f {
            crate::Finding::TestRun { run, .. } => Some(run),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].passed, runs[0].failed), (1, 1));
    assert_eq!(runs[0].failures[0].name, "b");
    assert_eq!(runs[0].failures[0].reason.as_deref(), Some("boom"));
}
