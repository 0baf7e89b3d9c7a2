//! The single writer: collects [`StoreOp`]s and commits them in batches (group commit), so the
//! event log keeps up with bursts while every acknowledged write is durable.
//!
//! A batch closes when it holds `max_ops` operations or `max_delay` has passed since its first
//! operation, whichever comes first. `flush()` resolves only after everything submitted before
//! it is committed — that is the "persisted before acknowledged" point for operator commands.

use std::time::Duration;

use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{EventRecord, StoreError, StoreOp};

/// When a batch is committed.
#[derive(Clone, Copy, Debug)]
pub struct BatchPolicy {
    pub max_ops: usize,
    pub max_delay: Duration,
    /// Submissions queued before `submit` waits (back-pressure instead of unbounded memory).
    pub queue: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_ops: 2000,
            max_delay: Duration::from_millis(100),
            queue: 16_384,
        }
    }
}

/// What the writer has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Operations committed since the writer started.
    pub committed_ops: u64,
    pub batches: u64,
    /// Operations dropped after a batch failed repeatedly.
    pub failed_ops: u64,
}

enum Msg {
    Op(StoreOp),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct StoreWriter {
    tx: mpsc::Sender<Msg>,
    stats: watch::Receiver<WriterStats>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Op(op) => write!(f, "Op({op:?})"),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl StoreWriter {
    pub(super) fn spawn(pool: SqlitePool, policy: BatchPolicy) -> Self {
        let (tx, rx) = mpsc::channel(policy.queue.max(1));
        let (stats_tx, stats) = watch::channel(WriterStats::default());
        tokio::spawn(run(pool, policy, rx, stats_tx));
        Self { tx, stats }
    }

    /// Queues one operation; waits only when the queue is full.
    pub async fn submit(&self, op: StoreOp) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Op(op))
            .await
            .map_err(|_| StoreError::WriterGone)
    }

    /// Queues one operation without waiting; fails (and drops it) when the queue is full, for
    /// callers that must never block (log pipelines).
    pub fn try_submit(&self, op: StoreOp) -> Result<(), StoreError> {
        self.tx.try_send(Msg::Op(op)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => StoreError::WriterGone,
        })
    }

    /// Queues an event.
    pub async fn append(&self, event: EventRecord) -> Result<(), StoreError> {
        self.submit(StoreOp::Event(event)).await
    }

    /// Resolves once everything submitted before this call is committed. An error means some
    /// of it was not (the batch failed after its retries): the caller must not acknowledge.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await
            .map_err(|_| StoreError::WriterGone)?
            .map_err(StoreError::NotCommitted)
    }

    /// A receiver that changes after every committed batch.
    pub fn stats(&self) -> watch::Receiver<WriterStats> {
        self.stats.clone()
    }
}

async fn run(
    pool: SqlitePool,
    policy: BatchPolicy,
    mut rx: mpsc::Receiver<Msg>,
    stats_tx: watch::Sender<WriterStats>,
) {
    let mut batch: Vec<StoreOp> = Vec::with_capacity(policy.max_ops);
    let mut waiters: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
    // A failure since the last flush answer: every waiter of this round learns of it, because
    // its own writes may have been in any of the failed batches.
    let mut failure: Option<String> = None;
    let mut stats = WriterStats::default();
    loop {
        // Wait for the first message of a batch; an empty, closed channel ends the writer.
        let Some(first) = rx.recv().await else { break };
        let deadline = Instant::now() + policy.max_delay;
        let mut open = true;
        let take = |msg: Msg,
                    batch: &mut Vec<StoreOp>,
                    waiters: &mut Vec<oneshot::Sender<Result<(), String>>>| {
            match msg {
                Msg::Op(op) => batch.push(op),
                Msg::Flush(w) => waiters.push(w),
            }
        };
        take(first, &mut batch, &mut waiters);
        // A flush request commits at once: someone is waiting on durability.
        while batch.len() < policy.max_ops && waiters.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => take(msg, &mut batch, &mut waiters),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        // Drain whatever is already queued without waiting, up to the batch size.
        while batch.len() < policy.max_ops {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut batch, &mut waiters),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            match commit_with_retry(&pool, &batch).await {
                Ok(()) => stats.committed_ops += n,
                Err(e) => {
                    stats.failed_ops += n;
                    tracing::error!(error = %e, ops = n, "store: batch could not be committed");
                    failure = Some(e.to_string());
                }
            }
            stats.batches += 1;
            batch.clear();
            let _ = stats_tx.send(stats);
        }
        if !waiters.is_empty() {
            let answer = failure.take().map_or(Ok(()), Err);
            for w in waiters.drain(..) {
                let _ = w.send(answer.clone());
            }
        }
        if !open {
            break;
        }
    }
}

