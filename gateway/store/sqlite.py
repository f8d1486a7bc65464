"""The embedded store: one SQLite file in WAL mode, one writer connection, a read-only pool."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import aiosqlite

from gateway.domain.keys import SessionKey
from gateway.domain.membership import TeamChange, registry_change
from gateway.domain.pages import Filters, Page, PageQuery, Position, TimeWindow
from gateway.domain.sessions import (
    Delivery,
    Message,
    MessageType,
    RevokeNotification,
    Session,
)
from gateway.domain.sync import Change, ChangeSet, SyncPosition
from gateway.errors import ConfigurationError
from gateway.store import _lists as lists
from gateway.store import _teams as teams
from gateway.store import sqlite_sql as sql
from gateway.store._changes import ChangeLog, change_set
from gateway.store._lists import KINDS
from gateway.store._migrations import load_migrations
from gateway.store._rows import (
    key_from_db,
    last_message_values,
    message_from_row,
    message_values,
    opt_str,
    session_from_row,
)
from gateway.store.base import ChangeListener

# aiosqlite is typed to return sqlite3.Row; with no row factory the rows are plain tuples.
Row = sqlite3.Row
Trace = Callable[[str], None]


class _Transaction:
    """One write transaction: the version it stamps and the owners whose lists it changed."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self.changes = ChangeLog()
        self._version: int | None = None

    async def version(self) -> int:
        if self._version is None:
            rows = list(await self.db.execute_fetchall(sql.TICK))
            self._version = int(rows[0][0])
        return self._version

    async def changing(
        self, statement: str, params: Sequence[object] | Mapping[str, object]
    ) -> None:
        """Run a statement that returns each session row it changed (RETURNING_CHANGE)."""
        self.changes.record_rows(await self.db.execute_fetchall(statement, params))


