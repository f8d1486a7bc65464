"""NIM V2's conversation features in the SQL store: conversation groups, do-not-disturb, unread
counts and read marks by filter, and a session opened without a message.

A group's rows live in ``session_groups`` (a tombstone once deleted, in its owner's change feed
like a session's); its sessions in ``session_group_members``, whose ``update_time`` a trigger keeps
equal to the session's (migration 0011), so a page of a group walks an index of its own
(store/_lists.py). Changing a session's groups stamps the session with its owner's next version:
other devices see it as changed. Every write locks its owner first (store/_write.py), so the
limits are checked against what no other write can change before COMMIT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from gateway.domain.groups import GroupChange, GroupLimits, SessionGroup, feed_key
from gateway.domain.keys import SessionKey
from gateway.domain.pages import Filters
from gateway.domain.sessions import Session
from gateway.domain.sync import GROUP_PREFIX, SyncPosition
from gateway.errors import BadUserInput, LimitExceeded, NotFound
from gateway.store import _lists as lists
from gateway.store._driver import Connection, Dialect, Driver
from gateway.store._lists import KINDS
from gateway.store._rows import Row, key_from_db, session_from_row
from gateway.store._statements import RETURNING_CHANGE
from gateway.store._write import Write

T = TypeVar("T")

_GROUP_COLUMNS = "group_id, name, server_ext, create_time, update_time"
_RETURNING_GROUP = f"RETURNING version, deleted_at, {_GROUP_COLUMNS}"


class GroupStatements:
    live_groups = (
        f"SELECT {_GROUP_COLUMNS} FROM session_groups WHERE owner = ? AND deleted_at IS NULL "
        "ORDER BY create_time, group_id"
    )
    count_groups = "SELECT count(*) FROM session_groups WHERE owner = ? AND deleted_at IS NULL"
    group_size = "SELECT count(*) FROM session_group_members WHERE owner = ? AND group_id = ?"
    # A deleted group's id may be used again; a live one's may not.
    insert_group = f"""
INSERT INTO session_groups AS g (owner, group_id, name, server_ext, create_time, update_time,
                                 version)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (owner, group_id) DO UPDATE SET
    name = excluded.name, server_ext = excluded.server_ext, create_time = excluded.create_time,
    update_time = excluded.update_time, version = excluded.version, deleted_at = NULL
WHERE g.deleted_at IS NOT NULL
{_RETURNING_GROUP}
"""
    update_group = f"""
UPDATE session_groups SET name = coalesce(CAST(? AS TEXT), name),
    server_ext = coalesce(CAST(? AS TEXT), server_ext), update_time = ?, version = ?
WHERE owner = ? AND group_id = ? AND deleted_at IS NULL
{_RETURNING_GROUP}
"""
    delete_group = f"""
UPDATE session_groups SET deleted_at = ?, update_time = ?, version = ?, name = '', server_ext = ''
WHERE owner = ? AND group_id = ? AND deleted_at IS NULL
{_RETURNING_GROUP}
"""
    empty_group = "DELETE FROM session_group_members WHERE owner = ? AND group_id = ? RETURNING key"
    # A deleted session leaves its groups (its tombstone keeps no group).
    ungroup_session = "DELETE FROM session_group_members WHERE owner = ? AND key = ?"
    ungrouped_session = "UPDATE sessions SET in_groups = 0 WHERE owner = ? AND key = ?"
    groups_after_version = (
        f"SELECT version, deleted_at, {_GROUP_COLUMNS} FROM session_groups "
        "WHERE owner = ? AND version > ? ORDER BY version, group_id LIMIT ?"
    )
    groups_after_key = (
        f"SELECT version, deleted_at, {_GROUP_COLUMNS} FROM session_groups "
        "WHERE owner = ? AND (version, group_id) > (CAST(? AS BIGINT), CAST(? AS TEXT)) "
        "ORDER BY version, group_id LIMIT ?"
    )
    purge_group_tombstones = (
        "DELETE FROM session_groups WHERE deleted_at IS NOT NULL AND deleted_at < ?"
    )
    # A session opened without a message (V2's createConversation): a tombstone comes back,
    # fresh, with update_time now; a live session is left as it is (nothing is returned).
    open_session = f"""
INSERT INTO sessions AS s (owner, key, kind, update_time, version) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (owner, key) DO UPDATE SET
    update_time = excluded.update_time, deleted_at = NULL, version = excluded.version
