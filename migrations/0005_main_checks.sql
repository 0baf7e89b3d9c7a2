-- The shared branch's check ([upstream.check]): one row per check of a commit (tip checks and
-- bisection steps), with its verdict (green, red, unknown, or failed when the check itself
-- could not run); `record` is the core's CheckRecord as JSON (test summary, failing tests,
-- error, who landed the commit).
CREATE TABLE main_checks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    commit_id   TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    bisect      INTEGER NOT NULL,
    verdict     TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX main_checks_by_commit ON main_checks (commit_id);
CREATE INDEX main_checks_by_start ON main_checks (started_ms);

-- Each time main was red: from the first red check to the next green (`until_ms` NULL while
-- red), the first red commit and the slot that landed it once known; `record` is the core's
-- MainView as JSON at the last change. Upserted by `since_ms`.
CREATE TABLE main_red (
    since_ms  INTEGER PRIMARY KEY,
    until_ms  INTEGER,
    commit_id TEXT NOT NULL,
    slot      TEXT,
    record    TEXT NOT NULL
);
CREATE INDEX main_red_open ON main_red (until_ms);
