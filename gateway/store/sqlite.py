"""The embedded store: one SQLite file in WAL mode, one writer connection, a read-only pool."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import aiosqlite
import orjson

from gateway.domain.keys import SessionKey
from gateway.domain.pages import Page, PageQuery, Position, TimeWindow
from gateway.domain.sessions import (
    Delivery,
    LastMessageKind,
    Message,
    MessageType,
    RevokeNotification,
    Session,
)
from gateway.errors import ConfigurationError
from gateway.store._migrations import load_migrations
from gateway.store._rows import key_from_db

# SQLite's default limit on host parameters is 32766; stay well below it.
_CHUNK = 500

SESSION_COLUMNS = (
    "key, update_time, server_ext, last_kind, last_msg_id, "
    "revoke_operator, revoke_time, revoke_postscript"
)
MESSAGE_COLUMNS = "server_id, client_id, from_account, type, time, text, attachment, ext"

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

UPSERT_EXT = f"""
INSERT INTO sessions (owner, key, update_time, server_ext) VALUES (?, ?, ?, ?)
ON CONFLICT (owner, key) DO UPDATE SET
    server_ext = excluded.server_ext,
    update_time = CASE WHEN deleted_at IS NULL THEN update_time ELSE excluded.update_time END,
    deleted_at = NULL
RETURNING {SESSION_COLUMNS}
"""

# A tombstone forgets everything the session held; `horizon` keeps older messages out of it.
DELETE_KEY = """
UPDATE sessions SET
    deleted_at = ?1, update_time = ?1, horizon = max(horizon, ?1, coalesce(last_msg_time, ?1)),
    server_ext = '', last_kind = NULL, last_msg_id = NULL, last_msg_time = NULL,
    revoke_operator = NULL, revoke_time = NULL, revoke_postscript = NULL
WHERE owner = ?2 AND key = ?3 AND deleted_at IS NULL
RETURNING key
"""

INSERT_MESSAGE = f"""
INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""

# The message becomes the last one only where it is newer, by (time, server id), than the
# current last message and than the owner's last deletion of the session.
_DELIVER_COLUMNS = """
INSERT INTO sessions (owner, key, update_time, last_kind, last_msg_id, last_msg_time,
                      revoke_operator, revoke_time, revoke_postscript)
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
    deleted_at = NULL
WHERE excluded.last_msg_time > horizon
  AND (last_msg_time IS NULL
       OR (excluded.last_msg_time, excluded.last_msg_id) > (last_msg_time, last_msg_id))
"""
DELIVER_MESSAGE = f"{_DELIVER_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) {_DELIVER_IF_NEWER}"
# One statement for the whole team, however many members it has.
DELIVER_TO_TEAM = f"""
{_DELIVER_COLUMNS} SELECT member, ?, ?, ?, ?, ?, ?, ?, ? FROM team_members WHERE team_key = ?
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
    update_time = max(update_time, ?)
WHERE key = ? AND last_msg_id = ? AND last_kind = 0 AND deleted_at IS NULL
"""
APPLY_REVOCATION = f"{_REVOKE} AND owner = ?"
APPLY_REVOCATION_TO_TEAM = (
    f"{_REVOKE} AND owner IN (SELECT member FROM team_members WHERE team_key = ?)"
)

# Member lists travel as one JSON array parameter, so any size is one statement.
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

