-- NIM V2's conversation features: do-not-disturb, and conversation groups (an owner's folders of
-- sessions). A muted session keeps counting its unread messages; totals leave it out unless asked.
ALTER TABLE sessions ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
-- How many groups hold the session: only then does its update_time have rows to follow it.
ALTER TABLE sessions ADD COLUMN in_groups INTEGER NOT NULL DEFAULT 0;

-- A group, or (deleted_at set) its tombstone in the owner's change feed until purged.
CREATE TABLE session_groups (
    owner       TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    server_ext  TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    deleted_at  INTEGER,
    PRIMARY KEY (owner, group_id)
) WITHOUT ROWID;
CREATE INDEX session_groups_by_version ON session_groups (owner, version, group_id);

-- The sessions of each live group, with their update_time (kept equal to the session's by the
-- trigger below), so that a page of one group walks an index of its own, as the whole list does.
CREATE TABLE session_group_members (
    owner       TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    key         TEXT NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (owner, group_id, key)
) WITHOUT ROWID;
CREATE INDEX session_group_members_by_time
    ON session_group_members (owner, group_id, update_time DESC, key DESC);
CREATE INDEX session_group_members_by_key ON session_group_members (owner, key);

-- Whatever write moves a grouped session in time (a message, a recall, a late event) moves its
-- group rows with it, in the same transaction; a session in no group costs only the WHEN.
CREATE TRIGGER sessions_grouped_time AFTER UPDATE OF update_time ON sessions
WHEN NEW.in_groups > 0 AND NEW.update_time <> OLD.update_time
BEGIN
    UPDATE session_group_members SET update_time = NEW.update_time
    WHERE owner = NEW.owner AND key = NEW.key;
END;
