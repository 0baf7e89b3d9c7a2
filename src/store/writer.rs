//! The single writer: collects [`StoreOp`]s and commits them in batches (group commit), so the
//! event log keeps up with bursts while every acknowledged write is durable.
//!
//! A batch closes when it holds `max_ops` operations or `max_delay` has passed since its first
//! operation, whichever comes first. `flush()` resolves `Ok` only after everything submitted
//! before it is committed — that is the "persisted before acknowledged" point for operator
//! commands.
//!
//! Invariants: an operation is never dropped because a commit failed (a full disk, a locked
//! file): it stays pending, in order, and is retried with backoff until it commits; meanwhile
//! `flush()` answers at once with the error (one fresh attempt, no waiting), so callers never
//! stall. Memory is bounded by [`MAX_PENDING`] operations; past it `submit` waits.

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
    /// Commit attempts that failed (each is retried; nothing is dropped).
    pub failed_commits: u64,
    /// Operations submitted but not committed yet (non-zero while the store is failing).
    pub pending_ops: u64,
    /// Operations given up on when the writer stopped while the store was still failing.
    pub dropped_ops: u64,
}

/// While commits fail, at most this many operations wait in memory; past it the writer stops
/// taking new ones, so `submit` waits (back-pressure) and `try_submit` fails.
const MAX_PENDING: usize = 100_000;
/// Retry delays while commits fail: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(5);
/// Commit attempts left when the writer stops (drover exits) while the store still fails.
const ATTEMPTS_AT_EXIT: u32 = 3;

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

/// Commits already proved impossible: what the last attempt said, and when to try again.
struct Failing {
    error: String,
    retry_at: Instant,
    delay: Duration,
}

async fn run(
    pool: SqlitePool,
    policy: BatchPolicy,
    mut rx: mpsc::Receiver<Msg>,
    stats_tx: watch::Sender<WriterStats>,
) {
    // Submitted, not yet committed, in submission order. A failed commit leaves them here to be
    // retried: an operation leaves this list only by being committed.
    let mut pending: Vec<StoreOp> = Vec::with_capacity(policy.max_ops);
    let mut waiters: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
    let mut failing: Option<Failing> = None;
    let mut stats = WriterStats::default();
    let mut open = true;
    while open {
        // Wait for the first message of a batch or, while failing, for the retry time.
        let first = match failing.as_ref().map(|f| f.retry_at) {
            None => rx.recv().await,
            Some(retry_at) => {
                let room = pending.len() < MAX_PENDING;
                tokio::select! {
                    m = rx.recv(), if room => m,
                    _ = tokio::time::sleep_until(retry_at) => {
                        attempt(&pool, &policy, &mut pending, &mut failing, &mut stats).await;
                        let _ = stats_tx.send(stats);
                        answer(&mut waiters, &failing);
                        continue;
                    }
                }
            }
        };
        let Some(first) = first else { break };
        take(first, &mut pending, &mut waiters);
        if failing.is_some() && waiters.is_empty() {
            // Each op would only fail again; they wait for the retry (or a flush).
            stats.pending_ops = pending.len() as u64;
            continue;
        }
        let deadline = Instant::now() + policy.max_delay;
        let limit = pending.len().saturating_sub(1) + policy.max_ops;
        // A flush request commits at once: someone is waiting on durability.
        while pending.len() < limit && waiters.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => take(msg, &mut pending, &mut waiters),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        // Drain whatever is already queued without waiting, up to the batch size.
        while pending.len() < limit {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut pending, &mut waiters),
                Err(_) => break,
            }
        }
        attempt(&pool, &policy, &mut pending, &mut failing, &mut stats).await;
        // Stats first: whoever is answered sees them up to date.
        let _ = stats_tx.send(stats);
        answer(&mut waiters, &failing);
    }
    // Stopping: what is still pending gets a few last chances, then is reported lost.
    let mut left = ATTEMPTS_AT_EXIT;
    while !pending.is_empty() && left > 0 {
        if let Some(retry_at) = failing.as_ref().map(|f| f.retry_at) {
            tokio::time::sleep_until(retry_at).await;
        }
        attempt(&pool, &policy, &mut pending, &mut failing, &mut stats).await;
        left -= 1;
    }
    if !pending.is_empty() {
        tracing::error!(
            ops = pending.len(),
            error = failing.as_ref().map(|f| f.error.as_str()).unwrap_or(""),
            "store: drover is stopping and these records could not be committed"
        );
        stats.dropped_ops += pending.len() as u64;
        stats.pending_ops = 0;
    }
    let _ = stats_tx.send(stats);
    answer(&mut waiters, &failing);
}

fn take(
    msg: Msg,
    pending: &mut Vec<StoreOp>,
    waiters: &mut Vec<oneshot::Sender<Result<(), String>>>,
) {
    match msg {
        Msg::Op(op) => pending.push(op),
        Msg::Flush(w) => waiters.push(w),
    }
}

/// Every waiter learns whether everything submitted before it is committed: it is exactly when
/// nothing is pending after an attempt, because pending keeps submission order.
fn answer(waiters: &mut Vec<oneshot::Sender<Result<(), String>>>, failing: &Option<Failing>) {
    let result = match failing {
        None => Ok(()),
        Some(f) => Err(format!(
            "{} — kept in memory and retried until it commits",
            f.error
        )),
    };
    for w in waiters.drain(..) {
        let _ = w.send(result.clone());
    }
}

