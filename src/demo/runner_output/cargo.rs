//! `cargo test` output (cargo 1.95, edition 2024): unit tests with libtest's failure sections,
//! then — only when they pass — integration tests and merged doc-tests, as cargo stops at the
//! first failing target.

use fastrand::Rng;

use super::{Failure, Reason, Suite, TestRun, hex, secs};

pub(super) fn render(suite: &Suite, failures: &[Failure], rng: &mut Rng) -> TestRun {
    let mut run = TestRun::default();
    let out = &mut run.lines;
    let krate = "engine";
    out.push(format!("   Compiling {krate} v0.3.0 (/workspace/{krate})"));
    out.push(format!(
        "    Finished `test` profile [unoptimized + debuginfo] target(s) in {}.{:02}s",
        rng.u32(1..9),
        rng.u32(0..100)
    ));
    out.push(format!(
        "     Running unittests src/lib.rs (target/debug/deps/{krate}-{})",
        hex(rng, 16)
    ));
    out.push(String::new());
    let n = suite.tests.len();
    out.push(format!("running {n} test{}", if n == 1 { "" } else { "s" }));
    // libtest prints in completion order, which varies run to run.
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    for i in order {
        let status = if suite.skipped.contains(&i) {
            "ignored"
        } else if failures.iter().any(|f| f.test == i) {
            "FAILED"
        } else {
            "ok"
        };
        out.push(format!("test {} ... {status}", suite.tests[i]));
    }
    out.push(String::new());
    let failed = failures.len();
    let skipped = suite.skipped.len();
    let passed = n - failed - skipped;
    if !failures.is_empty() {
        out.push("failures:".into());
        out.push(String::new());
        let mut tid = rng.u32(7000..30000);
        for (k, f) in failures.iter().enumerate() {
            let name = &suite.tests[f.test];
            out.push(format!("---- {name} stdout ----"));
            out.push(String::new());
            tid += 1;
            out.push(format!(
                "thread '{name}' ({tid}) panicked at src/{}.rs:{}:{}:",
                suite.module,
                f.line,
                rng.u32(5..30)
            ));
            match &f.reason {
                Reason::NotEqual { left, right } => {
                    out.push("assertion `left == right` failed".into());
                    out.push(format!("  left: {left}"));
                    out.push(format!(" right: {right}"));
                }
                Reason::Message(m) => out.push(m.clone()),
            }
            // The panic hook prints this note once per process, after the first panic.
            if k == 0 {
                out.push(
                    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"
                        .into(),
                );
            }
            out.push(String::new());
        }
        out.push(String::new());
        out.push("failures:".into());
        for f in failures {
            out.push(format!("    {}", suite.tests[f.test]));
        }
        out.push(String::new());
        out.push(format!(
            "test result: FAILED. {passed} passed; {failed} failed; {skipped} ignored; 0 measured; 0 filtered out; finished in {}",
            secs(rng, 0..2)
        ));
        out.push(String::new());
        out.push("error: test failed, to rerun pass `--lib`".into());
        run.passed = passed;
        run.failed = failed;
        run.skipped = skipped;
        return run;
    }
    out.push(format!(
        "test result: ok. {passed} passed; 0 failed; {skipped} ignored; 0 measured; 0 filtered out; finished in {}",
        secs(rng, 0..2)
    ));
    out.push(String::new());
    let it = &suite.integration;
    out.push(format!(
        "     Running tests/{}.rs (target/debug/deps/{}-{})",
        suite.module,
        suite.module,
        hex(rng, 16)
    ));
    out.push(String::new());
    out.push(format!(
        "running {} test{}",
        it.len(),
        if it.len() == 1 { "" } else { "s" }
    ));
    for t in it {
        out.push(format!("test {t} ... ok"));
    }
    out.push(String::new());
    out.push(format!(
        "test result: ok. {} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {}",
        it.len(),
        secs(rng, 0..1)
    ));
    out.push(String::new());
    out.push(format!("   Doc-tests {krate}"));
    out.push(String::new());
    let d = suite.doc_tests;
    out.push(format!("running {d} test{}", if d == 1 { "" } else { "s" }));
    for k in 0..d {
        out.push(format!(
            "test src/{}.rs - {}::parse (line {}) ... ok",
            suite.module,
            suite.module,
            40 + 17 * k
        ));
    }
    out.push(String::new());
    out.push(format!(
        "test result: ok. {d} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {}",
        secs(rng, 0..1)
    ));
    out.push(String::new());
    if d > 0 {
        // Edition 2024 merges doctests into one binary and reports that separately.
        out.push(format!(
            "all doctests ran in {}; merged doctests compilation took {}",
            secs(rng, 0..1),
            secs(rng, 0..2)
        ));
    }
    run.passed = passed + it.len() + d;
    run.skipped = skipped;
    run
}
