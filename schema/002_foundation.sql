-- Diagnostics requests (SPEC §5 diag/request, §8 diag): stored by rs1ctl,
-- delivered by the broker once the device is online and subscribed.
CREATE TABLE diag_requests (
  request_id TEXT PRIMARY KEY,
  device_id  TEXT NOT NULL,
  what       TEXT NOT NULL,                      -- JSON array of strings
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  sent_at    INTEGER                             -- NULL until the broker published it
);
CREATE INDEX diag_requests_pending ON diag_requests (device_id, sent_at, expires_at);

CREATE TRIGGER diag_requests_added AFTER INSERT ON diag_requests BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('diag', NEW.request_id);
END;

