-- A change-feed clock per owner: see the SQLite migration 0006. Rewrites every session row once.
CREATE TABLE sync_clocks (
    owner   text PRIMARY KEY,
    version bigint NOT NULL
);
UPDATE sessions SET version = 0 WHERE version <> 0;
DELETE FROM sync_purges;
DROP TABLE sync_clock_state;

CREATE TABLE team_locks (
    team_key text PRIMARY KEY
);
