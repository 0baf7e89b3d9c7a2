//! Read queries over the store: the event log (filtered, paged), resumable slot state, open and
//! recent incidents, active alerts, recent test runs. Readers never block the writer (WAL).

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// An event as read back, with its log position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct StoredEvent {
    pub id: i64,
    pub ts_ms: i64,
    pub slot: Option<String>,
    pub kind: String,
    pub who: Option<String>,
    pub payload: String,
}

/// Which events to read.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only events with a larger id (for following the log).
    pub after_id: Option<i64>,
    pub since_ms: Option<i64>,
    pub slot: Option<String>,
    pub limit: Option<i64>,
}

impl Store {
    /// Events matching `filter`, oldest first.
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query_as::<_, StoredEvent>(
            "SELECT id, ts_ms, slot, kind, who, payload FROM events \
             WHERE id > ?1 AND ts_ms >= ?2 AND (?3 IS NULL OR slot = ?3) \
             ORDER BY id LIMIT ?4",
        )
        .bind(filter.after_id.unwrap_or(0))
        .bind(filter.since_ms.unwrap_or(i64::MIN))
        .bind(filter.slot.as_deref())
        .bind(filter.limit.unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// (slot, container id) of every container drover created or adopted, oldest first, so
    /// a lock file naming a container of an earlier generation still names its slot. At most
    /// `limit` (the newest).
    pub async fn container_ids(&self, limit: i64) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT slot, json_extract(payload, '$.id') FROM events \
             WHERE kind IN ('created', 'adopted') AND slot IS NOT NULL \
             AND json_extract(payload, '$.id') IS NOT NULL ORDER BY id DESC LIMIT ?1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().rev().collect())
    }

    /// Events with an id above `after_id`, oldest first, at most `limit`; when `after_id` is 0,
    /// the newest `limit` events (what a face shows first and the socket's plain `events` asks).
    pub async fn events_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after_id = if after_id == 0 {
            // Ids grow by one per event, so the newest `limit` start near count - limit.
            let count = self.event_count().await?;
            (count - limit).max(0)
        } else {
            after_id
        };
        self.events(&EventFilter {
            after_id: Some(after_id),
            limit: Some(limit),
            ..EventFilter::default()
        })
        .await
    }

    pub async fn event_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(self.pool())
            .await?)
    }

    /// Every slot's resumable state record.
    pub async fn slot_states(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT slot, record FROM slot_state ORDER BY slot")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(s, r)| Ok((s, serde_json::from_str(&r)?)))
            .collect()
    }

    /// Incident records: all open ones plus the most recent `closed_limit` closed ones.
    pub async fn incidents(&self, closed_limit: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT record FROM incidents WHERE closed_ms IS NULL \
             UNION ALL SELECT record FROM (SELECT record FROM incidents WHERE closed_ms IS NOT NULL ORDER BY closed_ms DESC LIMIT ?)",
        )
        .bind(closed_limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(r,)| Ok(serde_json::from_str(&r)?))
            .collect()
    }

    /// Alert records that have not cleared.
    pub async fn active_alerts(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT record FROM alerts WHERE cleared_ms IS NULL ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(r,)| Ok(serde_json::from_str(&r)?))
            .collect()
    }

    /// The largest id used by a table with core-assigned ids, to continue numbering.
    pub async fn max_ids(&self) -> Result<(i64, i64), StoreError> {
        let inc: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM incidents")
            .fetch_one(self.pool())
            .await?;
        let al: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM alerts")
            .fetch_one(self.pool())
            .await?;
        Ok((inc.unwrap_or(0), al.unwrap_or(0)))
    }

    /// Every slot's latest test run: (slot, ts_ms, stored record).
    pub async fn latest_test_runs(
        &self,
    ) -> Result<Vec<(String, i64, serde_json::Value)>, StoreError> {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT t.slot, t.ts_ms, t.record FROM test_runs t WHERE t.id = \
             (SELECT u.id FROM test_runs u WHERE u.slot = t.slot \
              ORDER BY u.ts_ms DESC, u.id DESC LIMIT 1)",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(slot, ts, r)| Ok((slot, ts, serde_json::from_str(&r)?)))
            .collect()
    }

    /// The latest `limit` test runs of `slot`, newest first, as stored records.
    pub async fn test_runs(
        &self,
        slot: &str,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT record FROM test_runs WHERE slot = ? ORDER BY ts_ms DESC, id DESC LIMIT ?",
        )
        .bind(slot)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(r,)| Ok(serde_json::from_str(&r)?))
            .collect()
    }

    /// The random identity of `fleet` in this store, created on first use (see
    /// `migrations/0002_fleet_identity.sql`). 128 bits from the OS-seeded generator: an id
    /// nobody else's drover has, not a secret.
    /// The id `fleet_id` gave `fleet`, without creating one (for read-only stores).
    pub async fn known_fleet_id(&self, fleet: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM fleet_identity WHERE fleet = ?")
                .bind(fleet)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn fleet_id(&self, fleet: &str) -> Result<String, StoreError> {
        let fresh = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        sqlx::query(
            "INSERT OR IGNORE INTO fleet_identity (fleet, id, created_ms) VALUES (?, ?, ?)",
        )
        .bind(fleet)
        .bind(&fresh)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(
            sqlx::query_scalar("SELECT id FROM fleet_identity WHERE fleet = ?")
                .bind(fleet)
                .fetch_one(self.pool())
                .await?,
        )
    }
}
