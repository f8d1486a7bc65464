-- Correctly signed message-CC bodies the gateway could not apply (answered 200, or NIM would send
-- them for ever), kept whole for an operator: `gateway dead-letters list|show|replay|purge`.
-- Bounded: past GATEWAY_DEAD_LETTER_LIMIT rows, the oldest go first.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so an id names one letter
    received_at INTEGER NOT NULL,                   -- ms since the epoch
    reason      TEXT NOT NULL,                      -- BadEvent's code: BAD_JSON, MISSING_FIELD, ...
    detail      TEXT NOT NULL,                      -- what was wrong, in words
    headers     TEXT NOT NULL,                      -- JSON object: NIM's signature headers
    body        BLOB NOT NULL                       -- the raw body, as it came
);
CREATE INDEX dead_letters_by_reason ON dead_letters (reason, id);
