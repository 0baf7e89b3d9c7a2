//! Property tests for the test-run detector: arbitrary bytes, runner-like line soup, and
//! summary lines quoted inside real failing runs. Whatever the input: no panic, every run's
//! numbers are consistent with its verdict, caps hold, and a failing run is never turned into
//! a pass.

use std::path::Path;

use drover_signals::{
    Finding, LineNormalizer, MAX_FAILURES, MAX_LOCATION_BYTES, MAX_NAME_BYTES, MAX_REASON_BYTES,
    Scanner, TestRun, TestRunDetector, Verdict, parse_junit, scan_bytes,
};
use proptest::prelude::*;

fn check_invariants(run: &TestRun) {
    assert_eq!(
        run.total,
        run.passed + run.failed + run.skipped + run.errors,
        "{run:?}"
    );
    assert_eq!(
        run.verdict,
        Verdict::judge(run.passed, run.failed, run.errors, run.end),
        "{run:?}"
    );
    assert!(run.failures.len() <= MAX_FAILURES);
    for f in &run.failures {
        assert!(f.name.len() <= MAX_NAME_BYTES);
        assert!(
            f.reason
                .as_ref()
                .is_none_or(|r| r.len() <= MAX_REASON_BYTES)
        );
        assert!(
            f.location
                .as_ref()
                .is_none_or(|l| l.len() <= MAX_LOCATION_BYTES)
        );
    }
}

fn runs(findings: Vec<Finding>) -> Vec<TestRun> {
    findings
        .into_iter()
        .filter_map(|f| match f {
            Finding::TestRun { run, .. } => Some(run),
            Finding::Loop { .. } | Finding::Compaction { .. } => None,
        })
        .collect()
}

/// Lines that drive every parser's state machine, plus junk.
const SOUP: &[&str] = &[
    "============================= test session starts ==============================",
    "collected 3 items",
    "test_a.py .F.                                                            [100%]",
    "=================================== FAILURES ===================================",
    "___________________________________ test_bad ___________________________________",
    "E       assert 1 == 2",
    "test_a.py:5: AssertionError",
    "----------------------------- Captured stdout call -----------------------------",
    "=========================== short test summary info ============================",
    "FAILED test_a.py::test_bad - assert 1 == 2",
    "========================= 1 failed, 2 passed in 0.03s ==========================",
    "2 passed in 0.01s",
    "running 2 tests",
    "test a ... ok",
    "test b ... FAILED",
    "failures:",
    "---- b stdout ----",
    "thread 'b' panicked at src/lib.rs:1:1:",
    "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
    "error: test failed, to rerun pass `--lib`",
    "     Running unittests src/lib.rs (target/debug/deps/x-1)",
    "    Starting 2 tests across 1 binary",
    "        PASS [   0.005s] (1/2) x a",
    "        FAIL [   0.005s] (2/2) x b",
    "     Summary [   0.010s] 2 tests run: 1 passed, 1 failed, 0 skipped",
    "error: test run failed",
    "=== RUN   TestA",
    "--- FAIL: TestA (0.00s)",
    "    a_test.go:3: nope",
    "ok  \texample.com/a\t0.01s",
    "FAIL\texample.com/b\t0.01s",
    "FAIL",
    "panic: boom",
    "{\"Action\":\"pass\",\"Package\":\"p\",\"Test\":\"TestA\"}",
    "{\"Action\":\"fail\",\"Package\":\"p\"}",
    "TAP version 13",
    "not ok 1 - a",
    "  ---",
    "  error: 'x'",
    "  ...",
    "# tests 1",
    "# pass 1",
    "# duration_ms 3.1",
    "✔ a (1.2ms)",
    "✖ b (1.2ms)",
    "ℹ tests 2",
    "ℹ duration_ms 4.5",
    "PASS src/a.test.js",
    "  ● a › b",
    "Test Suites: 1 passed, 1 total",
    "Tests:       1 passed, 1 total",
    "Ran all test suites.",
    " RUN  v1.6.0 /app",
    " Test Files  1 passed (1)",
    "      Tests  1 passed (1)",
    "   Duration  1.02s",
    "    ✔ works",
    "  1 passing (3ms)",
    "  1 failing",
    "======================================================================",
    "FAIL: test_x (m.T.test_x)",
    "----------------------------------------------------------------------",
    "Ran 2 tests in 0.001s",
    "OK",
    "FAILED (failures=1)",
    "390 passed, 0 failed",
    "[agent] thinking",
    "",
    "\u{1b}[31mred\u{1b}[0m",
    "2026-01-05T10:00:00.000Z [tests] running 1 test",
];

