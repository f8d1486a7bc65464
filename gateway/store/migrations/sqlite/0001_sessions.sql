-- Every message once, shared by all the sessions it is the last message of. Listing sessions
-- without their last message never reads this table.
CREATE TABLE messages (
    server_id    TEXT PRIMARY KEY,
    client_id    TEXT,
    from_account TEXT NOT NULL,
    type         TEXT NOT NULL,
    time         INTEGER NOT NULL,
    text         TEXT,
    attachment   TEXT,
    ext          TEXT
) WITHOUT ROWID;

-- Recalls, kept so that a recall which arrives before its message still applies.
CREATE TABLE revocations (
    message_server_id TEXT PRIMARY KEY,
    operator          TEXT NOT NULL,
    time              INTEGER NOT NULL,
    postscript        TEXT
) WITHOUT ROWID;

CREATE TABLE sessions (
    owner             TEXT NOT NULL,
    key               TEXT NOT NULL,     -- 'p2p|bob', 'team|123', 'super_team|456'
    update_time       INTEGER NOT NULL,  -- ms since the epoch
    server_ext        TEXT NOT NULL DEFAULT '',
    last_kind         INTEGER,           -- NULL: no message yet; 0 message; 1 revoke notification
    last_msg_id       TEXT,
    last_msg_time     INTEGER,
    revoke_operator   TEXT,
    revoke_time       INTEGER,
    revoke_postscript TEXT,
    deleted_at        INTEGER,           -- set while the row is a tombstone of a deleted session
    horizon           INTEGER NOT NULL DEFAULT -9223372036854775808,  -- older messages stay deleted
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;

-- Serves every page, time window and count of a viewer's live sessions.
CREATE INDEX sessions_live_by_time
    ON sessions (owner, update_time DESC, key DESC)
    WHERE deleted_at IS NULL;
