//! Read queries over the run ledger and the spend per day: what a restarted drover resumes
//! (open runs, each slot's latest finished ones, the latest day's spend), what `drover report`
//! sums, and the run that landed a commit.

use super::{Store, StoreError};

/// A run as read back: its row's log file and its record.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    /// The run's container log, relative to the data dir.
    pub log_file: String,
    pub record: serde_json::Value,
}

fn rows(rows: Vec<(String, String)>) -> Result<Vec<StoredRun>, StoreError> {
    rows.into_iter()
        .map(|(log_file, r)| {
            Ok(StoredRun {
                log_file,
                record: serde_json::from_str(&r)?,
            })
        })
        .collect()
}

impl Store {
    /// Every open run and the latest `per_slot` finished runs of each slot, oldest first.
    pub async fn runs_to_resume(&self, per_slot: i64) -> Result<Vec<StoredRun>, StoreError> {
        let r: Vec<(String, String)> = sqlx::query_as(
            "SELECT log_file, record FROM ( \
               SELECT log_file, record, started_ms, ended_ms, \
                 ROW_NUMBER() OVER (PARTITION BY slot ORDER BY started_ms DESC) AS n FROM runs \
             ) WHERE ended_ms IS NULL OR n <= ?1 ORDER BY started_ms",
        )
        .bind(per_slot)
        .fetch_all(self.pool())
        .await?;
        rows(r)
    }

    /// Runs that started at or after `since_ms` (or are still open), oldest first.
    pub async fn runs_since(&self, since_ms: i64) -> Result<Vec<StoredRun>, StoreError> {
        let r: Vec<(String, String)> = sqlx::query_as(
            "SELECT log_file, record FROM runs WHERE started_ms >= ?1 OR ended_ms IS NULL \
             OR ended_ms >= ?1 ORDER BY started_ms",
        )
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        rows(r)
    }

    /// The runs whose record lists a commit starting with `prefix` (full or short id).
    pub async fn runs_with_commit(&self, prefix: &str) -> Result<Vec<StoredRun>, StoreError> {
        let r: Vec<(String, String)> = sqlx::query_as(
            "SELECT log_file, record FROM runs WHERE commits > 0 AND EXISTS ( \
               SELECT 1 FROM json_each(runs.record, '$.commits') c \
               WHERE substr(json_extract(c.value, '$.commit'), 1, length(?1)) = ?1) \
             ORDER BY started_ms",
        )
        .bind(prefix)
        .fetch_all(self.pool())
        .await?;
        rows(r)
    }

    /// `ctl scale` overrides in force: (role, replicas, the config's replicas they override).
    pub async fn scale_overrides(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT role, replicas, configured FROM scale_overrides ORDER BY role")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// The latest day with stored spend: (days since the epoch, micro-dollars).
    pub async fn latest_spend_day(&self) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT day, micros FROM spend_days ORDER BY day DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?,
        )
    }
}
