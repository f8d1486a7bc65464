"""The SQL store's statements, written once: "?" placeholders (the PostgreSQL driver numbers them),
``CAST`` where PostgreSQL cannot infer a parameter's type, and the fragments that differ from the
dialect. A parameter a statement needs more than once is named once, in a one-row ``FROM``."""

from __future__ import annotations

from gateway.store._changes import RETURNING_CHANGE_COLUMNS
from gateway.store._driver import Dialect
from gateway.store._lists import MESSAGE_COLUMNS, SESSION_COLUMNS

RETURNING_CHANGE = f"RETURNING {RETURNING_CHANGE_COLUMNS}, {SESSION_COLUMNS}"
_CHANGE_COLUMNS = f"version, deleted_at, {SESSION_COLUMNS}"

# The message becomes the last one where it is newer, by (time, server id as an unsigned integer:
# last_msg_order, domain/order.py), than the current last message and than the owner's last
# deletion of the session. Independently, a message from someone else after the deletion and after
# the last read mark counts as unread, even when it arrives late.
_NEWER = (
    "(excluded.last_msg_time > s.horizon AND (s.last_msg_time IS NULL OR "
    "(excluded.last_msg_time, excluded.last_msg_order) > (s.last_msg_time, s.last_msg_order)))"
)
_COUNTS = (
    "(excluded.unread > 0 AND excluded.last_msg_time > s.horizon "
    "AND excluded.last_msg_time > s.read_horizon)"
)
# The session columns a delivery writes: owner, key, kind, the columns of last_message_values(),
# unread, version.
DELIVERED_COLUMNS = ("owner", "key", "kind", "update_time", "last_kind", "last_msg_id",
                     "last_msg_time", "revoke_operator", "revoke_time", "revoke_postscript",
                     "unread", "version")  # fmt: skip
_DELIVER_INTO = f"INSERT INTO sessions AS s ({', '.join(DELIVERED_COLUMNS)})"
# key, kind, then the columns of last_message_values()
_LAST_MESSAGE = (
    "CAST(? AS TEXT), CAST(? AS SMALLINT), CAST(? AS BIGINT), CAST(? AS SMALLINT), "
    "CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT)"
)

# A recall turns the session's last message into a revoke notification if it is the last one,
# and takes back its unread mark wherever it was counted.
#
# update_time is the time of what is last now: the last message's msgTimestamp or, when it is
# revoked, the recall's deleteTime (last_message_values). It is set from the last message, never
# kept as a maximum, so it does not depend on arrival order: a recall of a message that is no
# longer last moves nothing, and a newer message replacing a revoked one brings its own time.
_IS_LAST = "(last_msg_id = r.message AND last_kind = 0)"
_WAS_COUNTED = (
    "(r.sender IS NOT NULL AND owner <> r.sender AND r.sent_at > horizon "
    "AND r.sent_at > read_horizon AND unread > 0)"
)


def _if_newer(column: str) -> str:
    return f"{column} = CASE WHEN {_NEWER} THEN excluded.{column} ELSE s.{column} END"


def _if_last(column: str, value: str) -> str:
    return f"{column} = CASE WHEN {_IS_LAST} THEN {value} ELSE {column} END"


