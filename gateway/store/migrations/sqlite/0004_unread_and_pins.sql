-- Beyond NIM V1: unread counts, read marks, pinning, and filters by type, unread and pin.
ALTER TABLE sessions ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;  -- 0 p2p, 1 team, 2 super_team
UPDATE sessions SET kind = CASE
    WHEN key LIKE 'team|%' THEN 1 WHEN key LIKE 'super\_team|%' ESCAPE '\' THEN 2 ELSE 0 END;
ALTER TABLE sessions ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_read_time INTEGER;
-- Messages at or before it were read: a mark-read covers everything up to the last message.
ALTER TABLE sessions ADD COLUMN read_horizon INTEGER NOT NULL DEFAULT -9223372036854775808;
ALTER TABLE sessions ADD COLUMN pinned_at INTEGER;

CREATE INDEX sessions_live_by_kind
    ON sessions (owner, kind, update_time DESC, key DESC) WHERE deleted_at IS NULL;
CREATE INDEX sessions_unread
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND unread > 0;
CREATE INDEX sessions_pinned_by_time
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND pinned_at IS NOT NULL;
CREATE INDEX sessions_unpinned_by_time
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND pinned_at IS NULL;
CREATE INDEX sessions_pinned_by_pin
    ON sessions (owner, pinned_at DESC, key DESC) WHERE deleted_at IS NULL AND pinned_at IS NOT NULL;
