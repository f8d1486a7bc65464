-- A page of muted sessions (sessions(muted: true)) walks an index of its own: muted sessions are
-- few among many, and without it the page read the owner's whole list past the unmuted ones.
-- Only muted sessions are in it, so writes to the rest do not maintain it. (muted: false reads
-- the live index past the few muted sessions.)
CREATE INDEX sessions_muted_by_time
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND muted = 1;