WHERE s.deleted_at IS NOT NULL
{RETURNING_CHANGE}
"""

    def __init__(self, dialect: Dialect) -> None:
        greatest, elements = dialect.greatest, dialect.elements
        listed = f"key IN (SELECT value FROM {elements})"
        self.groups_by_id = (
            f"SELECT {_GROUP_COLUMNS} FROM session_groups WHERE owner = ? AND deleted_at IS NULL "
            f"AND group_id IN (SELECT value FROM {elements})"
        )
        # The live sessions among the keys and how many groups hold each.
        self.groupable = (
            f"SELECT key, in_groups FROM sessions WHERE owner = ? AND deleted_at IS NULL AND "
            f"{listed}"
        )
        self.members = (
            f"SELECT key FROM session_group_members WHERE owner = ? AND group_id = ? AND {listed}"
        )
        self.join_group = f"""
INSERT INTO session_group_members (owner, group_id, key, update_time)
SELECT owner, CAST(? AS TEXT), key, update_time FROM sessions
WHERE owner = ? AND deleted_at IS NULL AND {listed}
ON CONFLICT DO NOTHING
RETURNING key
"""
        self.leave_group = (
            f"DELETE FROM session_group_members WHERE owner = ? AND group_id = ? AND {listed} "
            "RETURNING key"
        )
        self.count_in_groups = f"""
UPDATE sessions SET in_groups = in_groups + CAST(? AS INTEGER), version = ?
WHERE owner = ? AND {listed}
{RETURNING_CHANGE}
"""
        self.groups_of = f"""
SELECT m.key, {", ".join(f"g.{c.strip()}" for c in _GROUP_COLUMNS.split(","))}
FROM session_group_members m
JOIN session_groups g ON g.owner = m.owner AND g.group_id = m.group_id
WHERE m.owner = ? AND m.key IN (SELECT value FROM {elements})
ORDER BY g.create_time, g.group_id
"""
        self.mute = f"""
UPDATE sessions SET muted = CAST(? AS SMALLINT), version = ?
WHERE owner = ? AND deleted_at IS NULL AND muted <> CAST(? AS SMALLINT) AND {listed}
{RETURNING_CHANGE}
"""
        self.record_group_purges = f"""
INSERT INTO sync_purges AS p (owner, version)
SELECT owner, max(version) FROM session_groups
WHERE deleted_at IS NOT NULL AND deleted_at < ? GROUP BY owner
ON CONFLICT (owner) DO UPDATE SET version = {greatest}(p.version, excluded.version)
"""
        self.set_read = f"""
UPDATE sessions SET
    unread = 0, last_read_time = d.now, version = d.next_version,
    read_horizon = {greatest}(read_horizon, d.now, coalesce(last_msg_time, d.now))