class SqliteStore:
    def __init__(
        self,
        path: str | Path,
        *,
        readers: int = 4,
        busy_timeout_ms: int = 5000,
        trace: Trace | None = None,
    ) -> None:
        self.path = os.path.abspath(path)
        self._reader_count = readers
        self._busy_timeout_ms = busy_timeout_ms
        self._trace = trace
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._listeners: list[ChangeListener] = []

    # Lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        writer = await aiosqlite.connect(self.path, isolation_level=None)
        self._writer = writer
        await self._configure(writer)
        await writer.execute("PRAGMA journal_mode = WAL")
        # FULL: a webhook is acknowledged only once its transaction survives a power cut.
        await writer.execute("PRAGMA synchronous = FULL")
        await writer.execute("PRAGMA foreign_keys = ON")
        await self._migrate(writer)
        uri = f"file:{quote(self.path)}?mode=ro"
        for _ in range(self._reader_count):
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await self._configure(reader)
            await reader.execute("PRAGMA query_only = ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)

    async def close(self) -> None:
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        self._readers = asyncio.Queue()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def _configure(self, connection: aiosqlite.Connection) -> None:
        await connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        if self._trace is not None:
            await connection.set_trace_callback(self._trace)

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        migrations = load_migrations("sqlite")
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        if current > len(migrations):
            raise ConfigurationError(
                f"{self.path} has schema version {current}, newer than this gateway knows "
                f"({len(migrations)}); upgrade the gateway"
            )
        for migration in migrations[current:]:
            script = (
                f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                f"PRAGMA user_version = {migration.version};\nCOMMIT;"
            )
            try:
                await db.executescript(script)
            except sqlite3.Error:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        if not self._all_readers:
            raise RuntimeError("the store is not open")
        reader = await self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put_nowait(reader)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[_Transaction]:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        async with self._write_lock:
            tx = _Transaction(self._writer)
            await tx.db.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                await tx.db.execute("ROLLBACK")
                raise
            await tx.db.execute("COMMIT")
        if tx.changes:
            by_owner = tx.changes.by_owner()
            for listener in self._listeners:
                listener.notify(frozenset(by_owner), by_owner)

    # Reads ---------------------------------------------------------------------------------

    async def is_empty(self) -> bool:
        async with self._read() as db:
            rows = await db.execute_fetchall(sql.ANY_SESSION)
        return not list(rows)

    async def list_sessions(
        self, owner: str, query: PageQuery, *, with_sync_position: bool = False
    ) -> Page:
        position = None
        rows: list[Row] = []
        async with self._read() as db:
            if with_sync_position:
                # One read transaction: the token names exactly the snapshot the page shows.
                await db.execute("BEGIN")
            try:
                if with_sync_position:
                    position = SyncPosition(await _clock(db))
                for n, section in enumerate(lists.sections(query)):
                    wanted = query.limit + 1 - len(rows)
                    statement = lists.page_statement(owner, query, section, wanted, continued=n > 0)
                    rows += await db.execute_fetchall(*statement)
                    if len(rows) > query.limit:
                        break
            finally:
                if with_sync_position:
                    await db.execute("COMMIT")
        sessions = [session_from_row(owner, row) for row in rows]
        return Page(sessions[: query.limit], len(sessions) > query.limit, position)

    async def has_sessions_before(self, owner: str, query: PageQuery, position: Position) -> bool:
        async with self._read() as db:
            for statement in lists.before_statements(owner, query, position):
                if list(await db.execute_fetchall(*statement)):
                    return True
        return False

    async def count_sessions(
        self, owner: str, window: TimeWindow, filters: Filters | None = None
    ) -> int:
        statement = lists.count_statement(owner, window, filters or Filters())
        async with self._read() as db:
            rows = list(await db.execute_fetchall(*statement))
        return int(rows[0][0])

    async def total_unread(self, owner: str) -> int:
        async with self._read() as db:
            rows = list(await db.execute_fetchall(sql.TOTAL_UNREAD, (owner,)))
        return int(rows[0][0])

    async def get_sessions(self, owner: str, keys: Sequence[SessionKey]) -> list[Session]:
        found: list[Session] = []
        async with self._read() as db:
            for chunk in sql.chunks([str(k) for k in keys]):
                rows = await db.execute_fetchall(sql.sessions_by_key(len(chunk)), (owner, *chunk))
                found.extend(session_from_row(owner, row) for row in rows)
        return found

    async def get_messages(self, server_ids: Sequence[str]) -> Mapping[str, Message]:
        found: dict[str, Message] = {}
        async with self._read() as db:
            for chunk in sql.chunks(list(server_ids)):
                for row in await db.execute_fetchall(sql.messages_by_id(len(chunk)), chunk):
                    message = message_from_row(row)
                    found[message.server_id] = message
        return found

    # The change feed -----------------------------------------------------------------------

    async def sync_position(self) -> SyncPosition:
        async with self._read() as db:
            return SyncPosition(await _clock(db))

    async def changes_since(self, owner: str, since: SyncPosition, limit: int) -> ChangeSet:
        statement: str
        params: tuple[object, ...]
        if since.key is None:
            statement, params = sql.CHANGES_AFTER_VERSION, (owner, since.version, limit + 1)
        else:
            statement = sql.CHANGES_AFTER_KEY
            params = (owner, since.version, since.key, limit + 1)
        async with self._read() as db:
            await db.execute("BEGIN")
            try:
                purged = list(await db.execute_fetchall(sql.PURGED_THROUGH, (owner,)))
                rows = list(await db.execute_fetchall(statement, params))
            finally:
                await db.execute("COMMIT")
        return change_set(owner, since, limit, rows, int(purged[0][0]) if purged else None)

    async def purge_tombstones(self, deleted_before: int) -> None:
        async with self._write() as tx:
            await tx.db.execute(sql.RECORD_PURGES, (deleted_before,))
            await tx.db.execute(sql.PURGE_TOMBSTONES, (deleted_before,))

    # Owner's writes ------------------------------------------------------------------------

    async def update_ext(self, owner: str, key: SessionKey, ext: str, now: int) -> Session:
        async with self._write() as tx:
            version = await tx.version()
            params = (owner, str(key), KINDS[key.type], now, ext, version)
            rows = list(await tx.db.execute_fetchall(sql.UPSERT_EXT, params))
            session = session_from_row(owner, rows[0])
            tx.changes.record(owner, Change(version, key, session))
        return session

    async def delete_sessions(
        self, owner: str, keys: Sequence[SessionKey], now: int
    ) -> list[SessionKey]:
        deleted: list[SessionKey] = []
        async with self._write() as tx:
            version = await tx.version()
            for key in dict.fromkeys(keys):
                rows = await tx.db.execute_fetchall(sql.DELETE_KEY, (now, version, owner, str(key)))
                for row in rows:
                    deleted.append(key_from_db(str(row[0])))
                    tx.changes.record(owner, Change(version, deleted[-1], None))
        return deleted

    async def mark_read(self, owner: str, keys: Sequence[SessionKey], now: int) -> list[Session]:
        marked: list[Session] = []
        async with self._write() as tx:
            version = await tx.version()
            for key in dict.fromkeys(keys):
                params = {"owner": owner, "key": str(key), "now": now, "version": version}
                for row in await tx.db.execute_fetchall(sql.MARK_READ, params):
                    marked.append(session_from_row(owner, row))
                    tx.changes.record(owner, Change(version, marked[-1].key, marked[-1]))
        return marked

    async def mark_all_read(self, owner: str, now: int) -> None:
        async with self._write() as tx:
            params = {"owner": owner, "now": now, "version": await tx.version()}
            await tx.changing(sql.MARK_ALL_READ, params)

    async def set_pinned(
        self, owner: str, key: SessionKey, pinned: bool, now: int
    ) -> Session | None:
        async with self._write() as tx:
            version = await tx.version()
            params = {"owner": owner, "key": str(key), "pinned_at": now if pinned else None,
                      "version": version}  # fmt: skip
            rows = list(await tx.db.execute_fetchall(sql.PIN, params))
            if not rows:
                return None
            session = session_from_row(owner, rows[0])
            tx.changes.record(owner, Change(version, key, session))
        return session

    # Ingestion writes ----------------------------------------------------------------------

    async def record_message(self, message: Message, deliveries: Sequence[Delivery]) -> bool:
        async with self._write() as tx:
            revoke = await _insert_message(tx, message, None)
            if revoke is False:
                return False
            values = last_message_values(message, revoke)
            for d in dict.fromkeys(deliveries):
                unread = int(revoke is None and d.owner != message.from_account)
                await _TeamTx(tx).deliver(d.owner, d.key, values, unread)
        return True

    async def record_team_message(
        self, team: SessionKey, message: Message, change: TeamChange, now: int
    ) -> bool:
        async with self._write() as tx:
            revoke = await _insert_message(tx, message, team)
            if revoke is False:
                return False
            await teams.apply_message(_TeamTx(tx), team, message, change, revoke, now)
        return True

    async def revoke_message(
        self,
        revoke: RevokeNotification,
        deliveries: Sequence[Delivery] = (),
        *,
        team: SessionKey | None = None,
        sent: int | None = None,
    ) -> bool:
        async with self._write() as tx:
            cursor = await tx.db.execute(
                sql.INSERT_REVOCATION,
                (revoke.message_server_id, revoke.operator, revoke.time, revoke.postscript),
            )
            if cursor.rowcount == 0:
                return False
            found = list(await tx.db.execute_fetchall(sql.FIND_SENDER, (revoke.message_server_id,)))
            sender, sent_at, counted = None, sent, False
            if found:
                sender, sent_at = str(found[0][0]), int(found[0][1])
                counted = teams.counts_unread(MessageType.from_nim(str(found[0][2])))
            team_tx = _TeamTx(tx)
            for d in deliveries:
                await team_tx.revoke(d.owner, d.key, revoke, sender if counted else None, sent_at)
            if team is not None and sent_at is not None:
                await teams.apply_recall(team_tx, team, revoke, sent_at,
                                         sender if counted else None)  # fmt: skip
        return True

    # Team registry -------------------------------------------------------------------------

    async def set_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change((now, ""), replace=members), now)

    async def add_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change((now, ""), add=members), now)

    async def remove_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change((now, ""), remove=members), now)

    async def _registry(self, team: SessionKey, change: TeamChange, now: int) -> int:
        async with self._write() as tx:
            return await teams.apply_registry(_TeamTx(tx), team, change, now)

    async def team_members(self, team: SessionKey) -> list[str]:
        async with self._read() as db:
            rows = await db.execute_fetchall(sql.TEAM_MEMBERS, (str(team),))
        return [str(row[0]) for row in rows]


