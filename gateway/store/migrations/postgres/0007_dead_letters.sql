-- Dead letters: see the SQLite migration 0010.
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at bigint NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL,
    headers     text NOT NULL,
    body        bytea NOT NULL
);
CREATE INDEX dead_letters_by_reason ON dead_letters (reason, id);
