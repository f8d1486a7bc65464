-- update_time is the time of what is last now: see the SQLite migration 0007.
INSERT INTO sync_clocks (owner, version)
SELECT DISTINCT owner, 1 FROM sessions
WHERE deleted_at IS NULL AND last_msg_time IS NOT NULL
  AND update_time <> CASE WHEN last_kind = 1 THEN GREATEST(last_msg_time, revoke_time)
                          ELSE last_msg_time END
ON CONFLICT (owner) DO UPDATE SET version = sync_clocks.version + 1;

UPDATE sessions SET
    update_time = CASE WHEN last_kind = 1 THEN GREATEST(last_msg_time, revoke_time)
                       ELSE last_msg_time END,
    version = (SELECT c.version FROM sync_clocks c WHERE c.owner = sessions.owner)
WHERE deleted_at IS NULL AND last_msg_time IS NOT NULL
  AND update_time <> CASE WHEN last_kind = 1 THEN GREATEST(last_msg_time, revoke_time)
                          ELSE last_msg_time END;
