-- Do-not-disturb and conversation groups: see the SQLite migration 0011.
ALTER TABLE sessions ADD COLUMN muted smallint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN in_groups integer NOT NULL DEFAULT 0;

CREATE TABLE session_groups (
    owner       text NOT NULL,
    group_id    text COLLATE "C" NOT NULL,
    name        text NOT NULL,
    server_ext  text NOT NULL DEFAULT '',
    create_time bigint NOT NULL,
    update_time bigint NOT NULL,
    version     bigint NOT NULL,
    deleted_at  bigint,
    PRIMARY KEY (owner, group_id)
);
CREATE INDEX session_groups_by_version ON session_groups (owner, version, group_id);

CREATE TABLE session_group_members (
    owner       text NOT NULL,
    group_id    text COLLATE "C" NOT NULL,
    key         text COLLATE "C" NOT NULL,
    update_time bigint NOT NULL,
    PRIMARY KEY (owner, group_id, key)
);
CREATE INDEX session_group_members_by_time
    ON session_group_members (owner, group_id, update_time DESC, key DESC);
CREATE INDEX session_group_members_by_key ON session_group_members (owner, key);

CREATE FUNCTION session_group_members_follow_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE session_group_members SET update_time = NEW.update_time
    WHERE owner = NEW.owner AND key = NEW.key;
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_grouped_time AFTER UPDATE OF update_time ON sessions
FOR EACH ROW WHEN (NEW.in_groups > 0 AND NEW.update_time <> OLD.update_time)
EXECUTE FUNCTION session_group_members_follow_time();
