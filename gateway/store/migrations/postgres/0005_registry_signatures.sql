-- The team registry's signatures: see the SQLite migration 0008.
CREATE TABLE registry_signatures (
    signature  text PRIMARY KEY,
    expires_at bigint NOT NULL
);
CREATE INDEX registry_signatures_by_expiry ON registry_signatures (expires_at);
