-- Device API sessions (SPEC §10): one row per token POST /api/v1/session
-- issued. A token is honoured only while its row is here, so DELETE
-- /api/v1/session removes the row, and deleting the account removes all of
-- its rows (the cascade). Rows are pruned at the next login once the token
-- would have expired.
CREATE TABLE api_sessions (
  jti        TEXT PRIMARY KEY,
  username   TEXT NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
  issued_at  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_sessions_by_username ON api_sessions (username);
CREATE INDEX api_sessions_by_expiry ON api_sessions (expires_at);
