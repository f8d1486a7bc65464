-- The team registry's signatures, each kept until its CurTime window closes, so that a captured
-- request is refused on every process that shares the database (PostgreSQL: every replica).
CREATE TABLE registry_signatures (
    signature  TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX registry_signatures_by_expiry ON registry_signatures (expires_at);
