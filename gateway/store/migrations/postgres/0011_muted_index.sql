-- A page of muted sessions walks an index of its own: see the SQLite migration 0014.
CREATE INDEX sessions_muted_by_time
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND muted = 1;
