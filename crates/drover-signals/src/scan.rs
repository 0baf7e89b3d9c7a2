//! `drover scan` support: run the detectors over a log (or a JUnit XML file) and describe each
//! finding as one JSON line or as text: test runs, and the log-fed loop detectors (output
//! repetition, repeated blocks, identical tool calls, the turn-level detectors over transcripts,
//! the same failing tests run after run, the token budget) with the thresholds a fleet would use.
//! Transcripts read as one JSON document (mini-swe-agent, SWE-agent, OpenHands) are judged turn
//! by turn. Pure: bytes in, findings out; stamps are line numbers (turn numbers for documents).
//!
//! Invariants: the streaming [`Scanner`] keeps at most one partial line (capped at
//! [`MAX_LINE_BYTES`], or [`MAX_JSON_LINE_BYTES`] for a line that opens a JSON object) between
//! chunks,
//! so memory stays bounded for any input; `\r` redraws are resolved as the bytes arrive, the
//! same way the detector resolves them within a line.

use serde::Serialize;

use super::ansi::{LineCleaner, MAX_LINE_BYTES};
use super::detector::TestRunDetector;
use super::junit::parse_junit;
use super::loops::{
    BudgetLevel, BudgetLimits, BudgetMeter, FailingSetStreak, LoopChange, LoopFinding,
    OutputLimits, OutputLoopDetector, usage_tokens,
};
use super::run::{Decides, Evidence, RunEnd, TestRun, Verdict};
use super::transcript::context::{CompactTrigger, Compaction, ContextEvent, ContextTracker};
use super::transcript::{MAX_JSON_LINE_BYTES, Turn, parse_document};
use super::trx::{looks_like_trx, parse_trx};

/// The thresholds a scan applies (the `[loops]` section of a config maps onto these).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScanLimits {
    pub output: Option<OutputLimits>,
    /// The same failing set this many runs in a row; `None` turns the detector off.
    pub failing_runs: Option<u32>,
    pub budget: Option<BudgetLimits>,
}

impl Default for ScanLimits {
    fn default() -> Self {
        Self {
            output: Some(OutputLimits::default()),
            failing_runs: Some(3),
            budget: Some(BudgetLimits::default()),
        }
    }
}

/// Something drover extracted from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A test run; `line` is the 1-based line where its output began.
    TestRun { line: u64, run: TestRun },
    /// A loop detector fired at `line` (only the first line of each firing is reported);
    /// `since` is the line where the repetition it saw began.
    Loop {
        line: u64,
        detector: &'static str,
        evidence: Vec<String>,
        since: u64,
    },
    /// The harness compacted the agent's context at `line` (where the compaction is marked).
    Compaction { line: u64, compaction: Compaction },
}

/// Field order is part of the output contract.
#[derive(Serialize)]
struct CompactionJson {
    kind: &'static str,
    line: u64,
    trigger: Option<&'static str>,
    pre_tokens: Option<u64>,
}

#[derive(Serialize)]
struct LoopJson<'a> {
    kind: &'static str,
    detector: &'a str,
    line: u64,
    evidence: &'a [String],
    since: u64,
}

#[derive(Serialize)]
struct FailureJson<'a> {
    name: &'a str,
    reason: Option<&'a str>,
}

/// Field order is part of the output contract.
#[derive(Serialize)]
struct TestRunJson<'a> {
    kind: &'static str,
    runner: &'static str,
    passed: u64,
    failed: u64,
    skipped: u64,
    errors: u64,
    total: u64,
    verdict: &'static str,
    sampled: bool,
    duration_ms: Option<u64>,
    failures: Vec<FailureJson<'a>>,
    /// Only with `--explain`: the lines that decided the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a [Evidence]>,
}

impl Finding {
    /// One JSON object, no trailing newline: for a test run
    /// `{"kind":"test_run","runner":..,"passed":N,"failed":N,"skipped":N,"errors":N,"total":N,
    /// "verdict":"pass|fail|error|no-tests","sampled":bool,"duration_ms":N|null,
    /// "failures":[{"name":..,"reason":..}]}`.
    pub fn to_json_line(&self) -> String {
        self.json_line(false)
    }

    /// [`to_json_line`](Self::to_json_line) plus, for a test run, `"evidence":[{"line":N,
    /// "text":..,"decides":"runner|counts|verdict"}]`: the lines that decided it.
    pub fn to_json_line_explained(&self) -> String {
        self.json_line(true)
    }

