//! Test-runner output as the simulated agents print it: `cargo test` and `pytest` in their real
//! formats (captured from cargo 1.95 and pytest 9), so drover's parsers see what real agents
//! print — counts, failing test names, panic/assertion reasons and file:line.
//!
//! Invariant: what a run prints is consistent — every test appears once, the summary counts
//! equal the per-test lines, and each failure's reason appears both in its detail section and
//! (pytest) in the short summary. [`TestRun`] carries the same numbers so tests can check them.

use fastrand::Rng;

use super::team_repo::Task;

mod cargo;
mod pytest;
pub use pytest::pytest_sep;

/// Which runner a task's tests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    Cargo,
    Pytest,
}

/// The tests of one task's area, stable for a given task id.
#[derive(Clone, Debug)]
pub struct Suite {
    pub runner: Runner,
    /// Rust module or Python module under test (`tokenizer`, `pagination`).
    pub module: String,
    /// cargo: `module::tests::name`; pytest: `tests/test_<file>.py::test_name`.
    pub tests: Vec<String>,
    /// Indices into `tests` that are ignored (cargo) or skipped (pytest).
    pub skipped: Vec<usize>,
    /// cargo only: tests in `tests/<module>.rs`, run after the unit tests pass.
    pub integration: Vec<String>,
    /// cargo only: doc-tests, run last.
    pub doc_tests: usize,
}

/// Why a test failed, in the shape each runner reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `assert_eq!` / `assert x == y`.
    NotEqual { left: String, right: String },
    /// A message: a panic message (cargo) or `ExceptionType: message` (pytest).
    Message(String),
}

/// A failing test of a run: index into [`Suite::tests`] and its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub test: usize,
    pub reason: Reason,
    /// Line of the failing assertion in the test source.
    pub line: u32,
    /// pytest: the failing source line it quotes; a generic one when `None`.
    pub code: Option<String>,
}

/// What a printed run amounts to (for checks; drover itself parses the text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRun {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub lines: Vec<String>,
}

const RUST_WORDS: &[&str] = &[
    "parses_empty_input",
    "handles_unicode_idents",
    "rejects_trailing_comma",
    "roundtrips_display",
    "keeps_spans_accurate",
    "merges_adjacent_ranges",
    "sorts_by_priority",
    "limits_nesting_depth",
    "reports_line_numbers",
    "skips_comments",
    "escapes_quotes",
    "folds_constants",
    "resolves_imports",
    "detects_cycles",
    "caches_results",
    "streams_large_input",
    "respects_timeout",
    "recovers_after_error",
    "normalises_paths",
    "dedups_entries",
    "orders_output_stably",
    "accepts_crlf",
];

const PY_WORDS: &[&str] = &[
    "returns_first_page",
    "rejects_negative_cursor",
    "empty_collection",
    "next_link_points_forward",
    "respects_page_size",
    "unauthorised_request",
    "creates_record",
    "updates_timestamp",
    "deletes_cascade",
    "serialises_dates",
    "handles_unicode_names",
    "retries_on_timeout",
    "validates_email",
    "filters_by_owner",
    "sorts_descending",
    "counts_match_total",
    "caches_lookup",
    "migrates_schema",
];

const PY_FILES: &[&str] = &["api", "models", "service", "utils"];

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A stable seed for `text`: the same task or slot name always gives the same behaviour.
pub fn seed_of(text: &str) -> u64 {
    fnv(text)
}