FROM (SELECT CAST(? AS BIGINT) AS now, CAST(? AS BIGINT) AS next_version) AS d
WHERE owner = ? AND deleted_at IS NULL AND unread > 0"""


class ConversationFeatures:
    """The store's half that serves NIM V2's conversation features (SqlStore mixes it in)."""

    _driver: Driver
    _groups: GroupStatements

    async def _write(self, work: Callable[[Write], Awaitable[T]]) -> T:
        raise NotImplementedError  # SqlStore's: one write transaction, listeners told after

    # Groups: reads ------------------------------------------------------------------------

    async def list_groups(self, owner: str) -> list[SessionGroup]:
        async with self._driver.read(bounded=True) as db:
            rows = await db.fetch(self._groups.live_groups, owner)
        return [_group(owner, row) for row in rows]

    async def get_groups(self, owner: str, group_ids: Sequence[str]) -> list[SessionGroup]:
        """The live groups among ``group_ids``, in the order asked."""
        async with self._driver.read(bounded=True) as db:
            rows = await db.fetch(self._groups.groups_by_id, owner, list(group_ids))
        found = {group.id: group for group in (_group(owner, row) for row in rows)}
        return [found[i] for i in dict.fromkeys(group_ids) if i in found]

    async def groups_of(
        self, owner: str, keys: Sequence[SessionKey]
    ) -> Mapping[SessionKey, list[SessionGroup]]:
        """The groups of each of the sessions ``keys``, oldest group first."""
        async with self._driver.read(bounded=True) as db:
            rows = await db.fetch(self._groups.groups_of, owner, [str(k) for k in keys])
        found: dict[SessionKey, list[SessionGroup]] = {key: [] for key in keys}
        for row in rows:
            found.setdefault(key_from_db(str(row[0])), []).append(_group(owner, row[1:]))
        return found

    # Groups: writes -----------------------------------------------------------------------

    async def create_group(
        self,
        owner: str,
        group_id: str | None,
        name: str,
        server_ext: str,
        keys: Sequence[SessionKey],
        now: int,
        limits: GroupLimits,
    ) -> SessionGroup:
        """A new group holding the sessions among ``keys`` that the owner has. Without a
        ``group_id``, its id is ``g<version>``: the owner's clock never repeats a version."""
        sql = self._groups

        async def work(tx: Write) -> SessionGroup:
            await tx.lock([owner])
            count = await _number(tx.db, sql.count_groups, owner)
            if count >= limits.groups_per_owner:
                raise LimitExceeded(
                    f"you have {count} groups, the most there can be", code="TOO_MANY_GROUPS"
                )
            version = tx.version(owner)
            new_id = f"g{version}" if group_id is None else group_id
            rows = await tx.rows(sql.insert_group, owner, new_id, name, server_ext, now, now,
                                 version)  # fmt: skip
            if not rows:
                raise BadUserInput(f"you already have a group {new_id!r}")
            group = _record_group(tx, owner, rows[0])
            await _join(tx, sql, owner, new_id, keys, limits, size=0)
            return group

        return await self._write(work)

    async def update_group(
        self, owner: str, group_id: str, name: str | None, server_ext: str | None, now: int
    ) -> SessionGroup:
        sql = self._groups

        async def work(tx: Write) -> SessionGroup:
            await tx.lock([owner])
            rows = await tx.rows(sql.update_group, name, server_ext, now, tx.version(owner), owner,
                                 group_id)  # fmt: skip
            if not rows:
                raise _no_group(group_id)
            return _record_group(tx, owner, rows[0])

        return await self._write(work)

    async def delete_group(self, owner: str, group_id: str, now: int) -> None:
        """Delete a group (its sessions stay in the list)."""
        sql = self._groups

        async def work(tx: Write) -> None:
            await tx.lock([owner])
            version = tx.version(owner)
            rows = await tx.rows(sql.delete_group, now, now, version, owner, group_id)
            if not rows:
                raise _no_group(group_id)
            _record_group(tx, owner, rows[0])
            left = [str(row[0]) for row in await tx.rows(sql.empty_group, owner, group_id)]
            if left:
                await tx.changing(sql.count_in_groups, -1, version, owner, left)

        await self._write(work)

    async def add_to_group(
        self,
        owner: str,
        group_id: str,
        keys: Sequence[SessionKey],
        now: int,
        limits: GroupLimits,
    ) -> list[Session]:
        """Add the sessions among ``keys`` that the owner has; returns those that were added."""
        sql = self._groups

        async def work(tx: Write) -> list[Session]:
            await tx.lock([owner])
            if not await tx.rows(sql.groups_by_id, owner, [group_id]):
                raise _no_group(group_id)
            size = await _number(tx.db, sql.group_size, owner, group_id)
            return await _join(tx, sql, owner, group_id, keys, limits, size=size)

        return await self._write(work)

    async def remove_from_group(
        self, owner: str, group_id: str, keys: Sequence[SessionKey], now: int
    ) -> list[SessionKey]:
        """Take sessions out of a group; returns the keys that were in it."""
        sql = self._groups

        async def work(tx: Write) -> list[SessionKey]:
            await tx.lock([owner])
            if not await tx.rows(sql.groups_by_id, owner, [group_id]):
                raise _no_group(group_id)
            listed = [str(k) for k in dict.fromkeys(keys)]
            left = [str(r[0]) for r in await tx.rows(sql.leave_group, owner, group_id, listed)]
            if left:
                await tx.changing(sql.count_in_groups, -1, tx.version(owner), owner, left)
            return [key_from_db(key) for key in sorted(left)]

        return await self._write(work)

    async def _ungroup(self, tx: Write, owner: str, key: SessionKey) -> None:
        """Inside a deletion of the session ``key``: it leaves every group."""
        await tx.db.execute(self._groups.ungroup_session, owner, str(key))
        await tx.db.execute(self._groups.ungrouped_session, owner, str(key))

    # Do-not-disturb, unread counts and read marks by filter -------------------------------

    async def set_muted(self, owner: str, keys: Sequence[SessionKey], muted: bool) -> None:
        """Mute or unmute the owner's sessions among ``keys``; only those whose state changes
        are written (and reach the feed)."""
        sql = self._groups

        async def work(tx: Write) -> None:
            await tx.lock([owner])
            listed = [str(k) for k in dict.fromkeys(keys)]
            await tx.changing(sql.mute, int(muted), tx.version(owner), owner, int(muted), listed)

        await self._write(work)

    async def unread_count(self, owner: str, filters: Filters) -> int:
        """The sum of the unread counts of the sessions ``filters`` lists."""
        text, params = lists.unread_statement(owner, filters)
        async with self._driver.read() as db:
            return await _number(db, text, *params)

    async def mark_read_where(self, owner: str, filters: Filters, now: int) -> list[Session]:
        """Mark read every session with unread messages that ``filters`` (types, a group)
        lists; returns them."""
        sql = self._groups
        clauses: list[str] = []
        params: list[object] = []
        if filters.types is not None:
            kinds = sorted(KINDS[t] for t in filters.types)
            clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params += kinds
        if filters.group_id is not None:
            clauses.append(
                "key IN (SELECT m.key FROM session_group_members m "
                "WHERE m.owner = sessions.owner AND m.group_id = ?)"
            )
            params.append(filters.group_id)
        where = "".join(f" AND {clause}" for clause in clauses)

        async def work(tx: Write) -> list[Session]:
            await tx.lock([owner])
            statement = f"{sql.set_read}{where} {RETURNING_CHANGE}"
            changes = await tx.changing(statement, now, tx.version(owner), owner, *params)
            return [c.session for c in changes if c.session is not None]

        return await self._write(work)

    async def open_session(self, owner: str, key: SessionKey, now: int) -> Session:
        """The session ``key``, made without a last message (``update_time`` now) when the
        owner has none; an existing one is returned as it is."""
        sql = self._groups

        async def work(tx: Write) -> Session:
            await tx.lock([owner])
            changes = await tx.changing(sql.open_session, owner, str(key), KINDS[key.type], now,
                                        tx.version(owner))  # fmt: skip
            if changes and changes[0].session is not None:
                return changes[0].session
            [row] = await tx.rows(_SESSION_BY_KEY, owner, str(key))  # live: it was not made
            return session_from_row(owner, row)

        return await self._write(work)

    # The change feed ----------------------------------------------------------------------

    async def _group_changes(
        self, db: Connection, owner: str, since: SyncPosition, limit: int
    ) -> list[GroupChange]:
        """The owner's group changes after ``since``, up to ``limit``. Group keys sort before
        session keys: a position inside a version at a session has seen its groups."""
        sql = self._groups
        if since.key is not None and since.key.startswith(GROUP_PREFIX):
            group_id = since.key.removeprefix(GROUP_PREFIX)
            rows = await db.fetch(sql.groups_after_key, owner, since.version, group_id, limit)
        else:
            rows = await db.fetch(sql.groups_after_version, owner, since.version, limit)
        return [_group_change(owner, row) for row in rows]