    fn json_line(&self, explain: bool) -> String {
        match self {
            Finding::TestRun { run, .. } => {
                let view = TestRunJson {
                    kind: "test_run",
                    runner: run.runner.as_str(),
                    passed: run.passed,
                    failed: run.failed,
                    skipped: run.skipped,
                    errors: run.errors,
                    total: run.total,
                    verdict: run.verdict.as_str(),
                    sampled: run.sampled,
                    duration_ms: run.duration_ms,
                    failures: run
                        .failures
                        .iter()
                        .map(|f| FailureJson {
                            name: &f.name,
                            reason: f.reason.as_deref(),
                        })
                        .collect(),
                    evidence: explain.then_some(run.evidence.as_slice()),
                };
                // Serialising strings, integers and booleans cannot fail.
                serde_json::to_string(&view).unwrap_or_else(|_| String::from("{}"))
            }
            Finding::Loop {
                line,
                detector,
                evidence,
                since,
            } => serde_json::to_string(&LoopJson {
                kind: "loop",
                detector,
                line: *line,
                evidence,
                since: *since,
            })
            .unwrap_or_else(|_| String::from("{}")),
            Finding::Compaction { line, compaction } => serde_json::to_string(&CompactionJson {
                kind: "compaction",
                line: *line,
                trigger: compaction.trigger.map(CompactTrigger::as_str),
                pre_tokens: compaction.pre_tokens,
            })
            .unwrap_or_else(|_| String::from("{}")),
        }
    }

    /// Why drover believes what it shows about a test run: each line that decided its runner,
    /// its counts or its verdict (number and cleaned text), then, when no line decided the
    /// verdict, what did (the output stopping before the summary, say). `None` for a loop,
    /// whose own text already shows its evidence.
    pub fn explain_text(&self) -> Option<String> {
        let Finding::TestRun { run, .. } = self else {
            return None;
        };
        let mut s = String::from("  why:");
        for e in &run.evidence {
            let role = match e.decides {
                Decides::Runner => "runner",
                Decides::Counts => "counts",
                Decides::Verdict => "verdict",
            };
            s.push_str(&format!("\n    {role:<7} line {}: {}", e.line, e.text));
        }
        if run.evidence.is_empty() {
            s.push_str("\n    (no log lines: read from a structured report's test cases)");
        }
        if !run.evidence.iter().any(|e| e.decides == Decides::Verdict) {
            let why = match run.end {
                RunEnd::CutOff => {
                    "cut off: the output stopped, a process died or another run began before \
                     the runner's summary"
                }
                RunEnd::NotStarted => "the run could not start",
                RunEnd::Completed => "the counts above",
            };
            s.push_str(&format!("\n    verdict {}: {why}", run.verdict));
        }
        Some(s)
    }

    /// A short human description: a headline plus one line per kept failure.
    pub fn to_text(&self) -> String {
        match self {
            Finding::TestRun { line, run } => {
                let mut s = format!(
                    "line {line}: {} run: {}: {} passed, {} failed, {} skipped, {} errors ({} total)",
                    run.runner,
                    run.verdict,
                    run.passed,
                    run.failed,
                    run.skipped,
                    run.errors,
                    run.total
                );
                if let Some(ms) = run.duration_ms {
                    s.push_str(&format!(" in {ms} ms"));
                }
                match run.end {
                    super::run::RunEnd::Completed => {}
                    super::run::RunEnd::NotStarted => s.push_str(" [could not start]"),
                    super::run::RunEnd::CutOff => s.push_str(" [cut off]"),
                }
                if run.sampled {
                    s.push_str(" [sampled]");
                }
                for f in &run.failures {
                    s.push_str("\n  ✖ ");
                    s.push_str(&f.name);
                    if let Some(r) = &f.reason {
                        s.push_str(": ");
                        s.push_str(r.lines().next().unwrap_or(""));
                    }
                    if let Some(l) = &f.location {
                        s.push_str(" (");
                        s.push_str(l);
                        s.push(')');
                    }
                }
                if run.failures_omitted > 0 {
                    s.push_str(&format!("\n  … and {} more", run.failures_omitted));
                }
                s
            }
            Finding::Loop {
                line,
                detector,
                evidence,
                since,
            } => {
                let mut s = format!("line {line}: loop detected by {detector}");
                if since < line {
                    s.push_str(&format!(" (repeating since line {since})"));
                }
                for e in evidence {
                    s.push_str("\n  │ ");
                    s.push_str(e);
                }
                s
            }
            Finding::Compaction { line, compaction } => {
                let mut s = format!(
                    "line {line}: context compacted ({})",
                    compaction
                        .trigger
                        .map_or("trigger unknown", CompactTrigger::as_str)
                );
                if let Some(pre) = compaction.pre_tokens {
                    s.push_str(&format!(", {pre} tokens before"));
                }
                if let Some(p) = compaction.percent() {
                    s.push_str(&format!(", {p}% of the window"));
                }
                s
            }
        }
    }
}

