//! What drover does with each line an agent prints (besides storing it): signs of life for
//! stall detection, throttled so a chatty agent costs one input per interval; test runs parsed
//! from runner output — recorded in full in the store and summarised for the core; the
//! log-fed loop detectors (output repetition, repeated blocks, identical tool calls), whose
//! firings go to the core with the log time their evidence began; printed token usage; and
//! context health (how full the agent's context is, and each compaction of it).
//!
//! Invariant: the sink never blocks the log stream. If the loop's queue is full a sign of life
//! or a repeated firing is dropped (harmless: firings repeat while they hold); a clearing and
//! usage are kept and retried with the next line; a compaction is kept like a clearing (the
//! idle-after-compaction detector needs it); a context reading is sent when it changes and
//! may be dropped (the next one replaces it); a test run is logged as lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::LoopsSection;
use crate::core::{ActivityKind, DetectorAction, Input, TestSummary};
use crate::logs::follow::LineSink;
use crate::signals::transcript::context::{ContextEvent, ContextTracker, WindowTable};
use crate::signals::usage::{MAX_LINE_COST_MICROS, PriceTable, Tokens, UsageCounter};
use crate::signals::{
    LineCleaner, LoopChange, LoopFinding, OutputLimits, OutputLoopDetector, TestRun,
    TestRunDetector, quota,
};
use crate::store::{StoreOp, StoreWriter};

/// At most one activity input per slot per this interval.
const ACTIVITY_EVERY: Duration = Duration::from_secs(5);
/// Inputs held for retry while the loop's queue is full (clearings only; usage is summed).
const MAX_HELD: usize = 32;

/// Which log-fed detectors run on agent output, from `[loops]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputWatch {
    pub output: Option<OutputLimits>,
    pub action: DetectorAction,
    /// `[pricing]`: usage is always counted (for cost), priced by this table.
    pub prices: Arc<PriceTable>,
    /// The context window per model (`[context_windows]` over the built-in table).
    pub windows: Arc<WindowTable>,
}

impl OutputWatch {
    pub fn from_config(loops: &LoopsSection, prices: &PriceTable, windows: WindowTable) -> Self {
        Self {
            output: loops.output_limits(),
            action: loops.output_action(),
            prices: Arc::new(prices.clone()),
            windows: Arc::new(windows),
        }
    }
}

pub struct AgentOutput {
    slot: String,
    inputs: mpsc::Sender<Input>,
    writer: StoreWriter,
    tests: TestRunDetector,
    loops: Option<OutputLoopDetector>,
    action: DetectorAction,
    usage: LineCleaner,
    counter: UsageCounter,
    prices: Arc<PriceTable>,
    findings: Vec<LoopFinding>,
    /// Clearings the queue had no room for, oldest first.
    held: Vec<Input>,
    /// Usage not reported yet: budget tokens, rounds, by kind, cost in micro-dollars.
    unsent_usage: (u64, u32, Tokens, u64),
    /// Cleans lines for the usage-limit recogniser.
    limits: LineCleaner,
    /// The last usage-limit notice reported (a repeated notice is reported once).
    last_limit: Option<String>,
    last_activity: Option<Instant>,
    /// Implausible usage lines the core has been told about (see `UsageCounter::implausible`).
    implausible_sent: u64,
    context: ContextTracker,
    /// The last context reading sent (used, window): an unchanged one is not sent again.
    context_sent: Option<(u64, Option<u64>)>,
}

impl AgentOutput {
    pub fn new(
        slot: String,
        inputs: mpsc::Sender<Input>,
        writer: StoreWriter,
        watch: OutputWatch,
        parsers: &[String],
    ) -> Self {
        Self {
            slot,
            inputs,
            writer,
            tests: TestRunDetector::for_runners(parsers),
            loops: watch.output.map(OutputLoopDetector::new),
            action: watch.action,
            usage: LineCleaner::new(),
            counter: UsageCounter::default(),
            prices: watch.prices,
            findings: Vec::new(),
            held: Vec::new(),
            unsent_usage: (0, 0, Tokens::default(), 0),
            limits: LineCleaner::new(),
            last_limit: None,
            last_activity: None,
            implausible_sent: 0,
            context: ContextTracker::new(watch.windows.as_ref().clone()),
            context_sent: None,
        }
    }

    /// Context health: a reading goes to the core when it changed; a compaction always, and
    /// the next line is then reported as a sign of life at once (silence after a compaction
    /// is what the core judges, so the first word after it must not wait for the throttle).
    fn report_context(&mut self, event: Option<ContextEvent>) {
        match event {
            None => {}
            Some(ContextEvent::Usage(u)) => {
                if self.context_sent == Some((u.used, u.window)) {
                    return;
                }
                let input = Input::ContextObserved {
                    slot: self.slot.clone(),
                    used: u.used,
                    window: u.window,
                };
                if self.inputs.try_send(input).is_ok() {
                    self.context_sent = Some((u.used, u.window));
                }
            }
            Some(ContextEvent::Compaction(c)) => {
                self.context_sent = None;
                self.last_activity = None;
                let input = Input::CompactionObserved {
                    slot: self.slot.clone(),
                    trigger: c.trigger,
                    pre_tokens: c.pre_tokens,
                    percent: c.percent(),
                };
                if !self.held.is_empty() || self.inputs.try_send(input.clone()).is_err() {
                    if self.held.len() >= MAX_HELD {
                        self.held.remove(0);
                    }
                    self.held.push(input);
                }
            }
        }
    }

    fn retry_held(&mut self) {
        while let Some(input) = self.held.first().cloned() {
            if self.inputs.try_send(input).is_err() {
                return;
            }
            self.held.remove(0);
        }
    }

