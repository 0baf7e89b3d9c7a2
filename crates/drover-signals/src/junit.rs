//! JUnit XML reports (`<testsuites>`/`<testsuite>`/`<testcase>`), as written by cargo-nextest,
//! pytest `--junitxml`, go-junit-report, jest-junit, vitest, `bun test --reporter=junit`,
//! `deno test --junit-path`,
//! node's `--test-reporter=junit` and many CI tools. Pure: the input is the file's bytes.
//!
//! node's report is recognised by its bare `<testsuites>` and its closing `<!-- tests N -->`
//! comments, which are its own tallies and decide its counts; its top-level test cases sit
//! outside any `<testsuite>`.
//!
//! Counts come from the `<testcase>` elements (`<failure>` → failed, `<error>` → errors,
//! `<skipped>` → skipped, otherwise passed; nextest's `<flakyFailure>`/`<rerunFailure>` do not
//! fail a test). Only when a report has no test cases are the suites' `tests`/`failures`/
//! `errors`/`skipped` attributes used. Memory is bounded: failure texts are capped while read.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::run::{Counts, MAX_REASON_BYTES, RunBuilder, RunEnd, Runner, TestRun};
use super::text::{has_line_suffix, seconds_to_ms};

/// Why a byte string is not a usable JUnit report.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JunitError {
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("no <testsuite> or <testsuites> element: not a JUnit report")]
    NotJunit,
    /// The document ends before its root is closed: the runner may still be writing it.
    #[error("unfinished report: <{element}> is not closed")]
    Unfinished { element: String },
    /// The suites' `tests`/`failures`/`errors`/`skipped` attributes disagree with the test
    /// cases found: the report cannot be trusted, let alone judged a pass.
    #[error(
        "inconsistent report: the header says {header_tests} tests ({header_bad} failing), the cases say {case_tests} ({case_bad} failing)"
    )]
    Inconsistent {
        header_tests: u64,
        header_bad: u64,
        case_tests: u64,
        case_bad: u64,
    },
}

/// What a failing `<testcase>` said, gathered while its children are read.
#[derive(Default)]
struct CaseState {
    name: String,
    location: Option<String>,
    outcome: CaseOutcome,
    message: Option<String>,
    text: String,
    in_problem: bool,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum CaseOutcome {
    #[default]
    Passed,
    Failed,
    Error,
    Skipped,
}

/// Parses a JUnit XML report into one run.
pub fn parse_junit(xml: &[u8]) -> Result<TestRun, JunitError> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut runner = Runner::Junit;
    let mut b = RunBuilder::new(Runner::Junit, 1);
    let mut seen_suite = false;
    let mut cases = 0u64;
    let mut attr_counts = Counts::default();
    let mut root_time: Option<u64> = None;
    let mut suite_time_sum: Option<u64> = None;
    let mut case: Option<CaseState> = None;
    // Open suite elements: a document read to its end with one still open was cut off.
    let mut open_suites: Vec<&'static str> = Vec::new();
    let mut nested_suites = false;
    let mut header_complete = true;
    // Every suite states both `failures` and `errors`: failing cases can be cross-checked.
    let mut header_bad_known = true;
    let mut not_started = false;
    // node's `--test-reporter=junit`: a bare `<testsuites>`, `classname="test"`, top-level
    // test cases outside any `<testsuite>`, and its totals as `<!-- tests 8 -->` comments.
    let mut bare_root = false;
    let mut suite_names: Vec<String> = Vec::new();
    let mut node_totals = NodeTotals::default();

