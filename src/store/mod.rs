//! The embedded store: SQLite (WAL, `synchronous=NORMAL`) through sqlx, with migrations embedded
//! at build time. Holds the append-only event log, per-slot resumable state, incidents, alerts,
//! test runs, the run ledger and the fleet's spend per day.
//!
//! Invariants: all writes go through one [`StoreWriter`] task that group-commits (so ordering is
//! the order of submission and a batch is atomic); readers use the pool concurrently (WAL).
//! Queries are runtime-checked, so building needs no database.

mod main_checks;
pub mod private;
mod reader;
mod runs;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use main_checks::RedPeriod;
pub use reader::{EventFilter, StoredEvent};
pub use runs::StoredRun;
pub use writer::{BatchPolicy, StoreWriter, WriterStats};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot open database {path}: {source} — if the file is damaged, move it aside and drover starts a fresh one"
    )]
    Open { path: PathBuf, source: sqlx::Error },
    #[error(
        "database {path} is not usable ({detail}) — move it aside and drover starts a fresh one"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("database {path}: migration failed: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the store writer has stopped")]
    WriterGone,
    #[error("the store queue is full; the operation was dropped")]
    QueueFull,
    #[error("writes were not committed: {0}")]
    NotCommitted(String),
}

/// One entry of the append-only event log, as submitted by the supervisor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub ts_ms: i64,
    pub slot: Option<String>,
    pub kind: String,
    /// The OS user behind an operator action; `None` for drover's own decisions.
    pub who: Option<String>,
    pub payload: serde_json::Value,
}

/// An upsert of a row that mirrors a core value; `record` is its JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreOp {
    Event(EventRecord),
    SlotState {
        slot: String,
        updated_ms: i64,
        record: serde_json::Value,
    },
    /// The slot no longer exists (scaled away).
    ForgetSlot {
        slot: String,
    },
    Incident {
        id: i64,
        slot: String,
        opened_ms: i64,
        closed_ms: Option<i64>,
        record: serde_json::Value,
    },
    Alert {
        id: i64,
        slot: Option<String>,
        kind: String,
        first_ms: i64,
        cleared_ms: Option<i64>,
        record: serde_json::Value,
    },
    TestRun {
        slot: String,
        ts_ms: i64,
        runner: String,
        verdict: String,
        passed: i64,
        failed: i64,
        skipped: i64,
        errors: i64,
        duration_ms: Option<i64>,
        sampled: bool,
        record: serde_json::Value,
    },
    /// Upsert of one run of the ledger, keyed by (slot, started_ms).
    Run(RunRow),
    /// Upsert of the fleet's spend on one UTC day.
    SpendDay {
        day: i64,
        micros: i64,
    },
    /// One check of the shared branch (`main_checks`).
    MainCheck {
        commit: String,
        started_ms: i64,
        duration_ms: i64,
        bisect: bool,
        verdict: String,
        record: serde_json::Value,
    },
    /// Upsert of one red period of main (`main_red`), keyed by `since_ms`.
    MainRed {
        since_ms: i64,
        until_ms: Option<i64>,
        commit: String,
        slot: Option<String>,
        record: serde_json::Value,
    },
    /// A role's `ctl scale` override; `replicas == configured` deletes it.
    ScaleOverride {
        role: String,
        replicas: i64,
        configured: i64,
    },
}

/// One row of the run ledger; `record` is the full run as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    pub slot: String,
    pub started_ms: i64,
    pub role: String,
    pub generation: i64,
    pub container: String,
    pub ended_ms: Option<i64>,
    pub end_kind: Option<String>,
    pub cost_micros: i64,
    pub commits: i64,
    pub tasks_done: i64,
    /// The run's container log, relative to the data dir.
    pub log_file: String,
    pub record: serde_json::Value,
}

/// An open database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) `drover.db` in `data_dir`, checks it and applies migrations.
    /// The folder is made private (0700, tightened if it was open: see [`private`]).
    pub async fn open_in(data_dir: &Path) -> Result<Self, StoreError> {
        let notice = private::prepare_data_dir(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        if let Some(notice) = notice {
            tracing::warn!("{notice}");
        }
        Self::open(&data_dir.join("drover.db")).await
    }

    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        // Created 0600 before SQLite opens it, so the journal files get that mode too.
        private::touch_private(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source: sqlx::Error::Io(source),
        })?;
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|source| classify_open_error(path, source))?;
        // A quick check catches a damaged file before anything is written to it.
        let check: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&pool)
            .await
            .map_err(|source| classify_open_error(path, source))?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: check,
            });
        }
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing database file for reading only (reports and post-mortems while no
    /// daemon runs, or beside a running one): no migration, no writes, nothing created.
    pub async fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(|source| classify_open_error(path, source))?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// `PRAGMA integrity_check` — "ok" for a sound file.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Starts the single writer task for this store.
    pub fn spawn_writer(&self, policy: BatchPolicy) -> StoreWriter {
        StoreWriter::spawn(self.pool.clone(), policy)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn classify_open_error(path: &Path, source: sqlx::Error) -> StoreError {
    let text = source.to_string();
    if text.contains("file is not a database") || text.contains("malformed") {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: text,
        }
    } else {
        StoreError::Open {
            path: path.to_path_buf(),
            source,
        }
    }
}
