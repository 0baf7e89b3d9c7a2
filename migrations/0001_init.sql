-- drover's embedded store. Rows that mirror core types keep the full value as JSON (`record`)
-- beside the few columns that queries filter or sort on, so core types can grow without a
-- migration for every field.

-- Append-only event log: the audit trail and the replay layer.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms   INTEGER NOT NULL,
    slot    TEXT,
    kind    TEXT NOT NULL,
    who     TEXT,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_time ON events (ts_ms);
CREATE INDEX events_by_slot ON events (slot, ts_ms);

-- Per-slot business state needed to resume after drover restarts (blocked / taken over flags
-- and reasons, backoff counters, generation).
CREATE TABLE slot_state (
    slot       TEXT PRIMARY KEY,
    updated_ms INTEGER NOT NULL,
    record     TEXT NOT NULL
);

-- Incidents: a slot out of healthy service, from opening to recovery.
CREATE TABLE incidents (
    id        INTEGER PRIMARY KEY,
    slot      TEXT NOT NULL,
    opened_ms INTEGER NOT NULL,
    closed_ms INTEGER,
    record    TEXT NOT NULL
);
CREATE INDEX incidents_open ON incidents (closed_ms);
CREATE INDEX incidents_by_slot ON incidents (slot, opened_ms);

-- Alerts, one row per raised condition (re-raised after clearing = a new row).
CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY,
    slot       TEXT,
    kind       TEXT NOT NULL,
    first_ms   INTEGER NOT NULL,
    cleared_ms INTEGER,
    record     TEXT NOT NULL
);
CREATE INDEX alerts_active ON alerts (cleared_ms);

-- Test runs parsed from agent output.
CREATE TABLE test_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    slot        TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    runner      TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    passed      INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    duration_ms INTEGER,
    sampled     INTEGER NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX test_runs_by_slot ON test_runs (slot, ts_ms);
