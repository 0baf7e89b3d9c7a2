//! Behaviour of the streaming detector that the fixtures alone do not pin down: when runs are
//! emitted, what cuts them off, sampled runs, quoted summaries, caps.

use drover_signals::{
    ABANDON_LINES, MAX_FAILURES, RunEnd, Runner, SAMPLE_WINDOW_LINES, SETTLE_LINES,
    TestRunDetector, Verdict,
};

fn feed_all(d: &mut TestRunDetector, text: &str) -> Vec<drover_signals::TestRun> {
    let mut out = Vec::new();
    for line in text.lines() {
        out.extend(d.feed_line(line.as_bytes()));
    }
    out
}

const CARGO_BLOCK: &str = "running 2 tests\n\
test a ... ok\n\
test b ... ok\n\
\n\
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";

#[test]
fn a_settling_run_waits_for_more_blocks_then_settles() {
    let mut d = TestRunDetector::new();
    assert!(
        feed_all(&mut d, CARGO_BLOCK).is_empty(),
        "cargo may print more blocks"
    );
    // A second binary's block joins the same run.
    assert!(feed_all(&mut d, CARGO_BLOCK).is_empty());
    let mut emitted = Vec::new();
    for i in 0..SETTLE_LINES {
        emitted.extend(d.feed_line(format!("[agent] thinking {i}").as_bytes()));
    }
    assert_eq!(
        emitted.len(),
        1,
        "emitted after {SETTLE_LINES} unrelated lines"
    );
    assert_eq!(emitted[0].passed, 4);
    assert_eq!(emitted[0].verdict, Verdict::Pass);
    assert!(d.finish().is_empty());
}

#[test]
fn flush_emits_a_settling_run_but_not_a_running_one() {
    let mut d = TestRunDetector::new();
    feed_all(&mut d, CARGO_BLOCK);
    let flushed = d.flush();
    assert_eq!(flushed.len(), 1);
    assert_eq!(flushed[0].verdict, Verdict::Pass);

    feed_all(&mut d, "running 3 tests\ntest a ... ok\n");
    assert!(d.flush().is_empty(), "a run in progress is not flushed");
    let rest = d.finish();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].verdict, Verdict::Error);
    assert_eq!(rest[0].end, RunEnd::CutOff);
    assert_eq!(rest[0].passed, 1);
}

#[test]
fn another_run_starting_cuts_off_an_unfinished_one() {
    let mut d = TestRunDetector::new();
    let mut runs = feed_all(
        &mut d,
        "============================= test session starts ==============================\n\
         collected 3 items\n\
         \n\
         test_a.py ..\n\
         [agent] pytest hung, trying the Rust suite\n",
    );
    runs.extend(feed_all(&mut d, CARGO_BLOCK));
    runs.extend(d.finish());
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].runner, Runner::Pytest);
    assert_eq!(runs[0].verdict, Verdict::Error);
    assert_eq!(runs[0].passed, 2);
    assert_eq!(runs[1].runner, Runner::CargoTest);
    assert_eq!(runs[1].verdict, Verdict::Pass);
}

#[test]
fn an_abandoned_run_is_cut_off_without_waiting_for_the_end_of_the_stream() {
    let mut d = TestRunDetector::new();
    let mut runs = feed_all(&mut d, "running 3 tests\ntest a ... ok\n");
    for i in 0..ABANDON_LINES {
        runs.extend(d.feed_line(format!("[agent] step {i}").as_bytes()));
    }
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].verdict, Verdict::Error);
}

#[test]
fn summaries_quoted_inside_a_run_are_not_runs() {
    let mut d = TestRunDetector::new();
    let mut runs = feed_all(
        &mut d,
        "running 2 tests\n\
         390 passed, 0 failed\n\
         ============ 390 passed in 1.00s ============\n\
         ok  \texample.com/fake\t0.001s\n\
         test a ... ok\n\
         test b ... FAILED\n\
         \n\
         failures:\n\
         \n\
         ---- b stdout ----\n\
         test result: ok. 390 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n\
         390 passed, 0 failed\n\
         thread 'b' panicked at src/lib.rs:9:5:\n\
         totals differ\n\
         \n\
         failures:\n\
         \x20   b\n\
         \n\
         test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n",
    );
    runs.extend(d.finish());
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].verdict, Verdict::Fail);
    assert_eq!((runs[0].passed, runs[0].failed), (1, 1));
    assert_eq!(runs[0].failures[0].reason.as_deref(), Some("totals differ"));
}

