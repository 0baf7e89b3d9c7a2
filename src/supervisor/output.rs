//! What drover does with each line an agent prints (besides storing it): signs of life for
//! stall detection, throttled so a chatty agent costs one input per interval, and test runs
//! parsed from runner output — recorded in full in the store and summarised for the core.
//!
//! Invariant: the sink never blocks the log stream; if the loop's queue is full a sign of life
//! is dropped (harmless) and a test run is logged as lost.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::core::{ActivityKind, Input, TestSummary, Verdict as CoreVerdict};
use crate::docker::follow::LineSink;
use crate::signals::{TestRun, TestRunDetector, Verdict};
use crate::store::{StoreOp, StoreWriter};

/// At most one activity input per slot per this interval.
const ACTIVITY_EVERY: Duration = Duration::from_secs(5);

pub struct AgentOutput {
    slot: String,
    inputs: mpsc::Sender<Input>,
    writer: StoreWriter,
    tests: TestRunDetector,
    last_activity: Option<Instant>,
}

impl AgentOutput {
    pub fn new(slot: String, inputs: mpsc::Sender<Input>, writer: StoreWriter) -> Self {
        Self {
            slot,
            inputs,
            writer,
            tests: TestRunDetector::new(),
            last_activity: None,
        }
    }

    fn record(&self, ts_ms: u64, run: TestRun) {
        let summary = summarise(&run);
        let op = StoreOp::TestRun {
            slot: self.slot.clone(),
            ts_ms: i64::try_from(ts_ms).unwrap_or(i64::MAX),
            runner: word(&run.runner),
            verdict: word(&run.verdict),
            passed: count(run.passed),
            failed: count(run.failed),
            skipped: count(run.skipped),
            errors: count(run.errors),
            duration_ms: run.duration_ms.map(count),
            sampled: run.sampled,
            record: serde_json::to_value(&run).unwrap_or_default(),
        };
        if self.writer.try_submit(op).is_err() {
            tracing::warn!(
                slot = self.slot,
                "test run not stored: the store queue is full"
            );
        }
        if self
            .inputs
            .try_send(Input::TestRunRecorded {
                slot: self.slot.clone(),
                summary,
            })
            .is_err()
        {
            tracing::warn!(
                slot = self.slot,
                "test run not reported: the supervisor queue is full"
            );
        }
    }
}

impl LineSink for AgentOutput {
    fn line(&mut self, ts_ms: u64, _stderr: bool, text: &str) {
        let now = Instant::now();
        if self
            .last_activity
            .is_none_or(|t| now.duration_since(t) >= ACTIVITY_EVERY)
        {
            self.last_activity = Some(now);
            let _ = self.inputs.try_send(Input::Activity {
                slot: self.slot.clone(),
                kind: ActivityKind::Log,
            });
        }
        for run in self.tests.feed_line(text.as_bytes()) {
            self.record(ts_ms, run);
        }
    }

    fn end(&mut self) {
        for run in self.tests.finish() {
            self.record(crate::supervisor::now_ms(), run);
        }
    }
}

/// The core's view of a run: counts, verdict and failing tests with their reasons.
pub fn summarise(run: &TestRun) -> TestSummary {
    TestSummary {
        passed: run.passed,
        failed: run.failed,
        skipped: run.skipped,
        errors: run.errors,
        verdict: match run.verdict {
            Verdict::Pass => CoreVerdict::Pass,
            Verdict::Fail => CoreVerdict::Fail,
            Verdict::Error => CoreVerdict::Error,
            Verdict::NoTests => CoreVerdict::NoTests,
        },
        failing: run
            .failures
            .iter()
            .map(|f| match &f.reason {
                Some(reason) => format!("{} - {reason}", f.name),
                None => f.name.clone(),
            })
            .collect(),
    }
}

fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
