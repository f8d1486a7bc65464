-- The gateway's team registry: who receives a team's messages in their session list.
CREATE TABLE team_members (
    team_key TEXT NOT NULL,  -- 'team|123' or 'super_team|456'
    member   TEXT NOT NULL,
    PRIMARY KEY (team_key, member)
) WITHOUT ROWID;
