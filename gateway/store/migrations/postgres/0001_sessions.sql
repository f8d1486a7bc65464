-- The whole model of the SQLite migrations 0001-0004, for PostgreSQL. Every session table's
-- primary key and index starts with the owner, ready for sharding by owner (e.g. Citus).
-- Keys compare bytewise (COLLATE "C"), as in SQLite, so both backends order lists alike.

CREATE TABLE messages (
    server_id    text PRIMARY KEY,
    client_id    text,
    from_account text NOT NULL,
    type         text NOT NULL,
    time         bigint NOT NULL,
    text         text,
    attachment   text,
    ext          text
);

CREATE TABLE revocations (
    message_server_id text PRIMARY KEY,
    operator          text NOT NULL,
    time              bigint NOT NULL,
    postscript        text
);

CREATE TABLE team_members (
    team_key text NOT NULL,
    member   text NOT NULL,
    PRIMARY KEY (team_key, member)
);

CREATE TABLE sessions (
    owner             text NOT NULL,
    key               text COLLATE "C" NOT NULL,
    kind              smallint NOT NULL DEFAULT 0,
    update_time       bigint NOT NULL,
    server_ext        text NOT NULL DEFAULT '',
    last_kind         smallint,
    last_msg_id       text,
    last_msg_time     bigint,
    revoke_operator   text,
    revoke_time       bigint,
    revoke_postscript text,
    deleted_at        bigint,
    horizon           bigint NOT NULL DEFAULT -9223372036854775808,
    version           bigint NOT NULL DEFAULT 0,
    unread            integer NOT NULL DEFAULT 0,
    last_read_time    bigint,
    read_horizon      bigint NOT NULL DEFAULT -9223372036854775808,
    pinned_at         bigint,
    PRIMARY KEY (owner, key)
);

CREATE INDEX sessions_live_by_time
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL;
CREATE INDEX sessions_live_by_kind
    ON sessions (owner, kind, update_time DESC, key DESC) WHERE deleted_at IS NULL;
CREATE INDEX sessions_unread
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND unread > 0;
CREATE INDEX sessions_pinned_by_time
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND pinned_at IS NOT NULL;
CREATE INDEX sessions_unpinned_by_time
    ON sessions (owner, update_time DESC, key DESC) WHERE deleted_at IS NULL AND pinned_at IS NULL;
CREATE INDEX sessions_pinned_by_pin
    ON sessions (owner, pinned_at DESC, key DESC) WHERE deleted_at IS NULL AND pinned_at IS NOT NULL;
CREATE INDEX sessions_by_version ON sessions (owner, version, key);

-- One row: each write transaction increments it and holds its lock until COMMIT, so versions
-- commit in order (a sequence would hand them out in start order instead).
CREATE TABLE sync_clock_state (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO sync_clock_state (id, version) VALUES (1, 0);

CREATE TABLE sync_purges (
    owner   text PRIMARY KEY,
    version bigint NOT NULL
);
