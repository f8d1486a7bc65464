-- The change feed: each write transaction takes the next version from sync_clock and stamps every
-- session row it changes; deleted sessions stay as tombstones until purged.
ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_by_version ON sessions (owner, version, key);

CREATE TABLE sync_clock (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO sync_clock (id, version) VALUES (1, 0);

-- The newest tombstone version purged per owner: older sync tokens are expired.
CREATE TABLE sync_purges (
    owner   TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
