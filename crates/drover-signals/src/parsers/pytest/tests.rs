//! Unit tests of the pytest parser: summaries, status lines, plugins' output.

use super::*;

#[test]
fn summaries() {
    let (c, d) =
        parse_summary("2 failed, 1 passed, 1 skipped, 1 xfailed, 1 error in 0.03s").unwrap();
    assert_eq!((c.passed, c.failed, c.skipped, c.errors), (1, 2, 2, 1));
    assert_eq!(d, Some(30));
    let (c, _) = parse_summary("no tests ran in 0.00s").unwrap();
    assert_eq!(c.ran(), 0);
    assert!(parse_summary("390 passed, 0 failed").is_none());
    assert!(parse_summary("we are in trouble").is_none());
    let (c, d) = parse_summary("390 passed in 61.20s (0:01:01)").unwrap();
    assert_eq!((c.passed, d), (390, Some(61_200)));
}

#[test]
fn statuses() {
    assert_eq!(
        verbose_status("test_a.py::test_bad FAILED          [ 33%]"),
        Some(("test_a.py::test_bad", b'F'))
    );
    assert_eq!(
        verbose_status("test_a.py::test_skip SKIPPED (not today)   [ 50%]"),
        Some(("test_a.py::test_skip", b's'))
    );
    assert_eq!(verbose_status("test_slow.py::test_hangs "), None);
    assert_eq!(
        progress_chars("test_a.py .FsxEF       [100%]"),
        Some((".FsxEF", true))
    );
    assert_eq!(progress_chars("test_slow.py .."), Some(("..", false)));
    assert_eq!(progress_chars("....  [ 50%]"), Some(("....", true)));
    assert_eq!(progress_chars("see the docs. [1%]"), None);
}

fn runs_of(log: &str) -> Vec<crate::run::TestRun> {
    let mut p = PytestParser::default();
    let mut out = Vec::new();
    for (i, l) in log.lines().enumerate() {
        let ctx = LineCtx {
            line_no: i as u64 + 1,
            foreign_run_active: false,
        };
        p.feed(l, &ctx, &mut out);
    }
    p.interrupt(Interrupt::EndOfStream, &mut out);
    out.into_iter().map(|e| e.run).collect()
}

#[test]
fn pytest_sugar_results_replace_the_summary_line() {
    let log = "Test session starts (platform: linux, Python 3.11.7, pytest 9.2.0, pytest-sugar 1.1.1)\ncollected 4 items\n\nResults (0.17s):\n       2 passed\n       1 failed\n         - t.py:6 test_a\n       1 xfailed\n";
    let runs = runs_of(log);
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(
        (r.passed, r.failed, r.skipped, r.end),
        (2, 1, 1, RunEnd::Completed)
    );
}

#[test]
fn a_worker_xdist_replaced_is_the_summarys_failure_not_a_crash() {
    let log = "============ test session starts ============\ncreated: 2/2 workers\n2 workers [3 items]\n\n.Fatal Python error: Aborted\n.[gw0] node down: Not properly terminated\nF\nreplacing crashed worker gw0\n\n============ FAILURES ============\n______ t.py ______\n[gw0] linux -- Python 3.11.7 /usr/bin/python3\nworker 'gw0' crashed while running 't.py::test_boom'\n============ 1 failed, 2 passed in 1.35s ============\n";
    let runs = runs_of(log);
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(
        (r.passed, r.failed, r.errors, r.end),
        (2, 1, 0, RunEnd::Completed)
    );
    assert_eq!(r.failures[0].name, "t.py::test_boom");
}

#[test]
fn block_names_match_canonical_names() {
    assert_eq!(
        tail_of("test_a.py::TestX::test_y[1.5]"),
        tail_of("TestX.test_y[1.5]")
    );
    assert_eq!(tail_of("test_a.py::test_bad"), "test_bad");
}
