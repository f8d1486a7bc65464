-- NIM conformance II (issue 23).
--
-- A message id is unique within its conversation only: messages and recalls are keyed by
-- (server id, conversation), the conversation being keys.conversation_of's text ('team|42',
-- 'super_team|7', 'p2p|<account> <account>'). A P2P message of an earlier release names no peer;
-- where it is someone's last message the session says who, and the rest are kept under
-- '?' || sender, which lookups by sender and id still find (store/sql.py). A recall whose message
-- has not arrived is kept the same way.
--
-- Events order by (msgTimestamp, msgidServer as an unsigned integer): every id gets its sort key
-- (domain/order.py: '0', the number in 20 digits, the id; or '1' and the id), computed by the
-- database from the id itself. Ties an earlier release resolved by text are resolved again when
-- the store first opens (the 'id order' task, store/_repairs.py).
CREATE TABLE messages_keyed (
    server_id    TEXT NOT NULL,
    conversation TEXT NOT NULL,
    client_id    TEXT,
    from_account TEXT NOT NULL,
    type         TEXT NOT NULL,
    time         INTEGER NOT NULL,
    text         TEXT,
    attachment   TEXT,
    ext          TEXT,
    team_key     TEXT,
    order_key    TEXT NOT NULL GENERATED ALWAYS AS (CASE
        WHEN server_id = '' THEN ''
        WHEN server_id NOT GLOB '*[^0-9]*' AND length(ltrim(server_id, '0')) <= 20
            THEN '0' || substr('00000000000000000000' || ltrim(server_id, '0'), -20) || server_id
        ELSE '1' || server_id END) STORED,
    PRIMARY KEY (server_id, conversation)
) WITHOUT ROWID;

INSERT INTO messages_keyed (server_id, conversation, client_id, from_account, type, time, text,
                            attachment, ext, team_key)
SELECT m.server_id, coalesce(m.team_key, p.conversation, '?' || m.from_account), m.client_id,
       m.from_account, m.type, m.time, m.text, m.attachment, m.ext, m.team_key
FROM messages m LEFT JOIN (
    SELECT last_msg_id AS server_id,
           min('p2p|' || min(owner, substr(key, 5)) || ' ' || max(owner, substr(key, 5)))
               AS conversation
    FROM sessions WHERE kind = 0 AND last_msg_id IS NOT NULL GROUP BY last_msg_id
) AS p ON p.server_id = m.server_id AND m.team_key IS NULL;

CREATE TABLE revocations_keyed (
    message_server_id TEXT NOT NULL,
    conversation      TEXT NOT NULL,
    operator          TEXT NOT NULL,
    time              INTEGER NOT NULL,
    postscript        TEXT,
    PRIMARY KEY (message_server_id, conversation)
) WITHOUT ROWID;

INSERT INTO revocations_keyed (message_server_id, conversation, operator, time, postscript)
SELECT r.message_server_id, coalesce(m.conversation, '?' || r.operator), r.operator, r.time,
       r.postscript
FROM revocations r LEFT JOIN messages_keyed m ON m.server_id = r.message_server_id;

DROP TABLE messages;
ALTER TABLE messages_keyed RENAME TO messages;
CREATE INDEX messages_by_team ON messages (team_key, time, order_key) WHERE team_key IS NOT NULL;
DROP TABLE revocations;
ALTER TABLE revocations_keyed RENAME TO revocations;

ALTER TABLE sessions ADD COLUMN last_msg_order TEXT GENERATED ALWAYS AS (CASE
    WHEN last_msg_id = '' THEN ''
    WHEN last_msg_id NOT GLOB '*[^0-9]*' AND length(ltrim(last_msg_id, '0')) <= 20
        THEN '0' || substr('00000000000000000000' || ltrim(last_msg_id, '0'), -20) || last_msg_id
    ELSE '1' || last_msg_id END) VIRTUAL;

ALTER TABLE team_facts ADD COLUMN event_order TEXT GENERATED ALWAYS AS (CASE
    WHEN event_id = '' THEN ''
    WHEN event_id NOT GLOB '*[^0-9]*' AND length(ltrim(event_id, '0')) <= 20
        THEN '0' || substr('00000000000000000000' || ltrim(event_id, '0'), -20) || event_id
    ELSE '1' || event_id END) VIRTUAL;
DROP INDEX team_facts_by_time;
CREATE INDEX team_facts_by_order ON team_facts (team_key, time, event_order);

ALTER TABLE team_snapshots ADD COLUMN event_order TEXT GENERATED ALWAYS AS (CASE
    WHEN event_id = '' THEN ''
    WHEN event_id NOT GLOB '*[^0-9]*' AND length(ltrim(event_id, '0')) <= 20
        THEN '0' || substr('00000000000000000000' || ltrim(event_id, '0'), -20) || event_id
    ELSE '1' || event_id END) VIRTUAL;
CREATE INDEX team_snapshots_by_order ON team_snapshots (team_key, time, event_order);

-- Work a store does once, in Python, when it opens (store/_repairs.py), then deletes.
CREATE TABLE upgrade_tasks (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO upgrade_tasks (name) VALUES ('id order');
