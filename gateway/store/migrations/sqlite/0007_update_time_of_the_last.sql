-- update_time is the time of what is last now: the last message's msgTimestamp, or the deleteTime
-- of the recall that revoked it. It used to be kept as a maximum over arrivals, so a recall of a
-- message that a newer one then replaced, or an ext that made the session before an older message
-- arrived, could leave a later time than what is last. Such sessions take the time of their last
-- message now, and reach their owners' change feeds as changed (each owner's clock moves on).
INSERT INTO sync_clocks (owner, version)
SELECT DISTINCT owner, 1 FROM sessions
WHERE deleted_at IS NULL AND last_msg_time IS NOT NULL
  AND update_time <> CASE WHEN last_kind = 1 THEN max(last_msg_time, coalesce(revoke_time, 0))
                          ELSE last_msg_time END
ON CONFLICT (owner) DO UPDATE SET version = sync_clocks.version + 1;

UPDATE sessions SET
    update_time = CASE WHEN last_kind = 1 THEN max(last_msg_time, coalesce(revoke_time, 0))
                       ELSE last_msg_time END,
    version = (SELECT c.version FROM sync_clocks c WHERE c.owner = sessions.owner)
WHERE deleted_at IS NULL AND last_msg_time IS NOT NULL
  AND update_time <> CASE WHEN last_kind = 1 THEN max(last_msg_time, coalesce(revoke_time, 0))
                          ELSE last_msg_time END;