/// The suite of `task`: runner from its `(rust)`/`(python)` tag, else from its id.
pub fn suite_for(task: &Task) -> Suite {
    let mut rng = Rng::with_seed(fnv(&task.id));
    let runner = match task.language() {
        Some("rust") => Runner::Cargo,
        Some("python") => Runner::Pytest,
        _ if rng.bool() => Runner::Cargo,
        _ => Runner::Pytest,
    };
    let module: String = task
        .id
        .split(['-', '_', '.'])
        .next()
        .filter(|m| !m.is_empty())
        .unwrap_or("core")
        .to_ascii_lowercase();
    let words = match runner {
        Runner::Cargo => RUST_WORDS,
        Runner::Pytest => PY_WORDS,
    };
    let mut pool: Vec<&str> = words.to_vec();
    rng.shuffle(&mut pool);
    let count = rng.usize(8..=pool.len().min(16));
    let tests: Vec<String> = match runner {
        Runner::Cargo => pool[..count]
            .iter()
            .map(|w| format!("{module}::tests::{w}"))
            .collect(),
        Runner::Pytest => {
            let mut t: Vec<String> = pool[..count]
                .iter()
                .map(|w| {
                    let file = if rng.u8(0..3) == 0 {
                        PY_FILES[rng.usize(..PY_FILES.len())]
                    } else {
                        module.as_str()
                    };
                    format!("tests/test_{file}.py::test_{w}")
                })
                .collect();
            // pytest runs files in order, tests in definition order within a file.
            t.sort_by(|a, b| file_of(a).cmp(file_of(b)));
            t
        }
    };
    let skipped = if rng.u8(0..3) == 0 {
        vec![rng.usize(..tests.len())]
    } else {
        Vec::new()
    };
    let (integration, doc_tests) = match runner {
        Runner::Cargo => {
            let n = rng.usize(2..=5);
            (
                pool[count..]
                    .iter()
                    .take(n)
                    .map(|w| format!("{module}_{w}"))
                    .collect(),
                rng.usize(0..=2),
            )
        }
        Runner::Pytest => (Vec::new(), 0),
    };
    Suite {
        runner,
        module,
        tests,
        skipped,
        integration,
        doc_tests,
    }
}

pub(crate) fn file_of(pytest_id: &str) -> &str {
    pytest_id.split("::").next().unwrap_or(pytest_id)
}

pub(crate) fn fn_of(pytest_id: &str) -> &str {
    pytest_id.rsplit("::").next().unwrap_or(pytest_id)
}

/// `count` failures among the suite's non-skipped tests, with realistic reasons.
pub fn pick_failures(suite: &Suite, rng: &mut Rng, count: usize) -> Vec<Failure> {
    let mut candidates: Vec<usize> = (0..suite.tests.len())
        .filter(|i| !suite.skipped.contains(i))
        .collect();
    rng.shuffle(&mut candidates);
    let mut picked: Vec<usize> = candidates.into_iter().take(count).collect();
    picked.sort_unstable();
    picked
        .into_iter()
        .map(|test| Failure {
            test,
            reason: reason(suite.runner, rng),
            line: rng.u32(12..240),
            code: None,
        })
        .collect()
}

fn reason(runner: Runner, rng: &mut Rng) -> Reason {
    let n = rng.u32(2..9);
    match (runner, rng.u8(0..4)) {
        (_, 0) => Reason::NotEqual {
            left: n.to_string(),
            right: (n + 1).to_string(),
        },
        (Runner::Cargo, 1) => Reason::Message(format!("expected {} tokens, got {n}", n + 1)),
        (Runner::Cargo, 2) => Reason::Message("called `Option::unwrap()` on a `None` value".into()),
        (Runner::Cargo, _) => Reason::Message(format!(
            "index out of bounds: the len is {n} but the index is {n}"
        )),
        (Runner::Pytest, 1) => Reason::Message("KeyError: 'cursor'".into()),
        (Runner::Pytest, 2) => Reason::Message("ValueError: page_size must be positive".into()),
        (Runner::Pytest, _) => {
            Reason::Message(format!("AssertionError: expected {} items, got {n}", n + 1))
        }
    }
}

/// Prints one run of `suite` with `failures` (empty = all pass) as the runner would.
pub fn render(suite: &Suite, failures: &[Failure], rng: &mut Rng) -> TestRun {
    match suite.runner {
        Runner::Cargo => cargo::render(suite, failures, rng),
        Runner::Pytest => pytest::render(suite, failures, rng),
    }
}

