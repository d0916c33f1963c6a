-- OTA (SPEC §7, §8 firmware and rollout): images, rollouts and each
-- device's progress in one. The engine in the broker writes progress
-- (state, reason, stage, device rows) through its ingest writer; rs1ctl
-- creates rollouts and changes their state, bumping `revision`, which is
-- what the change feed carries to the broker.
CREATE TABLE firmware (
  version    TEXT PRIMARY KEY,
  sha256     TEXT NOT NULL,                    -- the image is <data_dir>/firmware/<sha256>
  size       INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX firmware_by_sha256 ON firmware (sha256);

CREATE TABLE rollouts (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  version          TEXT NOT NULL REFERENCES firmware (version),
  all_devices      INTEGER NOT NULL,           -- also takes in devices provisioned while it runs
  stages           TEXT NOT NULL,              -- JSON array of cumulative percentages
  max_failure_rate REAL NOT NULL,
  min_finished     INTEGER NOT NULL,
  max_per_minute   INTEGER NOT NULL,
  timeout_min      INTEGER NOT NULL,
  retries          INTEGER NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('running', 'paused', 'completed', 'cancelled')),
  reason           TEXT,
  stage            INTEGER NOT NULL DEFAULT 0, -- index into stages
  revision         INTEGER NOT NULL DEFAULT 1, -- bumped by each operator change
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX rollouts_by_state ON rollouts (state);

CREATE TABLE rollout_devices (
  rollout_id       INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
  device_id        TEXT NOT NULL,              -- no FK: the record outlives a deleted device
  position         INTEGER NOT NULL,           -- order in the set: stages take prefixes
  status           TEXT NOT NULL CHECK (status IN ('pending', 'triggered', 'in_progress', 'success',
                                                   'failed', 'timed_out', 'skipped')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  triggered_at     INTEGER NOT NULL DEFAULT 0,
  reported_success INTEGER NOT NULL DEFAULT 0,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
) WITHOUT ROWID;
CREATE INDEX rollout_devices_by_device ON rollout_devices (device_id);
CREATE INDEX rollout_devices_by_position ON rollout_devices (rollout_id, position);

CREATE TRIGGER rollouts_added AFTER INSERT ON rollouts BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('rollout', NEW.id);
END;
CREATE TRIGGER rollouts_commanded AFTER UPDATE OF revision ON rollouts BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('rollout', NEW.id);
END;
