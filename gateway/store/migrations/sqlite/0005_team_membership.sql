-- Team membership learned from NIM's stream (gateway/store/_teams.py): every change kept, stamped
-- with the event that made it, so late and out-of-order events give the state time order gives.
ALTER TABLE messages ADD COLUMN team_key TEXT;  -- the team of a team message; NULL for P2P
CREATE INDEX messages_by_team ON messages (team_key, time, server_id) WHERE team_key IS NOT NULL;

-- One account's change: a member (or not) after (time, event_id), receiving that event's message.
CREATE TABLE team_facts (
    team_key TEXT NOT NULL,
    account  TEXT NOT NULL,
    time     INTEGER NOT NULL,
    event_id TEXT NOT NULL,  -- the message's server id; '' for a registry write
    member   INTEGER NOT NULL,
    receives INTEGER NOT NULL,
    PRIMARY KEY (team_key, account, time, event_id)
) WITHOUT ROWID;
CREATE INDEX team_facts_by_time ON team_facts (team_key, time, event_id);

-- The whole team at an event (tMembers, a registry replace, a dismiss): JSON arrays of accounts.
CREATE TABLE team_snapshots (
    team_key  TEXT NOT NULL,
    time      INTEGER NOT NULL,
    event_id  TEXT NOT NULL,
    members   TEXT NOT NULL,  -- the members after it
    receivers TEXT,           -- who received its message; NULL: the members before it
    PRIMARY KEY (team_key, time, event_id)
) WITHOUT ROWID;

-- Members registered before this release were members from the start of time.
INSERT INTO team_facts (team_key, account, time, event_id, member, receives)
SELECT team_key, member, 0, '', 1, 0 FROM team_members;
