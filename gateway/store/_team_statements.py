"""The statements of the team rules (store/_teams.py), written as _statements.py's are: "?"
placeholders, ``CAST`` where PostgreSQL cannot infer a parameter's type.

A team's events order by their key: the time, then the id's sort key (domain/order.py), which the
database computes, ``order_key`` on messages and ``event_order`` on the membership tables. A key
is given as two parameters, its time and its sort key (``_teams._at``). The columns each table is
written with are listed once, for these statements and for the bulk import's (store/_bulk.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store._statements import DELIVERED_COLUMNS, RETURNING_CHANGE

FACT_COLUMNS = ("team_key", "account", "time", "event_id", "member", "receives")
SNAPSHOT_COLUMNS = ("team_key", "time", "event_id", "members", "receivers")
CHECKPOINT_COLUMNS = ("team_key", "time", "event_order", "event_id", "members")
# Rows of those columns, as a bulk import makes them (store/_received.py).
FactRow = tuple[str, str, int, str, int, int]
SnapshotRow = tuple[str, int, str, str, str | None]
CheckpointRow = tuple[str, int, str, str, str]

# What is read of each (the rows of store/_rows.py's fact_, snapshot_ and member_list_from_row).
_FACT = "account, time, event_order, event_id, member, receives"
_SNAPSHOT = "time, event_order, event_id, members, receivers"
_CHECKPOINT = "time, event_order, event_id, members"
# A team's messages with their recalls (store/_rows.py's team_message_from_row).
_TEAM_MESSAGES = """
SELECT m.time, m.order_key, m.server_id, m.from_account, m.type, r.operator, r.time, r.postscript
FROM messages m LEFT JOIN revocations r
    ON r.message_server_id = m.server_id AND r.conversation = m.conversation