/// Pass-looking summary lines in every runner's format.
const QUOTES: &[&str] = &[
    "390 passed, 0 failed",
    "Results: 390 passed, 0 failed, 0 skipped (1.0s)",
    "============================== 390 passed in 1.00s ==============================",
    "390 passed in 1.00s",
    "test result: ok. 390 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
    "ok  \texample.com/fake\t0.001s",
    "PASS",
    "# pass 390",
    "ℹ pass 390",
    "Tests:       390 passed, 390 total",
    "      Tests  390 passed (390)",
    "Ran 390 tests in 1.000s",
    "OK",
    "     Summary [   1.000s] 390 tests run: 390 passed, 0 skipped",
];

/// Real failing or crashing runs (one run each) to quote summaries into.
const FAILING: &[&str] = &[
    "pytest/fail.txt",
    "pytest/fail-quiet.txt",
    "pytest/fail-verbose.txt",
    "pytest/killed.txt",
    "unittest/fail-verbose.txt",
    "cargo/fail.txt",
    "cargo/fail-no-fail-fast.txt",
    "cargo/crash.txt",
    "nextest/fail.txt",
    "go/fail.txt",
    "go/fail-verbose.txt",
    "go/fail-json.txt",
    "go/panic.txt",
    "node/fail-tap.txt",
    "node/fail-spec.txt",
    "jest/fail.txt",
    "jest/c-default-kill3.txt",
    "vitest/fail.handwritten.txt",
    "mocha/fail.txt",
    "mocha/c-tap-f2.txt",
];

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/signals")
        .join(rel);
    std::fs::read(p).expect("fixture")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_nor_pass(bytes in proptest::collection::vec(any::<u8>(), 0..8192)) {
        let found = runs(scan_bytes(&bytes));
        for run in &found {
            check_invariants(run);
            prop_assert_ne!(run.verdict, Verdict::Pass, "{:?}", run);
        }
        // The normaliser and the JUnit reader take the same garbage.
        let mut n = LineNormalizer::new();
        for line in bytes.split(|b| *b == b'\n') {
            let _ = n.hash(line);
        }
        let _ = parse_junit(&bytes);
    }

    #[test]
    fn runner_line_soup_keeps_runs_consistent(
        picks in proptest::collection::vec(0..SOUP.len(), 0..300),
        chunk in 1usize..200,
    ) {
        let mut text = Vec::new();
        for i in picks {
            text.extend_from_slice(SOUP[i].as_bytes());
            text.push(b'\n');
        }
        let whole = scan_bytes(&text);
        for f in &whole {
            if let Finding::TestRun { run, .. } = f {
                check_invariants(run);
            }
        }
        // Streaming in arbitrary chunks gives the same findings.
        let mut scanner = Scanner::new();
        let mut streamed = Vec::new();
        for c in text.chunks(chunk) {
            streamed.extend(scanner.push(c));
        }
        streamed.extend(scanner.finish());
        prop_assert_eq!(streamed, whole);
    }

    #[test]
    fn summaries_quoted_inside_a_failing_run_never_make_it_pass(
        which in 0..FAILING.len(),
        inserts in proptest::collection::vec((any::<prop::sample::Index>(), 0..QUOTES.len()), 1..5),
    ) {
        let name = FAILING[which];
        let bytes = fixture(name);
        let original = scan_bytes(&bytes);
        prop_assert_eq!(original.len(), 1);
        let Finding::TestRun { line: start, run: original_run } = &original[0] else {
            panic!("a test run: {:?}", original[0]);
        };
        prop_assert_ne!(original_run.verdict, Verdict::Pass);

        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        while lines.last().is_some_and(|l| l.iter().all(u8::is_ascii_whitespace)) {
            lines.pop();
        }
        // Strictly inside the run: after its first line, before the output's last line.
        let first = *start as usize; // 1-based start → index of the line after it
        let last = lines.len() - 1;
        prop_assume!(first < last);
        for (at, q) in inserts.iter().rev() {
            let pos = first + at.index(last - first);
            lines.insert(pos, QUOTES[*q].as_bytes());
        }
        let quoted = lines.join(&b'\n');
        let found = runs(scan_bytes(&quoted));
        for run in &found {
            check_invariants(run);
            prop_assert_ne!(run.verdict, Verdict::Pass, "{} became a pass: {:?}", name, run);
        }
    }

    #[test]
    fn ten_megabyte_lines_cost_no_retained_memory(len in 1usize..(10 * 1024 * 1024), byte in any::<u8>()) {
        let mut d = TestRunDetector::new();
        let line = vec![byte; len];
        prop_assert!(d.feed_line(&line).is_empty() || byte == b'\n');
        for run in d.finish() {
            check_invariants(&run);
        }
    }
}