class Statements:
    # Reads ----------------------------------------------------------------------------------
    any_session = "SELECT 1 FROM sessions LIMIT 1"
    total_unread = (
        "SELECT coalesce(sum(unread), 0) FROM sessions "
        "WHERE owner = ? AND deleted_at IS NULL AND unread > 0"
    )
    team_members = "SELECT member FROM team_members WHERE team_key = ? ORDER BY member"

    # The change feed: one clock per owner ------------------------------------------------------
    clock = "SELECT version FROM sync_clocks WHERE owner = ?"
    changes_after_version = (
        f"SELECT {_CHANGE_COLUMNS} FROM sessions WHERE owner = ? AND version > ? "
        "ORDER BY version, key LIMIT ?"
    )
    changes_after_key = (
        f"SELECT {_CHANGE_COLUMNS} FROM sessions "
        "WHERE owner = ? AND (version, key) > (CAST(? AS BIGINT), CAST(? AS TEXT)) "
        "ORDER BY version, key LIMIT ?"
    )
    purged_through = "SELECT version FROM sync_purges WHERE owner = ?"
    # A purged tombstone leaves the feed (version 0 comes before every token) but keeps its row:
    # its horizon keeps messages older than the deletion out for good.
    purge_tombstones = (
        "UPDATE sessions SET version = 0 "
        "WHERE deleted_at IS NOT NULL AND deleted_at < ? AND version > 0"
    )
    # Held to COMMIT by whatever changes a team's members or delivers to them: taken first. It
    # counts the team's writes since its last membership checkpoint (store/_teams.py).
    lock_team = (
        "INSERT INTO team_locks (team_key) VALUES (?) ON CONFLICT (team_key) DO UPDATE SET "
        "since_checkpoint = team_locks.since_checkpoint + 1 RETURNING since_checkpoint"
    )

    # The owner's writes ---------------------------------------------------------------------
    upsert_ext = f"""
INSERT INTO sessions AS s (owner, key, kind, update_time, server_ext, version)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (owner, key) DO UPDATE SET
    server_ext = excluded.server_ext,
    update_time = CASE WHEN s.deleted_at IS NULL THEN s.update_time ELSE excluded.update_time END,
    deleted_at = NULL,
    version = excluded.version
{RETURNING_CHANGE}
"""
    pin = f"""
UPDATE sessions SET pinned_at = CAST(? AS BIGINT), version = ?
WHERE owner = ? AND key = ? AND deleted_at IS NULL
{RETURNING_CHANGE}
"""

    # Ingestion ------------------------------------------------------------------------------
    # A message once per conversation; a P2P message kept by an earlier release under its sender
    # alone ('?' || sender, migration 0009) counts as seen. The columns of MESSAGE_COLUMNS, the
    # team key, then the server id and that sender's old conversation (NULL: look for none).
    insert_message = f"""
INSERT INTO messages ({MESSAGE_COLUMNS}, team_key)
SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT),
       CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT)
WHERE NOT EXISTS (
    SELECT 1 FROM messages WHERE server_id = CAST(? AS TEXT) AND conversation = CAST(? AS TEXT))
ON CONFLICT DO NOTHING
RETURNING server_id
"""
    # message, conversation, operator, time, postscript, then message and the old conversation
    insert_revocation = """
INSERT INTO revocations (message_server_id, conversation, operator, time, postscript)
SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT)
WHERE NOT EXISTS (
    SELECT 1 FROM revocations
    WHERE message_server_id = CAST(? AS TEXT) AND conversation = CAST(? AS TEXT))
ON CONFLICT DO NOTHING
RETURNING message_server_id
"""
    # message, conversation, old conversation
    find_revocation = (
        "SELECT operator, time, postscript, conversation FROM revocations "
        "WHERE message_server_id = ? AND conversation IN (CAST(? AS TEXT), CAST(? AS TEXT))"
    )
    # A recall kept under its sender alone belongs to the conversation its message arrived in.
    adopt_revocation = (
        "UPDATE revocations SET conversation = ? WHERE message_server_id = ? AND conversation = ?"
    )
    find_message = (
        "SELECT from_account, time, type FROM messages "
        "WHERE server_id = ? AND conversation IN (CAST(? AS TEXT), CAST(? AS TEXT))"
    )

    # Dead letters (domain/dead_letters.py) --------------------------------------------------
    keep_dead_letter = (
        "INSERT INTO dead_letters (received_at, reason, detail, headers, body) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id"
    )
    # The newest ``limit`` stay: the oldest go first.
    bound_dead_letters = (
        "DELETE FROM dead_letters WHERE id <= "
        "(SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?)"
    )
    _letter = "id, received_at, reason, detail, headers, length(body)"
    # after id, (reason, reason), bytes of each body, limit
    dead_letters = (
        f"SELECT {_letter}, substr(body, 1, CAST(? AS INTEGER)) FROM dead_letters "
        "WHERE id > ? AND (CAST(? AS TEXT) IS NULL OR reason = ?) ORDER BY id LIMIT ?"
    )
    dead_letter = f"SELECT {_letter}, body FROM dead_letters WHERE id = ?"
    forget_dead_letters_before = "DELETE FROM dead_letters WHERE received_at < ? RETURNING id"

    # The team registry's signatures, each until its window closes ----------------------------
    forget_signatures = "DELETE FROM registry_signatures WHERE expires_at < ?"
    claim_signature = (
        "INSERT INTO registry_signatures (signature, expires_at) VALUES (?, ?) "
        "ON CONFLICT DO NOTHING RETURNING signature"
    )

    def __init__(self, dialect: Dialect) -> None:
        greatest, elements = dialect.greatest, dialect.elements
        self.returning_from = dialect.returning_from
        self.sessions_by_key = (
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE owner = ? AND deleted_at IS NULL "
            f"AND key IN (SELECT value FROM {elements})"
        )
        self.forget_dead_letters = (
            "DELETE FROM dead_letters "
            f"WHERE id IN (SELECT CAST(value AS BIGINT) FROM {elements}) RETURNING id"
        )
        self.messages_by_id = (
            f"SELECT {MESSAGE_COLUMNS} FROM messages "
            f"WHERE server_id IN (SELECT value FROM {elements})"
        )
        # Each owner's next version, clocks locked in the list's (sorted) order and held to
        # COMMIT: an owner's versions commit in order; writes for other owners do not wait.
        self.tick_quietly = f"""
INSERT INTO sync_clocks AS c (owner, version)
SELECT value, 1 FROM {elements} ORDER BY key
ON CONFLICT (owner) DO UPDATE SET version = c.version + 1
"""
        self.tick = f"{self.tick_quietly}RETURNING owner, version"
        # Teams locked as lock_team locks one, in the list's (sorted) order, each with its
        # writes since its last membership checkpoint (which the caller keeps counting).
        self.lock_teams = f"""
INSERT INTO team_locks (team_key)
SELECT value FROM {elements} ORDER BY key
ON CONFLICT (team_key) DO UPDATE SET since_checkpoint = team_locks.since_checkpoint
RETURNING team_key, since_checkpoint
"""
        # The sessions of ``key`` that this transaction changed, of the owners listed (locked):
        # each is stamped with its owner's clock, which no other transaction shares.
        self.changed_sessions = f"""
SELECT {RETURNING_CHANGE_COLUMNS}, {SESSION_COLUMNS} FROM sessions s
WHERE owner IN (SELECT value FROM {elements}) AND key = ?
  AND version = (SELECT c.version FROM sync_clocks c WHERE c.owner = s.owner)
"""
        self.record_purges = f"""
INSERT INTO sync_purges AS p (owner, version)
SELECT owner, max(version) FROM sessions
WHERE deleted_at IS NOT NULL AND deleted_at < ? AND version > 0 GROUP BY owner
ON CONFLICT (owner) DO UPDATE SET version = {greatest}(p.version, excluded.version)
"""
        # A tombstone forgets everything the session held; `horizon` keeps older messages out.
        self.delete_key = f"""
UPDATE sessions SET
    deleted_at = d.now, update_time = d.now,
    horizon = {greatest}(horizon, d.now, coalesce(last_msg_time, d.now)),
    server_ext = '', last_kind = NULL, last_msg_id = NULL, last_msg_time = NULL,
    revoke_operator = NULL, revoke_time = NULL, revoke_postscript = NULL, version = d.next_version,
    unread = 0, last_read_time = NULL, pinned_at = NULL
FROM (SELECT CAST(? AS BIGINT) AS now, CAST(? AS BIGINT) AS next_version) AS d
WHERE owner = ? AND key = ? AND deleted_at IS NULL
{RETURNING_CHANGE}
"""
        set_read = f"""
UPDATE sessions SET
    unread = 0, last_read_time = d.now, version = d.next_version,
    read_horizon = {greatest}(read_horizon, d.now, coalesce(last_msg_time, d.now))
FROM (SELECT CAST(? AS BIGINT) AS now, CAST(? AS BIGINT) AS next_version) AS d
WHERE owner = ? AND deleted_at IS NULL"""
        self.mark_read = f"{set_read} AND key = ? {RETURNING_CHANGE}"
        self.mark_all_read = f"{set_read} AND unread > 0 {RETURNING_CHANGE}"

        deliver_if_newer = f"""
ON CONFLICT (owner, key) DO UPDATE SET
    {_if_newer("update_time")}, {_if_newer("last_kind")}, {_if_newer("last_msg_id")},
    {_if_newer("last_msg_time")},
    {_if_newer("revoke_operator")}, {_if_newer("revoke_time")}, {_if_newer("revoke_postscript")},
    deleted_at = CASE WHEN {_NEWER} THEN NULL ELSE s.deleted_at END,
    unread = s.unread + CASE WHEN {_COUNTS} THEN 1 ELSE 0 END,
    version = excluded.version
WHERE {_NEWER} OR {_COUNTS}
"""
        # owner, key, kind, the last message, unread, version
        self.deliver_message = (
            f"{_DELIVER_INTO} VALUES (?, {_LAST_MESSAGE}, CAST(? AS INTEGER), ?) "
            f"{deliver_if_newer} {RETURNING_CHANGE}"
        )
        # One statement for the whole team, however many members it has, each stamped with
        # their own clock (locked before); the sender's own message is not unread for them.
        # The changed rows of the members someone watches come back from its *_returning form,
        # or from changed_sessions, whichever costs less (Dialect.returning_from).
        # team key, kind, the last message, sender, unread, team key
        self.deliver_to_team = f"""
{_DELIVER_INTO}
SELECT m.member, {_LAST_MESSAGE},
       CASE WHEN m.member = CAST(? AS TEXT) THEN 0 ELSE CAST(? AS INTEGER) END, c.version
FROM team_members m JOIN sync_clocks c ON c.owner = m.member WHERE m.team_key = ?
{deliver_if_newer}
"""
        # The same for a list of owners (a team's tMembers), in one statement.
        # team key, kind, the last message, sender, unread, the owners (an array)
        self.deliver_to_owners = f"""
{_DELIVER_INTO}
SELECT value, {_LAST_MESSAGE},
       CASE WHEN value = CAST(? AS TEXT) THEN 0 ELSE CAST(? AS INTEGER) END, c.version
FROM {elements} JOIN sync_clocks c ON c.owner = value
{deliver_if_newer}
"""
        self.deliver_to_team_returning = f"{self.deliver_to_team}{RETURNING_CHANGE}"
        self.deliver_to_owners_returning = f"{self.deliver_to_owners}{RETURNING_CHANGE}"
        # message, operator, time, postscript, sender, sent, version, owner, key
        self.apply_revocation = f"""
UPDATE sessions SET
    {_if_last("last_kind", "1")}, {_if_last("revoke_operator", "r.operator")},
    {_if_last("revoke_time", "r.revoked_at")}, {_if_last("revoke_postscript", "r.postscript")},
    {_if_last("update_time", f"{greatest}(last_msg_time, r.revoked_at)")},
    unread = CASE WHEN {_WAS_COUNTED} THEN unread - 1 ELSE unread END,
    version = r.next_version
FROM (SELECT CAST(? AS TEXT) AS message, CAST(? AS TEXT) AS operator,
             CAST(? AS BIGINT) AS revoked_at, CAST(? AS TEXT) AS postscript,
             CAST(? AS TEXT) AS sender, CAST(? AS BIGINT) AS sent_at,
             CAST(? AS BIGINT) AS next_version) AS r
WHERE owner = ? AND key = ? AND deleted_at IS NULL AND ({_IS_LAST} OR {_WAS_COUNTED})
{RETURNING_CHANGE}
"""
