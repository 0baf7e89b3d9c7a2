//! A span per container run and a log record per fleet event, from what the driver persists.
//!
//! Invariants: a run's span starts when its run opens (so the events of the run carry its trace
//! context) and is exported once, when the run ends, with the end's values; at most one open
//! span per slot and a bounded memory of ended runs, so a repeated record of an ended run is
//! not exported twice. Every text is masked with the event log's masker.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::trace::{SdkTracer, Span};

use crate::core::{EventKind, FleetEvent, Millis, RunEnd, RunRecord};
use crate::secrets::mask;

/// Ended runs remembered so a later update of one is not a second span.
const ENDED_MEMORY: usize = 4096;
/// An event's detail is cut to this many bytes.
const MAX_DETAIL: usize = 4096;

fn time(ms: Millis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The run's name in attributes: its slot and start, the ledger's key.
pub fn run_id(slot: &str, started_at: Millis) -> String {
    format!("{slot}@{started_at}")
}

struct OpenRun {
    started_at: Millis,
    role: String,
    generation: u64,
    span: Span,
}

pub struct Runs {
    tracer: SdkTracer,
    logger: SdkLogger,
    open: HashMap<String, OpenRun>,
    ended: HashSet<(String, Millis)>,
    ended_order: VecDeque<(String, Millis)>,
}

impl Runs {
    pub fn new(tracer: SdkTracer, logger: SdkLogger) -> Self {
        Self {
            tracer,
            logger,
            open: HashMap::new(),
            ended: HashSet::new(),
            ended_order: VecDeque::new(),
        }
    }

    pub fn event(&self, e: &FleetEvent, role_of: impl Fn(&str) -> Option<(String, u64)>) {
        let mut record = self.logger.create_log_record();
        record.set_timestamp(time(e.at));
        record.set_observed_timestamp(SystemTime::now());
        let kind = e.kind.as_str();
        record.set_event_name("drover.event");
        let (severity, text) = severity(e.kind);
        record.set_severity_number(severity);
        record.set_severity_text(text);
        record.set_body(AnyValue::from(mask(&e.message).into_owned()));
        record.add_attribute("kind", kind);
        if let Some(who) = &e.who {
            record.add_attribute("who", mask(who).into_owned());
        }
        if !e.detail.is_null() {
            let mut detail = mask(&e.detail.to_string()).into_owned();
            if detail.len() > MAX_DETAIL {
                let mut cut = MAX_DETAIL;
                while !detail.is_char_boundary(cut) {
                    cut -= 1;
                }
                detail.truncate(cut);
                detail.push('…');
            }
            record.add_attribute("detail", detail);
        }
        if let Some(slot) = &e.slot {
            record.add_attribute("slot", slot.clone());
            match self.open.get(slot) {
                Some(run) => {
                    record.add_attribute("role", run.role.clone());
                    record.add_attribute("generation", run.generation as i64);
                    record.add_attribute("run", run_id(slot, run.started_at));
                    let cx = run.span.span_context();
                    record.set_trace_context(cx.trace_id(), cx.span_id(), Some(cx.trace_flags()));
                }
                None => {
                    if let Some((role, generation)) = role_of(slot) {
                        record.add_attribute("role", role);
                        record.add_attribute("generation", generation as i64);
                    }
                }
            }
        }
        self.logger.emit(record);
    }

    pub fn run(&mut self, r: &RunRecord) {
        let key = (r.slot.clone(), r.started_at);
        if self.ended.contains(&key) {
            return;
        }
        // A new run of the slot while another is open: the old one's end was never seen (a
        // restart of drover in between); end it where the new one starts.
        if self
            .open
            .get(&r.slot)
            .is_some_and(|o| o.started_at != r.started_at)
            && let Some(mut old) = self.open.remove(&r.slot)
        {
            old.span.set_attribute(KeyValue::new("end", "unknown"));
            old.span.end_with_timestamp(time(r.started_at));
            self.remember((r.slot.clone(), old.started_at));
        }
        let open = self.open.entry(r.slot.clone()).or_insert_with(|| OpenRun {
            started_at: r.started_at,
            role: r.role.clone(),
            generation: r.generation,
            span: self
                .tracer
                .span_builder("container run")
                .with_kind(SpanKind::Internal)
                .with_start_time(time(r.started_at))
                .with_attributes([
                    KeyValue::new("slot", r.slot.clone()),
                    KeyValue::new("role", r.role.clone()),
                    KeyValue::new("run", run_id(&r.slot, r.started_at)),
                    KeyValue::new("generation", r.generation as i64),
                    KeyValue::new("container", r.container.clone()),
                ])
                .start(&self.tracer),
        });
        let Some(ended_at) = r.ended_at else { return };
        let span = &mut open.span;
        span.set_attributes(run_attributes(r));
        if let Some(end) = &r.end
            && failed(end)
        {
            span.set_status(Status::error(end.describe()));
        }
        span.end_with_timestamp(time(ended_at));
        self.open.remove(&r.slot);
        self.remember(key);
    }

    /// Ends the spans of runs still going when drover stops, marked as such (the run goes on
    /// in its container; the next drover's ledger continues it).
    pub fn close_open(&mut self) {
        let now = SystemTime::now();
        for (_, mut run) in self.open.drain() {
            run.span.set_attribute(KeyValue::new("still_running", true));
            run.span.end_with_timestamp(now);
        }
    }

    fn remember(&mut self, key: (String, Millis)) {
        if self.ended.insert(key.clone()) {
            self.ended_order.push_back(key);
        }
        while self.ended_order.len() > ENDED_MEMORY {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
    }
}

/// An exit that means something went wrong (the span's status is then an error).
fn failed(end: &RunEnd) -> bool {
    match end {
        RunEnd::Exited { code } => *code != 0,
        RunEnd::Signal { .. } | RunEnd::Oom | RunEnd::Vanished => true,
        RunEnd::Timeout | RunEnd::Throttled | RunEnd::Stopped { .. } | RunEnd::Restarted => false,
    }
}

/// What a run did: exit reason, tokens, cost, commits landed, tasks and tests.
fn run_attributes(r: &RunRecord) -> Vec<KeyValue> {
    let t = &r.tokens;
    let mut out = vec![
        KeyValue::new("tokens.input", t.input as i64),
        KeyValue::new("tokens.output", t.output as i64),
        KeyValue::new("tokens.cache_read", t.cache_read as i64),
        KeyValue::new("tokens.cache_write", t.cache_write as i64),
        KeyValue::new("tokens.other", t.other as i64),
        KeyValue::new("cost_usd", r.cost_micros as f64 / 1e6),
        KeyValue::new("commits", r.commit_count as i64),
    ];
    if let Some(end) = &r.end {
        out.push(KeyValue::new("end", end.label()));
        out.push(KeyValue::new(
            "exit_reason",
            mask(&end.describe()).into_owned(),
        ));
        if let RunEnd::Exited { code } = end {
            out.push(KeyValue::new("exit_code", *code));
        }
    }
    let strings = |v: Vec<String>| -> Value {
        Value::Array(Array::String(
            v.into_iter().map(StringValue::from).collect(),
        ))
    };
    if !r.commits.is_empty() {
        out.push(KeyValue::new(
            "commit_ids",
            strings(r.commits.iter().map(|c| c.commit.clone()).collect()),
        ));
        out.push(KeyValue::new(
            "commit_summaries",
            strings(
                r.commits
                    .iter()
                    .map(|c| mask(&c.summary).into_owned())
                    .collect(),
            ),
        ));
    }
    if !r.locks_released.is_empty() {
        out.push(KeyValue::new(
            "tasks_completed",
            strings(
                r.locks_released
                    .iter()
                    .map(|s| mask(s).into_owned())
                    .collect(),
            ),
        ));
    }
    if let Some(last) = r.last_test {
        out.push(KeyValue::new("tests.passed", last.passed as i64));
        out.push(KeyValue::new("tests.failed", last.failed as i64));
    }
    out
}

fn severity(kind: EventKind) -> (Severity, &'static str) {
    use EventKind as K;
    match kind {
        K::CreateFailed
        | K::StartFailed
        | K::OpFailed
        | K::OpLost
        | K::PreflightFailed
        | K::Blocked
        | K::CrashLoop
        | K::DockerDown => (Severity::Error, "ERROR"),
        K::Died
        | K::Vanished
        | K::Stalled
        | K::IdleSpinning
        | K::Detector
        | K::TimedOut
        | K::Throttled
        | K::BudgetHold => (Severity::Warn, "WARN"),
        _ => (Severity::Info, "INFO"),
    }
}
