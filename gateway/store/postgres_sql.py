"""The SQL of the PostgreSQL store: the same statements as ``sqlite_sql.py``, in PostgreSQL's
dialect ($n parameters, GREATEST, jsonb). Assembled only from these constants."""

from __future__ import annotations

import re

from gateway.store._changes import RETURNING_CHANGE_COLUMNS
from gateway.store._lists import SESSION_COLUMNS

RETURNING_CHANGE = f"{RETURNING_CHANGE_COLUMNS}, {SESSION_COLUMNS}"

MESSAGE_COLUMNS = "server_id, client_id, from_account, type, time, text, attachment, ext"


def numbered(sql: str) -> str:
    """The shared "?" placeholders as PostgreSQL's $1, $2, ..."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


# Reads ------------------------------------------------------------------------------------------

ANY_SESSION = "SELECT 1 FROM sessions LIMIT 1"
TOTAL_UNREAD = (
    "SELECT coalesce(sum(unread), 0) FROM sessions "
    "WHERE owner = $1 AND deleted_at IS NULL AND unread > 0"
)
SESSIONS_BY_KEY = (
    f"SELECT {SESSION_COLUMNS} FROM sessions "
    "WHERE owner = $1 AND deleted_at IS NULL AND key = ANY($2::text[])"
)
MESSAGES_BY_ID = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE server_id = ANY($1::text[])"

# The change feed --------------------------------------------------------------------------------

CLOCK = "SELECT version FROM sync_clock_state WHERE id = 1"
# The row lock taken here is held to COMMIT: versions commit in order, and the writes that take
# one (every write to sessions) are serialized, as SQLite's single writer serializes them.
TICK = "UPDATE sync_clock_state SET version = version + 1 WHERE id = 1 RETURNING version"
_CHANGE_COLUMNS = f"version, deleted_at, {SESSION_COLUMNS}"
CHANGES_AFTER_VERSION = (
    f"SELECT {_CHANGE_COLUMNS} FROM sessions WHERE owner = $1 AND version > $2 "
    "ORDER BY version, key LIMIT $3"
)
CHANGES_AFTER_KEY = (
    f"SELECT {_CHANGE_COLUMNS} FROM sessions WHERE owner = $1 AND (version, key) > ($2, $3) "
    "ORDER BY version, key LIMIT $4"
)
PURGED_THROUGH = "SELECT version FROM sync_purges WHERE owner = $1"
RECORD_PURGES = """
INSERT INTO sync_purges (owner, version)
SELECT owner, max(version) FROM sessions
WHERE deleted_at IS NOT NULL AND deleted_at < $1 GROUP BY owner
ON CONFLICT (owner) DO UPDATE SET version = GREATEST(sync_purges.version, excluded.version)
"""
PURGE_TOMBSTONES = "DELETE FROM sessions WHERE deleted_at IS NOT NULL AND deleted_at < $1"
CHANGED_OWNERS = (
    "SELECT DISTINCT owner FROM sessions WHERE owner = ANY($1::text[]) AND version > $2"
)

# The owner's writes -----------------------------------------------------------------------------

UPSERT_EXT = f"""
INSERT INTO sessions AS s (owner, key, kind, update_time, server_ext, version)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (owner, key) DO UPDATE SET
    server_ext = excluded.server_ext,
    update_time = CASE WHEN s.deleted_at IS NULL THEN s.update_time ELSE excluded.update_time END,
    deleted_at = NULL,
    version = excluded.version
RETURNING {SESSION_COLUMNS}
"""
DELETE_KEY = """
UPDATE sessions SET
    deleted_at = $1, update_time = $1,
    horizon = GREATEST(horizon, $1, coalesce(last_msg_time, $1)),
    server_ext = '', last_kind = NULL, last_msg_id = NULL, last_msg_time = NULL,
    revoke_operator = NULL, revoke_time = NULL, revoke_postscript = NULL, version = $2,
    unread = 0, last_read_time = NULL, pinned_at = NULL
WHERE owner = $3 AND key = $4 AND deleted_at IS NULL
RETURNING key
"""
_SET_READ = """
    unread = 0, last_read_time = $2::bigint, version = $3,
    read_horizon = GREATEST(read_horizon, $2::bigint, coalesce(last_msg_time, $2::bigint))
