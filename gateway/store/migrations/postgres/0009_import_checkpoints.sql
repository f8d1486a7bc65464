-- Import checkpoints: see the SQLite migration 0012.
CREATE TABLE import_checkpoints (
    source     text PRIMARY KEY,
    line       bigint NOT NULL,
    bytes      bigint NOT NULL,
    digest     text NOT NULL,
    report     text NOT NULL,
    updated_at bigint NOT NULL
);
