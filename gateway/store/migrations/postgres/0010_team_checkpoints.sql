-- Membership checkpoints: see the SQLite migration 0013 for the model.
CREATE TABLE team_checkpoints (
    team_key    text NOT NULL,
    time        bigint NOT NULL,
    event_order text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    members     text NOT NULL,
    PRIMARY KEY (team_key, time, event_order)
);

ALTER TABLE team_locks ADD COLUMN since_checkpoint integer NOT NULL DEFAULT 0;

INSERT INTO team_checkpoints (team_key, time, event_order, event_id, members)
SELECT newest.team_key, newest.time, newest.event_order, newest.event_id,
       COALESCE((SELECT json_agg(m.member ORDER BY m.member)::text FROM team_members m
                 WHERE m.team_key = newest.team_key), '[]')
FROM (
    SELECT team_key, time, event_order, event_id,
           ROW_NUMBER() OVER (PARTITION BY team_key ORDER BY time DESC, event_order DESC) AS n
    FROM (SELECT team_key, time, event_order, event_id FROM team_facts
          UNION ALL
          SELECT team_key, time, event_order, event_id FROM team_snapshots) AS changes
) AS newest
WHERE newest.n = 1;