    loop {
        let event = reader.read_event().map_err(|e| JunitError::Malformed {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().as_ref() {
                    "testsuites" => {
                        seen_suite = true;
                        if !empty {
                            open_suites.push("testsuites");
                        }
                        match attr(e, "name").as_deref() {
                            Some("nextest-run") => runner = Runner::CargoNextest,
                            Some("vitest tests") => runner = Runner::Vitest,
                            Some("jest tests") => runner = Runner::Jest,
                            Some("bun test") => runner = Runner::Bun,
                            Some("deno test") => runner = Runner::Deno,
                            _ => {}
                        }
                        root_time = attr(e, "time").and_then(|t| seconds_to_ms(&t));
                        bare_root = e.attributes().next().is_none();
                    }
                    "testsuite" => {
                        seen_suite = true;
                        nested_suites |= open_suites.contains(&"testsuite");
                        if !empty {
                            open_suites.push("testsuite");
                            suite_names.push(attr(e, "name").unwrap_or_default());
                        }
                        header_complete &= attr(e, "tests").is_some();
                        header_bad_known &=
                            attr(e, "failures").is_some() && attr(e, "errors").is_some();
                        if attr(e, "name").as_deref() == Some("pytest") {
                            runner = Runner::Pytest;
                        }
                        if let Some(ms) = attr(e, "time").and_then(|t| seconds_to_ms(&t)) {
                            suite_time_sum = Some(suite_time_sum.unwrap_or(0).saturating_add(ms));
                        }
                        let n = |k: &str| attr(e, k).and_then(|v| v.trim().parse::<u64>().ok());
                        let tests = n("tests").unwrap_or(0);
                        let failures = n("failures").unwrap_or(0);
                        let errors = n("errors").unwrap_or(0);
                        let skipped = n("skipped").or_else(|| n("disabled")).unwrap_or(0);
                        attr_counts.add(Counts {
                            passed: tests
                                .saturating_sub(failures)
                                .saturating_sub(errors)
                                .saturating_sub(skipped),
                            failed: failures,
                            skipped,
                            errors,
                        });
                    }
                    "testcase" => {
                        cases += 1;
                        let node_case = bare_root
                            && attr(e, "classname").as_deref() == Some("test")
                            && attr(e, "name").is_some();
                        let name = if node_case {
                            // node names a nested test by its suites, as its console does.
                            let mut parts: Vec<&str> = suite_names
                                .iter()
                                .map(String::as_str)
                                .filter(|n| !n.is_empty())
                                .collect();
                            let own = attr(e, "name").unwrap_or_default();
                            parts.push(&own);
                            parts.join(" > ")
                        } else {
                            case_name(e, runner)
                        };
                        let mut state = CaseState {
                            name,
                            location: case_location(e),
                            ..CaseState::default()
                        };
                        // `status="disabled"` (JUnit 5, Surefire): never ran.
                        if attr(e, "status").is_some_and(|s| s.eq_ignore_ascii_case("disabled")) {
                            state.outcome = CaseOutcome::Skipped;
                        }
                        if empty {
                            finish_case(&mut b, &mut state);
                        } else {
                            case = Some(state);
                        }
                    }
                    tag @ ("failure" | "error" | "skipped") => {
                        if let Some(c) = case.as_mut() {
                            let outcome = match tag {
                                "failure" => CaseOutcome::Failed,
                                "error" => CaseOutcome::Error,
                                _ => CaseOutcome::Skipped,
                            };
                            // A failure or error outranks a skip.
                            if c.outcome == CaseOutcome::Passed || outcome != CaseOutcome::Skipped {
                                c.outcome = outcome;
                            }
                            if outcome == CaseOutcome::Error
                                && attr(e, "message").is_some_and(|m| could_not_start(&m))
                            {
                                not_started = true;
                            }
                            if outcome != CaseOutcome::Skipped {
                                c.message = c.message.take().or_else(|| {
                                    attr(e, "message")
                                        .map(|m| clip(m.trim()).to_owned())
                                        .filter(|m| !m.is_empty())
                                });
                                c.in_problem = !empty;
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                "testsuite" | "testsuites" => {
                    // A closing `</testsuite>` ends the innermost suite's name too.
                    let closed = open_suites.pop();
                    suite_names.truncate(
                        suite_names
                            .len()
                            .saturating_sub(usize::from(closed == Some("testsuite"))),
                    );
                }
                "testcase" => {
                    if let Some(mut c) = case.take() {
                        finish_case(&mut b, &mut c);
                    }
                }
                "failure" | "error" => {
                    if let Some(c) = case.as_mut() {
                        c.in_problem = false;
                    }
                }
                _ => {}
            },
            Event::Text(ref t) => {
                if let Some(c) = case.as_mut().filter(|c| c.in_problem) {
                    push_capped(&mut c.text, &t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::CData(ref t) => {
                if let Some(c) = case.as_mut().filter(|c| c.in_problem) {
                    push_capped(&mut c.text, t.as_ref());
                }
            }
            Event::GeneralRef(ref r) => {
                if let Some(c) = case.as_mut().filter(|c| c.in_problem) {
                    let resolved: Cow<'_, str> = match r.resolve_char_ref() {
                        Ok(Some(ch)) => Cow::Owned(ch.to_string()),
                        _ => Cow::Borrowed(
                            quick_xml::escape::resolve_predefined_entity(r).unwrap_or(""),
                        ),
                    };
                    push_capped(&mut c.text, &resolved);
                }
            }
            Event::Comment(ref t) if bare_root && case.is_none() => {
                node_totals.absorb(t.as_ref());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_suite {
        return Err(JunitError::NotJunit);
    }
    if let Some(element) = open_suites.last() {
        return Err(JunitError::Unfinished {
            element: (*element).to_owned(),
        });
    }
    if let Some(totals) = node_totals.counts() {
        // node's own tallies decide; its suites' headers count only their own cases.
        runner = Runner::NodeTest;
        b.counts = totals;
    } else if cases == 0 {
        b.counts = attr_counts;
    } else if header_complete && !nested_suites {
        let c = b.counts;
        let header_tests = attr_counts.ran() + attr_counts.skipped;
        let header_bad = attr_counts.failed + attr_counts.errors;
        let case_tests = c.ran() + c.skipped;
        let case_bad = c.failed + c.errors;
        if header_tests != case_tests || (header_bad_known && header_bad != case_bad) {
            return Err(JunitError::Inconsistent {
                header_tests,
                header_bad,
                case_tests,
                case_bad,
            });
        }
    }
    b.runner = runner;
    b.duration_ms = root_time.or(suite_time_sum);
    let end = if not_started {
        RunEnd::NotStarted
    } else {
        RunEnd::Completed
    };
    Ok(b.finish(end).run)
}

/// node's closing comments (`<!-- tests 8 -->`, `pass`, `fail`, `cancelled`, `skipped`,
/// `todo`, `suites`, `duration_ms`).
#[derive(Default)]
struct NodeTotals {
    tests: Option<u64>,
    pass: u64,
    fail: u64,
    cancelled: u64,
    skipped: u64,
    todo: u64,
    /// `suites` and `duration_ms` are node's alone: without them the comments are not its.
    node_keys: bool,
}

impl NodeTotals {
    fn absorb(&mut self, comment: &str) {
        let Some((key, value)) = comment.trim().split_once(' ') else {
            return;
        };
        let value = value.trim();
        if matches!(key, "suites" | "duration_ms") {
            self.node_keys = true;
            return;
        }
        let Ok(n) = value.parse::<u64>() else {
            return;
        };
        match key {
            "tests" => self.tests = Some(n),
            "pass" => self.pass = n,
            "fail" => self.fail = n,
            "cancelled" => self.cancelled = n,
            "skipped" => self.skipped = n,
            "todo" => self.todo = n,
            _ => {}
        }
    }

    fn counts(&self) -> Option<Counts> {
        self.tests.filter(|_| self.node_keys)?;
        Some(Counts {
            passed: self.pass,
            failed: self.fail,
            skipped: self.skipped.saturating_add(self.todo),
            errors: self.cancelled,
        })
    }
}

/// An `<error>` message that means the suite never ran (a collection or syntax error), the
/// same as the runner's text output says.
fn could_not_start(message: &str) -> bool {
    message.contains("collection failure")
        || message.contains("Test suite failed to run")
        || message.starts_with("SyntaxError")
}

pub(crate) fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(Cow::into_owned)
        })
}

/// nextest writes `classname="ledger" name="tests::adds"` and prints `ledger tests::adds`;
/// elsewhere the JUnit convention is `classname.name`, except where the class merely repeats
/// the name (`ctest --output-junit` writes `classname="t" name="t"`).
fn case_name(e: &BytesStart<'_>, runner: Runner) -> String {
    let name = attr(e, "name").unwrap_or_default();
    match attr(e, "classname").filter(|c| !c.is_empty() && *c != name) {
        Some(class) if runner == Runner::CargoNextest => format!("{class} {name}"),
        // bun writes the describe path innermost first (`inner > outer`); its console, and
        // drover, name a test outermost first.
        Some(class) if runner == Runner::Bun => {
            let mut parts: Vec<&str> = class.split(" > ").collect();
            parts.reverse();
            parts.push(&name);
            parts.join(" > ")
        }
        // deno's classname is the test's file (`./a_test.ts`); its console names a test alone.
        Some(_) if runner == Runner::Deno => name,
        Some(class) => format!("{class}.{name}"),
        None => name,
    }
}

fn case_location(e: &BytesStart<'_>) -> Option<String> {
    let file = attr(e, "file")?;
    Some(match attr(e, "line") {
        Some(line) => format!("{file}:{line}"),
        None => file,
    })
}

fn finish_case(b: &mut RunBuilder, c: &mut CaseState) {
    match c.outcome {
        CaseOutcome::Passed => b.counts.passed += 1,
        CaseOutcome::Skipped => b.counts.skipped += 1,
        CaseOutcome::Failed | CaseOutcome::Error => {
            if c.outcome == CaseOutcome::Failed {
                b.counts.failed += 1;
            } else {
                b.counts.errors += 1;
            }
            let reason = reason_from(c);
            let location = c.location.clone().or_else(|| location_from_text(&c.text));
            b.push_failure(&c.name, reason.as_deref(), location.as_deref());
        }
    }
}

/// The message attribute, or the text's first meaningful lines, preferring the line after a
/// Rust panic header (the assertion message).
fn reason_from(c: &CaseState) -> Option<String> {
    let mut lines = c.text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut text_reason = None;
    if let Some(first) = lines.next() {
        if first.starts_with("thread '") && first.contains(" panicked at ") {
            let msg: Vec<&str> = lines
                .take_while(|l| !l.starts_with("stack backtrace:") && !l.starts_with("note: "))
                .take(4)
                .collect();
            if !msg.is_empty() {
                text_reason = Some(msg.join("\n"));
            }
        } else if first.replace("::", ".") == c.name {
            // PHPUnit's `--log-junit` opens the text with the test's own `Class::method`.
            text_reason = lines.next().map(str::to_owned);
        } else {
            text_reason = Some(first.to_owned());
        }
    }
    match (&c.message, text_reason) {
        (Some(m), Some(t)) if m.contains(" panicked at ") => Some(t),
        (Some(m), _) => Some(m.clone()),
        (None, t) => t,
    }
}

/// `panicked at src/lib.rs:15:9:` or a `path.py:14: AssertionError` line in the failure text.
fn location_from_text(text: &str) -> Option<String> {
    for line in text.lines() {
        let t = line.trim();
        if let Some((_, after)) = t.split_once(" panicked at ") {
            let loc = after.trim_end_matches(':');
            if has_line_suffix(loc) {
                return Some(loc.to_owned());
            }
        }
        if let Some((loc, _)) = t.split_once(": ")
            && !loc.contains(' ')
            && loc.contains('.')
            && has_line_suffix(loc)
        {
            return Some(loc.to_owned());
        }
    }
    None
}

pub(crate) fn push_capped(buf: &mut String, s: &str) {
    // Keep a little more than a reason's worth: the reason is picked from the first lines.
    let cap = MAX_REASON_BYTES * 4;
    if buf.len() >= cap {
        return;
    }
    let room = cap - buf.len();
    let mut end = s.len().min(room);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    buf.push_str(s.get(..end).unwrap_or(""));
}

pub(crate) fn clip(s: &str) -> &str {
    let mut end = s.len().min(MAX_REASON_BYTES);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Verdict;

    /// The shape of `bun test --reporter=junit` (bun's own snapshot, its `<dir>` placeholder
    /// left out): nested describe suites, classname innermost first.
    #[test]
    fn bun_reports_name_tests_outermost_first() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="bun test" tests="3" assertions="2" failures="1" skipped="1">
  <testsuite name="a.test.js" file="a.test.js" tests="3" failures="1" skipped="1">
    <testsuite name="outer" file="a.test.js" line="4" tests="3" failures="1" skipped="1">
      <testsuite name="inner" file="a.test.js" line="8" tests="1" failures="1" skipped="0">
        <testcase name="divides" classname="inner &gt; outer" file="a.test.js" line="9">
          <failure type="Error" message="expect(received).toBe(expected)">error: expect(received).toBe(expected)</failure>
        </testcase>
      </testsuite>
      <testcase name="adds" classname="outer" file="a.test.js" line="26" />
      <testcase name="later" classname="outer" file="a.test.js" line="38"><skipped message="TODO" /></testcase>
    </testsuite>
  </testsuite>
</testsuites>"#;
        let run = parse_junit(xml.as_bytes()).unwrap();
        assert_eq!(run.runner, Runner::Bun);
        assert_eq!((run.passed, run.failed, run.skipped), (1, 1, 1));
        assert_eq!(run.failures[0].name, "outer > inner > divides");
        assert_eq!(run.failures[0].location.as_deref(), Some("a.test.js:9"));
    }

    /// The shape `deno test --junit-path` writes (root `name="deno test"`, one suite per file,
    /// the file as classname, steps as `step[…]` properties of their test).
    #[test]
    fn deno_reports_are_deno_and_name_tests_alone() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="2" failures="1" errors="0" time="0.012">
    <testsuite name="./math_test.ts" tests="2" disabled="0" errors="0" failures="1">
        <testcase name="adds" classname="./math_test.ts" time="0.002" line="3" col="6">
            <properties>
                <property name="step[passed]" value="small numbers"/>
            </properties>
        </testcase>
        <testcase name="divides" classname="./math_test.ts" time="0.004" line="9" col="6">
            <failure message="Uncaught AssertionError: Values are not equal">AssertionError: Values are not equal</failure>
        </testcase>
    </testsuite>
</testsuites>"#;
        let run = parse_junit(xml.as_bytes()).unwrap();
        assert_eq!(run.runner, Runner::Deno);
        assert_eq!((run.passed, run.failed, run.skipped), (1, 1, 0));
        assert_eq!(run.failures[0].name, "divides");
        assert!(
            run.failures[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("Values are not equal"))
        );
    }

    #[test]
    fn counts_cases_and_keeps_reasons() {
        let xml = br#"<?xml version="1.0"?>
<testsuites>
  <testsuite name="test_shop" tests="4">
    <testcase classname="test_shop" name="test_ok" time="0.1"/>
    <testcase classname="test_shop" name="test_bad" file="test_shop.py" line="14">
      <failure message="AssertionError: 16 != 15">test_shop.py:14: AssertionError</failure>
    </testcase>
    <testcase classname="test_shop" name="test_err"><error message="boom &amp; bust"/></testcase>
    <testcase classname="test_shop" name="test_skip"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
        let run = parse_junit(xml).unwrap();
        assert_eq!(
            (run.passed, run.failed, run.errors, run.skipped),
            (1, 1, 1, 1)
        );
        assert_eq!(run.verdict, Verdict::Fail);
        assert_eq!(run.failures[0].name, "test_shop.test_bad");
        assert_eq!(
            run.failures[0].reason.as_deref(),
            Some("AssertionError: 16 != 15")
        );
        assert_eq!(run.failures[0].location.as_deref(), Some("test_shop.py:14"));
        assert_eq!(run.failures[1].reason.as_deref(), Some("boom & bust"));
    }

    #[test]
    fn attribute_counts_when_no_cases() {
        let xml =
            br#"<testsuite name="x" tests="5" failures="1" errors="0" skipped="1"></testsuite>"#;
        let run = parse_junit(xml).unwrap();
        assert_eq!((run.passed, run.failed, run.skipped), (3, 1, 1));
    }

    #[test]
    fn rejects_non_junit_and_garbage() {
        assert_eq!(
            parse_junit(b"<html><body/></html>"),
            Err(JunitError::NotJunit)
        );
        assert!(parse_junit(b"<testsuite><testcase></testsuite>").is_err());
        assert!(parse_junit(&[0xff, 0xfe, 0x00, 0x3c]).is_err());
    }

    #[test]
    fn empty_report_is_no_tests() {
        let run = parse_junit(br#"<testsuites tests="0"></testsuites>"#).unwrap();
        assert_eq!(run.verdict, Verdict::NoTests);
    }
}
