//! `go test`, text (plain and `-v`) and `-json`, including subtests.
//!
//! Counting: every test and subtest result go reports (`--- PASS: TestX/sub`, or a JSON event
//! with a `Test`) counts once, as gotestsum does. A package that reports `ok` without any
//! per-test line (plain `go test`) counts as one passed unit, since go does not say how many
//! tests it ran; `[no tests to run]` and `[no test files]` count nothing.
//!
//! A panic, a timeout or a package that fails without a failing test is a crash (`Error`); a
//! package whose build failed is a run that could not start. While a `-v` test is running, its
//! output is never read as structure, so a test printing `ok  \tpkg` or `PASS` changes nothing.
//! The invocation has no closing line when everything passes, so the run settles.
//! The `-json` events are read in `json.rs`.

mod json;

use json::JsonPackage;

use super::{Claim, Interrupt, LineCtx, Phase, RunParser};
use crate::run::{Emitted, MAX_REASON_BYTES, RunBuilder, RunEnd, Runner};
use crate::text::{seconds_to_ms, split_location_message};

/// Tests and packages tracked at once (logs, per-package state); beyond it, details are dropped.
const MAX_TRACKED: usize = 64;

#[derive(Default)]
pub(crate) struct GoTestParser {
    run: Option<GoRun>,
    /// First compile error (`./x_test.go:6:14: msg`) since the last `# pkg` header.
    compile_error: Option<(String, String)>,
}

struct GoRun {
    b: RunBuilder,
    /// `-v` tests started and not finished.
    open: u32,
    current_test: String,
    /// Per-test results since the last package line.
    pkg_results: u32,
    pkg_failures: u32,
    /// Output of a package has begun and its result line has not come yet.
    in_package: bool,
    packages_done: bool,
    crashed: bool,
    not_started: bool,
    /// A failure that may still get its reason from the lines after it (plain output).
    reasonless_failure: Option<usize>,
    /// First `file.go:N: message` logged by each running test.
    test_logs: Vec<(String, String, String)>,
    in_panic: bool,
    panic_failure: Option<usize>,
    json: Vec<JsonPackage>,
}

impl GoRun {
    fn new(line_no: u64) -> Self {
        GoRun {
            b: RunBuilder::new(Runner::GoTest, line_no),
            open: 0,
            current_test: String::new(),
            pkg_results: 0,
            pkg_failures: 0,
            in_package: false,
            packages_done: false,
            crashed: false,
            not_started: false,
            reasonless_failure: None,
            test_logs: Vec::new(),
            in_panic: false,
            panic_failure: None,
            json: Vec::new(),
        }
    }

    fn settled(&self) -> bool {
        self.packages_done && self.open == 0 && !self.in_package && self.json.is_empty()
    }

    fn finish(mut self) -> Emitted {
        if self.b.running.is_none() && !self.current_test.is_empty() {
            let t = std::mem::take(&mut self.current_test);
            self.b.set_running(&t);
        }
        let end = if self.not_started {
            RunEnd::NotStarted
        } else if self.crashed || !self.settled() {
            RunEnd::CutOff
        } else {
            RunEnd::Completed
        };
        self.b.finish(end)
    }

    fn take_log(&mut self, test: &str) -> Option<(String, String)> {
        let i = self.test_logs.iter().position(|(t, _, _)| t == test)?;
        let (_, loc, msg) = self.test_logs.swap_remove(i);
        Some((loc, msg))
    }

    fn remember_log(&mut self, test: &str, loc: &str, msg: &str) {
        if self.test_logs.iter().any(|(t, _, _)| t == test) || self.test_logs.len() >= MAX_TRACKED {
            return;
        }
        self.test_logs
            .push((test.to_owned(), loc.to_owned(), clip(msg).to_owned()));
    }

    fn record_result(&mut self, outcome: &str, name: &str) {
        self.pkg_results = self.pkg_results.saturating_add(1);
        if self.current_test == name {
            self.current_test.clear();
        }
        match outcome {
            "PASS" | "pass" => self.b.counts.passed += 1,
            "SKIP" | "skip" => self.b.counts.skipped += 1,
            _ => {
                if let Some(i) = self.b.failure_index(name) {
                    // go prints a failing fuzz target twice, the inner line under the outer
                    // with the same name: one test, whose log follows the inner line.
                    self.pkg_results = self.pkg_results.saturating_sub(1);
                    self.reasonless_failure = (!self.b.has_reason(i)).then_some(i);
                    return;
                }
                self.b.counts.failed += 1;
                self.pkg_failures = self.pkg_failures.saturating_add(1);
                let log = self.take_log(name);
                let idx = self.b.push_failure(
                    name,
                    log.as_ref().map(|(_, m)| m.as_str()),
                    log.as_ref()
                        .map(|(l, _)| l.as_str())
                        .filter(|l| !l.is_empty()),
                );
                self.reasonless_failure = if log.is_none() { idx } else { None };
            }
        }
        if outcome.eq_ignore_ascii_case("pass") || outcome.eq_ignore_ascii_case("skip") {
            self.take_log(name);
        }
    }

