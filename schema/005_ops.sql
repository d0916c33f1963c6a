-- Operations (SPEC §9): hourly aggregates, the broker's heartbeat, and the
-- bookkeeping of the archive and backup jobs.

-- One row per device, metric and complete hour: the row count and, as a JSON
-- object {"NAME":{"min","max","avg"}}, the numeric top-level fields.
-- Recomputing an hour replaces its rows, so the job is idempotent.
CREATE TABLE telemetry_hourly (
  device_ref INTEGER NOT NULL,
  metric     TEXT NOT NULL,
  hour       INTEGER NOT NULL,                   -- unix seconds of the hour's start
  count      INTEGER NOT NULL,
  fields     TEXT NOT NULL,
  PRIMARY KEY (device_ref, metric, hour)
) WITHOUT ROWID;
CREATE INDEX telemetry_hourly_by_hour ON telemetry_hourly (hour);

-- Small named facts of the operations jobs: 'aggregated_through_ms' (every
-- hour before it is aggregated), the broker's heartbeat, job outcomes.
CREATE TABLE ops_state (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_ms INTEGER NOT NULL
);

-- The archive chunk being moved: written before the gzip member is appended,
-- removed in the transaction that deletes the chunk's rows. Found at start,
-- the file is cut back to size_before and the chunk moved again, so a crash
-- between the two steps neither loses nor duplicates a row.
CREATE TABLE archive_pending (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  file        TEXT NOT NULL,
  size_before INTEGER NOT NULL
);
