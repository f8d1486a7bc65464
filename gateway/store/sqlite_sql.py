"""The SQL of the SQLite store. Statements are assembled only from these constants and "?"
placeholders."""

from __future__ import annotations

from collections.abc import Sequence

SESSION_COLUMNS = (
    "key, update_time, server_ext, last_kind, last_msg_id, "
    "revoke_operator, revoke_time, revoke_postscript"
)
MESSAGE_COLUMNS = "server_id, client_id, from_account, type, time, text, attachment, ext"

# Reads ------------------------------------------------------------------------------------------

LIVE_IN_WINDOW = "owner = ? AND deleted_at IS NULL AND update_time BETWEEN ? AND ?"
LIST_PAGE = (
    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {LIVE_IN_WINDOW} "
    "ORDER BY update_time DESC, key DESC LIMIT ?"
)
LIST_PAGE_AFTER = (
    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {LIVE_IN_WINDOW} "
    "AND (update_time, key) < (?, ?) ORDER BY update_time DESC, key DESC LIMIT ?"
)
ANY_BEFORE = (
    f"SELECT 1 FROM sessions WHERE {LIVE_IN_WINDOW} AND (update_time, key) > (?, ?) LIMIT 1"
)
COUNT = f"SELECT count(*) FROM sessions WHERE {LIVE_IN_WINDOW}"
ANY_SESSION = "SELECT 1 FROM sessions LIMIT 1"


def sessions_by_key(count: int) -> str:
    return (
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE owner = ? AND deleted_at IS NULL "
        f"AND key IN ({marks(count)})"
    )


def messages_by_id(count: int) -> str:
    return f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE server_id IN ({marks(count)})"


def marks(count: int) -> str:
    return ", ".join("?" * count)


# The change feed --------------------------------------------------------------------------------

CLOCK = "SELECT version FROM sync_clock WHERE id = 1"
TICK = "UPDATE sync_clock SET version = version + 1 WHERE id = 1 RETURNING version"
_CHANGE_COLUMNS = f"version, deleted_at IS NOT NULL, {SESSION_COLUMNS}"
CHANGES_AFTER_VERSION = (
    f"SELECT {_CHANGE_COLUMNS} FROM sessions WHERE owner = ? AND version > ? "
    "ORDER BY version, key LIMIT ?"
)
CHANGES_AFTER_KEY = (
    f"SELECT {_CHANGE_COLUMNS} FROM sessions WHERE owner = ? AND (version, key) > (?, ?) "
    "ORDER BY version, key LIMIT ?"
)
PURGED_THROUGH = "SELECT version FROM sync_purges WHERE owner = ?"
RECORD_PURGES = """
INSERT INTO sync_purges (owner, version)
SELECT owner, max(version) FROM sessions
WHERE deleted_at IS NOT NULL AND deleted_at < ? GROUP BY owner
ON CONFLICT (owner) DO UPDATE SET version = max(version, excluded.version)
"""
PURGE_TOMBSTONES = "DELETE FROM sessions WHERE deleted_at IS NOT NULL AND deleted_at < ?"

# The owner's writes -----------------------------------------------------------------------------

UPSERT_EXT = f"""
INSERT INTO sessions (owner, key, update_time, server_ext, version) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (owner, key) DO UPDATE SET
    server_ext = excluded.server_ext,
    update_time = CASE WHEN deleted_at IS NULL THEN update_time ELSE excluded.update_time END,
    deleted_at = NULL,
    version = excluded.version
RETURNING {SESSION_COLUMNS}
"""

# A tombstone forgets everything the session held; `horizon` keeps older messages out of it.
DELETE_KEY = """
UPDATE sessions SET
    deleted_at = ?1, update_time = ?1, horizon = max(horizon, ?1, coalesce(last_msg_time, ?1)),
    server_ext = '', last_kind = NULL, last_msg_id = NULL, last_msg_time = NULL,
    revoke_operator = NULL, revoke_time = NULL, revoke_postscript = NULL, version = ?2
WHERE owner = ?3 AND key = ?4 AND deleted_at IS NULL
RETURNING key
"""

# Ingestion --------------------------------------------------------------------------------------

INSERT_MESSAGE = f"""
INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""

# The message becomes the last one only where it is newer, by (time, server id), than the
# current last message and than the owner's last deletion of the session.
_DELIVER_COLUMNS = """
INSERT INTO sessions (owner, key, update_time, last_kind, last_msg_id, last_msg_time,
                      revoke_operator, revoke_time, revoke_postscript, version)
"""
_DELIVER_IF_NEWER = """
ON CONFLICT (owner, key) DO UPDATE SET
    update_time = max(update_time, excluded.update_time),
    last_kind = excluded.last_kind,
    last_msg_id = excluded.last_msg_id,
    last_msg_time = excluded.last_msg_time,
    revoke_operator = excluded.revoke_operator,
    revoke_time = excluded.revoke_time,
    revoke_postscript = excluded.revoke_postscript,
    deleted_at = NULL,
    version = excluded.version
WHERE excluded.last_msg_time > horizon
  AND (last_msg_time IS NULL
       OR (excluded.last_msg_time, excluded.last_msg_id) > (last_msg_time, last_msg_id))
RETURNING owner
"""
DELIVER_MESSAGE = f"{_DELIVER_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {_DELIVER_IF_NEWER}"
# One statement for the whole team, however many members it has.
DELIVER_TO_TEAM = f"""
{_DELIVER_COLUMNS} SELECT member, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM team_members WHERE team_key = ?
{_DELIVER_IF_NEWER}
"""

INSERT_REVOCATION = """
INSERT INTO revocations (message_server_id, operator, time, postscript) VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
FIND_REVOCATION = "SELECT operator, time, postscript FROM revocations WHERE message_server_id = ?"
_REVOKE = """
UPDATE sessions SET
    last_kind = 1, revoke_operator = ?, revoke_time = ?, revoke_postscript = ?,
    update_time = max(update_time, ?), version = ?
WHERE key = ? AND last_msg_id = ? AND last_kind = 0 AND deleted_at IS NULL
"""
APPLY_REVOCATION = f"{_REVOKE} AND owner = ? RETURNING owner"
APPLY_REVOCATION_TO_TEAM = (
    f"{_REVOKE} AND owner IN (SELECT member FROM team_members WHERE team_key = ?) RETURNING owner"
)

# The team registry: member lists travel as one JSON array parameter, so any size is one statement.

CLEAR_TEAM = "DELETE FROM team_members WHERE team_key = ?"
ADD_MEMBERS = """
INSERT INTO team_members (team_key, member) SELECT ?, value FROM json_each(?) WHERE true
ON CONFLICT DO NOTHING
"""
REMOVE_MEMBERS = (
    "DELETE FROM team_members WHERE team_key = ? AND member IN (SELECT value FROM json_each(?))"
)
TEAM_MEMBERS = "SELECT member FROM team_members WHERE team_key = ? ORDER BY member"
COUNT_MEMBERS = "SELECT count(*) FROM team_members WHERE team_key = ?"


def chunks(items: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    # SQLite's default limit on host parameters is 32766; stay well below it.
    return [items[start : start + size] for start in range(0, len(items), size)]