# aiosqlite is typed to return sqlite3.Row; with no row factory the rows are plain tuples.
Row = sqlite3.Row
Trace = Callable[[str], None]


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
        reader = await self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put_nowait(reader)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        db = self._writer
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    # Reads ---------------------------------------------------------------------------------

    async def is_empty(self) -> bool:
        async with self._read() as db:
            rows = await db.execute_fetchall("SELECT 1 FROM sessions LIMIT 1")
        return not list(rows)

    async def list_sessions(self, owner: str, query: PageQuery) -> Page:
        async with self._read() as db:
            rows = await db.execute_fetchall(*page_statement(owner, query))
        sessions = [_session(owner, row) for row in rows]
        return Page(sessions[: query.limit], has_more=len(sessions) > query.limit)

    async def has_sessions_before(self, owner: str, window: TimeWindow, position: Position) -> bool:
        # The cursor's time bounds the index range, so the answer costs one index seek.
        low = max(window.min_time, position.update_time)
        params = (owner, low, window.max_time, position.update_time, str(position.key))
        async with self._read() as db:
            rows = await db.execute_fetchall(ANY_BEFORE, params)
        return bool(list(rows))

    async def count_sessions(self, owner: str, window: TimeWindow) -> int:
        async with self._read() as db:
            rows = list(await db.execute_fetchall(COUNT, (owner, window.min_time, window.max_time)))
        return int(rows[0][0])

    async def get_sessions(self, owner: str, keys: Sequence[SessionKey]) -> list[Session]:
        found: list[Session] = []
        async with self._read() as db:
            for chunk in _chunks([str(k) for k in keys]):
                sql = (
                    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE owner = ? "
                    f"AND deleted_at IS NULL AND key IN ({_marks(chunk)})"
                )
                rows = await db.execute_fetchall(sql, (owner, *chunk))
                found.extend(_session(owner, row) for row in rows)
        return found

    async def get_messages(self, server_ids: Sequence[str]) -> Mapping[str, Message]:
        found: dict[str, Message] = {}
        async with self._read() as db:
            for chunk in _chunks(list(server_ids)):
                sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE server_id IN ({_marks(chunk)})"
                for row in await db.execute_fetchall(sql, chunk):
                    message = _message(row)
                    found[message.server_id] = message
        return found

    # Owner's writes ------------------------------------------------------------------------

    async def update_ext(self, owner: str, key: SessionKey, ext: str, now: int) -> Session:
        async with self._write() as db:
            rows = list(await db.execute_fetchall(UPSERT_EXT, (owner, str(key), now, ext)))
        return _session(owner, rows[0])

    async def delete_sessions(
        self, owner: str, keys: Sequence[SessionKey], now: int
    ) -> list[SessionKey]:
        deleted: list[SessionKey] = []
        async with self._write() as db:
            for key in dict.fromkeys(keys):
                rows = await db.execute_fetchall(DELETE_KEY, (now, owner, str(key)))
                deleted.extend(key_from_db(str(row[0])) for row in rows)
        return deleted

    # Ingestion writes ----------------------------------------------------------------------

    async def record_message(
        self, message: Message, deliveries: Sequence[Delivery], *, team: SessionKey | None = None
    ) -> bool:
        async with self._write() as db:
            cursor = await db.execute(INSERT_MESSAGE, _message_params(message))
            if cursor.rowcount == 0:
                return False
            rows = list(await db.execute_fetchall(FIND_REVOCATION, (message.server_id,)))
            revoke = (
                RevokeNotification(message.server_id, str(rows[0][0]), int(rows[0][1]),
                                   _opt_str(rows[0][2]))
                if rows
                else None
            )  # fmt: skip
            values = _last_message_values(message, revoke)
            await db.executemany(
                DELIVER_MESSAGE, [(d.owner, str(d.key), *values) for d in dict.fromkeys(deliveries)]
            )
            if team is not None:
                await db.execute(DELIVER_TO_TEAM, (str(team), *values, str(team)))
        return True

    async def revoke_message(
        self,
        revoke: RevokeNotification,
        deliveries: Sequence[Delivery],
        *,
        team: SessionKey | None = None,
    ) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                INSERT_REVOCATION,
                (revoke.message_server_id, revoke.operator, revoke.time, revoke.postscript),
            )
            if cursor.rowcount == 0:
                return False
            values = (revoke.operator, revoke.time, revoke.postscript, revoke.time)
            await db.executemany(
                APPLY_REVOCATION,
                [(*values, str(d.key), revoke.message_server_id, d.owner) for d in deliveries],
            )
            if team is not None:
                await db.execute(
                    APPLY_REVOCATION_TO_TEAM,
                    (*values, str(team), revoke.message_server_id, str(team)),
                )
        return True

    # Team registry -------------------------------------------------------------------------

    async def set_team_members(self, team: SessionKey, members: Sequence[str]) -> int:
        async with self._write() as db:
            await db.execute(CLEAR_TEAM, (str(team),))
            return await self._change_members(db, ADD_MEMBERS, team, members)

    async def add_team_members(self, team: SessionKey, members: Sequence[str]) -> int:
        async with self._write() as db:
            return await self._change_members(db, ADD_MEMBERS, team, members)

    async def remove_team_members(self, team: SessionKey, members: Sequence[str]) -> int:
        async with self._write() as db:
            return await self._change_members(db, REMOVE_MEMBERS, team, members)

    async def team_members(self, team: SessionKey) -> list[str]:
        async with self._read() as db:
            rows = await db.execute_fetchall(TEAM_MEMBERS, (str(team),))
        return [str(row[0]) for row in rows]

    async def _change_members(
        self, db: aiosqlite.Connection, sql: str, team: SessionKey, members: Sequence[str]
    ) -> int:
        await db.execute(sql, (str(team), orjson.dumps(list(members)).decode()))
        rows = list(await db.execute_fetchall(COUNT_MEMBERS, (str(team),)))
        return int(rows[0][0])