/// `digits` random hex digits (build hashes in paths).
fn hex(rng: &mut Rng, digits: usize) -> String {
    (0..digits)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A runner-style duration such as `1.42s`.
fn secs(rng: &mut Rng, whole: std::ops::Range<u32>) -> String {
    format!("{}.{:02}s", rng.u32(whole), rng.u32(0..100))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, lang: &str) -> Task {
        Task {
            id: id.into(),
            title: format!("something ({lang})"),
            done: false,
        }
    }

    #[test]
    fn pytest_separators_match_pytest() {
        // Captured from pytest 9.2 at 80 columns.
        assert_eq!(
            pytest_sep('=', "test session starts"),
            "============================= test session starts =============================="
        );
        assert_eq!(
            pytest_sep('_', "test_b"),
            "____________________________________ test_b ____________________________________"
        );
        assert_eq!(
            pytest_sep('=', "2 failed, 3 passed, 1 skipped in 0.04s"),
            "==================== 2 failed, 3 passed, 1 skipped in 0.04s ===================="
        );
    }

    #[test]
    fn suites_are_stable_per_task() {
        let a = suite_for(&task("tokenizer-unicode", "rust"));
        let b = suite_for(&task("tokenizer-unicode", "rust"));
        assert_eq!(a.tests, b.tests);
        assert_eq!(a.runner, Runner::Cargo);
        assert!(a.tests.iter().all(|t| t.starts_with("tokenizer::tests::")));
        assert_eq!(
            suite_for(&task("pagination-cursor", "python")).runner,
            Runner::Pytest
        );
    }

    #[test]
    fn cargo_failure_run_is_consistent() {
        let s = suite_for(&task("parser-nested", "rust"));
        let mut rng = Rng::with_seed(7);
        let f = pick_failures(&s, &mut rng, 2);
        let run = render(&s, &f, &mut rng);
        assert_eq!(run.failed, 2);
        assert_eq!(run.passed + run.failed + run.skipped, s.tests.len());
        let summary = run
            .lines
            .iter()
            .find(|l| l.starts_with("test result:"))
            .unwrap();
        assert_eq!(
            summary.split(';').next().unwrap(),
            format!("test result: FAILED. {} passed", run.passed)
        );
        let failed_lines = run
            .lines
            .iter()
            .filter(|l| l.ends_with("... FAILED"))
            .count();
        assert_eq!(failed_lines, 2);
        assert!(
            run.lines
                .iter()
                .any(|l| l.contains("panicked at src/parser.rs:"))
        );
    }

    #[test]
    fn cargo_pass_run_sums_every_block() {
        let s = suite_for(&task("lexer-spans", "rust"));
        let run = render(&s, &[], &mut Rng::with_seed(1));
        let sum: usize = run
            .lines
            .iter()
            .filter_map(|l| l.strip_prefix("test result: ok. "))
            .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(sum, run.passed);
        assert_eq!(
            run.passed,
            s.tests.len() - s.skipped.len() + s.integration.len() + s.doc_tests
        );
    }

    #[test]
    fn pytest_run_names_failures_with_reasons() {
        let s = suite_for(&task("pagination-cursor", "python"));
        let mut rng = Rng::with_seed(3);
        let f = pick_failures(&s, &mut rng, 1);
        let run = render(&s, &f, &mut rng);
        let name = &s.tests[f[0].test];
        let line = run.lines.iter().find(|l| l.starts_with("FAILED ")).unwrap();
        assert!(line.starts_with(&format!("FAILED {name} - ")), "{line}");
        let last = run.lines.last().unwrap();
        assert!(
            last.contains(&format!("1 failed, {} passed", run.passed)),
            "{last}"
        );
        assert_eq!(last.chars().count(), 80);
        for l in run.lines.iter().filter(|l| l.ends_with("%]")) {
            assert_eq!(l.chars().count(), 79, "{l}");
        }
    }
}
