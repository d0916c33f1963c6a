-- Zone configs (SPEC §5 config/update and config/status, §6, §8 zone): per
-- device the desired version (the newest), the version the device says it
-- applied, and its newest 10 versions with what the device answered to
-- each. Deleting a device deletes its zones with it.
CREATE TABLE zone_configs (
  device_id       TEXT PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
  desired_version INTEGER NOT NULL CHECK (desired_version >= 1),
  applied_version INTEGER,                       -- NULL until the device applies one
  applied_at      INTEGER
);

CREATE TABLE zone_versions (
  device_id   TEXT NOT NULL REFERENCES zone_configs (device_id) ON DELETE CASCADE,
  version     INTEGER NOT NULL CHECK (version >= 1),
  config      TEXT NOT NULL,                     -- canonical JSON of a valid config
  created_at  INTEGER NOT NULL,
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
  error       TEXT,                              -- the device's reason for a rejection
  acked_at    INTEGER,
  rollback_of INTEGER,                           -- the version this one re-published
  PRIMARY KEY (device_id, version)
) WITHOUT ROWID;

-- The broker pushes a device's desired version: a new one reaches it
-- through the feed. Acknowledgements are the broker's own writes.
CREATE TRIGGER zone_configs_added AFTER INSERT ON zone_configs BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('zone', NEW.device_id);
END;
CREATE TRIGGER zone_configs_changed AFTER UPDATE OF desired_version ON zone_configs BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('zone', NEW.device_id);
END;
