-- The run ledger: one row per container run of a slot (from its start to its end), upserted
-- as its totals change; `record` is the core's RunRecord as JSON. `log_file` is the run's
-- container log, relative to the data dir, so a commit in the ledger leads to its log lines.
CREATE TABLE runs (
    slot        TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    role        TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    container   TEXT NOT NULL,
    ended_ms    INTEGER,
    end_kind    TEXT,
    cost_micros INTEGER NOT NULL,
    commits     INTEGER NOT NULL,
    tasks_done  INTEGER NOT NULL,
    log_file    TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (slot, started_ms)
);
CREATE INDEX runs_by_start ON runs (started_ms);
CREATE INDEX runs_open ON runs (ended_ms);

-- The fleet's spend per UTC day (days since the epoch), so the daily budget survives a
-- restart of drover.
CREATE TABLE spend_days (
    day    INTEGER PRIMARY KEY,
    micros INTEGER NOT NULL
);