/// Commits `pending` in order, `max_ops` per transaction; what commits leaves the list, the rest
/// stays for the next attempt. One attempt per call, so a failing store answers at once.
async fn attempt(
    pool: &SqlitePool,
    policy: &BatchPolicy,
    pending: &mut Vec<StoreOp>,
    failing: &mut Option<Failing>,
    stats: &mut WriterStats,
) {
    while !pending.is_empty() {
        let n = pending.len().min(policy.max_ops.max(1));
        match commit(pool, &pending[..n]).await {
            Ok(()) => {
                pending.drain(..n);
                stats.committed_ops += n as u64;
                stats.batches += 1;
                if let Some(f) = failing.take() {
                    tracing::warn!(
                        after = %f.error,
                        "store: commits succeed again; records kept while it failed are being written"
                    );
                }
            }
            Err(e) => {
                stats.failed_commits += 1;
                let error = e.to_string();
                let delay = match failing.as_ref() {
                    None => {
                        tracing::error!(
                            error,
                            ops = pending.len(),
                            "store: commit failed; records are kept in memory and retried"
                        );
                        RETRY_FIRST
                    }
                    Some(f) => {
                        tracing::debug!(error, ops = pending.len(), "store: commit failed again");
                        (f.delay * 2).min(RETRY_LAST)
                    }
                };
                *failing = Some(Failing {
                    error,
                    retry_at: Instant::now() + delay,
                    delay,
                });
                break;
            }
        }
    }
    stats.pending_ops = pending.len() as u64;
}

/// Rows per multi-row INSERT: 6 binds each stays far below SQLite's variable limit.
const EVENT_ROWS_PER_STATEMENT: usize = 500;

/// Commits `batch` in one transaction on a connection of its own. When anything fails (a full
/// disk fails an insert or the COMMIT itself), the transaction is rolled back explicitly and
/// the connection is closed rather than returned to the pool: a connection left inside a
/// failed transaction keeps the write lock, and every later commit on another connection
/// would wait out the busy timeout and fail with `database is locked` until drover restarts.
async fn commit(pool: &SqlitePool, batch: &[StoreOp]) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let result = write_batch(&mut conn, batch).await;
    if result.is_err() {
        // Fails harmlessly ("no transaction is active") when SQLite already rolled back.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        let _ = sqlx::Connection::close(conn.detach()).await;
    }
    result
}

async fn write_batch(
    conn: &mut sqlx::pool::PoolConnection<Sqlite>,
    batch: &[StoreOp],
) -> Result<(), StoreError> {
    let mut tx = sqlx::Connection::begin(&mut **conn).await?;
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
            StoreOp::Run(r) => {
                sqlx::query(
                    "INSERT INTO runs (slot, started_ms, role, generation, container, ended_ms, end_kind, cost_micros, commits, tasks_done, log_file, record) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT(slot, started_ms) DO UPDATE SET ended_ms = excluded.ended_ms, end_kind = excluded.end_kind, \
                     cost_micros = excluded.cost_micros, commits = excluded.commits, tasks_done = excluded.tasks_done, record = excluded.record",
                )
                .bind(&r.slot)
                .bind(r.started_ms)
                .bind(&r.role)
                .bind(r.generation)
                .bind(&r.container)
                .bind(r.ended_ms)
                .bind(&r.end_kind)
                .bind(r.cost_micros)
                .bind(r.commits)
                .bind(r.tasks_done)
                .bind(&r.log_file)
                .bind(r.record.to_string())
                .execute(&mut *tx)
                .await?;
            }
            StoreOp::MainCheck {
                commit,
                started_ms,
                duration_ms,
                bisect,
                verdict,
                record,
            } => {
                sqlx::query(
                    "INSERT INTO main_checks (commit_id, started_ms, duration_ms, bisect, verdict, record) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(commit)
                .bind(started_ms)
                .bind(duration_ms)
                .bind(bisect)
                .bind(verdict)
                .bind(record.to_string())
                .execute(&mut *tx)
                .await?;
            }
            StoreOp::MainRed {
                since_ms,
                until_ms,
                commit,
                slot,
                record,
            } => {
                sqlx::query(
                    "INSERT INTO main_red (since_ms, until_ms, commit_id, slot, record) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT(since_ms) DO UPDATE SET until_ms = excluded.until_ms, \
                     commit_id = excluded.commit_id, slot = excluded.slot, record = excluded.record",
                )
                .bind(since_ms)
                .bind(until_ms)
                .bind(commit)
                .bind(slot)
                .bind(record.to_string())
                .execute(&mut *tx)
                .await?;
            }
            StoreOp::SpendDay { day, micros } => {
                sqlx::query(
                    "INSERT INTO spend_days (day, micros) VALUES (?, ?) \
                     ON CONFLICT(day) DO UPDATE SET micros = excluded.micros",
                )
                .bind(day)
                .bind(micros)
                .execute(&mut *tx)
                .await?;
            }
            StoreOp::ScaleOverride {
                role,
                replicas,
                configured,
            } if replicas == configured => {
                sqlx::query("DELETE FROM scale_overrides WHERE role = ?")
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
            }
            StoreOp::ScaleOverride {
                role,
                replicas,
                configured,
            } => {
                sqlx::query(
                    "INSERT INTO scale_overrides (role, replicas, configured) VALUES (?, ?, ?) \
                     ON CONFLICT(role) DO UPDATE SET replicas = excluded.replicas, \
                     configured = excluded.configured",
                )
                .bind(role)
                .bind(replicas)
                .bind(configured)
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
            // The last gate before disk: whatever path an event took (a lock name, a container
            // name, a label), no known secret value is stored.
            row.push_bind(e.ts_ms)
                .push_bind(e.slot.as_deref().map(crate::secrets::mask))
                .push_bind(e.kind.as_str())
                .push_bind(e.who.as_deref().map(crate::secrets::mask))
                .push_bind(crate::secrets::mask_owned(e.payload.to_string()));
        });
        qb.build().execute(&mut **tx).await?;
    }
    events.clear();
    Ok(())
}
