-- NIM conformance II: see the SQLite migration 0009. Keys compare bytewise (COLLATE "C").
ALTER TABLE messages ADD COLUMN conversation text;
UPDATE messages SET conversation = coalesce(team_key, '?' || from_account);
UPDATE messages m SET conversation = p.conversation
FROM (
    SELECT last_msg_id AS server_id,
           min('p2p|' || LEAST(owner COLLATE "C", substr(key, 5) COLLATE "C") || ' '
               || GREATEST(owner COLLATE "C", substr(key, 5) COLLATE "C")) AS conversation
    FROM sessions WHERE kind = 0 AND last_msg_id IS NOT NULL GROUP BY last_msg_id
) AS p
WHERE m.team_key IS NULL AND m.server_id = p.server_id;
ALTER TABLE messages
    ALTER COLUMN conversation SET NOT NULL,
    DROP CONSTRAINT messages_pkey,
    ADD PRIMARY KEY (server_id, conversation),
    ADD COLUMN order_key text COLLATE "C" NOT NULL GENERATED ALWAYS AS (CASE
        WHEN server_id = '' THEN ''
        WHEN server_id ~ '^[0-9]+$' AND length(ltrim(server_id, '0')) <= 20
            THEN '0' || lpad(ltrim(server_id, '0'), 20, '0') || server_id
        ELSE '1' || server_id END) STORED;
DROP INDEX messages_by_team;
CREATE INDEX messages_by_team ON messages (team_key, time, order_key) WHERE team_key IS NOT NULL;

ALTER TABLE revocations ADD COLUMN conversation text;
UPDATE revocations r SET conversation = coalesce(
    (SELECT m.conversation FROM messages m WHERE m.server_id = r.message_server_id LIMIT 1),
    '?' || r.operator);
ALTER TABLE revocations
    ALTER COLUMN conversation SET NOT NULL,
    DROP CONSTRAINT revocations_pkey,
    ADD PRIMARY KEY (message_server_id, conversation);

ALTER TABLE sessions ADD COLUMN last_msg_order text COLLATE "C" GENERATED ALWAYS AS (CASE
    WHEN last_msg_id = '' THEN ''
    WHEN last_msg_id ~ '^[0-9]+$' AND length(ltrim(last_msg_id, '0')) <= 20
        THEN '0' || lpad(ltrim(last_msg_id, '0'), 20, '0') || last_msg_id
    ELSE '1' || last_msg_id END) STORED;

ALTER TABLE team_facts ADD COLUMN event_order text COLLATE "C" NOT NULL GENERATED ALWAYS AS (CASE
    WHEN event_id = '' THEN ''
    WHEN event_id ~ '^[0-9]+$' AND length(ltrim(event_id, '0')) <= 20
        THEN '0' || lpad(ltrim(event_id, '0'), 20, '0') || event_id
    ELSE '1' || event_id END) STORED;
DROP INDEX team_facts_by_time;
CREATE INDEX team_facts_by_order ON team_facts (team_key, time, event_order);

ALTER TABLE team_snapshots ADD COLUMN event_order text COLLATE "C" NOT NULL GENERATED ALWAYS AS (
    CASE WHEN event_id = '' THEN ''
    WHEN event_id ~ '^[0-9]+$' AND length(ltrim(event_id, '0')) <= 20
        THEN '0' || lpad(ltrim(event_id, '0'), 20, '0') || event_id
    ELSE '1' || event_id END) STORED;
CREATE INDEX team_snapshots_by_order ON team_snapshots (team_key, time, event_order);

CREATE TABLE upgrade_tasks (
    name text PRIMARY KEY
);
INSERT INTO upgrade_tasks (name) VALUES ('id order');