def page_statement(owner: str, query: PageQuery) -> tuple[str, tuple[object, ...]]:
    """The SQL and parameters of one page. A cursor also narrows the time range, so a page deep
    in the list starts with an index seek instead of skipping the rows before it."""
    window, after, limit = query.window, query.after, query.limit + 1
    if after is None:
        return LIST_PAGE, (owner, window.min_time, window.max_time, limit)
    high = min(window.max_time, after.update_time)
    params = (owner, window.min_time, high, after.update_time, str(after.key), limit)
    return LIST_PAGE_AFTER, params


def _last_message_values(message: Message, revoke: RevokeNotification | None) -> tuple[object, ...]:
    """The columns after (owner, key) that make ``message`` a session's last message."""
    if revoke is None:
        return (message.time, LastMessageKind.MESSAGE.value, message.server_id, message.time,
                None, None, None)  # fmt: skip
    update_time = max(message.time, revoke.time)
    return (update_time, LastMessageKind.REVOKE_NOTIFICATION.value, message.server_id,
            message.time, revoke.operator, revoke.time, revoke.postscript)  # fmt: skip


def _message_params(m: Message) -> tuple[object, ...]:
    return (m.server_id, m.client_id, m.from_account, m.type.value, m.time, m.text,
            m.attachment, m.ext)  # fmt: skip


def _session(owner: str, row: Row) -> Session:
    key, update_time, server_ext, kind, last_id, operator, revoke_time, postscript = row
    last_kind = None if kind is None else LastMessageKind(kind)
    revoke = None
    if last_kind is LastMessageKind.REVOKE_NOTIFICATION:
        revoke = RevokeNotification(str(last_id), str(operator), int(revoke_time),
                                    _opt_str(postscript))  # fmt: skip
    return Session(
        owner=owner,
        key=key_from_db(str(key)),
        update_time=int(update_time),
        server_ext=str(server_ext),
        last_message_kind=last_kind,
        last_message_id=_opt_str(last_id),
        revoke=revoke,
    )


def _message(row: Row) -> Message:
    server_id, client_id, from_account, type_, time, text, attachment, ext = row
    return Message(
        server_id=str(server_id),
        from_account=str(from_account),
        type=MessageType(type_),
        time=int(time),
        client_id=_opt_str(client_id),
        text=_opt_str(text),
        attachment=_opt_str(attachment),
        ext=_opt_str(ext),
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(chunk: Sequence[object]) -> str:
    return ", ".join("?" * len(chunk))