/// The first `Holding` of each firing becomes a finding; later ones and clears are dropped.
fn first_firings(scratch: &mut Vec<LoopFinding>, findings: &mut Vec<Finding>) {
    for f in scratch.drain(..) {
        if let LoopChange::Holding {
            first: true,
            evidence,
            since,
        } = f.change
        {
            findings.push(Finding::Loop {
                line: f.at,
                detector: f.detector.as_str(),
                evidence,
                since,
            });
        }
    }
}

/// Judges a transcript read whole as a JSON document (mini-swe-agent, SWE-agent, OpenHands):
/// stamps are turn numbers (1-based).
pub fn scan_turns(turns: &[Turn], limits: ScanLimits) -> Vec<Finding> {
    let Some(output) = limits.output else {
        return Vec::new();
    };
    let mut loops = OutputLoopDetector::new(output);
    let mut scratch = Vec::new();
    let mut findings = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        loops.feed_turn(t, i as u64 + 1, &mut scratch);
        first_firings(&mut scratch, &mut findings);
    }
    loops.finish(turns.len() as u64, &mut scratch);
    first_firings(&mut scratch, &mut findings);
    findings
}

/// The input may be one JSON transcript document (its first byte opens an object, or an array:
/// a Cline/Roo/Kilo task history).
pub fn looks_like_json_document(input: &[u8]) -> bool {
    input
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['))
}

/// Scans a whole input with the default limits: a JUnit XML or TRX report (detected by its
/// root element), a JSON transcript document, or a log (plain, JSON lines or terminal transcript).
pub fn scan_bytes(input: &[u8]) -> Vec<Finding> {
    scan_bytes_with(input, ScanLimits::default())
}

/// [`scan_bytes`] with the given limits.
pub fn scan_bytes_with(input: &[u8], limits: ScanLimits) -> Vec<Finding> {
    if looks_like_junit(input)
        && let Ok(run) = parse_junit(input)
    {
        return vec![Finding::TestRun { line: 1, run }];
    }
    if looks_like_trx(input)
        && let Ok(run) = parse_trx(input)
    {
        return vec![Finding::TestRun { line: 1, run }];
    }
    if looks_like_json_document(input)
        && let Some((_, turns)) = parse_document(input)
    {
        return scan_turns(&turns, limits);
    }
    let mut scanner = Scanner::with_limits(limits);
    let mut findings = scanner.push(input);
    findings.extend(scanner.finish());
    findings
}

/// The input starts like a JUnit XML report (first 4 KiB checked).
pub fn looks_like_junit(input: &[u8]) -> bool {
    let start = input
        .iter()
        .take(4096)
        .position(|b| !b.is_ascii_whitespace() && !matches!(b, 0xef | 0xbb | 0xbf))
        .unwrap_or(0);
    let head = input.get(start..).unwrap_or_default();
    let head = head.get(..4096).unwrap_or(head);
    head.starts_with(b"<") && memchr::memmem::find(head, b"<testsuite").is_some()
}

/// Streaming scan of a log: push chunks as they arrive (split anywhere), then `finish`.
#[derive(Debug, Default)]
pub struct Scanner {
    detector: TestRunDetector,
    limits: ScanLimits,
    loops: Option<OutputLoopDetector>,
    cleaner: LineCleaner,
    failing: FailingSetStreak,
    budget: BudgetMeter,
    context: ContextTracker,
    partial: Vec<u8>,
    pending_cr: bool,
    located: Vec<(u64, TestRun)>,
    loop_scratch: Vec<LoopFinding>,
    findings: Vec<Finding>,
}

impl Scanner {
    pub fn new() -> Self {
        Self::with_limits(ScanLimits::default())
    }

    pub fn with_limits(limits: ScanLimits) -> Self {
        Self {
            loops: limits.output.map(OutputLoopDetector::new),
            limits,
            ..Self::default()
        }
    }

    /// Feeds the next chunk of bytes; returns the findings completed by it.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<Finding> {
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if chunk.first() == Some(&b'\n') {
                self.emit_line();
                chunk = chunk.get(1..).unwrap_or_default();
            } else {
                // A lone `\r`: the terminal redraws the line.
                self.partial.clear();
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', chunk) {
            self.append(chunk.get(..i).unwrap_or_default());
            let is_cr = chunk.get(i) == Some(&b'\r');
            chunk = chunk.get(i + 1..).unwrap_or_default();
            if !is_cr {
                self.emit_line();
            } else if chunk.is_empty() {
                self.pending_cr = true;
            } else if chunk.first() == Some(&b'\n') {
                self.emit_line();
                chunk = chunk.get(1..).unwrap_or_default();
            } else {
                self.partial.clear();
            }
        }
        self.append(chunk);
        self.take_findings()
    }

    /// The input ended: the last partial line and any pending run.
    pub fn finish(&mut self) -> Vec<Finding> {
        self.pending_cr = false;
        if !self.partial.is_empty() {
            self.emit_line();
        }
        let rest = self.detector.finish_located();
        self.located.extend(rest);
        if let Some(loops) = self.loops.as_mut() {
            loops.finish(self.detector.line_no(), &mut self.loop_scratch);
            first_firings(&mut self.loop_scratch, &mut self.findings);
        }
        self.take_findings()
    }

    fn append(&mut self, bytes: &[u8]) {
        // JSON transcript lines are parsed whole up to their own cap; other lines are cut to
        // what the cleaner reads anyway.
        let json = self.partial.first().or(bytes.first()) == Some(&b'{');
        let cap = if json {
            MAX_JSON_LINE_BYTES.max(MAX_LINE_BYTES)
        } else {
            MAX_LINE_BYTES
        };
        let room = cap.saturating_sub(self.partial.len());
        let take = bytes.len().min(room);
        self.partial
            .extend_from_slice(bytes.get(..take).unwrap_or_default());
    }

    fn emit_line(&mut self) {
        self.detector
            .feed_line_located(&self.partial, &mut self.located);
        let line = self.detector.line_no();
        self.settle_runs();
        if !self.detector.in_run()
            && let Some(loops) = self.loops.as_mut()
        {
            loops.feed(&self.partial, line, &mut self.loop_scratch);
            first_firings(&mut self.loop_scratch, &mut self.findings);
        }
        let clean = self.cleaner.clean(&self.partial);
        if let Some(ContextEvent::Compaction(compaction)) = self.context.feed(clean) {
            self.findings.push(Finding::Compaction { line, compaction });
        }
        if let Some(limits) = self.limits.budget
            && let Some(tokens) = usage_tokens(clean)
            && let Some(level) = self.budget.add(&limits, tokens, 1)
            && level > BudgetLevel::Ok
        {
            let what = if level == BudgetLevel::Alert {
                "over budget"
            } else {
                "budget warning"
            };
            self.findings.push(Finding::Loop {
                line,
                detector: "budget",
                evidence: vec![format!("{what}: {}", self.budget.describe(&limits))],
                since: line,
            });
        }
        self.partial.clear();
    }

    /// Moves finished runs into the findings, judging the failing-test streak on the way.
    fn settle_runs(&mut self) {
        for (line, run) in std::mem::take(&mut self.located) {
            if let Some(runs) = self.limits.failing_runs {
                let failed = run.verdict == Verdict::Fail;
                let streak = self
                    .failing
                    .observe(failed, run.failures.iter().map(|f| f.name.as_str()));
                if streak == runs.max(1) {
                    let mut evidence = vec![format!(
                        "the same {} failing tests in {streak} runs in a row",
                        self.failing.names().len()
                    )];
                    evidence.extend(self.failing.names().iter().take(9).cloned());
                    self.findings.push(Finding::TestRun { line, run });
                    self.findings.push(Finding::Loop {
                        line,
                        detector: "failing_tests",
                        evidence,
                        since: line,
                    });
                    continue;
                }
            }
            self.findings.push(Finding::TestRun { line, run });
        }
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        self.settle_runs();
        std::mem::take(&mut self.findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_the_documented_shape() {
        let log = b"running 2 tests\ntest a ... ok\ntest b ... FAILED\n\nfailures:\n\n---- b stdout ----\nthread 'b' panicked at src/lib.rs:3:5:\nboom\n\nfailures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";
        let findings = scan_bytes(log);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].to_json_line(),
            r#"{"kind":"test_run","runner":"cargo-test","passed":1,"failed":1,"skipped":0,"errors":0,"total":2,"verdict":"fail","sampled":false,"duration_ms":10,"failures":[{"name":"b","reason":"boom"}]}"#
        );
        let text = findings[0].to_text();
        assert!(text.starts_with("line 1: cargo-test run: fail"), "{text}");
        assert!(text.contains("b: boom (src/lib.rs:3:5)"), "{text}");
    }

    #[test]
    fn chunking_does_not_change_findings() {
        let log: &[u8] = b"x\r\n============ test session starts ============\r\ncollected 1 item\r\n\r\nt.py .  [100%]\r\n\r\n============ 1 passed in 0.01s ============\r\n";
        let whole = scan_bytes(log);
        for size in [1, 2, 3, 7, 64] {
            let mut s = Scanner::new();
            let mut got = Vec::new();
            for chunk in log.chunks(size) {
                got.extend(s.push(chunk));
            }
            got.extend(s.finish());
            assert_eq!(got, whole, "chunk size {size}");
        }
        assert_eq!(whole.len(), 1);
    }

    #[test]
    fn junit_input_is_detected() {
        let xml = b"\n<?xml version=\"1.0\"?><testsuites><testsuite name=\"s\"><testcase name=\"t\"/></testsuite></testsuites>";
        let findings = scan_bytes(xml);
        assert_eq!(findings.len(), 1);
        assert!(findings[0].to_json_line().contains(r#""verdict":"pass""#));
    }
}