    /// `panic: msg` at column 0: the test binary crashed.
    ///
    /// A panic inside a test is that test's failure (go reports `--- FAIL` for it and the
    /// tests before it are counted); a timeout, or a panic outside any known test, kills the
    /// binary while something runs: a crash, counted as one error.
    fn panic(&mut self, msg: &str) {
        self.in_panic = true;
        let msg = msg.trim_end_matches(" [recovered]");
        let timed_out = msg.starts_with("test timed out");
        let target = if timed_out {
            None
        } else {
            self.reasonless_failure.take()
        };
        self.panic_failure = match target {
            Some(i) => {
                self.b.set_reason_if_none(i, &format!("panic: {msg}"));
                Some(i)
            }
            None => {
                let crash = timed_out || self.current_test.is_empty();
                let name = if self.current_test.is_empty() {
                    "panic".to_owned()
                } else {
                    self.current_test.clone()
                };
                if crash {
                    self.crashed = true;
                    self.b.crash_recorded = true;
                    self.b.counts.errors += 1;
                } else {
                    self.b.counts.failed += 1;
                }
                self.pkg_failures = self.pkg_failures.saturating_add(1);
                let reason = if timed_out {
                    msg.to_owned()
                } else {
                    format!("panic: {msg}")
                };
                self.b.push_failure(&name, Some(&reason), None)
            }
        };
    }

    /// A package result line or event. `detail` is what follows the package name.
    fn package_done(
        &mut self,
        ok: bool,
        name: &str,
        detail: &str,
        compile: Option<&(String, String)>,
    ) {
        let detail = detail.trim();
        if let Some(ms) = detail
            .split_whitespace()
            .next()
            .and_then(|d| d.strip_suffix('s'))
            .and_then(seconds_to_ms)
        {
            self.b.add_duration_ms(ms);
        }
        if ok {
            if self.pkg_results == 0 && !detail.contains("[no tests to run]") {
                self.b.counts.passed += 1;
            }
        } else if detail.contains("[build failed]") || detail.contains("[setup failed]") {
            self.not_started = true;
            self.b.counts.errors += 1;
            self.b.push_failure(
                name,
                compile.map(|(_, m)| m.as_str()).or(Some("build failed")),
                compile.map(|(l, _)| l.as_str()),
            );
        } else if self.pkg_failures == 0 {
            // Failed without a failing test: os.Exit or a kill inside a test, a crash in
            // TestMain or init. The test that was running (or the package) is one error.
            self.crashed = true;
            if self.current_test.is_empty() {
                self.b.set_running(name);
            } else {
                let t = self.current_test.clone();
                self.b.set_running(&t);
            }
        }
        self.open = 0;
        self.pkg_results = 0;
        self.pkg_failures = 0;
        self.in_package = false;
        self.packages_done = true;
        self.current_test.clear();
        self.in_panic = false;
        self.reasonless_failure = None;
    }
}

