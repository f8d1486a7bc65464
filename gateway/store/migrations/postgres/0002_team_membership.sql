-- Team membership learned from NIM's stream: see the SQLite migration 0005 for the model.
ALTER TABLE messages ADD COLUMN team_key text;
CREATE INDEX messages_by_team ON messages (team_key, time, server_id) WHERE team_key IS NOT NULL;

CREATE TABLE team_facts (
    team_key text NOT NULL,
    account  text NOT NULL,
    time     bigint NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    member   smallint NOT NULL,
    receives smallint NOT NULL,
    PRIMARY KEY (team_key, account, time, event_id)
);
CREATE INDEX team_facts_by_time ON team_facts (team_key, time, event_id);

CREATE TABLE team_snapshots (
    team_key  text NOT NULL,
    time      bigint NOT NULL,
    event_id  text COLLATE "C" NOT NULL,
    members   text NOT NULL,
    receivers text,
    PRIMARY KEY (team_key, time, event_id)
);

INSERT INTO team_facts (team_key, account, time, event_id, member, receives)
SELECT team_key, member, 0, '', 1, 0 FROM team_members;
