//! Benchmarks run by `drover bench …`: they exercise the real components and print figures
//! (never pass/fail). The store benchmark doubles as the write burst of the crash-safety test;
//! the fleet benchmark runs the real supervisor over real containers ([`fleet`]).

pub mod chart;
pub mod compare;
pub mod fleet;
pub mod procfs;
pub mod proxy;

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{BatchPolicy, EventRecord, Store, StoreError};

/// Figures from one store run.
#[derive(Clone, Debug)]
pub struct StoreFigures {
    pub events: u64,
    pub elapsed: Duration,
    pub batches: u64,
    pub latency_p50: Duration,
    pub latency_p99: Duration,
}

impl StoreFigures {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Writes `events` events through the group-commit writer into `db`. With `progress`, prints
/// `committed N` on stdout after every committed batch.
pub async fn store(db: &Path, events: u64, progress: bool) -> Result<StoreFigures, StoreError> {
    let store = Store::open(db).await?;
    let writer = store.spawn_writer(BatchPolicy::default());
    let submitted: Arc<Mutex<VecDeque<Instant>>> = Arc::new(Mutex::new(VecDeque::new()));
    let mut stats = writer.stats();
    let pending = Arc::clone(&submitted);
    let watcher = tokio::spawn(async move {
        let mut latencies = Vec::new();
        let mut seen = 0u64;
        while stats.changed().await.is_ok() {
            let s = *stats.borrow_and_update();
            let now = Instant::now();
            if let Ok(mut q) = pending.lock() {
                for _ in seen..s.committed_ops {
                    if let Some(t) = q.pop_front() {
                        latencies.push(now - t);
                    }
                }
            }
            seen = s.committed_ops;
            if progress {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "committed {seen}");
                let _ = out.flush();
            }
        }
        (latencies, seen)
    });
    let start = Instant::now();
    for seq in 1..=events {
        if let Ok(mut q) = submitted.lock() {
            q.push_back(Instant::now());
        }
        writer
            .append(EventRecord {
                ts_ms: seq as i64,
                slot: Some(format!("bench-{}", seq % 20)),
                kind: "bench".into(),
                who: None,
                payload: serde_json::json!({ "seq": seq }),
            })
            .await?;
    }
    writer.flush().await?;
    let elapsed = start.elapsed();
    let batches = writer.stats().borrow().batches;
    drop(writer);
    let (mut latencies, _) = watcher.await.unwrap_or_default();
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(StoreFigures {
        events,
        elapsed,
        batches,
        latency_p50: pick(0.50),
        latency_p99: pick(0.99),
    })
}
