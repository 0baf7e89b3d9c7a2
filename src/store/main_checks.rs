//! Read queries over the shared branch's checks: what a restarted drover resumes (the open red
//! period, the latest checks) and the red periods `drover report` sums per day and per slot.

use super::{Store, StoreError};

/// One red period of main as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RedPeriod {
    pub since_ms: i64,
    /// `None` while main is still red.
    pub until_ms: Option<i64>,
    /// The first red commit (or the red tip while unknown).
    pub commit: String,
    /// The slot whose run landed it, when the run ledger knew.
    pub slot: Option<String>,
    pub record: serde_json::Value,
}

impl Store {
    /// The latest `limit` checks' records, newest first.
    pub async fn main_checks_latest(
        &self,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT record FROM main_checks ORDER BY id DESC LIMIT ?1")
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(r,)| Ok(serde_json::from_str(&r)?))
            .collect()
    }

    /// The red period still open, if main was red when drover last wrote.
    pub async fn main_red_open(&self) -> Result<Option<RedPeriod>, StoreError> {
        Ok(self.main_red_periods(None).await?.into_iter().last())
            .map(|p: Option<RedPeriod>| p.filter(|p| p.until_ms.is_none()))
    }

    /// Red periods that ended at or after `since_ms` or are still open (all when `None`),
    /// oldest first.
    pub async fn main_red_since(&self, since_ms: i64) -> Result<Vec<RedPeriod>, StoreError> {
        self.main_red_periods(Some(since_ms)).await
    }

    async fn main_red_periods(&self, since_ms: Option<i64>) -> Result<Vec<RedPeriod>, StoreError> {
        type Row = (i64, Option<i64>, String, Option<String>, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT since_ms, until_ms, commit_id, slot, record FROM main_red \
             WHERE ?1 IS NULL OR until_ms IS NULL OR until_ms >= ?1 ORDER BY since_ms",
        )
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(since_ms, until_ms, commit, slot, record)| {
                Ok(RedPeriod {
                    since_ms,
                    until_ms,
                    commit,
                    slot,
                    record: serde_json::from_str(&record)?,
                })
            })
            .collect()
    }
}
