//! Visual Studio TRX reports (`dotnet test --logger trx`): a `<TestRun>` whose `<Results>` hold
//! one `<UnitTestResult testName=… outcome=…>` per test, a failure's message in
//! `<Output><ErrorInfo><Message>`, and a `<ResultSummary outcome=…>` with `<Counters>`. Pure: the
//! input is the file's bytes.
//!
//! Counts come from the results (`Passed` → passed; `Failed`, `Timeout` → failed; `Error`,
//! `Aborted`, `NotRunnable` → errors; `NotExecuted`, `Inconclusive`, `Pending` → skipped); only
//! a report without results uses its `Counters`. A summary outcome of `Aborted` (the test host
//! crashed) makes the run an error that keeps the results before it. A document that ends
//! before `</TestRun>` is unfinished and never judged.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;

use super::junit::{JunitError, attr, push_capped};
use super::run::{Counts, RunBuilder, RunEnd, Runner, TestRun};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
}

fn outcome(s: &str) -> Outcome {
    match s {
        "Failed" | "Timeout" => Outcome::Failed,
        "Error" | "Aborted" | "NotRunnable" | "Disconnected" => Outcome::Error,
        "NotExecuted" | "Inconclusive" | "Pending" | "InProgress" => Outcome::Skipped,
        _ => Outcome::Passed,
    }
}

struct Result {
    name: String,
    outcome: Outcome,
    message: String,
}

/// Whether the bytes look like a TRX document (its root is `<TestRun>`).
/// (first 4 KiB checked, after any byte-order mark).
pub fn looks_like_trx(input: &[u8]) -> bool {
    let start = input
        .iter()
        .take(4096)
        .position(|b| !b.is_ascii_whitespace() && !matches!(b, 0xef | 0xbb | 0xbf))
        .unwrap_or(0);
    let head = input.get(start..).unwrap_or_default();
    let head = head.get(..4096).unwrap_or(head);
    head.starts_with(b"<") && memchr::memmem::find(head, b"<TestRun").is_some()
}

/// Parses a TRX report into one run (runner `dotnet-test`).
pub fn parse_trx(xml: &[u8]) -> std::result::Result<TestRun, JunitError> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut b = RunBuilder::new(Runner::DotnetTest, 1);
    let mut seen_root = false;
    let mut closed_root = false;
    let mut results = 0u64;
    let mut current: Option<Result> = None;
    let mut in_message = false;
    let mut counters = Counts::default();
    let mut aborted = false;

    loop {
        let event = reader.read_event().map_err(|e| JunitError::Malformed {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().as_ref() {
                    "TestRun" => seen_root = true,
                    "UnitTestResult" if seen_root => {
                        results += 1;
                        let r = Result {
                            name: attr(e, "testName").unwrap_or_default(),
                            outcome: outcome(attr(e, "outcome").as_deref().unwrap_or("")),
                            message: String::new(),
                        };
                        if empty {
                            finish(&mut b, r);
                        } else {
                            current = Some(r);
                        }
                    }
                    "Message" => in_message = current.is_some() && !empty,
                    "ResultSummary" => {
                        aborted = attr(e, "outcome").is_some_and(|o| o == "Aborted");
                    }
                    "Counters" => {
                        let n = |k: &str| {
                            attr(e, k)
                                .and_then(|v| v.trim().parse::<u64>().ok())
                                .unwrap_or(0)
                        };
                        counters = Counts {
                            passed: n("passed"),
                            failed: n("failed").saturating_add(n("timeout")),
                            skipped: n("notExecuted")
                                .saturating_add(n("inconclusive"))
                                .saturating_add(n("pending")),
                            errors: n("error").saturating_add(n("aborted")),
                        };
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                "UnitTestResult" => {
                    if let Some(r) = current.take() {
                        finish(&mut b, r);
                    }
                }
                "Message" => in_message = false,
                "TestRun" => closed_root = true,
                _ => {}
            },
            Event::Text(ref t) if in_message => {
                if let Some(r) = current.as_mut() {
                    push_capped(&mut r.message, &t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::CData(ref t) if in_message => {
                if let Some(r) = current.as_mut() {
                    push_capped(&mut r.message, t.as_ref());
                }
            }
            Event::GeneralRef(ref g) if in_message => {
                if let Some(r) = current.as_mut() {
                    let resolved: Cow<'_, str> = match g.resolve_char_ref() {
                        Ok(Some(ch)) => Cow::Owned(ch.to_string()),
                        _ => Cow::Borrowed(
                            quick_xml::escape::resolve_predefined_entity(g).unwrap_or(""),
                        ),
                    };
                    push_capped(&mut r.message, &resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(JunitError::NotJunit);
    }
    if !closed_root {
        return Err(JunitError::Unfinished {
            element: "TestRun".to_owned(),
        });
    }
    if results == 0 {
        b.counts = counters;
    }
    let end = if aborted {
        // The test host died: one error for the run, the results before it kept.
        b.counts.errors = b.counts.errors.saturating_add(1);
        b.crash_recorded = true;
        RunEnd::CutOff
    } else {
        RunEnd::Completed
    };
    Ok(b.finish(end).run)
}

fn finish(b: &mut RunBuilder, r: Result) {
    match r.outcome {
        Outcome::Passed => b.counts.passed += 1,
        Outcome::Skipped => b.counts.skipped += 1,
        Outcome::Failed | Outcome::Error => {
            if r.outcome == Outcome::Failed {
                b.counts.failed += 1;
            } else {
                b.counts.errors += 1;
            }
            // TRX messages end lines with `&#xD;` (CR LF).
            let reason: String = r
                .message
                .lines()
                .map(|l| l.trim_end_matches('\r').trim_end())
                .filter(|l| !l.trim().is_empty())
                .take(4)
                .collect::<Vec<_>>()
                .join("\n");
            let reason = (!reason.is_empty()).then_some(reason);
            b.push_failure(&r.name, reason.as_deref(), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRX: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<TestRun id="1" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <Results>
    <UnitTestResult testName="A.Passes" outcome="Passed" />
    <UnitTestResult testName="A.Fails" outcome="Failed">
      <Output><ErrorInfo><Message>Assert.Equal() Failure&#xD;
Expected: 1</Message></ErrorInfo></Output>
    </UnitTestResult>
    <UnitTestResult testName="A.Skips" outcome="NotExecuted" />
  </Results>
  <ResultSummary outcome="Failed"><Counters total="3" passed="1" failed="1" /></ResultSummary>
</TestRun>"#;

    #[test]
    fn reads_results_and_messages() {
        let run = parse_trx(TRX.as_bytes()).unwrap();
        assert_eq!((run.passed, run.failed, run.skipped), (1, 1, 1));
        assert_eq!(run.failures[0].name, "A.Fails");
        assert_eq!(
            run.failures[0].reason.as_deref(),
            Some("Assert.Equal() Failure\nExpected: 1")
        );
    }

    #[test]
    fn an_unfinished_or_aborted_report_is_never_a_pass() {
        let cut = &TRX[..TRX.len() - 12];
        assert!(parse_trx(cut.as_bytes()).is_err());
        let aborted = TRX
            .replace("A.Fails\" outcome=\"Failed", "A.Fails\" outcome=\"Passed")
            .replace(
                "ResultSummary outcome=\"Failed\"",
                "ResultSummary outcome=\"Aborted\"",
            );
        let run = parse_trx(aborted.as_bytes()).unwrap();
        assert_eq!(run.verdict.as_str(), "error");
    }
}