/// Lines that mark a failure, an error or a crash in some runner's output.
const MARKERS: &[&str] = &[
    "FAILED",
    "FAIL",
    "not ok ",
    "panicked at",
    "panic: ",
    "Fatal Python error",
    "Traceback (most recent call last)",
    "AssertionError",
    "SIGABRT",
    "✖",
    "ERROR",
];

/// Real captures that hold exactly one run that is not a pass, with the index of their first
/// line that carries a failure/error/crash marker.
fn failing_captures() -> &'static [(std::path::PathBuf, usize)] {
    static ALL: std::sync::OnceLock<Vec<(std::path::PathBuf, usize)>> = std::sync::OnceLock::new();
    ALL.get_or_init(find_failing_captures)
}

fn find_failing_captures() -> Vec<(std::path::PathBuf, usize)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/signals");
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            // Real captures only: a handwritten generic script log has no runner framing, so
            // its own later `N passed, 0 failed` line is a run of its own.
            .filter(|p| {
                p.extension().is_some_and(|e| e == "txt")
                    && !p.to_string_lossy().ends_with(".handwritten.txt")
            })
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let found = runs(scan_bytes(&bytes));
            if found.len() != 1 || found[0].verdict == Verdict::Pass {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Some(i) = text
                .lines()
                .position(|l| MARKERS.iter().any(|m| l.contains(m)))
            {
                out.push((f, i));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Any output that contains a failure, error or crash marker of a real failing run — cut
    /// anywhere after that marker (a run still going, a killed runner, a truncated log), with
    /// summary-like lines appended — never yields a pass.
    #[test]
    fn output_with_a_failure_marker_never_passes(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(0..QUOTES.len(), 0..3),
    ) {
        let all = failing_captures();
        prop_assert!(all.len() >= 150, "failing captures: {}", all.len());
        let (path, marker) = &all[pick.index(all.len())];
        let bytes = std::fs::read(path).unwrap();
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let end = marker + 1 + cut.index(lines.len() - marker);
        let mut text = lines[..end.min(lines.len())].join(&b'\n');
        for q in tail {
            text.push(b'\n');
            text.extend_from_slice(QUOTES[q].as_bytes());
        }
        for finding in scan_bytes(&text) {
            let Finding::TestRun { line, run } = finding else { continue };
            check_invariants(&run);
            // A run that begins in the appended lines is those lines' own run (e.g. `ok pkg`
            // after a finished `go test`): only the runs of the real capture are judged here.
            if line as usize <= end {
                prop_assert_ne!(run.verdict, Verdict::Pass, "{} cut at line {}: {:?}", path.display(), end, run);
            }
        }
    }
}