fn clip(s: &str) -> &str {
    let mut end = s.len().min(MAX_REASON_BYTES);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// `=== RUN   TestX` → ("RUN", "TestX").
fn marker(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("=== ")?;
    let (kind, name) = rest.split_once(' ')?;
    matches!(kind, "RUN" | "CONT" | "NAME" | "PAUSE").then(|| (kind, name.trim()))
}

/// `    --- FAIL: TestX/sub (0.00s)` → ("FAIL", "TestX/sub").
fn result(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix("--- ")?;
    let (outcome, rest) = rest.split_once(": ")?;
    if !matches!(outcome, "PASS" | "FAIL" | "SKIP") {
        return None;
    }
    let name = rest.split(" (").next()?.trim();
    (!name.is_empty() && !name.contains(' ')).then_some((outcome, name))
}

/// `ok  \tpkg\t0.004s` → (ok?, pkg, detail). Go pads the status and separates with tabs; a
/// pasted or script-indented copy has the tabs turned into spaces
/// (`        ok      github.com/x/y   0.009s  coverage: …`).
fn package_line(line: &str) -> Option<(bool, &str, &str)> {
    let Some((status, rest)) = line.split_once('\t') else {
        return spaced_package_line(line.trim_start());
    };
    let ok = match status.trim_end() {
        "ok" => true,
        "FAIL" | "?" => false,
        _ => return None,
    };
    let (pkg, detail) = match rest.split_once('\t') {
        Some((p, d)) => (p, d),
        None => rest.split_once(' ').unwrap_or((rest, "")),
    };
    if pkg.is_empty() || pkg.contains(' ') {
        return None;
    }
    // `?` means no test files: neither passed nor failed.
    if status.trim_end() == "?" {
        return Some((true, pkg, "[no tests to run]"));
    }
    Some((ok, pkg, detail))
}

/// `ok      github.com/x/y   0.009s  coverage: 92.3% of statements` (tabs lost): only with a
/// package path and a duration (or `(cached)`) after it, so prose starting `ok ` is not one.
fn spaced_package_line(t: &str) -> Option<(bool, &str, &str)> {
    let (status, rest) = t.split_once(' ')?;
    let ok = match status {
        "ok" => true,
        "FAIL" => false,
        _ => return None,
    };
    let rest = rest.trim_start();
    let (pkg, detail) = rest.split_once(' ')?;
    let detail = detail.trim_start();
    let first = detail.split_whitespace().next()?;
    let timed = first == "(cached)"
        || (first.ends_with('s') && first.bytes().next().is_some_and(|b| b.is_ascii_digit()));
    (timed && (pkg.contains('/') || pkg.contains('.')) && !pkg.ends_with(','))
        .then_some((ok, pkg, detail))
}

/// A `t.Log`/`t.Error` line: `    x_test.go:18: message`.
fn test_log(line: &str) -> Option<(&str, &str)> {
    if !line.starts_with(' ') && !line.starts_with('\t') {
        return None;
    }
    let (loc, msg) = split_location_message(line)?;
    loc.contains(".go:").then_some((loc, msg))
}

/// A stack frame in a test file: `\t/path/crash_test.go:9 +0x2e` → `/path/crash_test.go:9`.
fn test_frame(line: &str) -> Option<&str> {
    let frame = line.strip_prefix('\t')?;
    let path = frame.split(" +0x").next().unwrap_or(frame);
    path.contains("_test.go:").then_some(path)
}

/// A goroutine frame calling a test function: `example.com/pkg.TestHang(0xc000007860?)` →
/// `TestHang`.
fn test_function_frame(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t']) {
        return None;
    }
    let (call, _) = line.split_once('(')?;
    let (_, func) = call.rsplit_once('.')?;
    (func.starts_with("Test") && func.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(func)
}

/// A compiler error line: `./broken_test.go:6:14: cannot use …`.
fn compile_error_line(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(' ') {
        return None;
    }
    let (loc, msg) = split_location_message(line)?;
    loc.contains(".go:").then_some((loc, msg))
}

impl RunParser for GoTestParser {
    fn phase(&self) -> Phase {
        match &self.run {
            None => Phase::Idle,
            Some(r) if r.settled() => Phase::Settling,
            Some(_) => Phase::Running,
        }
    }

    fn interrupt(&mut self, _why: Interrupt, out: &mut Vec<Emitted>) {
        if let Some(run) = self.run.take() {
            out.push(run.finish());
        }
    }

    fn feed(&mut self, line: &str, ctx: &LineCtx, out: &mut Vec<Emitted>) -> Claim {
        if line.starts_with("{\"") && line.contains("\"Action\":") {
            return self.feed_json(line, ctx);
        }
        if line.starts_with("# ") {
            self.compile_error = None;
        } else if let Some((loc, msg)) = compile_error_line(line)
            && self.compile_error.is_none()
        {
            self.compile_error = Some((loc.to_owned(), clip(msg).to_owned()));
        }

        // `=== RUN   TestX --- FAIL: TestX (0.00s)     x_test.go:8: msg`: go test -v's lines
        // joined into one (an issue body that lost its newlines): read as the lines they were.
        if line.starts_with("=== ")
            && let Some((head, tail)) = line.split_once(" --- ")
        {
            let tail = format!("--- {tail}");
            let (result_part, log_part) = match tail.split_once("    ") {
                Some((r, l)) if l.contains("_test.go:") => (r.trim_end(), Some(l.trim_start())),
                _ => (tail.as_str(), None),
            };
            self.feed(head, ctx, out);
            self.feed(result_part, ctx, out);
            if let Some(log) = log_part {
                self.feed(&format!("    {log}"), ctx, out);
            }
            return Claim::Mine;
        }
        if let Some((kind, name)) = marker(line) {
            let run = self.run.get_or_insert_with(|| GoRun::new(ctx.line_no));
            run.in_package = true;
            match kind {
                "RUN" => {
                    run.open = run.open.saturating_add(1);
                    run.current_test = name.to_owned();
                }
                "CONT" | "NAME" => run.current_test = name.to_owned(),
                _ => {}
            }
            return Claim::Mine;
        }
        if let Some((outcome, name)) = result(line) {
            let run = self.run.get_or_insert_with(|| GoRun::new(ctx.line_no));
            run.in_package = true;
            run.open = run.open.saturating_sub(1);
            if run.current_test == name {
                run.current_test.clear();
            }
            run.record_result(outcome, name);
            return Claim::Mine;
        }
        if let Some((ok, pkg, detail)) = package_line(line) {
            match self.run.as_mut() {
                // A test printing a package-like line while it runs, or after its package has
                // failed or panicked (such a package cannot end `ok`).
                Some(run) if ok && (run.open > 0 || run.in_panic || run.pkg_failures > 0) => {
                    return Claim::Weak;
                }
                Some(_) => {}
                None if ctx.foreign_run_active => return Claim::NotMine,
                None => {}
            }
            let compile = self.compile_error.take();
            let run = self.run.get_or_insert_with(|| GoRun::new(ctx.line_no));
            run.package_done(ok, pkg, detail, compile.as_ref());
            return Claim::Mine;
        }

        if self.run.is_none() && line.starts_with("panic: test timed out after ") {
            // Plain `go test` prints nothing before a test binary's timeout: the panic is
            // where its run begins.
            self.run = Some(GoRun::new(ctx.line_no));
        }
        let Some(run) = self.run.as_mut() else {
            return Claim::NotMine;
        };
        if line == "FAIL" {
            if run.settled()
                && let Some(run) = self.run.take()
            {
                out.push(run.finish());
            }
            return Claim::Mine;
        }
        if line == "PASS" || line == "testing: warning: no tests to run" {
            return if run.open > 0 {
                Claim::Weak
            } else {
                Claim::Mine
            };
        }
        if let Some(msg) = line.strip_prefix("panic: ") {
            run.in_package = true;
            run.panic(msg);
            return Claim::Mine;
        }
        if run.in_panic {
            // Stack frames: `\t/path/x_test.go:9 +0x2e`; the first in a test file is where the
            // test crashed.
            if let Some(i) = run.panic_failure
                && let Some(path) = test_frame(line)
            {
                run.b.set_location_if_none(i, path);
            }
            // Plain output never named the test a timeout killed; its goroutine does
            // (`example.com/pkg.TestHang(0xc000007860?)`).
            if let Some(i) = run.panic_failure
                && let Some(test) = test_function_frame(line)
                && let Some(f) = run.b.failures.get_mut(i)
                && f.name == "panic"
            {
                f.name = test.to_owned();
            }
            return Claim::Weak;
        }
        if let Some((loc, msg)) = test_log(line) {
            if !run.current_test.is_empty() {
                let test = run.current_test.clone();
                run.remember_log(&test, loc, msg);
            } else if let Some(i) = run.reasonless_failure {
                run.b.set_reason_if_none(i, msg);
                run.b.set_location_if_none(i, loc);
                run.reasonless_failure = None;
            }
            return Claim::Weak;
        }
        if run.open > 0 || (run.in_package && !run.settled()) {
            return Claim::Weak;
        }
        Claim::NotMine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_in_plain_output_names_the_test_from_its_goroutine() {
        assert_eq!(
            test_function_frame("example.com/shop/slow.TestHang(0xc000007860?)"),
            Some("TestHang")
        );
        assert_eq!(
            test_function_frame("testing.tRunner(0xc000007ba0, 0x52f2f0)"),
            None
        );
        assert_eq!(test_function_frame("\texample.com/x.TestA(0x1)"), None);
    }

    #[test]
    fn lines() {
        assert_eq!(
            marker("=== RUN   TestMul/small"),
            Some(("RUN", "TestMul/small"))
        );
        assert_eq!(
            result("    --- FAIL: TestTable/len2 (0.00s)"),
            Some(("FAIL", "TestTable/len2"))
        );
        assert_eq!(
            package_line("ok  \texample.com/shop/calc\t0.004s"),
            Some((true, "example.com/shop/calc", "0.004s"))
        );
        assert_eq!(
            package_line("FAIL\texample.com/broken [build failed]"),
            Some((false, "example.com/broken", "[build failed]"))
        );
        assert_eq!(package_line("ok great, moving on"), None);
        assert_eq!(
            test_log("    strutil_test.go:18: Reverse(abc) = \"abc\""),
            Some(("strutil_test.go:18", "Reverse(abc) = \"abc\""))
        );
    }
}
