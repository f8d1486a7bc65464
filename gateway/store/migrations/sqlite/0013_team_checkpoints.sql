-- Membership checkpoints (gateway/store/_teams.py): a team's members after every change at or
-- before an event, kept every so many of the team's writes, so that the members before a late
-- event are read from the nearest checkpoint before it, never from the start of the team.
CREATE TABLE team_checkpoints (
    team_key    TEXT NOT NULL,
    time        INTEGER NOT NULL,
    event_order TEXT NOT NULL,  -- the id's sort key (domain/order.py)
    event_id    TEXT NOT NULL,
    members     TEXT NOT NULL,  -- JSON array of accounts
    PRIMARY KEY (team_key, time, event_order)
) WITHOUT ROWID;

-- The team's writes since its last checkpoint: counted as the team is locked.
ALTER TABLE team_locks ADD COLUMN since_checkpoint INTEGER NOT NULL DEFAULT 0;

-- Each team's cached members are its members after its newest change: its first checkpoint.
INSERT INTO team_checkpoints (team_key, time, event_order, event_id, members)
SELECT newest.team_key, newest.time, newest.event_order, newest.event_id,
       (SELECT json_group_array(member) FROM team_members m WHERE m.team_key = newest.team_key)
FROM (
    SELECT team_key, time, event_order, event_id,
           ROW_NUMBER() OVER (PARTITION BY team_key ORDER BY time DESC, event_order DESC) AS n
    FROM (SELECT team_key, time, event_order, event_id FROM team_facts
          UNION ALL
          SELECT team_key, time, event_order, event_id FROM team_snapshots) AS changes
) AS newest
WHERE newest.n = 1;