"""
MARK_READ = f"""
UPDATE sessions SET {_SET_READ}
WHERE owner = $1 AND key = $4 AND deleted_at IS NULL
RETURNING {SESSION_COLUMNS}
"""
MARK_ALL_READ = f"""
UPDATE sessions SET {_SET_READ}
WHERE owner = $1 AND deleted_at IS NULL AND unread > 0
RETURNING {RETURNING_CHANGE}
"""
PIN = f"""
UPDATE sessions SET pinned_at = $3, version = $4
WHERE owner = $1 AND key = $2 AND deleted_at IS NULL
RETURNING {SESSION_COLUMNS}
"""

# Ingestion --------------------------------------------------------------------------------------

INSERT_MESSAGE = f"""
INSERT INTO messages ({MESSAGE_COLUMNS}, team_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
RETURNING server_id
"""
_NEWER = (
    "(excluded.last_msg_time > s.horizon AND (s.last_msg_time IS NULL OR "
    "(excluded.last_msg_time, excluded.last_msg_id) > (s.last_msg_time, s.last_msg_id)))"
)
_COUNTS = (
    "(excluded.unread > 0 AND excluded.last_msg_time > s.horizon "
    "AND excluded.last_msg_time > s.read_horizon)"
)
_DELIVER_COLUMNS = """
INSERT INTO sessions AS s (owner, key, kind, update_time, last_kind, last_msg_id, last_msg_time,
                           revoke_operator, revoke_time, revoke_postscript, unread, version)
"""


def _if_newer(column: str) -> str:
    return f"{column} = CASE WHEN {_NEWER} THEN excluded.{column} ELSE s.{column} END"


_DELIVER_IF_NEWER = f"""
ON CONFLICT (owner, key) DO UPDATE SET
    update_time = CASE WHEN {_NEWER} THEN GREATEST(s.update_time, excluded.update_time)
                       ELSE s.update_time END,
    {_if_newer("last_kind")}, {_if_newer("last_msg_id")}, {_if_newer("last_msg_time")},
    {_if_newer("revoke_operator")}, {_if_newer("revoke_time")}, {_if_newer("revoke_postscript")},
    deleted_at = CASE WHEN {_NEWER} THEN NULL ELSE s.deleted_at END,
    unread = s.unread + CASE WHEN {_COUNTS} THEN 1 ELSE 0 END,
    version = excluded.version
WHERE {_NEWER} OR {_COUNTS}
RETURNING {RETURNING_CHANGE}
"""
_VALUES = (
    "$2::text, $3::smallint, $4::bigint, $5::smallint, $6::text, $7::bigint, $8::text, "
    "$9::bigint, $10::text"
)
DELIVER_MESSAGE = (
    f"{_DELIVER_COLUMNS} VALUES ($1, {_VALUES}, $11::int, $12::bigint) {_DELIVER_IF_NEWER}"
)
DELIVER_TO_TEAM = f"""
{_DELIVER_COLUMNS}
SELECT member, {_VALUES}, CASE WHEN member = $1 THEN 0 ELSE $11::int END, $12::bigint
FROM team_members WHERE team_key = $2
{_DELIVER_IF_NEWER}
"""

INSERT_REVOCATION = """
INSERT INTO revocations (message_server_id, operator, time, postscript) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
RETURNING message_server_id
"""
FIND_REVOCATION = "SELECT operator, time, postscript FROM revocations WHERE message_server_id = $1"
FIND_SENDER = "SELECT from_account, time, type FROM messages WHERE server_id = $1"

# $1 message, $2 operator, $3 time, $4 postscript, $5 sender, $6 sent, $7 version, $8 key, $9 owner
_IS_LAST = "(last_msg_id = $1 AND last_kind = 0)"
_WAS_COUNTED = (
    "($5::text IS NOT NULL AND owner <> $5::text AND $6::bigint > horizon "
    "AND $6::bigint > read_horizon AND unread > 0)"
)


def _if_last(column: str, value: str) -> str:
    return f"{column} = CASE WHEN {_IS_LAST} THEN {value} ELSE {column} END"


_REVOKE = f"""
UPDATE sessions SET
    {_if_last("last_kind", "1")}, {_if_last("revoke_operator", "$2::text")},
    {_if_last("revoke_time", "$3::bigint")}, {_if_last("revoke_postscript", "$4::text")},
    {_if_last("update_time", "GREATEST(update_time, $3::bigint)")},
    unread = CASE WHEN {_WAS_COUNTED} THEN unread - 1 ELSE unread END,
    version = $7
WHERE key = $8 AND deleted_at IS NULL AND ({_IS_LAST} OR {_WAS_COUNTED})
"""
APPLY_REVOCATION = f"{_REVOKE} AND owner = $9 RETURNING {RETURNING_CHANGE}"
# The team registry ------------------------------------------------------------------------------

TEAM_MEMBERS = "SELECT member FROM team_members WHERE team_key = $1 ORDER BY member"