WHERE m.team_key = ?"""

_EVENT = "time, event_order"
_MESSAGE = "m.time, m.order_key"
_NEWEST = "ORDER BY time DESC, event_order DESC LIMIT 1"


def _key(op: str, columns: str = _EVENT) -> str:
    """``columns`` compared by ``op`` with the key given as two parameters."""
    return f"({columns}) {op} (CAST(? AS BIGINT), CAST(? AS TEXT))"


def _insert(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


_AT = f"AND {_key('=')}"
_BEFORE = f"AND {_key('<')}"
_FROM = f"AND {_key('>=')}"
_BETWEEN = f"{_FROM} {_BEFORE}"

# Anything of the team after a key: its messages and changes, and a checkpoint at it or after.
LATER = f"""
SELECT 1 FROM messages WHERE team_key = ? AND {_key(">", "time, order_key")}
UNION ALL
SELECT 1 FROM team_facts WHERE team_key = ? AND {_key(">")}
UNION ALL
SELECT 1 FROM team_snapshots WHERE team_key = ? AND {_key(">")}
UNION ALL
SELECT 1 FROM team_checkpoints WHERE team_key = ? AND {_key(">=")}
LIMIT 1
"""

# Membership changes ---------------------------------------------------------------------------
INSERT_FACT = f"{_insert('team_facts', FACT_COLUMNS)} ON CONFLICT DO NOTHING RETURNING 1"
INSERT_SNAPSHOT = (
    f"{_insert('team_snapshots', SNAPSHOT_COLUMNS)} ON CONFLICT DO NOTHING RETURNING 1"
)
FACTS = f"SELECT {_FACT} FROM team_facts WHERE team_key = ?"
SNAPSHOTS = f"SELECT {_SNAPSHOT} FROM team_snapshots WHERE team_key = ?"
FACTS_AT = f"{FACTS} {_AT}"
SNAPSHOTS_AT = f"{SNAPSHOTS} {_AT}"
FACTS_FROM = f"{FACTS} {_FROM}"
SNAPSHOTS_FROM = f"{SNAPSHOTS} {_FROM}"
SNAPSHOTS_BETWEEN = f"{SNAPSHOTS} {_BETWEEN}"
SNAPSHOT_BEFORE = f"{SNAPSHOTS} {_BEFORE} {_NEWEST}"
# account, then keys
ACCOUNT_FACT_BEFORE = f"{FACTS} AND account = ? {_BEFORE} {_NEWEST}"
ACCOUNT_FACTS_BETWEEN = f"{FACTS} AND account = ? {_BETWEEN}"
# Each account's newest fact in [since, key) (a fact at the snapshot's own key wins over it), in
# one pass over that range.
NEWEST_FACTS_BETWEEN = f"""
SELECT account, member FROM (
    SELECT account, member,
           ROW_NUMBER() OVER (PARTITION BY account ORDER BY time DESC, event_order DESC) AS n
    FROM team_facts WHERE team_key = ? {_BETWEEN}
) AS newest WHERE n = 1
"""

# Checkpoints: the members after a key, every so many writes of a team -------------------------
CHECKPOINTS = f"SELECT {_CHECKPOINT} FROM team_checkpoints WHERE team_key = ?"
CHECKPOINT_BEFORE = f"{CHECKPOINTS} {_BEFORE} {_NEWEST}"
CHECKPOINTS_FROM = f"{CHECKPOINTS} {_FROM}"
WRITE_CHECKPOINT = f"""
{_insert("team_checkpoints", CHECKPOINT_COLUMNS)}
ON CONFLICT (team_key, time, event_order) DO UPDATE SET members = excluded.members
"""
CHECKPOINTED = "UPDATE team_locks SET since_checkpoint = 0 WHERE team_key = ?"
# members, team, key
AMEND_CHECKPOINT = """
UPDATE team_checkpoints SET members = ?
WHERE team_key = ? AND time = CAST(? AS BIGINT) AND event_order = CAST(? AS TEXT)
"""
FORGET_CHECKPOINTS = "DELETE FROM team_checkpoints WHERE team_key = ?"

# The members after the newest change, cached --------------------------------------------------
MEMBERS = "SELECT member FROM team_members WHERE team_key = ?"
CLEAR_MEMBERS = "DELETE FROM team_members WHERE team_key = ?"
ADD_MEMBER = "INSERT INTO team_members (team_key, member) VALUES (?, ?) ON CONFLICT DO NOTHING"
REMOVE_MEMBER = "DELETE FROM team_members WHERE team_key = ? AND member = ?"

# The team's messages, oldest first; from a key on; a page before a key, newest first, none at or
# before a horizon (then the page's size).
MESSAGES = f"{_TEAM_MESSAGES} ORDER BY {_MESSAGE}"
MESSAGES_FROM = f"{_TEAM_MESSAGES} AND {_key('>=', _MESSAGE)} ORDER BY {_MESSAGE}"
MESSAGES_BEFORE = f"""{_TEAM_MESSAGES} AND {_key("<", _MESSAGE)} AND m.time > CAST(? AS BIGINT)
ORDER BY m.time DESC, m.order_key DESC LIMIT ?
"""

# A member's session, rebuilt ------------------------------------------------------------------
# owner, key
SESSION_STATE = """
SELECT horizon, read_horizon, last_msg_time, last_msg_order, unread
FROM sessions WHERE owner = ? AND key = ?
"""
SESSION = """
SELECT horizon, read_horizon, deleted_at, last_kind, last_msg_id, unread, revoke_time
FROM sessions WHERE owner = ? AND key = ?
"""
# unread, version, owner, key
SET_UNREAD = f"""
UPDATE sessions SET unread = ?, version = ? WHERE owner = ? AND key = ? AND deleted_at IS NULL
{RETURNING_CHANGE}
"""
WRITE_RECEIVED = f"""
{_insert("sessions", DELIVERED_COLUMNS)}
ON CONFLICT (owner, key) DO UPDATE SET
    update_time = excluded.update_time, last_kind = excluded.last_kind,
    last_msg_id = excluded.last_msg_id, last_msg_time = excluded.last_msg_time,
    revoke_operator = excluded.revoke_operator, revoke_time = excluded.revoke_time,
    revoke_postscript = excluded.revoke_postscript, unread = excluded.unread,
    deleted_at = NULL, version = excluded.version
{RETURNING_CHANGE}
"""
# Nothing received is left: a session that holds nothing else (ext, pin) goes, as a tombstone that
# keeps no horizon (a later message brings it back). version, now, owner, key
CLEAR_RECEIVED = f"""
UPDATE sessions SET
    last_kind = NULL, last_msg_id = NULL, last_msg_time = NULL, revoke_operator = NULL,
    revoke_time = NULL, revoke_postscript = NULL, unread = 0, version = ?,
    deleted_at = CASE WHEN server_ext = '' AND pinned_at IS NULL THEN CAST(? AS BIGINT) END
WHERE owner = ? AND key = ? AND deleted_at IS NULL
{RETURNING_CHANGE}
"""
