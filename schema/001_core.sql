-- Core identities, device state, telemetry and the security log.

CREATE TABLE devices (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- compact key used by telemetry, never reused
  device_id          TEXT NOT NULL UNIQUE,
  model              TEXT,
  device_secret_hash TEXT NOT NULL,                -- lowercase hex SHA-256 of the secret
  status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  online             INTEGER NOT NULL DEFAULT 0,
  last_seen          INTEGER,
  state              TEXT,                         -- last state object, JSON
  firmware_version   TEXT,
  created_at         INTEGER NOT NULL
);

CREATE TABLE accounts (
  username      TEXT PRIMARY KEY,
  role          TEXT NOT NULL CHECK (role IN ('service', 'admin')),
  password_salt TEXT NOT NULL,                     -- hex
  password_hash TEXT NOT NULL,                     -- hex SHA-256(salt bytes || password)
  created_at    INTEGER NOT NULL
);

-- Raw telemetry. A rowid table with one secondary index: appends stay cheap
-- and queries by device and time use the index.
CREATE TABLE telemetry (
  device_ref     INTEGER NOT NULL,                 -- devices.id (no FK: a queued row may outlive a deleted device)
  metric         TEXT NOT NULL,
  received_at_ms INTEGER NOT NULL,
  payload        TEXT NOT NULL
);
CREATE INDEX telemetry_by_device_time ON telemetry (device_ref, received_at_ms);

CREATE TABLE security_log (
  id         INTEGER PRIMARY KEY,
  event_type TEXT NOT NULL,
  severity   TEXT NOT NULL,
  ip         TEXT,
  details    TEXT NOT NULL,                        -- JSON object
  time       INTEGER NOT NULL
);
CREATE INDEX security_log_by_time ON security_log (time);

-- What the CLI changed, for the running broker to pick up (revocations now;
-- zones, rollouts and diag requests later). Filled by triggers so no writer
-- can forget it.
CREATE TABLE change_feed (
  seq    INTEGER PRIMARY KEY AUTOINCREMENT,
  entity TEXT NOT NULL,
  key    TEXT NOT NULL
);

CREATE TRIGGER devices_added AFTER INSERT ON devices BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('device', NEW.device_id);
END;
CREATE TRIGGER devices_changed AFTER UPDATE OF status, device_secret_hash ON devices BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('device', NEW.device_id);
END;
CREATE TRIGGER devices_deleted AFTER DELETE ON devices BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('device', OLD.device_id);
END;
CREATE TRIGGER accounts_added AFTER INSERT ON accounts BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('account', NEW.username);
END;
CREATE TRIGGER accounts_changed AFTER UPDATE ON accounts BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('account', NEW.username);
END;
CREATE TRIGGER accounts_deleted AFTER DELETE ON accounts BEGIN
  INSERT INTO change_feed (entity, key) VALUES ('account', OLD.username);
END;
-- Keep the feed short: the broker reads it every few hundred milliseconds.
CREATE TRIGGER change_feed_trim AFTER INSERT ON change_feed BEGIN
  DELETE FROM change_feed WHERE seq < NEW.seq - 10000;
END;

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Account names never collide with device ids (SPEC §4): a login name means
-- exactly one thing.
CREATE TRIGGER accounts_not_device BEFORE INSERT ON accounts
WHEN EXISTS (SELECT 1 FROM devices WHERE device_id = NEW.username) BEGIN
  SELECT RAISE(ABORT, 'name is already a device id');
END;
CREATE TRIGGER devices_not_account BEFORE INSERT ON devices
WHEN EXISTS (SELECT 1 FROM accounts WHERE username = NEW.device_id) BEGIN
  SELECT RAISE(ABORT, 'id is already an account name');
END;
