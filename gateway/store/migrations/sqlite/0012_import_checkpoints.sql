-- Where an interrupted `gateway import` stands in its file, saved in the transaction that applied
-- the batch before it, so a rerun resumes there (gateway/importer.py). `source` names the file by
-- a digest of its first bytes; `digest` is the SHA-256 of its first `bytes` bytes, which the
-- rerun checks before it skips them. A finished import forgets its row.
CREATE TABLE import_checkpoints (
    source     TEXT PRIMARY KEY,
    line       INTEGER NOT NULL,  -- lines applied
    bytes      INTEGER NOT NULL,  -- the bytes of those lines
    digest     TEXT NOT NULL,
    report     TEXT NOT NULL,     -- JSON: the counts and rejected lines so far
    updated_at INTEGER NOT NULL   -- ms since the epoch
) WITHOUT ROWID;