    fn report_loops(&mut self) {
        for f in std::mem::take(&mut self.findings) {
            let detector = f.detector.as_str().to_string();
            match f.change {
                LoopChange::Holding {
                    first,
                    since,
                    evidence,
                } => {
                    let sent = self.inputs.try_send(Input::DetectorFired {
                        slot: self.slot.clone(),
                        detector,
                        evidence,
                        action: self.action,
                        since: Some(since),
                    });
                    if first && sent.is_err() {
                        tracing::warn!(
                            slot = self.slot,
                            "loop firing not reported yet: the supervisor queue is full"
                        );
                    }
                }
                LoopChange::Cleared => {
                    let input = Input::DetectorCleared {
                        slot: self.slot.clone(),
                        detector,
                    };
                    if !self.held.is_empty() || self.inputs.try_send(input.clone()).is_err() {
                        if self.held.len() >= MAX_HELD {
                            self.held.remove(0);
                        }
                        self.held.push(input);
                    }
                }
            }
        }
    }

    fn report_usage(&mut self) {
        let (tokens, rounds, kinds, cost_micros) = self.unsent_usage;
        if rounds == 0 {
            return;
        }
        let input = Input::UsageObserved {
            slot: self.slot.clone(),
            tokens,
            rounds,
            kinds,
            cost_micros,
        };
        if self.inputs.try_send(input).is_ok() {
            self.unsent_usage = (0, 0, Tokens::default(), 0);
        }
    }

    /// Tells the core about usage lines ignored as implausible since the last report (it keeps
    /// one alert per slot); retried with the next line when the queue is full.
    fn report_implausible(&mut self) {
        let ignored = self.counter.implausible();
        if ignored == self.implausible_sent {
            return;
        }
        let input = Input::UsageImplausible {
            slot: self.slot.clone(),
            ignored,
            line: self
                .counter
                .last_implausible()
                .unwrap_or_default()
                .to_string(),
        };
        if self.inputs.try_send(input).is_ok() {
            self.implausible_sent = ignored;
        }
    }

    /// A usage-limit notice goes to the core with its reset resolved here, where named time
    /// zones can be read; kept for retry like a clearing, since the exit that follows needs it.
    fn watch_limits(&mut self, text: &str) {
        let clean = self.limits.clean(text.as_bytes()).trim();
        let Some(hit) = quota::recognise(clean) else {
            return;
        };
        if self.last_limit.as_deref() == Some(clean) {
            return;
        }
        let now = crate::supervisor::now_ms();
        let reset_at = quota::reset_at(&hit, now, &crate::supervisor::tz::zone_offset);
        let input = Input::UsageLimit {
            slot: self.slot.clone(),
            reset_at,
            line: clean.to_string(),
        };
        self.last_limit = Some(clean.to_string());
        if !self.held.is_empty() || self.inputs.try_send(input.clone()).is_err() {
            if self.held.len() >= MAX_HELD {
                self.held.remove(0);
            }
            self.held.push(input);
        }
    }

    fn record(&self, ts_ms: u64, run: TestRun) {
        record_run(&self.slot, &self.writer, &self.inputs, ts_ms, run);
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
        self.retry_held();
        for run in self.tests.feed_line(text.as_bytes()) {
            self.record(ts_ms, run);
        }
        // Runner output is judged by the failing-test streak, not as repetition.
        if !self.tests.in_run()
            && let Some(loops) = self.loops.as_mut()
        {
            loops.feed(text.as_bytes(), ts_ms, &mut self.findings);
            if !self.findings.is_empty() {
                self.report_loops();
            }
        }
        let clean = self.usage.clean(text.as_bytes());
        let context = self.context.feed(clean);
        if let Some(spent) = self.counter.feed(clean) {
            let cost = self.prices.cost_micros(&spent);
            if cost > MAX_LINE_COST_MICROS {
                // Plausible tokens at an impossible price: not spend either.
                let line = clean.to_string();
                self.counter.ignore(&line);
                self.report_implausible();
                self.report_usage();
                self.watch_limits(text);
                self.report_context(context);
                return;
            }
            let u = &mut self.unsent_usage;
            u.0 = u.0.saturating_add(spent.tokens.io());
            u.1 = u.1.saturating_add(1);
            u.2.add(&spent.tokens);
            u.3 = u.3.saturating_add(cost);
        }
        self.report_implausible();
        self.report_usage();
        self.watch_limits(text);
        self.report_context(context);
    }

    fn end(&mut self) {
        for run in self.tests.finish() {
            self.record(crate::supervisor::now_ms(), run);
        }
        self.retry_held();
        self.report_usage();
    }
}

/// Stores a finished run in full and reports its summary to the core, never waiting.
pub fn record_run(
    slot: &str,
    writer: &StoreWriter,
    inputs: &mpsc::Sender<Input>,
    ts_ms: u64,
    run: TestRun,
) {
    let summary = summarise(&run);
    let op = StoreOp::TestRun {
        slot: slot.to_string(),
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
    if writer.try_submit(op).is_err() {
        tracing::warn!(slot, "test run not stored: the store queue is full");
    }
    let report = Input::TestRunRecorded {
        slot: slot.to_string(),
        summary,
    };
    if inputs.try_send(report).is_err() {
        tracing::warn!(slot, "test run not reported: the supervisor queue is full");
    }
}

/// The core's view of a run: counts, verdict and failing tests with their reasons.
pub fn summarise(run: &TestRun) -> TestSummary {
    TestSummary {
        passed: run.passed,
        failed: run.failed,
        skipped: run.skipped,
        errors: run.errors,
        verdict: run.verdict,
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
