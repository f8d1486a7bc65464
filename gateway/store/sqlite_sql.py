"""The SQL of the SQLite store. Statements are assembled only from these constants and "?"
placeholders."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store._changes import RETURNING_CHANGE_COLUMNS
from gateway.store._lists import SESSION_COLUMNS

RETURNING_CHANGE = f"{RETURNING_CHANGE_COLUMNS}, {SESSION_COLUMNS}"

MESSAGE_COLUMNS = "server_id, client_id, from_account, type, time, text, attachment, ext"

# Reads ------------------------------------------------------------------------------------------

ANY_SESSION = "SELECT 1 FROM sessions LIMIT 1"
TOTAL_UNREAD = (
    "SELECT coalesce(sum(unread), 0) FROM sessions "
    "WHERE owner = ? AND deleted_at IS NULL AND unread > 0"
)


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
_CHANGE_COLUMNS = f"version, deleted_at, {SESSION_COLUMNS}"
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
INSERT INTO sessions (owner, key, kind, update_time, server_ext, version) VALUES (?, ?, ?, ?, ?, ?)
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
    revoke_operator = NULL, revoke_time = NULL, revoke_postscript = NULL, version = ?2,
    unread = 0, last_read_time = NULL, pinned_at = NULL
WHERE owner = ?3 AND key = ?4 AND deleted_at IS NULL
RETURNING key
"""

_SET_READ = """
    unread = 0, last_read_time = :now, version = :version,
    read_horizon = max(read_horizon, :now, coalesce(last_msg_time, :now))
"""
MARK_READ = f"""
UPDATE sessions SET {_SET_READ}
WHERE owner = :owner AND key = :key AND deleted_at IS NULL
RETURNING {SESSION_COLUMNS}
"""
MARK_ALL_READ = f"""
UPDATE sessions SET {_SET_READ}
WHERE owner = :owner AND deleted_at IS NULL AND unread > 0
RETURNING {RETURNING_CHANGE}
"""
PIN = f"""
UPDATE sessions SET pinned_at = :pinned_at, version = :version
WHERE owner = :owner AND key = :key AND deleted_at IS NULL
RETURNING {SESSION_COLUMNS}
"""

# Ingestion --------------------------------------------------------------------------------------

INSERT_MESSAGE = f"""
INSERT INTO messages ({MESSAGE_COLUMNS}, team_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""

# The message becomes the last one where it is newer, by (time, server id), than the current last
# message and than the owner's last deletion of the session. Independently, a message from someone
# else after the deletion and after the last read mark counts as unread, even when it arrives late.
_NEWER = (
    "(excluded.last_msg_time > horizon AND (last_msg_time IS NULL OR "
    "(excluded.last_msg_time, excluded.last_msg_id) > (last_msg_time, last_msg_id)))"
)
_COUNTS = (
    "(excluded.unread > 0 AND excluded.last_msg_time > horizon "
    "AND excluded.last_msg_time > read_horizon)"
)
_DELIVER_COLUMNS = """
INSERT INTO sessions (owner, key, kind, update_time, last_kind, last_msg_id, last_msg_time,
                      revoke_operator, revoke_time, revoke_postscript, unread, version)
"""


def _if_newer(column: str) -> str:
    return f"{column} = CASE WHEN {_NEWER} THEN excluded.{column} ELSE {column} END"


_DELIVER_IF_NEWER = f"""
ON CONFLICT (owner, key) DO UPDATE SET
    update_time = CASE WHEN {_NEWER} THEN max(update_time, excluded.update_time)
                       ELSE update_time END,
    {_if_newer("last_kind")}, {_if_newer("last_msg_id")}, {_if_newer("last_msg_time")},
    {_if_newer("revoke_operator")}, {_if_newer("revoke_time")}, {_if_newer("revoke_postscript")},
    deleted_at = CASE WHEN {_NEWER} THEN NULL ELSE deleted_at END,
    unread = unread + CASE WHEN {_COUNTS} THEN 1 ELSE 0 END,
    version = excluded.version
WHERE {_NEWER} OR {_COUNTS}
RETURNING {RETURNING_CHANGE}
"""
DELIVER_MESSAGE = (
    f"{_DELIVER_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {_DELIVER_IF_NEWER}"
)
# One statement for the whole team, however many members it has; the sender's own message is
# not unread for the sender.
DELIVER_TO_TEAM = f"""
{_DELIVER_COLUMNS}
SELECT member, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN member = ? THEN 0 ELSE ? END, ?
FROM team_members WHERE team_key = ?
{_DELIVER_IF_NEWER}
"""

INSERT_REVOCATION = """
INSERT INTO revocations (message_server_id, operator, time, postscript) VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
FIND_REVOCATION = "SELECT operator, time, postscript FROM revocations WHERE message_server_id = ?"
FIND_SENDER = "SELECT from_account, time, type FROM messages WHERE server_id = ?"

# A recall turns the session's last message into a revoke notification if it is the last one,
# and takes back its unread mark wherever it was counted.
_IS_LAST = "(last_msg_id = :message AND last_kind = 0)"
_WAS_COUNTED = (
    "(:sender IS NOT NULL AND owner <> :sender AND :sent > horizon AND :sent > read_horizon "
    "AND unread > 0)"
)


def _if_last(column: str, value: str) -> str:
    return f"{column} = CASE WHEN {_IS_LAST} THEN {value} ELSE {column} END"


_REVOKE = f"""
UPDATE sessions SET
    {_if_last("last_kind", "1")}, {_if_last("revoke_operator", ":operator")},
    {_if_last("revoke_time", ":time")}, {_if_last("revoke_postscript", ":postscript")},
    {_if_last("update_time", "max(update_time, :time)")},
    unread = CASE WHEN {_WAS_COUNTED} THEN unread - 1 ELSE unread END,
    version = :version
WHERE key = :key AND deleted_at IS NULL AND ({_IS_LAST} OR {_WAS_COUNTED})
"""
APPLY_REVOCATION = f"{_REVOKE} AND owner = :owner RETURNING {RETURNING_CHANGE}"

TEAM_MEMBERS = "SELECT member FROM team_members WHERE team_key = ? ORDER BY member"


def chunks(items: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    # SQLite's default limit on host parameters is 32766; stay well below it.
    return [items[start : start + size] for start in range(0, len(items), size)]