_SESSION_BY_KEY = (
    f"SELECT {lists.SESSION_COLUMNS} FROM sessions WHERE owner = ? AND key = ? "
    "AND deleted_at IS NULL"
)


async def _join(
    tx: Write,
    sql: GroupStatements,
    owner: str,
    group_id: str,
    keys: Sequence[SessionKey],
    limits: GroupLimits,
    *,
    size: int,
) -> list[Session]:
    """Put the owner's sessions among ``keys`` in a group that holds ``size``, within limits."""
    listed = [str(k) for k in dict.fromkeys(keys)]
    if not listed:
        return []
    in_groups = {str(r[0]): int(r[1]) for r in await tx.rows(sql.groupable, owner, listed)}
    already = {str(r[0]) for r in await tx.rows(sql.members, owner, group_id, listed)}
    new = [key for key in listed if key in in_groups and key not in already]
    if size + len(new) > limits.sessions_per_group:
        raise LimitExceeded(
            f"a group holds at most {limits.sessions_per_group} sessions; it has {size}",
            code="GROUP_FULL",
        )
    full = [key for key in new if in_groups[key] >= limits.groups_per_session]
    if full:
        raise LimitExceeded(
            f"{sorted(full)[0]!r} is in {limits.groups_per_session} groups already, the most a "
            "session can be in",
            code="TOO_MANY_GROUPS_FOR_SESSION",
        )
    if not new:
        return []
    joined = [str(r[0]) for r in await tx.rows(sql.join_group, group_id, owner, new)]
    changes = await tx.changing(sql.count_in_groups, 1, tx.version(owner), owner, joined)
    return [c.session for c in changes if c.session is not None]


def _group(owner: str, row: Row | Sequence[Any]) -> SessionGroup:
    group_id, name, server_ext, create_time, update_time = row[:5]
    return SessionGroup(owner, str(group_id), str(name), str(server_ext), int(create_time),
                        int(update_time))  # fmt: skip


def _group_change(owner: str, row: Row) -> GroupChange:
    version, deleted_at, group_id = int(row[0]), row[1], str(row[2])
    group = None if deleted_at is not None else _group(owner, row[2:])
    return GroupChange(version, feed_key(group_id), group)


def _record_group(tx: Write, owner: str, row: Row) -> SessionGroup:
    tx.changes.record_group(owner)
    return _group(owner, row[2:])


def _no_group(group_id: str) -> NotFound:
    return NotFound(f"you have no group {group_id!r}")


async def _number(db: Connection, statement: str, *params: object) -> int:
    row = await db.fetch_one(statement, *params)
    assert row is not None  # an aggregate always returns its row
    return int(row[0])