#[test]
fn a_generic_summary_is_a_run_unless_quoted_or_a_preamble() {
    let mut d = TestRunDetector::new();
    let mut runs = feed_all(&mut d, "Results: 9 passed, 1 failed\n");
    runs.extend(d.finish());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].runner, Runner::Generic);
    assert_eq!(runs[0].verdict, Verdict::Fail);

    let mut d = TestRunDetector::new();
    let mut runs = feed_all(
        &mut d,
        "$ echo \"390 passed, 0 failed\"\n390 passed, 0 failed\n",
    );
    runs.extend(d.finish());
    assert!(runs.is_empty(), "an echoed quotation: {runs:?}");

    // Node prints a test file's stdout right before that file's results.
    let mut d = TestRunDetector::new();
    let mut runs = feed_all(
        &mut d,
        "390 passed, 0 failed\n✖ totals (1.8ms)\n  AssertionError: wrong\nℹ tests 1\nℹ pass 0\nℹ fail 1\nℹ duration_ms 5.1\n",
    );
    runs.extend(d.finish());
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].runner, Runner::NodeTest);
    assert_eq!(runs[0].verdict, Verdict::Fail);
}

#[test]
fn a_sample_announcement_marks_the_next_run_only() {
    let mut d = TestRunDetector::new();
    let mut runs = feed_all(
        &mut d,
        "[agent] running a 10% sample of the suite (--fast)\n",
    );
    runs.extend(feed_all(&mut d, CARGO_BLOCK));
    runs.extend(d.flush());
    runs.extend(feed_all(&mut d, CARGO_BLOCK));
    runs.extend(d.finish());
    assert_eq!(runs.len(), 2);
    assert!(runs[0].sampled);
    assert!(!runs[1].sampled, "the announcement is used once");

    // Too long before the run: not about it.
    let mut d = TestRunDetector::new();
    feed_all(&mut d, "./run_tests.sh --fast\n");
    for i in 0..=SAMPLE_WINDOW_LINES {
        d.feed_line(format!("[agent] reading file {i}").as_bytes());
    }
    feed_all(&mut d, CARGO_BLOCK);
    let runs = d.finish();
    assert_eq!(runs.len(), 1);
    assert!(!runs[0].sampled);
}

#[test]
fn failures_are_capped_and_counted() {
    let mut d = TestRunDetector::new();
    let mut text = String::from("running 5000 tests\n");
    for i in 0..5000 {
        text.push_str(&format!("test t{i} ... FAILED\n"));
    }
    text.push_str(
        "\ntest result: FAILED. 0 passed; 5000 failed; 0 ignored; 0 measured; 0 filtered out\n",
    );
    let mut runs = feed_all(&mut d, &text);
    runs.extend(d.finish());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].failed, 5000);
    assert_eq!(runs[0].failures.len(), MAX_FAILURES);
    assert_eq!(runs[0].failures_omitted, (5000 - MAX_FAILURES) as u64);
}

#[test]
fn invalid_utf8_and_huge_lines_around_a_run_do_not_disturb_it() {
    let mut d = TestRunDetector::new();
    let mut runs = Vec::new();
    runs.extend(d.feed_line(b"\xff\xfe\xfd garbage \xc3"));
    runs.extend(d.feed_line(&vec![b'x'; 10 * 1024 * 1024]));
    runs.extend(d.feed_line(b"running 1 test"));
    runs.extend(d.feed_line(b"test \xffweird\xfe ... ok"));
    let mut huge = b"\x1b[31m".to_vec();
    huge.extend(std::iter::repeat_n(b'y', 10 * 1024 * 1024));
    runs.extend(d.feed_line(&huge));
    runs.extend(d.feed_line(
        b"test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
    ));
    runs.extend(d.finish());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].verdict, Verdict::Pass);
}

#[test]
fn a_new_cargo_invocation_ends_a_killed_one() {
    let mut d = TestRunDetector::new();
    let mut runs = feed_all(
        &mut d,
        "running 2 tests\ntest quick ... ok\n[agent] hung; retrying\n    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.01s\n",
    );
    runs.extend(feed_all(&mut d, CARGO_BLOCK));
    runs.extend(d.finish());
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].verdict, Verdict::Error);
    assert_eq!(runs[1].verdict, Verdict::Pass);
}

#[test]
fn detectors_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<TestRunDetector>();
    assert_send::<drover_signals::Scanner>();
    assert_send::<drover_signals::LineNormalizer>();
}

/// `[roles.tests] parsers` narrows which runners are recognised: with only `pytest`, a cargo
/// run is not a test run; with `auto` it is.
#[test]
fn only_the_configured_parsers_run() {
    let log = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signals/cargo/fail.txt"
    ))
    .unwrap();
    let runs = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut d = drover_signals::TestRunDetector::for_runners(&names);
        let mut n = 0;
        for line in log.split(|b| *b == b'\n') {
            n += d.feed_line(line).len();
        }
        n + d.finish().len()
    };
    assert_eq!(runs(&["auto"]), 1);
    assert_eq!(runs(&["cargo"]), 1);
    assert_eq!(runs(&["pytest"]), 0);
}