async def _clock(db: aiosqlite.Connection) -> int:
    rows = list(await db.execute_fetchall(sql.CLOCK))
    return int(rows[0][0])


async def _insert_message(
    tx: _Transaction, message: Message, team: SessionKey | None
) -> RevokeNotification | Literal[False] | None:
    """Insert a message once: False when it was seen before, else the recall that came first."""
    params = (*message_values(message), None if team is None else str(team))
    cursor = await tx.db.execute(sql.INSERT_MESSAGE, params)
    if cursor.rowcount == 0:
        return False
    found = list(await tx.db.execute_fetchall(sql.FIND_REVOCATION, (message.server_id,)))
    if not found:
        return None
    operator, time, postscript = found[0]
    return RevokeNotification(message.server_id, str(operator), int(time), opt_str(postscript))


class _TeamTx:
    """A write transaction as the shared team rules (store/_teams.py) use it."""

    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def rows(self, statement: str, *params: object) -> Sequence[Row]:
        return list(await self._tx.db.execute_fetchall(statement, params))

    async def changing(self, statement: str, *params: object) -> None:
        await self._tx.changing(statement, params)

    async def version(self) -> int:
        return await self._tx.version()

    async def deliver(
        self, owner: str, key: SessionKey, values: tuple[object, ...], unread: int
    ) -> None:
        params = (owner, str(key), KINDS[key.type], *values, unread, await self._tx.version())
        await self._tx.changing(sql.DELIVER_MESSAGE, params)

    async def deliver_to_members(
        self, team: SessionKey, values: tuple[object, ...], sender: str, unread: int
    ) -> None:
        params = (str(team), KINDS[team.type], *values, sender, unread, await self._tx.version(),
                  str(team))  # fmt: skip
        await self._tx.changing(sql.DELIVER_TO_TEAM, params)

    async def revoke(
        self,
        owner: str,
        key: SessionKey,
        revoke: RevokeNotification,
        sender: str | None,
        sent: int | None,
    ) -> None:
        params: dict[str, object] = {
            "message": revoke.message_server_id, "operator": revoke.operator,
            "time": revoke.time, "postscript": revoke.postscript, "sender": sender,
            "sent": sent, "version": await self._tx.version(), "key": str(key), "owner": owner,
        }  # fmt: skip
        await self._tx.changing(sql.APPLY_REVOCATION, params)
