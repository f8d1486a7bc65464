-- A change-feed clock per owner instead of one for everyone: a write takes the next version of
-- each owner whose list it changes, so writes for different owners never wait on one another and
-- a sync token counts its owner's changes only. Counts start again from 0; tokens issued before
-- (the old format) answer SYNC_TOKEN_EXPIRED, so no old position needs to stay meaningful.
CREATE TABLE sync_clocks (
    owner   TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
UPDATE sessions SET version = 0 WHERE version <> 0;
DELETE FROM sync_purges;
DROP TABLE sync_clock;

-- Held by whatever reads and writes a team's members, before it locks any owner's clock.
CREATE TABLE team_locks (
    team_key TEXT PRIMARY KEY
) WITHOUT ROWID;