async fn commit_with_retry(pool: &SqlitePool, batch: &[StoreOp]) -> Result<(), StoreError> {
    let mut delay = Duration::from_millis(50);
    let mut last = None;
    for _ in 0..4 {
        match commit(pool, batch).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "store: batch commit failed, retrying");
                last = Some(e);
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    Err(last.unwrap_or(StoreError::WriterGone))
}

/// Rows per multi-row INSERT: 6 binds each stays far below SQLite's variable limit.
const EVENT_ROWS_PER_STATEMENT: usize = 500;

async fn commit(pool: &SqlitePool, batch: &[StoreOp]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let mut events: Vec<&EventRecord> = Vec::new();
    for op in batch {
        match op {
            StoreOp::Event(e) => {
                events.push(e);
                continue;
            }
            // Upserts must see earlier events of the batch in order only for their own table,
            // so events are flushed in one go before each non-event op to keep submission order.
            _ => insert_events(&mut tx, &mut events).await?,
        }
        match op {
            StoreOp::Event(_) => {}
            StoreOp::SlotState {
                slot,
                updated_ms,
                record,
            } => {
                sqlx::query(
                    "INSERT INTO slot_state (slot, updated_ms, record) VALUES (?, ?, ?) \
                     ON CONFLICT(slot) DO UPDATE SET updated_ms = excluded.updated_ms, record = excluded.record",
                )
                .bind(slot)
                .bind(updated_ms)
                .bind(record.to_string())
                .execute(&mut *tx)
                .await?;
            }
            StoreOp::ForgetSlot { slot } => {
                sqlx::query("DELETE FROM slot_state WHERE slot = ?")
                    .bind(slot)
                    .execute(&mut *tx)
                    .await?;
            }
            StoreOp::Incident {
                id,
                slot,
                opened_ms,
                closed_ms,
                record,
            } => {
                sqlx::query(
                    "INSERT INTO incidents (id, slot, opened_ms, closed_ms, record) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET closed_ms = excluded.closed_ms, record = excluded.record",
                )
                .bind(id)
                .bind(slot)
                .bind(opened_ms)
                .bind(closed_ms)
                .bind(record.to_string())
                .execute(&mut *tx)
                .await?;
            }
            StoreOp::Alert {
                id,
                slot,
                kind,
                first_ms,
                cleared_ms,
                record,
            } => {
                sqlx::query(
                    "INSERT INTO alerts (id, slot, kind, first_ms, cleared_ms, record) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET cleared_ms = excluded.cleared_ms, record = excluded.record",
                )
                .bind(id)
                .bind(slot)
                .bind(kind)
                .bind(first_ms)
                .bind(cleared_ms)
                .bind(record.to_string())
                .execute(&mut *tx)
                .await?;
            }
            StoreOp::TestRun {
                slot,
                ts_ms,
                runner,
                verdict,
                passed,
                failed,
                skipped,
                errors,
                duration_ms,
                sampled,
                record,
            } => {
                sqlx::query(
                    "INSERT INTO test_runs (slot, ts_ms, runner, verdict, passed, failed, skipped, errors, duration_ms, sampled, record) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(slot)
                .bind(ts_ms)
                .bind(runner)
                .bind(verdict)
                .bind(passed)
                .bind(failed)
                .bind(skipped)
                .bind(errors)
                .bind(duration_ms)
                .bind(sampled)
                .bind(record.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    insert_events(&mut tx, &mut events).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_events(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    events: &mut Vec<&EventRecord>,
) -> Result<(), StoreError> {
    for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO events (ts_ms, slot, kind, who, payload) ");
        qb.push_values(chunk, |mut row, e| {
            row.push_bind(e.ts_ms)
                .push_bind(e.slot.as_deref())
                .push_bind(e.kind.as_str())
                .push_bind(e.who.as_deref())
                .push_bind(e.payload.to_string());
        });
        qb.build().execute(&mut **tx).await?;
    }
    events.clear();
    Ok(())
}
